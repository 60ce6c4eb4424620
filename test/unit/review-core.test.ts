// Regressions found in review of the TypeScript core (ring, sender, receiver, waits).
import { describe, expect, it } from 'vitest';
import { Channel } from '../../lib/index.js';
import { Patience } from '../../lib/core/park.js';
import { words } from '../helpers/ring.js';
import { RX_PARKED, untilParked } from '../helpers/waits.js';

describe('review regressions', () => {
  it('uncork() during a reservation that padded the ring end does not publish the padding (abort() stays safe)', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    // Producer at offset 920: 104 contiguous bytes left, too few for a 200-byte record.
    for (const n of [400, 400, 96]) expect(tx.trySend(new Uint8Array(n))).toBe(true);
    for (let i = 0; i < 3; i++) expect(rx.tryRecv()).toBeDefined();
    expect(tx.reserve(200)).toBeDefined();
    tx.uncork(); // must not publish the padding record the claim wrote
    tx.abort();
    expect(rx.tryRecv()).toBeUndefined();
    expect(tx.trySend(new Uint8Array([1, 2, 3]))).toBe(true); // fits before the end: no padding now
    expect(rx.tryRecv()).toEqual(new Uint8Array([1, 2, 3]));
    expect(tx.trySend(new Uint8Array(300).fill(4))).toBe(true);
    expect(rx.tryRecv()).toEqual(new Uint8Array(300).fill(4));
  });

  it('a corked trySend of a fragmented message that finds no room publishes what is corked', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 4096, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    tx.cork();
    expect(tx.trySend(new Uint8Array(2000).fill(1))).toBe(true);
    expect(tx.trySend(new Uint8Array(2100))).toBe(false); // fragmented, all-at-once, no room
    expect(rx.tryRecv()).toEqual(new Uint8Array(2000).fill(1)); // the corked message is visible
    expect(rx.tryRecv()).toBeUndefined(); // and its space handed back by the next receive call
    expect(tx.trySend(new Uint8Array(2100).fill(2))).toBe(true);
    tx.uncork();
    expect(rx.tryRecv()).toEqual(new Uint8Array(2100).fill(2));
  });

  it('a queued send() sends the bytes as they were at call time', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    while (tx.trySend(new Uint8Array(100)));
    const msg = new Uint8Array(10).fill(1);
    const sent = tx.send(msg);
    msg.fill(2); // after the call: must not change what is sent
    const got: Uint8Array[] = [];
    while (got.length < 100) {
      const m = rx.tryRecv();
      if (m !== undefined) got.push(m);
      else if (got.at(-1)?.length === 10) break;
      else await new Promise((r) => setTimeout(r, 1));
    }
    await sent;
    expect(got.at(-1)).toEqual(new Uint8Array(10).fill(1));
  });

  it('commit(len) rejects len beyond the reserved size', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes', maxMessageBytes: 4 });
    const tx = ch.sender();
    const rx = ch.receiver();
    tx.reserve(1)![0] = 5;
    expect(() => tx.commit(8)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    tx.commit(1);
    expect(rx.tryRecv()).toEqual(new Uint8Array([5]));
  });

  it('channel.close() while sender.close() waits for pending sends still ends the stream', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    const other = Channel.attach<Uint8Array>(ch.handle);
    while (tx.trySend(new Uint8Array(100)));
    const pending = tx.send(new Uint8Array(100)).catch((e: { code: string }) => e.code);
    const closing = tx.close();
    await ch.close();
    expect(await pending).toBe('ERR_CHANNEL_CLOSED');
    await closing;
    expect(other.senderClosed).toBe(true);
    const rx = other.receiver();
    let n = 0;
    await expect(
      (async () => {
        for await (const _ of rx) n++;
      })(),
    ).resolves.toBeUndefined();
    expect(n).toBeGreaterThan(0);
  });

  it('a queued recv() times out / aborts even while an earlier recv() waits without limit', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const rx = ch.receiver();
    const tx = ch.sender();
    const first = rx.recv();
    const t0 = performance.now();
    await expect(rx.recv({ timeout: 30 })).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    expect(performance.now() - t0).toBeLessThan(1000);
    const ac = new AbortController();
    const aborted = rx.recv({ signal: ac.signal });
    ac.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    // The skipped calls took nothing: the first recv gets the next message, then the next one.
    tx.trySend(new Uint8Array([1]));
    expect(await first).toEqual(new Uint8Array([1]));
    const next = rx.recv();
    tx.trySend(new Uint8Array([2]));
    expect(await next).toEqual(new Uint8Array([2]));
  });

  it('a queued send() times out behind a send() that waits without limit, and sends nothing', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    let filled = 0;
    while (tx.trySend(new Uint8Array([filled & 255]))) filled++;
    const first = tx.send(new Uint8Array([200]));
    await expect(tx.send(new Uint8Array([201]), { timeout: 30 })).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    const third = tx.send(new Uint8Array([202]));
    const got: number[] = [];
    while (got.length < filled + 2) {
      const m = rx.tryRecv();
      if (m !== undefined) got.push(m[0]!);
      else await new Promise((r) => setTimeout(r, 1));
    }
    await first;
    await third;
    expect(got.slice(filled)).toEqual([200, 202]);
  });

  it('tryRecv() and drain() let earlier pending recv() calls go first', async () => {
    const ch = Channel.create<number>({ capacity: 1024, spinMicros: 0 });
    const tx = ch.sender();
    const rx = ch.receiver();
    const first = rx.recv({ timeout: 10_000 });
    expect(tx.trySend(1)).toBe(true);
    expect(tx.trySend(2)).toBe(true);
    expect(rx.tryRecv()).toBeUndefined(); // recv() is pending: it takes message 1
    expect(rx.drain(() => undefined)).toBe(0);
    expect(await first).toBe(1);
    expect(rx.tryRecv()).toBe(2);
  });

  it('channel.close() with a parked recv() gives the role back only once that recv has settled', async () => {
    const ch = Channel.create<number>({ capacity: 1024, spinMicros: 0 });
    const rx = ch.receiver();
    const parked = rx.recv({ timeout: 10_000 }).catch((e) => e.code);
    await untilParked(words(ch), RX_PARKED);
    const closing = ch.close();
    const other = Channel.attach<number>(ch.handle);
    // Synchronously after close() the parked call cannot have settled yet: the role is still held.
    expect(() => other.receiver()).toThrow(expect.objectContaining({ code: 'ERR_ROLE_TAKEN' }));
    expect(await parked).toBe('ERR_CHANNEL_CLOSED');
    await closing;
    expect(other.receiver()).toBeDefined(); // free once the parked call is gone
  });

  it("drain(): the messages passed to a callback that throws, that one included, count in stats().received", () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    for (let i = 0; i < 5; i++) expect(tx.trySend(new Uint8Array(i + 1).fill(i))).toBe(true);
    expect(() =>
      rx.drain((view, offset) => {
        if (view[offset] === 2) throw new Error('callback failed');
      }),
    ).toThrow('callback failed');
    expect(ch.stats().received).toMatchObject({ messages: 3, bytes: 1 + 2 + 3 });
    expect(rx.drain(() => undefined)).toBe(2);
    expect(ch.stats().received).toMatchObject({ messages: 5, bytes: 1 + 2 + 3 + 4 + 5 });
  });

  it('trySend sizes a Uint8Array subclass by its bytes, not by an overridden length: all of them are sent, and one with no room writes nothing', () => {
    // A growable buffer whose `length` says how much of it is in use: its bytes are still all of it.
    class Chunk extends Uint8Array {}
    Object.defineProperty(Chunk.prototype, 'length', { get: () => 2 });
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    expect(tx.trySend(new Chunk(300).fill(7))).toBe(true);
    expect(rx.tryRecv()).toEqual(new Uint8Array(300).fill(7));
    expect(rx.tryRecv()).toBeUndefined(); // hands back those 312 bytes
    for (const n of [280, 304]) expect(tx.trySend(new Uint8Array(n))).toBe(true); // records 312..600..912
    expect(rx.tryRecv()).toHaveLength(280);
    expect(rx.tryRecv()).toHaveLength(304); // the sender now sees the reader at 600
    expect(tx.trySend(new Uint8Array(96).fill(1))).toBe(true); // A, left unread: 912..1016
    expect(tx.trySend(new Uint8Array(496))).toBe(true); // padding 1016..1024, then 0..504
    // 96 bytes free at 504; A's record lies 408 bytes further on.
    expect(tx.trySend(new Chunk(410).fill(9))).toBe(false); // a 424-byte record: no room
    expect(rx.tryRecv()).toEqual(new Uint8Array(96).fill(1));
    expect(rx.tryRecv()).toHaveLength(496);
    expect(rx.tryRecv()).toBeUndefined();
  });

  it("'backoff' does not poll or sleep past the caller's deadline", () => {
    let n = 0;
    // spinMicros 0: only the pause-hinted polls and the sleeps, which must stop at the deadline.
    expect(new Patience({ wait: 'backoff', spinMicros: 0 }).hold(() => (n++, false), performance.now() - 1)).toBe(false);
    expect(n).toBeLessThanOrEqual(2); // one look in each phase; up to 1 ms of them without the deadline
  });

  it("'backoff' async waits end at the timeout, and at an abort during their yields, not 1 ms later", async () => {
    /** setImmediate turns until `p` settles (bounded). */
    const turnsUntil = async (p: Promise<unknown>): Promise<number> => {
      let settled = false;
      void p.finally(() => (settled = true));
      let turns = 0;
      while (!settled && turns < 10_000) {
        await new Promise((resolve) => setImmediate(resolve));
        turns++;
      }
      return turns;
    };
    const ch = Channel.create<number>({ capacity: 1024, wait: 'backoff', spinMicros: 0 });
    const rx = ch.receiver();
    const timedOut = rx.recv({ timeout: 0 }).catch((e) => e.code);
    expect(await turnsUntil(timedOut)).toBeLessThanOrEqual(2);
    expect(await timedOut).toBe('ERR_TIMEOUT');

    const ac = new AbortController();
    const aborted = rx.recv({ signal: ac.signal }).catch((e) => e.code);
    await new Promise((resolve) => setImmediate(resolve)); // the wait has begun yielding
    ac.abort();
    expect(await turnsUntil(aborted)).toBeLessThanOrEqual(2);
    expect(await aborted).toBe('ERR_ABORTED');
  });

  it('a drain() callback that calls tryRecv() gets the next message, and drain() goes on after it: each once, in order', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    for (let i = 0; i < 6; i++) expect(tx.trySend(new Uint8Array([i]))).toBe(true);
    const seen: number[] = [];
    const n = rx.drain((view, offset) => {
      seen.push(view[offset]!);
      if (view[offset] === 1) seen.push(rx.tryRecv()![0]!);
    });
    expect(seen).toEqual([0, 1, 2, 3, 4, 5]);
    expect(n).toBe(5);
    expect(rx.tryRecv()).toBeUndefined();
    expect(ch.stats().received.messages).toBe(6);
  });
});
