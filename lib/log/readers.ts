// Reader slots in the control file (layout: cpp/log/format.h): a follow() in progress holds one,
// and sets its bit in the parked bitmap while it sleeps on the notify word. The writer wakes only
// while a bit is set; a follower killed while asleep would leave its bit set forever (every append
// paying a futex wake), so a slot whose owner thread is dead is reclaimed: by a follower that finds
// no free slot, or by the writer when its wake found nobody asleep (reclaimDeadSlots).
//
// Who writes what: a slot's owner word is taken by compare-exchange (0 -> pid, or dead pid -> pid);
// its parked bit is set and cleared only by its owner, or cleared by whoever took the slot from a
// dead owner (the writer first moves the owner word to RECLAIMING, so no follower can own the slot,
// and so set its bit, while the writer clears it).
import * as F from './format.js';
import { logNative } from './native.js';

const RECLAIMING = -1;
const SLOT = (k: number) => (F.CTL_READERS_OFFSET + k * F.READER_SLOT_BYTES) >> 2;
const OWNER = F.SLOT_OWNER_OFFSET >> 2;
const TID = F.SLOT_TID_OFFSET >> 2;
const START = F.SLOT_START_OFFSET >> 2;
const ECHO = F.SLOT_ECHO_OFFSET >> 2;
const PARKED = F.CTL_PARKED_OFFSET >> 2;
const TWO_32 = 4294967296;

/** The parked bitmap word of slot k, and its bit. */
const parkedWord = (k: number) => PARKED + (k >> 5);
const parkedBit = (k: number) => 1 << (k & 31);

let self: { pid: number; tid: number; start: number } | undefined;
/** This thread (a module instance per thread: workers have their own). */
const thisThread = () => (self ??= logNative().thisThread());

/**
 * Whether the follower that holds slot k (owner pid `owner`) is dead. Its identity (thread id,
 * start time) counts only once complete (echo == owner); before that, the pid alone decides.
 */
function slotDead(i32: Int32Array, k: number, owner: number): boolean {
  if (owner <= 0) return false; // free, or the writer is reclaiming it
  const s = SLOT(k);
  // seq_cst load of echo: the owner stores it after its thread id and start time, so equal to the
  // owner means the two loads below read that owner's complete identity.
  if (Atomics.load(i32, s + ECHO) !== owner) return logNative().taskStart(owner, owner) === -1;
  const tid = Atomics.load(i32, s + TID);
  const start = (Atomics.load(i32, s + START) >>> 0) + (Atomics.load(i32, s + START + 1) >>> 0) * TWO_32;
  const now = logNative().taskStart(owner, tid);
  return now === -1 || (now >= 0 && start !== 0 && now !== start);
}

/** Takes a reader slot for a follower in this thread; returns its index, or -1 if all 64 are held
 * by live followers. */
export function claimSlot(i32: Int32Array): number {
  const me = thisThread();
  // Free slots first; only when there are none, slots of dead owners (reading /proc).
  for (let k = 0; k < F.READER_SLOTS; k++) {
    // compareExchange: exactly one claimant moves the owner word from 0 (free) to its pid.
    if (Atomics.compareExchange(i32, SLOT(k) + OWNER, 0, me.pid) === 0) return take(i32, k, me);
  }
  for (let k = 0; k < F.READER_SLOTS; k++) {
    const owner = Atomics.load(i32, SLOT(k) + OWNER);
    // Of the takers of a dead owner's slot (followers, the writer) exactly one wins this exchange.
    if (slotDead(i32, k, owner) && Atomics.compareExchange(i32, SLOT(k) + OWNER, owner, me.pid) === owner) return take(i32, k, me);
  }
  return -1;
}

function take(i32: Int32Array, k: number, me: { pid: number; tid: number; start: number }): number {
  const s = SLOT(k);
  Atomics.store(i32, s + ECHO, 0); // the previous owner's identity no longer counts
  // A dead previous owner may have died asleep: its bit is ours to clear now.
  Atomics.and(i32, parkedWord(k), ~parkedBit(k));
  Atomics.store(i32, s + TID, me.tid);
  Atomics.store(i32, s + START, me.start % TWO_32 | 0);
  Atomics.store(i32, s + START + 1, Math.floor(me.start / TWO_32) | 0);
  Atomics.store(i32, s + ECHO, me.pid); // publish point of the identity (see slotDead)
  return k;
}

/** Gives slot k back. */
export function releaseSlot(i32: Int32Array, k: number): void {
  Atomics.and(i32, parkedWord(k), ~parkedBit(k));
  Atomics.store(i32, SLOT(k) + ECHO, 0);
  Atomics.compareExchange(i32, SLOT(k) + OWNER, thisThread().pid, 0);
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
    const s = SLOT(k);
    const owner = Atomics.load(i32, s + OWNER);
    // The exchange to RECLAIMING wins the slot from its dead owner (or loses to a follower that
    // took it first); while it is RECLAIMING nobody else can own it and set its bit.
    if (!slotDead(i32, k, owner) || Atomics.compareExchange(i32, s + OWNER, owner, RECLAIMING) !== owner) continue;
    Atomics.and(i32, parkedWord(k), ~parkedBit(k));
    Atomics.store(i32, s + ECHO, 0);
    Atomics.store(i32, s + OWNER, 0);
    freed++;
  }
  return freed;
}

/** Writer side, at open (one writer at a time): frees slots a previous writer died reclaiming. */
export function resetReclaiming(i32: Int32Array): void {
  for (let k = 0; k < F.READER_SLOTS; k++) Atomics.compareExchange(i32, SLOT(k) + OWNER, RECLAIMING, 0);
}
