// The one-sender / one-receiver rule, enforced in shared memory so it holds across threads.
import { RingwireError } from './errors.js';
import * as L from './layout.js';

export type Role = 'sender' | 'receiver';

const OWNER = { sender: L.SENDER_OWNER_OFFSET >> 2, receiver: L.RECEIVER_OWNER_OFFSET >> 2 } as const;
const CLOSED_BIT = { sender: L.SENDER_CLOSED, receiver: L.RECEIVER_CLOSED } as const;
const CLOSED = L.CLOSED_OFFSET >> 2;

let nextToken = 1;

/** Takes `role` or throws ERR_ROLE_TAKEN / ERR_CHANNEL_CLOSED; returns the token that releases it. */
export function claimRole(i32: Int32Array, role: Role): number {
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
