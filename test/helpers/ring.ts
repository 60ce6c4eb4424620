// Direct access to a channel's shared memory, for tests that inspect or corrupt it.
import type { Channel } from '../../lib/index.js';
import * as L from '../../lib/core/layout.js';

export const words = (ch: Channel<any>): Int32Array => new Int32Array(ch.handle.buffer, ch.handle.byteOffset);
export const bytes = (ch: Channel<any>): Uint8Array => new Uint8Array(ch.handle.buffer, ch.handle.byteOffset);

export const tailOf = (ch: Channel<any>): number => Atomics.load(words(ch), L.TAIL_OFFSET >> 2) >>> 0;
export const headOf = (ch: Channel<any>): number => Atomics.load(words(ch), L.HEAD_OFFSET >> 2) >>> 0;

/** Sets both positions (before any role is claimed: the sides read them when they start). */
export function setPositions(ch: Channel<any>, pos: number): void {
  Atomics.store(words(ch), L.TAIL_OFFSET >> 2, pos | 0);
  Atomics.store(words(ch), L.HEAD_OFFSET >> 2, pos | 0);
}

/** Writes a record header (length, type) at data offset `off`. */
export function writeRecordHeader(ch: Channel<any>, off: number, length: number, type: number): void {
  const w = words(ch);
  w[(L.CONTROL_BYTES + off) >> 2] = length | 0;
  w[((L.CONTROL_BYTES + off) >> 2) + 1] = type | 0;
}
