// The batch API (trySendMany, sendMany) and the claim API (tryClaim + sender.buffer, committed with
// commit(), batched with cork()): one publication per batch, all-or-nothing per message, and every
// receive path (TS and C++) reads what they write.
import { GCProfiler } from 'node:v8';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Channel, type Receiver } from '../../lib/index.js';
import * as L from '../../lib/core/layout.js';
import { headOf, setPositions, tailOf } from '../helpers/ring.js';
import * as seq from '../helpers/sequence.js';
import { testing } from '../helpers/testing-addon.js';
import { Actor, outcome } from '../helpers/workers.js';

const TAIL = L.TAIL_OFFSET >> 2;
let actor: Actor | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await actor?.terminate();
  actor = undefined;
});

/** Sequence messages first..first+count-1 (sizes min..max, seed 0). */
const messages = (first: number, count: number, min: number, max: number) =>
  Array.from({ length: count }, (_, k) => seq.message(first + k, 0, min, max));
const checkAll = (got: Uint8Array[], first: number, min: number, max: number) =>
  got.every((m, k) => seq.check(m, m.length, first + k, 0, min, max));

/** Counts the stores of the ring's tail (publications) made while `fn` runs. */
function publications(fn: () => void): number {
  const store = vi.spyOn(Atomics, 'store');
  try {
    fn();
    return store.mock.calls.filter((c) => c[1] === TAIL).length;
  } finally {
    store.mockRestore();
  }
}

describe('trySendMany', () => {
  it('writes the messages in order and publishes them with one store of tail', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 65536, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    const batch = messages(0, 100, 0, 200);
    let sent = 0;
    expect(publications(() => (sent = tx.trySendMany(batch)))).toBe(1);
    expect(sent).toBe(100);
    // Per message, trySend publishes each (the comparison that makes the count above mean something).
    expect(publications(() => batch.slice(0, 10).forEach((m) => tx.trySend(m)))).toBe(10);
    const got: Uint8Array[] = [];
    for (let m = rx.tryRecv(); m !== undefined; m = rx.tryRecv()) got.push(m);
    expect(got.length).toBe(110);
    expect(checkAll(got.slice(0, 100), 0, 0, 200)).toBe(true);
  });

  it('start/end select a slice; the count is of the slice', () => {
    const ch = Channel.create<string>({ capacity: 4096, codec: 'string' });
    const tx = ch.sender();
    const rx = ch.receiver();
    expect(tx.trySendMany(['a', 'b', 'c', 'd'], 1, 3)).toBe(2);
    expect([rx.tryRecv(), rx.tryRecv(), rx.tryRecv()]).toEqual(['b', 'c', undefined]);
    expect(() => tx.trySendMany(['a'], 0, 2)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  });

  it('stops at the first message that does not fit: all or nothing per message, fragmented ones included', () => {
    const capacity = 4096;
    const ch = Channel.create<Uint8Array>({ capacity, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    const big = L.maxRecordPayload(capacity) + 500; // two fragments, fits the empty ring at once
    const batch = [new Uint8Array(1500).fill(1), new Uint8Array(big).fill(2), new Uint8Array(10).fill(3)];
    expect(tx.trySendMany(batch)).toBe(1); // the fragmented message does not fit behind the first
    const published = tailOf(ch);
    expect(published).toBe(L.recordBytes(1500)); // nothing of the fragmented message is out
    expect(rx.tryRecv()).toEqual(batch[0]);
    expect(rx.tryRecv()).toBeUndefined(); // hands the space of the message it returned back
    expect(tx.trySendMany(batch, 1)).toBe(2); // resumes where it stopped
    expect(rx.tryRecv()).toEqual(batch[1]);
    expect(rx.tryRecv()).toEqual(batch[2]);
    expect(rx.tryRecv()).toBeUndefined();
  });

  it('a message that can never be written at once throws, as trySend does, after sending those before it', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    expect(() => tx.trySendMany([new Uint8Array([1]), new Uint8Array(5000), new Uint8Array([3])])).toThrow(
      expect.objectContaining({ code: 'ERR_TOO_LARGE_FOR_TRY_SEND' }),
    );
    expect([rx.tryRecv(), rx.tryRecv()]).toEqual([new Uint8Array([1]), undefined]);
  });

  it('while corked it does not publish: uncork() does', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 4096, codec: 'bytes' });
    const tx = ch.sender();
    tx.cork();
    expect(tx.trySendMany(messages(0, 5, 1, 50))).toBe(5);
    expect(tailOf(ch)).toBe(0);
    expect(tx.corked).toBe(true);
    tx.uncork();
    expect(tailOf(ch)).toBeGreaterThan(0);
  });

  type Path = (rx: Receiver<Uint8Array>) => Promise<Uint8Array[]>;
  const untilEnd = async (next: () => Promise<Uint8Array> | Uint8Array): Promise<Uint8Array[]> => {
    const got: Uint8Array[] = [];
    for (let k = 0; k < 10_000; k++) {
      try {
        got.push(await next());
      } catch (err: any) {
        if (err.code === 'ERR_CHANNEL_CLOSED') return got;
        throw err;
      }
    }
    throw new Error('no end after 10000 messages');
  };
  const PATHS: Record<string, Path> = {
    tryRecv: async (rx) => {
      const got: Uint8Array[] = [];
      for (let m = rx.tryRecv(); m !== undefined; m = rx.tryRecv()) got.push(m);
      await expect(rx.recv({ timeout: 10_000 })).rejects.toMatchObject({ code: 'ERR_CHANNEL_CLOSED' }); // then the end
      return got;
    },
    recv: (rx) => untilEnd(() => rx.recv({ timeout: 10_000 })),
    recvSync: (rx) => untilEnd(() => rx.recvSync({ timeout: 10_000 })),
    iteration: async (rx) => {
      const got: Uint8Array[] = [];
      for await (const m of rx) got.push(m);
      return got;
    },
    drain: async (rx) => {
      const got: Uint8Array[] = [];
      rx.drain((view, offset, length) => got.push(Uint8Array.prototype.slice.call(view, offset, offset + length)));
      await expect(rx.recv({ timeout: 10_000 })).rejects.toMatchObject({ code: 'ERR_CHANNEL_CLOSED' });
      return got;
    },
  };
  for (const [name, read] of Object.entries(PATHS)) {
    it(`${name} reads a batch with fragmented messages whole and in order, then the end after close()`, async () => {
      const capacity = 16384;
      const ch = Channel.create<Uint8Array>({ capacity, codec: 'bytes' });
      const tx = ch.sender();
      const rx = ch.receiver();
      // Sizes up to 3x one record: fragmented messages inside the batch.
      const max = 3 * L.maxRecordPayload(capacity) > capacity ? capacity - 2048 : 3 * L.maxRecordPayload(capacity);
      const batch = messages(0, 40, 0, max);
      let sent = 0;
      const got: Uint8Array[] = [];
      // Receive between batches so every message gets written (tryRecv-style paths read what is there).
      for (let round = 0; round < 1000 && sent < batch.length; round++) {
        sent += tx.trySendMany(batch, sent);
        if (sent < batch.length) for (let m = rx.tryRecv(); m !== undefined; m = rx.tryRecv()) got.push(m);
      }
      expect(sent).toBe(batch.length);
      await tx.close();
      got.push(...(await read(rx)));
      expect(got.length).toBe(batch.length);
      expect(checkAll(got, 0, 0, max)).toBe(true);
    });
  }

  it('positions wrap past 2^32 inside batches', () => {
    const capacity = 4096;
    const ch = Channel.create<Uint8Array>({ capacity, codec: 'bytes' });
    setPositions(ch, 0x1_0000_0000 - 3 * capacity - 8);
    const tx = ch.sender();
    const rx = ch.receiver();
    const all = messages(0, 600, 0, 300);
    let sent = 0;
    const got: Uint8Array[] = [];
    const keep = (view: Buffer, offset: number, length: number) => void got.push(Uint8Array.prototype.slice.call(view, offset, offset + length));
    for (let round = 0; round < 10_000 && got.length < all.length; round++) {
      sent += tx.trySendMany(all, sent, Math.min(all.length, sent + 17));
      rx.drain(keep);
    }
    expect(got.length).toBe(all.length);
    expect(checkAll(got, 0, 0, 300)).toBe(true);
    expect(headOf(ch)).toBeLessThan(0x1_0000_0000 - 3 * capacity); // wrapped
  });

  it('a C++ consumer reads what trySendMany writes (fragments included)', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 4096, codec: 'bytes' });
    const tx = ch.sender();
    const consumer = new (testing().NativeConsumer)(new Uint8Array(ch.handle.buffer));
    const all = messages(0, 500, 0, 3000);
    let sent = 0;
    let consumed = 0;
    for (let round = 0; round < 100_000 && consumed < all.length; round++) {
      sent += tx.trySendMany(all, sent, Math.min(all.length, sent + 8));
      consumed += consumer.consume(consumed, sent - consumed, 0, 0, 3000);
    }
    expect(consumed).toBe(all.length);
  });
});

describe('sendMany', () => {
  it('sends a batch far larger than the ring (fragments included) to a receiving worker, in order', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    actor = new Actor(ch.handle);
    await actor.call('claim', ['receiver']);
    const got = actor.call('recvSequence', [0, 300, 0, 0, 3000]);
    await tx.sendMany(messages(0, 300, 0, 3000), { timeout: 30_000 });
    expect(await got).toBe(300);
  });

  it('keeps call order with send(), and encodes at call time (the caller may reuse its buffers)', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    const filler = tx.send(new Uint8Array(600).fill(9)); // fits now
    const waiting = tx.send(new Uint8Array(600).fill(8)); // waits
    const reused = new Uint8Array(300).fill(1);
    const batch = tx.sendMany([reused, reused.slice().fill(2)]); // waits behind it
    reused.fill(7); // after the call: not what is sent
    const last = tx.send(new Uint8Array([3]));
    const got: number[] = [];
    for (let k = 0; k < 5; k++) got.push((await rx.recv({ timeout: 10_000 }))[0]!);
    await Promise.all([filler, waiting, batch, last]);
    expect(got).toEqual([9, 8, 1, 2, 3]);
  });

  it('a timeout rejects ERR_TIMEOUT; the messages before the one waiting were sent', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    const r = await outcome(tx.sendMany([new Uint8Array(400), new Uint8Array(400), new Uint8Array(400)], { timeout: 50 }));
    expect(r.error?.code).toBe('ERR_TIMEOUT');
    expect([rx.tryRecv()?.length, rx.tryRecv()?.length, rx.tryRecv()]).toEqual([400, 400, undefined]);
  });

  it('a worker producing with trySendMany, sendMany and tryClaim delivers every message in order', async () => {
    for (const mode of ['try', 'async', 'claim'] as const) {
      const ch = Channel.create<Uint8Array>({ capacity: 4096, codec: 'bytes' });
      const rx = ch.receiver();
      actor = new Actor(ch.handle);
      await actor.call('claim', ['sender']);
      // trySendMany: fragmented messages that fit the ring at once; sendMany streams larger ones.
      const max = { try: 3000, async: 5000, claim: L.maxRecordPayload(4096) }[mode]!;
      const done = actor.call('sendSequenceMany', [0, 3000, 0, 0, max, 64, mode]);
      let k = 0;
      for (; k < 3000; k++) {
        const m = await rx.recv({ timeout: 30_000 });
        if (!seq.check(m, m.length, k, 0, 0, max)) break;
      }
      expect(k).toBe(3000);
      expect(await done).toBe(3000);
      await actor.terminate();
      actor = undefined;
    }
  });
});

describe('tryClaim', () => {
  it('gives an offset in sender.buffer; commit() sends the bytes written there; corked claims publish once', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 4096, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    let n = 0;
    const count = publications(() => {
      tx.cork();
      for (let i = 0; i < 20; i++) {
        const at = tx.tryClaim(40);
        expect(at).toBeGreaterThan(0);
        seq.fill(tx.buffer, 30, i, at);
        tx.commit(30);
        n++;
      }
      tx.uncork();
    });
    expect(count).toBe(1);
    for (let i = 0; i < n; i++) expect(seq.checkBytes(rx.tryRecv()!, 30, i)).toBe(true);
    expect(rx.tryRecv()).toBeUndefined();
  });

  it('returns -1 when full, publishing the corked claims so the receiver can make room', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    tx.cork();
    let n = 0;
    for (let at = tx.tryClaim(100); at !== -1; at = tx.tryClaim(100), n++) {
      tx.buffer[at] = n;
      tx.commit(100);
    }
    expect(n).toBeGreaterThan(0);
    for (let i = 0; i < n; i++) expect(rx.tryRecv()?.[0]).toBe(i);
    tx.uncork();
  });

  it('one claim at a time (shared with reserve); sends refuse while one is open; abort() drops it', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    const at = tx.tryClaim(8);
    expect(() => tx.tryClaim(8)).toThrow(expect.objectContaining({ code: 'ERR_RESERVE' }));
    expect(() => tx.reserve(8)).toThrow(expect.objectContaining({ code: 'ERR_RESERVE' }));
    expect(() => tx.trySendMany([new Uint8Array(1)])).toThrow(expect.objectContaining({ code: 'ERR_RESERVE' }));
    tx.buffer.fill(5, at, at + 8);
    tx.abort();
    expect(rx.tryRecv()).toBeUndefined();
    expect(() => tx.commit(8)).toThrow(expect.objectContaining({ code: 'ERR_RESERVE' }));
    expect(() => tx.tryClaim(L.maxRecordPayload(1024) + 1)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => tx.tryClaim(1)).not.toThrow();
    expect(() => tx.commit(2)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' })); // more than claimed
  });

  it('close() with a claim open drops it: the receiver gets what was committed, then the end', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    tx.cork();
    tx.buffer[tx.tryClaim(1)] = 1;
    tx.commit(1);
    tx.buffer[tx.tryClaim(1)] = 2; // never committed
    await tx.close();
    const got: Uint8Array[] = [];
    for await (const m of rx) got.push(m);
    expect(got).toEqual([new Uint8Array([1])]);
    expect(() => tx.tryClaim(1)).toThrow(expect.objectContaining({ code: 'ERR_CHANNEL_CLOSED' }));
  });

  it('a C++ consumer reads claimed messages', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 4096, codec: 'bytes' });
    const tx = ch.sender();
    const consumer = new (testing().NativeConsumer)(new Uint8Array(ch.handle.buffer));
    let sent = 0;
    let consumed = 0;
    for (let round = 0; round < 100_000 && consumed < 2000; round++) {
      tx.cork();
      for (; sent < 2000; sent++) {
        const n = seq.size(sent, 0, 0, 200);
        const at = tx.tryClaim(n);
        if (at === -1) break;
        seq.fill(tx.buffer, n, sent, at);
        tx.commit(n);
      }
      tx.uncork();
      consumed += consumer.consume(consumed, sent - consumed, 0, 0, 200);
    }
    expect(consumed).toBe(2000);
  });
});

describe('allocation', () => {
  /** Garbage collections (any kind) while `fn` runs (v8.GCProfiler reports them synchronously). */
  function gcsDuring(fn: () => void): number {
    const profiler = new GCProfiler();
    profiler.start();
    try {
      fn();
    } catch (err) {
      profiler.stop();
      throw err;
    }
    return profiler.stop().statistics.length;
  }

  const MESSAGES = 4_000_000;
  const BATCH = 64;

  it('trySendMany + drain of bytes messages allocates nothing per message (no GC over 4 M messages)', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 65536, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    const batch = Array.from({ length: BATCH }, () => new Uint8Array(32).fill(1));
    let received = 0;
    const onMessage = (_view: Buffer, _offset: number, length: number) => void (received += length);
    const run = (count: number) => {
      for (let sent = 0; sent < count; ) {
        sent += tx.trySendMany(batch);
        rx.drain(onMessage);
      }
    };
    run(200_000); // warm up: optimised code, not what the start-up allocates
    // The control: the same loop and measurement see the garbage of a path that allocates one
    // small object per message (reserve() returns a new view each time).
    const views: Uint8Array[] = [];
    const control = gcsDuring(() => {
      for (let sent = 0; sent < MESSAGES; sent++) {
        views[sent & 1] = tx.reserve(32)!; // kept, so the view is really allocated
        tx.commit(32);
        if ((sent & 63) === 63) rx.drain(onMessage);
      }
      rx.drain(onMessage);
    });
    expect(control).toBeGreaterThanOrEqual(3);
    received = 0;
    const gcs = gcsDuring(() => run(MESSAGES));
    expect(received).toBeGreaterThanOrEqual(MESSAGES * 32);
    // At most one collection: one that earlier allocations had made due may fall in the window.
    expect(gcs).toBeLessThanOrEqual(1);
  });
});
