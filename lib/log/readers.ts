// Reader slots in the control file (layout: cpp/log/format.h): a follow() in progress holds one,
// and sets its bit in the parked bitmap while it sleeps on the notify word. The writer wakes only
// while a bit is set; a follower killed while asleep would leave its bit set forever (every append
// paying a futex wake), so a slot whose owner thread is dead is reclaimed: by a follower that finds
// no free slot, or by the writer when its wake found nobody asleep (reclaimDeadSlots).
//
// Who writes what: a slot is held like a channel role (lib/core/roles.ts): its owner word holds the
// follower's thread id, taken by compare-exchange (0 -> tid, or an ended holder's tid -> tid), with
// its pid, thread start time and an echo recorded after it. Its parked bit is set and cleared only
// by its owner, or cleared by whoever took the slot from an ended owner (the writer first moves the
// owner word to RECLAIMING, so no follower can own the slot, and so set its bit, while the writer
// clears it). Where threads cannot be told apart (no /proc/thread-self), a random token holds the
// slot and ended holders are never found.
import { holderEnded, recordHolder, takeOver, threadIdentity, type HolderWords } from '../core/roles.js';
import * as F from './format.js';

const RECLAIMING = -1;
const PARKED = F.CTL_W.PARKED;

/** The words of slot k. */
function slotWords(k: number): HolderWords {
  const base = F.CTL_W.READERS + F.wordAt(k * F.READER_SLOT_BYTES);
  const at = (offset: number) => base + F.wordAt(offset);
  return { owner: at(F.SLOT_OWNER_OFFSET), echo: at(F.SLOT_ECHO_OFFSET), pid: at(F.SLOT_PID_OFFSET), start: at(F.SLOT_START_OFFSET) };
}
const SLOTS = Array.from({ length: F.READER_SLOTS }, (_, k) => slotWords(k));

/** The parked bitmap word of slot k, and its bit. */
const parkedWord = (k: number) => PARKED + (k >> 5);
const parkedBit = (k: number) => 1 << (k & 31);

/** This thread's token in a slot: its tid, or (no thread ids) a random token, per module instance (per thread). */
let token: number | undefined;
const myToken = () => (token ??= threadIdentity()?.tid ?? ((Math.random() * 0x7ffffffe) | 0) + 1);

/** Whether the follower holding slot k (owner word `owner`) has ended. */
const slotDead = (i32: Int32Array, k: number, owner: number): boolean =>
  owner > 0 && threadIdentity() !== undefined && holderEnded(i32, SLOTS[k]!, owner);

/** Takes a reader slot for a follower in this thread; returns its index, or -1 if all 64 are held
 * by live followers. */
export function claimSlot(i32: Int32Array): number {
  const me = myToken();
  // Free slots first; only when there are none, slots of ended owners (reading /proc).
  for (let k = 0; k < F.READER_SLOTS; k++) {
    // compareExchange: exactly one claimant moves the owner word from 0 (free) to its token.
    if (Atomics.compareExchange(i32, SLOTS[k]!.owner, 0, me) === 0) return take(i32, k);
  }
  for (let k = 0; k < F.READER_SLOTS; k++) {
    const owner = Atomics.load(i32, SLOTS[k]!.owner);
    // Of the takers of an ended owner's slot (followers, the writer) exactly one wins.
    if (slotDead(i32, k, owner) && takeOver(i32, SLOTS[k]!, owner, me)) return take(i32, k);
  }
  return -1;
}

function take(i32: Int32Array, k: number): number {
  // An owner that ended asleep left its bit set: it is ours to clear now.
  Atomics.and(i32, parkedWord(k), ~parkedBit(k));
  const me = threadIdentity();
  if (me !== undefined) recordHolder(i32, SLOTS[k]!, me);
  return k;
}

/** Gives slot k back. */
export function releaseSlot(i32: Int32Array, k: number): void {
  Atomics.and(i32, parkedWord(k), ~parkedBit(k));
  Atomics.store(i32, SLOTS[k]!.echo, 0);
  Atomics.compareExchange(i32, SLOTS[k]!.owner, myToken(), 0);
}

/**
 * Marks slot k's follower asleep. A seq_cst read-modify-write, so that with the writer's seq_cst
 * store of notify and load of the bitmap it forms the store -> load handshake of lib/log/writer.ts:
 * either the writer's load sees this bit (and wakes), or the follower's later check sees the new
 * record / notify value (and does not sleep). Release or acquire alone would let both miss.
 */
export function markParked(i32: Int32Array, k: number): void {
  Atomics.or(i32, parkedWord(k), parkedBit(k));
}

export function markAwake(i32: Int32Array, k: number): void {
  Atomics.and(i32, parkedWord(k), ~parkedBit(k));
}

/** Whether any follower is marked asleep: the writer's check after every publish. */
export function anyParked(i32: Int32Array): boolean {
  // seq_cst loads: the load half of the handshake (see markParked).
  return (Atomics.load(i32, PARKED) | Atomics.load(i32, PARKED + 1)) !== 0;
}

/** How many followers are marked asleep. */
export function parkedCount(i32: Int32Array): number {
  let n = 0;
  for (let w = 0; w < F.PARKED_WORDS; w++) for (let v = Atomics.load(i32, PARKED + w); v !== 0; v &= v - 1) n++;
  return n;
}

/**
 * Writer side: frees the slots of parked followers whose thread is dead (killed while asleep), so
 * that appends stop waking nobody. Reads /proc once per parked slot: the writer calls it only when
 * a wake found nobody asleep, at most every RECLAIM_MS. Returns how many it freed.
 */
export function reclaimDeadSlots(i32: Int32Array): number {
  let freed = 0;
  for (let k = 0; k < F.READER_SLOTS; k++) {
    if ((Atomics.load(i32, parkedWord(k)) & parkedBit(k)) === 0) continue;
    const w = SLOTS[k]!;
    const owner = Atomics.load(i32, w.owner);
    // The exchange to RECLAIMING wins the slot from its ended owner (or loses to a follower that
    // took it first); while it is RECLAIMING nobody else can own it and set its bit.
    if (!slotDead(i32, k, owner) || Atomics.compareExchange(i32, w.owner, owner, RECLAIMING) !== owner) continue;
    Atomics.and(i32, parkedWord(k), ~parkedBit(k));
    Atomics.store(i32, w.echo, 0);
    Atomics.store(i32, w.owner, 0);
    freed++;
  }
  return freed;
}

/** Writer side, at open (one writer at a time): frees slots a previous writer died reclaiming. */
export function resetReclaiming(i32: Int32Array): void {
  for (let k = 0; k < F.READER_SLOTS; k++) Atomics.compareExchange(i32, SLOTS[k]!.owner, RECLAIMING, 0);
}
