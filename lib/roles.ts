// The one-sender / one-receiver rule, enforced in shared memory so it holds across threads.
// Between processes (a mapped channel file) a role is held by the holder's pid, and its process
// start time is recorded next to it; a role whose holder died can then be taken over (the new
// holder continues from the positions in the ring).
import { RingwireError } from './errors.js';
import * as L from './layout.js';

export type Role = 'sender' | 'receiver';

const OWNER = { sender: L.SENDER_OWNER_OFFSET >> 2, receiver: L.RECEIVER_OWNER_OFFSET >> 2 } as const;
const CLOSED_BIT = { sender: L.SENDER_CLOSED, receiver: L.RECEIVER_CLOSED } as const;
const CLOSED = L.CLOSED_OFFSET >> 2;
const PID = { sender: L.SENDER_PID_OFFSET >> 2, receiver: L.RECEIVER_PID_OFFSET >> 2 } as const;
const START = { sender: L.SENDER_START_OFFSET >> 2, receiver: L.RECEIVER_START_OFFSET >> 2 } as const;
const PARKED = { sender: L.TX_PARKED_OFFSET >> 2, receiver: L.RX_PARKED_OFFSET >> 2 } as const;

let nextToken = 1;

/** This process, as the holder of roles of channels shared between processes. */
export interface ProcessIdentity {
  readonly pid: number;
  /** Process start time (clock ticks after boot, /proc/<pid>/stat field 22): tells pid reuse apart. */
  readonly start: number;
  /** Whether `pid`, found holding `role`, is a dead process (reads /proc: call it only when waiting). */
  holderDead(role: Role, pid: number): boolean;
}

/**
 * Takes `role` or throws ERR_ROLE_TAKEN / ERR_CHANNEL_CLOSED; returns the token that releases it.
 * With `identity` (a channel between processes) the token is the pid, and a role held by a dead
 * process is taken over.
 */
export function claimRole(i32: Int32Array, role: Role, identity?: ProcessIdentity): number {
  if (identity !== undefined) return claimProcessRole(i32, role, identity);
  const token = ((Math.random() * 0x7fff0000) | 0) + (nextToken++ & 0xffff) || 1;
  // compareExchange: exactly one claimant can move the word from 0 to its token.
  const prev = Atomics.compareExchange(i32, OWNER[role], 0, token);
  if (prev !== 0) {
    throw new RingwireError('ERR_ROLE_TAKEN', `the ${role} role of this channel is already taken (one ${role} per channel)`);
  }
  if ((Atomics.load(i32, CLOSED) & CLOSED_BIT[role]) !== 0) {
    Atomics.compareExchange(i32, OWNER[role], token, 0);
    throw new RingwireError('ERR_CHANNEL_CLOSED', `the ${role} of this channel has closed it; a closed channel does not reopen`);
  }
  return token;
}

function claimProcessRole(i32: Int32Array, role: Role, id: ProcessIdentity): number {
  const token = id.pid;
  // Bounded: a retry means another process took or gave back the role in between.
  for (let attempt = 0; attempt < 8; attempt++) {
    // compareExchange: exactly one claimant moves the word from 0 (free) to its pid.
    const prev = Atomics.compareExchange(i32, OWNER[role], 0, token);
    if (prev !== 0) {
      if (prev === token || !id.holderDead(role, prev)) break;
      // Takeover: from the dead holder's pid to ours; of several takers exactly one wins.
      if (Atomics.compareExchange(i32, OWNER[role], prev, token) !== prev) continue;
    }
    // Our identity: the start time first, then the pid, so a checker that reads our pid (a
    // seq_cst load) also reads our complete start time.
    Atomics.store(i32, START[role], id.start % 0x100000000 | 0);
    Atomics.store(i32, START[role] + 1, Math.floor(id.start / 0x100000000) | 0);
    Atomics.store(i32, PID[role], token);
    // A holder that died asleep left its park word set: the peer would wake nobody on every publish.
    Atomics.store(i32, PARKED[role], 0);
    if ((Atomics.load(i32, CLOSED) & CLOSED_BIT[role]) !== 0) {
      Atomics.compareExchange(i32, OWNER[role], token, 0);
      throw new RingwireError('ERR_CHANNEL_CLOSED', `the ${role} of this channel has closed it; a closed channel does not reopen`);
    }
    return token;
  }
  throw new RingwireError(
    'ERR_ROLE_TAKEN',
    `the ${role} role of this channel is already taken by a live process (one ${role} per channel across all processes)`,
  );
}

/** Whether `role` is held by a process that died without giving it back (false if free or alive). */
export function roleHolderDead(i32: Int32Array, role: Role, identity: ProcessIdentity): boolean {
  const pid = Atomics.load(i32, OWNER[role]);
  return pid !== 0 && identity.holderDead(role, pid);
}

/** Gives the role back (only if we still hold it). */
export function releaseRole(i32: Int32Array, role: Role, token: number): void {
  Atomics.compareExchange(i32, OWNER[role], token, 0);
}

/** Marks our side closed (the peer sees it with an Atomics.load of the closed word). */
export function markClosed(i32: Int32Array, role: Role): void {
  Atomics.or(i32, CLOSED, CLOSED_BIT[role]);
}

export function isClosed(i32: Int32Array, role: Role): boolean {
  return (Atomics.load(i32, CLOSED) & CLOSED_BIT[role]) !== 0;
}
