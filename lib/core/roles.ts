// The one-sender / one-receiver rule, enforced in shared memory so it holds across threads and
// processes, and the streams a channel carries one after another (a named channel is used again).
//
// Roles. A role is held by a *thread*: the owner word holds the holder's Linux thread id (tid,
// unique system-wide while the thread lives), and the claimant records its pid and its thread's
// start time (/proc/<tid>/stat field 22), then an echo of its tid (cpp/ring/layout.h). A holder whose
// thread ended (a worker that returned, threw, called process.exit() or was terminated, or a dead
// process) is found dead by the next claimant, which takes the role over, and by a peer waiting
// for it (ERR_PEER_DEAD). Where /proc/thread-self does not exist (not Linux), the owner word is a
// random token and holders are never found dead.
//
// Streams. The stream word holds the closed bits and an epoch (cpp/ring/layout.h). A claim joins the
// current stream, or starts the next one when the current one has ended (see claimRole).
import process from 'node:process';
import { readFileSync, readlinkSync } from 'node:fs';
import { corruptError, RingwireError } from '../errors.js';
import * as L from './layout.js';

export type Role = 'sender' | 'receiver';

const OWNER = { sender: L.W.SENDER_OWNER, receiver: L.W.RECEIVER_OWNER } as const;
const ECHO = { sender: L.W.SENDER_ECHO, receiver: L.W.RECEIVER_ECHO } as const;
const PID = { sender: L.W.SENDER_PID, receiver: L.W.RECEIVER_PID } as const;
const START = { sender: L.W.SENDER_START, receiver: L.W.RECEIVER_START } as const;
const PARKED = { sender: L.W.TX_PARKED, receiver: L.W.RX_PARKED } as const;
const CLOSED_BIT = { sender: L.SENDER_CLOSED, receiver: L.RECEIVER_CLOSED } as const;
const STREAM = L.W.CLOSED;
const TAIL = L.W.TAIL;
const HEAD = L.W.HEAD;
const CAPACITY = L.W.CAPACITY;
const STREAM_START = L.W.STREAM_START;
const STREAM_START_EPOCH = L.W.STREAM_START_EPOCH;
const RX_EPOCH = L.W.RX_EPOCH;
/** A claim that finds a peer in the middle of its own claim or of its end retries for this long. */
const SETTLE_TRIES = 50;

// ---- Liveness of threads --------------------------------------------------------------------------

/** The calling thread as a role holder. */
export interface ThreadIdentity {
  readonly tid: number;
  readonly pid: number;
  /** The thread's start time (clock ticks after boot): tells tid reuse apart. */
  readonly start: number;
}

export interface ThreadProbe {
  alive: boolean;
  /** Start time, when /proc shows it. */
  start?: number;
}

/** Whether /proc/<tid>/stat shows a live thread, and its start time. */
export function probeThread(tid: number): ThreadProbe {
  if (!Number.isInteger(tid) || tid <= 0) return { alive: false };
  let text: string;
  try {
    text = readFileSync(`/proc/${tid}/stat`, 'latin1');
  } catch {
    // /proc hidden (hidepid) while the thread exists: alive, start time unknown.
    try {
      process.kill(tid, 0);
      return { alive: true };
    } catch (err) {
      return { alive: (err as NodeJS.ErrnoException).code === 'EPERM' };
    }
  }
  // "tid (comm) state ...": comm may hold spaces and parentheses, so parse after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0]; // field 3
  if (state === undefined || state === 'Z' || state === 'X' || state === 'x') return { alive: false };
  const start = Number(fields[19]); // field 22
  return Number.isSafeInteger(start) && start >= 0 ? { alive: true, start } : { alive: true };
}

// Computed once per thread: each worker thread has its own instance of this module.
let self: ThreadIdentity | null | undefined;

/** This thread's identity, or undefined where threads cannot be told apart (no /proc/thread-self). */
export function threadIdentity(): ThreadIdentity | undefined {
  if (self === undefined) {
    self = null;
    try {
      const m = /^(\d+)\/task\/(\d+)$/.exec(readlinkSync('/proc/thread-self'));
      const tid = Number(m?.[2]);
      const probe = probeThread(tid);
      if (m !== null && tid <= 0x7fffffff && probe.start !== undefined) self = { tid, pid: Number(m[1]), start: probe.start };
    } catch {
      // not Linux: random tokens, no liveness
    }
  }
  return self ?? undefined;
}

/** Whether holder liveness is known here (Linux); without it waits never report ERR_PEER_DEAD. */
export const livenessSupported = (): boolean => threadIdentity() !== undefined;

/**
 * Where a holder's identity lives in shared memory (word indices): the owner word holds its tid,
 * then its pid, its thread's start time (u64 lo/hi) and an echo of the tid, stored last. Channel
 * roles and the log's reader slots (lib/log/readers.ts) are held this one way.
 */
export interface HolderWords {
  owner: number;
  echo: number;
  pid: number;
  start: number;
}

const ROLE_WORDS = {
  sender: { owner: OWNER.sender, echo: ECHO.sender, pid: PID.sender, start: START.sender },
  receiver: { owner: OWNER.receiver, echo: ECHO.receiver, pid: PID.receiver, start: START.receiver },
} as const;

/** Whether `owner`, found in w.owner, is a thread that ended (false: alive, unknown, or its identity is being written). */
export function holderEnded(i32: Int32Array, w: HolderWords, owner: number): boolean {
  const probe = probeThread(owner);
  if (!probe.alive) return true;
  if (probe.start === undefined) return false;
  // Consume point: the claimant stores its echo after its pid and start words (seq_cst), so an echo
  // equal to the owner, read before and after them, means they are that claimant's, complete.
  if (Atomics.load(i32, w.echo) !== owner) return false; // identity still being written
  const start = (Atomics.load(i32, w.start) >>> 0) + (Atomics.load(i32, w.start + 1) >>> 0) * 0x100000000;
  if (Atomics.load(i32, w.echo) !== owner || Atomics.load(i32, w.owner) !== owner) return false; // changed meanwhile
  return start !== probe.start; // a different thread reused the tid
}

/**
 * Moves w.owner from `from` (an ended holder's tid, seen by holderEnded) to `token`; of several
 * takers exactly one wins. An ended holder with our own tid (reused) goes through 0 first, so that
 * a second taker cannot also "win" an exchange that changes nothing. True if we hold it now.
 */
export function takeOver(i32: Int32Array, w: HolderWords, from: number, token: number): boolean {
  if (from === token) {
    if (Atomics.compareExchange(i32, w.owner, from, 0) !== from) return false;
    return Atomics.compareExchange(i32, w.owner, 0, token) === 0;
  }
  return Atomics.compareExchange(i32, w.owner, from, token) === from;
}

/** Records our identity in words we just took: echo cleared, pid and start time, then the echo. */
export function recordHolder(i32: Int32Array, w: HolderWords, me: ThreadIdentity): void {
  Atomics.store(i32, w.echo, 0);
  Atomics.store(i32, w.start, me.start % 0x100000000 | 0);
  Atomics.store(i32, w.start + 1, Math.floor(me.start / 0x100000000) | 0);
  Atomics.store(i32, w.pid, me.pid);
  Atomics.store(i32, w.echo, me.tid); // publish point of the identity (see holderEnded)
}

const ownerDead = (i32: Int32Array, role: Role, owner: number): boolean => holderEnded(i32, ROLE_WORDS[role], owner);

/** Whether `role` is held by a thread that ended without giving it back (false if free or alive). */
export function roleHolderDead(i32: Int32Array, role: Role): boolean {
  const owner = Atomics.load(i32, OWNER[role]);
  return owner !== 0 && livenessSupported() && ownerDead(i32, role, owner);
}

export interface Holder {
  tid: number;
  /** The holder's pid (0 while its identity is being written). */
  pid: number;
  alive: boolean;
}

/** Who holds `role` (undefined: free). For inspection (`ringwire ls`) and error messages. */
export function roleHolder(i32: Int32Array, role: Role): Holder | undefined {
  const tid = Atomics.load(i32, OWNER[role]);
  if (tid === 0) return undefined;
  const complete = Atomics.load(i32, ECHO[role]) === tid;
  return { tid, pid: complete ? Atomics.load(i32, PID[role]) : 0, alive: !(livenessSupported() && ownerDead(i32, role, tid)) };
}

const describeHolder = (h: Holder | undefined): string => (h === undefined ? 'nobody' : `thread ${h.tid}${h.pid !== 0 ? ` of process ${h.pid}` : ''}`);

// ---- Claims ------------------------------------------------------------------------------------

/** A held role: `token` releases it; `open` is the stream word it was claimed under. */
export interface Claim {
  readonly token: number;
  readonly open: number;
}

const scratch = new Int32Array(new SharedArrayBuffer(4));
/** Waits 1 ms (a peer is between two steps of its claim or of its end). */
const pause = (): void => void Atomics.wait(scratch, 0, 0, 1);

const roleTaken = (role: Role) =>
  new RingwireError('ERR_ROLE_TAKEN', `the ${role} role of this channel is already taken by a live thread (one ${role} per channel across all threads and processes)`);

/**
 * Takes `role`: the owner word goes from 0, or from a holder whose thread ended, to our tid (of
 * several claimants exactly one wins the compare-exchange). Then joins the current stream or starts
 * the next one; throws ERR_ROLE_TAKEN or ERR_CHANNEL_CLOSED (the role is then not kept).
 *
 * The current stream has *ended*, and a claim starts the next one, when
 *  - a receiver returned its end (END_SEEN), or
 *  - the receiver closed it (RECEIVER_CLOSED) and the sender role is free, dead or ours, or
 *  - (sender claims) the sender closed it, nothing is unread and the receiver's thread ended.
 * Otherwise a claim joins it: a receiver reads what is left, then the end; a sender continues at the
 * published position. A sender cannot join a stream its predecessor closed, nor a receiver one its
 * predecessor closed while the sender is still attached: ERR_CHANNEL_CLOSED says what ends it.
 */
export function claimRole(i32: Int32Array, role: Role): Claim {
  const token = acquire(i32, role);
  try {
    return { token, open: role === 'sender' ? senderStream(i32) : receiverStream(i32) };
  } catch (err) {
    releaseRole(i32, role, token);
    throw err;
  }
}

function acquire(i32: Int32Array, role: Role): number {
  const me = threadIdentity();
  const token = me?.tid ?? (((Math.random() * 0x7ffffffe) | 0) + 1);
  for (let attempt = 0; attempt < SETTLE_TRIES; attempt++) {
    // compareExchange: exactly one claimant moves the word from 0 (free) to its tid.
    const prev = Atomics.compareExchange(i32, OWNER[role], 0, token);
    if (prev !== 0) {
      if (me === undefined || !ownerDead(i32, role, prev)) {
        // A receiver that has just returned its end gives the role back right after.
        if (role === 'receiver' && (Atomics.load(i32, STREAM) & L.END_SEEN) !== 0) {
          pause();
          continue;
        }
        throw roleTaken(role);
      }
      // Takeover: from the dead holder's tid to ours (of several takers exactly one wins).
      if (!takeOver(i32, ROLE_WORDS[role], prev, token)) continue;
    }
    if (me !== undefined) recordHolder(i32, ROLE_WORDS[role], me);
    // A holder that died asleep left its park word set: the peer would wake nobody on every publish.
    Atomics.store(i32, PARKED[role], 0);
    return token;
  }
  throw roleTaken(role);
}

export const epochOf = (word: number): number => word >>> L.EPOCH_SHIFT;
const nextStream = (word: number): number => ((epochOf(word) + 1) << L.EPOCH_SHIFT) | 0;
const unread = (i32: Int32Array): number => (Atomics.load(i32, TAIL) - Atomics.load(i32, HEAD)) >>> 0;
/** A role holder that cannot be writing or reading in the current stream. */
const gone = (i32: Int32Array, role: Role): boolean => Atomics.load(i32, OWNER[role]) === 0 || roleHolderDead(i32, role);

function senderStream(i32: Int32Array): number {
  let word = 0;
  for (let attempt = 0; attempt < SETTLE_TRIES; attempt++) {
    // Consume point: a seq_cst load of the stream word, against which the start below is a CAS.
    word = Atomics.load(i32, STREAM);
    if ((word & L.CLOSED_BITS) === 0) return word; // join (a dead sender's stream: continue at tail)
    const ended = (word & (L.END_SEEN | L.RECEIVER_CLOSED)) !== 0 || (unread(i32) === 0 && roleHolderDead(i32, 'receiver'));
    if (ended) {
      // We hold the sender role and nobody else writes tail: it is where the next stream starts.
      // Recorded before the CAS (seq_cst), so a receiver that sees the new epoch sees it; if a
      // receiver wins the race instead, it starts the stream at this same position.
      const next = nextStream(word);
      Atomics.store(i32, STREAM_START, Atomics.load(i32, TAIL));
      Atomics.store(i32, STREAM_START_EPOCH, epochOf(next));
      // compareExchange: of several starters (a sender and a receiver) exactly one starts the stream.
      if (Atomics.compareExchange(i32, STREAM, word, next) === word) return next;
      continue;
    }
    pause(); // its receiver may be about to return its end
  }
  const left = unread(i32);
  throw new RingwireError(
    'ERR_CHANNEL_CLOSED',
    `the sender of this channel closed its stream, and the receiver (${describeHolder(roleHolder(i32, 'receiver'))}) has not received ` +
      `its end yet${left !== 0 ? ` (${left} bytes unread)` : ''}: a new stream starts once a receiver has received everything and ` +
      `its end, or closes`,
  );
}

function receiverStream(i32: Int32Array): number {
  let word = 0;
  for (let attempt = 0; attempt < SETTLE_TRIES; attempt++) {
    word = Atomics.load(i32, STREAM);
    if ((word & (L.END_SEEN | L.RECEIVER_CLOSED)) === 0) {
      skipToStreamStart(i32, word); // join: read the rest (and the end, if the sender closed)
      return word;
    }
    if ((word & L.END_SEEN) !== 0 || gone(i32, 'sender')) {
      // Ended: start the next stream, discarding what the ended one left unread. tail is loaded
      // before the CAS: no sender publishes in the ended stream, and none in the next one before
      // the CAS makes it current, so this is where the next stream starts.
      const tail = Atomics.load(i32, TAIL);
      checkPosition(i32, tail, 'stream start');
      const next = nextStream(word);
      if (Atomics.compareExchange(i32, STREAM, word, next) === word) {
        // We hold the receiver role: head is ours to move (a sender waiting for room re-checks it).
        Atomics.store(i32, HEAD, tail);
        Atomics.store(i32, RX_EPOCH, epochOf(next));
        return next;
      }
      continue;
    }
    pause(); // a live sender: maybe a new one about to start the next stream
  }
  throw new RingwireError(
    'ERR_CHANNEL_CLOSED',
    `the receiver of this channel closed its stream while its sender (${describeHolder(roleHolder(i32, 'sender'))}) is still ` +
      `attached: a new stream starts once that sender closes, releases its role or ends`,
  );
}

/** The first receiver of a stream a sender started skips what the ended stream left unread. */
function skipToStreamStart(i32: Int32Array, word: number): void {
  const epoch = epochOf(word);
  if (Atomics.load(i32, RX_EPOCH) === epoch) return; // head is in this stream already
  if (Atomics.load(i32, STREAM_START_EPOCH) === epoch) {
    const start = Atomics.load(i32, STREAM_START);
    checkPosition(i32, start, 'stream start');
    Atomics.store(i32, HEAD, start);
  }
  Atomics.store(i32, RX_EPOCH, epoch);
}

/** A position read from shared memory must lie between head and tail, 8-aligned. */
function checkPosition(i32: Int32Array, pos: number, what: string): void {
  const head = Atomics.load(i32, HEAD);
  const used = (Atomics.load(i32, TAIL) - head) >>> 0;
  if (((pos - head) >>> 0) > used || used > (i32[CAPACITY]! >>> 0) || ((pos | head) & 7) !== 0) {
    throw corruptError(`${what} position ${pos >>> 0} is not between the consumer position ${head >>> 0} and the producer's`);
  }
}

/** Gives the role back (only if we still hold it). */
export function releaseRole(i32: Int32Array, role: Role, token: number): void {
  Atomics.compareExchange(i32, OWNER[role], token, 0);
}

/**
 * Sets `bit` (SENDER_CLOSED, RECEIVER_CLOSED, END_SEEN) in the stream word if it still holds the
 * stream `open` was claimed under (a later stream is not ours to close). The peer sees it with a load.
 */
export function markStream(i32: Int32Array, bit: number, open: number): void {
  for (let attempt = 0; attempt < 8; attempt++) {
    const word = Atomics.load(i32, STREAM);
    if (epochOf(word) !== epochOf(open) || (word & bit) !== 0) return;
    // compareExchange: bits are only ever added within a stream, so this settles in a few tries.
    if (Atomics.compareExchange(i32, STREAM, word, word | bit) === word) return;
  }
}

/** Marks our side closed in the stream we claimed under. */
export const markClosed = (i32: Int32Array, role: Role, open: number): void => markStream(i32, CLOSED_BIT[role], open);

/** Whether `role` closed the current stream. */
export function isClosed(i32: Int32Array, role: Role): boolean {
  return (Atomics.load(i32, STREAM) & CLOSED_BIT[role]) !== 0;
}

export type StreamState = 'open' | 'sender closed' | 'receiver closed' | 'ended';

/**
 * The current stream as the claim rules see it: 'ended' when the next claim starts a new stream
 * (the union of the rules in claimRole), else which side closed it, else 'open'.
 */
export function streamState(i32: Int32Array): StreamState {
  const word = Atomics.load(i32, STREAM);
  if ((word & L.END_SEEN) !== 0) return 'ended';
  if ((word & L.RECEIVER_CLOSED) !== 0) return gone(i32, 'sender') ? 'ended' : 'receiver closed';
  if ((word & L.SENDER_CLOSED) !== 0) return unread(i32) === 0 && roleHolderDead(i32, 'receiver') ? 'ended' : 'sender closed';
  return 'open';
}
