// Liveness of the park/wake protocol: a test makes a side park, has the peer publish (or free
// space) once the side's park word says it sleeps, and asserts the side resumed within WAKE_MS of
// that publish, far below the deadline the wait was given (DEADLINE_MS).
//
// A side whose wake was lost sleeps to its deadline, finds its message there and returns as if all
// were well: the deadline of a timed wait is therefore 20 x WAKE_MS, so that a lost wake fails as
// "woke 1000 ms after the publish" in about a second, not after ten.
//
// Why WAKE_MS is half a slice and not "1 s": a parked side also wakes by itself at the end of each
// slice (SLICE_MS, lib/core/park.ts: to see whether the peer thread or process died), re-checks its
// condition and returns. A lost wake then costs the rest of the slice, not the whole deadline: the
// peer publishes right after it sees the park word set, so early in the slice, and the side resumes
// ~SLICE_MS later. A bound of 1 s would let that pass; SLICE_MS / 2 fails it. A real wake takes
// well under that on a loaded 2-core machine (measured: p99 4 ms, max 13 ms with four busy loops;
// 64 and 94 ms seen with a load average of 9 on 2 cores, which a 50 ms bound failed).
import { expect } from 'vitest';
import * as L from '../../lib/core/layout.js';
import { SLICE_MS } from '../../lib/core/park.js';
import { waitFor } from './workers.js';

export const WAKE_MS = SLICE_MS / 2;
export const DEADLINE_MS = 20 * WAKE_MS;
/**
 * Blocking calls that may take WAKE_MS or more in a long run between two busy sides (seconds of
 * work on a loaded 2-core machine, where a side is sometimes descheduled that long): see
 * test/fixtures/slow-calls.mjs. A run with lost wakes has one per park, hundreds.
 */
export const MAX_SLOW_IN_LONG_RUNS = 20;
/** How long to poll for a side to park (it parks within microseconds; this only bounds the loop). */
const PARK_LIMIT_MS = 10_000;

export const RX_PARKED = L.RX_PARKED_OFFSET >> 2;
export const TX_PARKED = L.TX_PARKED_OFFSET >> 2;
/**
 * The low word of a side's parks counter (its stats block): 1 once that side has parked the first
 * time. A side sets its park word, then re-checks for a message (or room), and only if there is none
 * counts the park and sleeps: a peer that acts on the park word can land in between, so the side
 * never sleeps. A test that needs it asleep (or about to be, with nothing left to re-check) waits
 * for this word instead.
 */
export const RX_PARKS = L.wordAt(L.RX_STATS_OFFSET) + L.STAT_W.PARKS;
export const TX_PARKS = L.wordAt(L.TX_STATS_OFFSET) + L.STAT_W.PARKS;

/** A clock comparable between threads and processes (each one's own origin plus its monotonic time), ms. */
export const now = (): number => performance.timeOrigin + performance.now();

/** Polls (bounded) until park word `word` of `w` is set: that side is asleep or about to sleep. */
export async function untilParked(w: Int32Array, word: number, limitMs = PARK_LIMIT_MS): Promise<void> {
  const parked = await waitFor(() => Atomics.load(w, word) === 1, limitMs);
  expect(parked, `park word ${word === RX_PARKED ? 'RX_PARKED' : 'TX_PARKED'} set within ${limitMs} ms`).toBe(true);
}

/** Asserts a parked side resumed within WAKE_MS of the publish that had to wake it. */
export function expectWoken(publishedAt: number, resumedAt: number, what = 'the parked side'): void {
  const ms = resumedAt - publishedAt;
  expect(ms, `${what} woke ${ms.toFixed(1)} ms after the peer's publish (bound ${WAKE_MS} ms: a lost wake?)`).toBeLessThan(WAKE_MS);
}

/**
 * Times the blocking calls of a stream in which each side only waits for the other: a call that
 * took WAKE_MS or more probably slept through a lost wake (up to its slice's end or deadline). A
 * few are allowed (a GC pause, a descheduled peer on a loaded machine: 2, or 1% of the calls in a
 * long stream); a lost wake makes nearly every parked call slow. Past that, `tooMany` tells the
 * loop to stop.
 */
export class SlowCalls {
  static readonly ALLOWED = 2;
  count = 0;
  calls = 0;

  async time<T>(call: () => T | Promise<T>): Promise<T> {
    const t0 = now();
    try {
      return await call();
    } finally {
      this.calls++;
      if (now() - t0 >= WAKE_MS) this.count++;
    }
  }

  get allowed(): number {
    return Math.max(SlowCalls.ALLOWED, Math.floor(this.calls / 100));
  }

  get tooMany(): boolean {
    return this.count > this.allowed;
  }

  expectFew(what: string): void {
    expect(this.count, `${this.count} of ${this.calls} ${what} took ${WAKE_MS} ms or more: lost wakes?`).toBeLessThanOrEqual(this.allowed);
  }
}
