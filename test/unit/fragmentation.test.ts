// Messages larger than one record (capacity / 2 - 8 bytes of payload) travel as FRAG_FIRST,
// FRAG_MIDDLE..., FRAG_LAST records and are reassembled; only maxMessageBytes rejects a message.
import { afterEach, describe, expect, it } from 'vitest';
import { Channel, type Receiver, type Sender } from '../../lib/index.js';
import * as L from '../../lib/core/layout.js';
import { bytes, words } from '../helpers/ring.js';
import * as seq from '../helpers/sequence.js';
import { Actor } from '../helpers/workers.js';

const pattern = (n: number, tag: number) => {
  const m = new Uint8Array(n);
  seq.fill(m, n, tag);
  return m;
};

/** Sends with send() and receives with recv() in this thread, concurrently (so the ring can be smaller than the message). */
async function roundTrip(tx: Sender<Uint8Array>, rx: Receiver<Uint8Array>, m: Uint8Array) {
  const [, got] = await Promise.all([tx.send(m, { timeout: 20_000 }), rx.recv({ timeout: 20_000 })]);
  return got;
}

describe('fragment boundaries', () => {
  for (const capacity of [1024, 4096]) {
    const mrp = L.maxRecordPayload(capacity);
    const first = mrp - L.FRAG_PREFIX_BYTES; // payload bytes of a FRAG_FIRST record
    const sizes = [
      0, 1, 7, 8, 9, mrp - 9, mrp - 8, mrp - 1, mrp, mrp + 1, mrp + 7, mrp + 8, mrp + 9,
      first + mrp - 1, first + mrp, first + mrp + 1, // exactly FIRST + one full LAST
      first + 2 * mrp - 1, first + 2 * mrp, first + 2 * mrp + 1, // FIRST + MIDDLE + full LAST
      capacity - 1, capacity, capacity + 1, 3 * capacity + 5, 10 * capacity,
    ];
    it(`capacity ${capacity}: every size around the record and fragment boundaries round-trips (send / recv)`, async () => {
      const ch = Channel.create<Uint8Array>({ capacity, codec: 'bytes' });
      const tx = ch.sender();
      const rx = ch.receiver();
      for (const [k, n] of sizes.entries()) {
        const got = await roundTrip(tx, rx, pattern(n, k));
        expect(got.length).toBe(n);
        expect(seq.checkBytes(got, n, k)).toBe(true);
      }
      expect(ch.stats().received).toMatchObject({ messages: sizes.length, dropped: 0 });
    });

    it(`capacity ${capacity}: trySend writes fragmented messages all at once when they fit, throws ERR_TOO_LARGE_FOR_TRY_SEND when they never can`, () => {
      const ch = Channel.create<Uint8Array>({ capacity, codec: 'bytes' });
      const tx = ch.sender();
      const rx = ch.receiver();
      expect(L.fitsAtOnce(capacity, mrp)).toBe(true);
      // A received message's space goes back at the next receive call (at-least-once), hence
      // the tryRecv() → undefined after each message: the ring is empty again.
      expect(tx.trySend(pattern(mrp, 1))).toBe(true);
      expect(seq.checkBytes(rx.tryRecv()!, mrp, 1)).toBe(true);
      expect(rx.tryRecv()).toBeUndefined();
      // Fragmented but within the bound: written whole by trySend, reassembled by tryRecv.
      for (const n of [mrp + 1, mrp + 64]) {
        expect(L.fitsAtOnce(capacity, n)).toBe(true);
        expect(tx.trySend(pattern(n, 5))).toBe(true);
        expect(seq.checkBytes(rx.tryRecv()!, n, 5)).toBe(true);
        expect(rx.tryRecv()).toBeUndefined();
      }
      // Fits an empty ring but not the room left now: false, nothing written.
      expect(tx.trySend(pattern(mrp, 6))).toBe(true);
      expect(tx.trySend(pattern(mrp + 64, 7))).toBe(false);
      expect(seq.checkBytes(rx.tryRecv()!, mrp, 6)).toBe(true);
      expect(rx.tryRecv()).toBeUndefined();
      // Never fits at once: a misuse error naming the sizes.
      for (const n of [capacity, 4 * capacity]) {
        expect(L.fitsAtOnce(capacity, n)).toBe(false);
        expect(() => tx.trySend(new Uint8Array(n))).toThrow(expect.objectContaining({ code: 'ERR_TOO_LARGE_FOR_TRY_SEND' }));
      }
      expect(() => tx.trySend(new Uint8Array(capacity))).toThrow(new RegExp(`${capacity} bytes.*${capacity}-byte ring`));
      // Nothing was written by the refusals.
      expect(rx.tryRecv()).toBeUndefined();
      expect(tx.trySend(pattern(3, 2))).toBe(true);
      expect(rx.tryRecv()).toEqual(pattern(3, 2));
    });

    it(`capacity ${capacity}: at every ring position, trySend of the largest at-once size succeeds on an empty ring; one byte more never does`, () => {
      // The largest size that can be written at once (fitsAtOnce is monotonic in the size).
      let atOnce = mrp;
      while (atOnce < capacity && L.fitsAtOnce(capacity, atOnce + 1)) atOnce++;
      const ch = Channel.create<Uint8Array>({ capacity, codec: 'bytes' });
      const tx = ch.sender();
      const rx = ch.receiver();
      let bad = 0;
      // Move the empty ring's position 8 bytes at a time over a whole lap: a wrap falls at every
      // possible place inside the message.
      for (let step = 0; step < capacity / 8; step++) {
        for (const [k, n] of [mrp, mrp + 1, atOnce].entries()) {
          if (!tx.trySend(pattern(n, k))) bad++;
          const got = rx.tryRecv();
          if (got === undefined || got.length !== n || !seq.checkBytes(got, n, k)) bad++;
          if (rx.tryRecv() !== undefined) bad++; // hands the message's space back
        }
        expect(tx.trySend(new Uint8Array(0))).toBe(true); // 8 ring bytes: the next position
        expect(rx.tryRecv()).toEqual(new Uint8Array(0));
        expect(rx.tryRecv()).toBeUndefined();
        expect(() => tx.trySend(new Uint8Array(atOnce + 1))).toThrow(expect.objectContaining({ code: 'ERR_TOO_LARGE_FOR_TRY_SEND' }));
      }
      expect(bad).toBe(0);
      expect(rx.tryRecv()).toBeUndefined();
    });
  }

  it('the records on the wire: FRAG_FIRST carries the total length, then MIDDLE and LAST', async () => {
    const capacity = 4096;
    const mrp = L.maxRecordPayload(capacity);
    const ch = Channel.create<Uint8Array>({ capacity, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    const n = mrp - 8 + 10; // FIRST (full record) + LAST of 10 bytes: fits an empty ring
    await tx.send(pattern(n, 3), { timeout: 1000 });
    const w = words(ch);
    const at = L.CONTROL_BYTES >> 2;
    expect([w[at], w[at + 1], w[at + 2], w[at + 3]]).toEqual([mrp, L.TYPE_FRAG_FIRST, n, 0]);
    const last = (L.CONTROL_BYTES + L.maxRecordBytes(capacity)) >> 2;
    expect([w[last], w[last + 1]]).toEqual([10, L.TYPE_FRAG_LAST]);
    expect(Buffer.from(bytes(ch).subarray(L.CONTROL_BYTES + 16, L.CONTROL_BYTES + 20))).toEqual(Buffer.from(pattern(n, 3).subarray(0, 4)));
    const got = rx.tryRecv()!;
    expect(seq.checkBytes(got, n, 3)).toBe(true);
  });

  it('string and json messages over one record (multi-byte UTF-8 included) reassemble', async () => {
    for (const codec of ['string', 'json'] as const) {
      const ch = Channel.create({ capacity: 1024, codec });
      const tx = ch.sender();
      const rx = ch.receiver();
      // 170 units: the 3-bytes-per-unit bound (510) exceeds one record (504), the UTF-8 (170) does not.
      const values = ['a'.repeat(170), 'é€😀'.repeat(1000), 'x'.repeat(504), 'x'.repeat(505), 'ü'.repeat(252), 'ü'.repeat(253)];
      for (const v of values) {
        const [, got] = await Promise.all([tx.send(v, { timeout: 5000 }), rx.recv({ timeout: 5000 })]);
        expect(got).toBe(v);
      }
      expect(tx.trySend('a'.repeat(170))).toBe(true);
      expect(rx.tryRecv()).toBe('a'.repeat(170));
    }
  });
});

describe('maxMessageBytes', () => {
  it('accepts exactly maxMessageBytes (fragmented), rejects one more byte naming both sizes, and sends nothing', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes', maxMessageBytes: 3000 });
    const tx = ch.sender();
    const rx = ch.receiver();
    const err = { name: 'RingwireRangeError', code: 'ERR_MESSAGE_TOO_LARGE', message: expect.stringMatching(/3001.*3000/) };
    expect(() => tx.trySend(new Uint8Array(3001))).toThrow(expect.objectContaining(err));
    expect(() => tx.sendSync(new Uint8Array(3001))).toThrow(expect.objectContaining(err));
    await expect(tx.send(new Uint8Array(3001))).rejects.toMatchObject(err);
    const [, got] = await Promise.all([tx.send(pattern(3000, 5), { timeout: 5000 }), rx.recv({ timeout: 5000 })]);
    expect(seq.checkBytes(got, 3000, 5)).toBe(true);
    expect(rx.tryRecv()).toBeUndefined();
    expect(ch.stats().sent.messages).toBe(1);
  });

  it('applies to the encoded size, on every path: small limit, string written straight into the ring', () => {
    const ch = Channel.create<string>({ capacity: 4096, codec: 'string', maxMessageBytes: 10 });
    const tx = ch.sender();
    const rx = ch.receiver();
    expect(tx.trySend('0123456789')).toBe(true);
    expect(() => tx.trySend('é'.repeat(6))).toThrow(expect.objectContaining({ code: 'ERR_MESSAGE_TOO_LARGE', message: expect.stringMatching(/12.*10/) }));
    expect(() => tx.trySend('01234567890')).toThrow(expect.objectContaining({ code: 'ERR_MESSAGE_TOO_LARGE' }));
    expect(tx.trySend('ok')).toBe(true);
    expect([rx.tryRecv(), rx.tryRecv(), rx.tryRecv()]).toEqual(['0123456789', 'ok', undefined]);
  });

  it('a FRAG_FIRST announcing more than maxMessageBytes is corruption, not an allocation', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes', maxMessageBytes: 2000 });
    const rx = ch.receiver();
    const w = words(ch);
    const at = L.CONTROL_BYTES >> 2;
    w[at] = 16;
    w[at + 1] = L.TYPE_FRAG_FIRST;
    w[at + 2] = 0x7fffffff; // total
    Atomics.store(w, L.TAIL_OFFSET >> 2, 24);
    expect(() => rx.tryRecv()).toThrow(expect.objectContaining({ code: 'ERR_CORRUPT' }));
  });
});

describe('abandoned fragmented sends', () => {
  it('a send that times out part-way delivers nothing: the receiver drops the partial message', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    // FIRST and MIDDLE fill the ring; nobody reads, so the rest times out.
    await expect(tx.send(pattern(3000, 1), { timeout: 30 })).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    const [, got] = await Promise.all([tx.send(pattern(20, 2), { timeout: 5000 }), rx.recv({ timeout: 5000 })]);
    expect(got).toEqual(pattern(20, 2));
    expect(ch.stats().received.dropped).toBe(1);
    expect(ch.stats().received.messages).toBe(1);
  });

  it('a send aborted part-way delivers nothing; the next fragmented message arrives whole', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    const ac = new AbortController();
    const p = tx.send(pattern(5000, 1), { signal: ac.signal });
    setTimeout(() => ac.abort(new Error('stop')), 20);
    await expect(p).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    const [, got] = await Promise.all([tx.send(pattern(4000, 2), { timeout: 5000 }), rx.recv({ timeout: 5000 })]);
    expect(seq.checkBytes(got, 4000, 2)).toBe(true);
    expect(got.length).toBe(4000);
    expect(ch.stats().received.dropped).toBe(1);
  });

  it('a partial message followed by the end of the stream is dropped, and the iteration ends', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    expect(tx.trySend(pattern(10, 1))).toBe(true);
    await expect(tx.send(pattern(3000, 2), { timeout: 20 })).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    await tx.close();
    const got: Uint8Array[] = [];
    for await (const m of rx) got.push(m);
    expect(got).toEqual([pattern(10, 1)]);
    expect(ch.stats().received.dropped).toBe(1);
  });
});

describe('64 MiB through a 1 MiB ring, across a worker', () => {
  let actor: Actor | undefined;
  afterEach(async () => {
    await actor?.terminate();
    actor = undefined;
  });
  const SIZE = 64 << 20;

  it('worker sendSync -> main recv', async () => {
    const ch = Channel.create<Uint8Array>({ codec: 'bytes' });
    expect(ch.capacity).toBe(1 << 20);
    const rx = ch.receiver();
    actor = new Actor(ch.handle);
    await actor.call('claim', ['sender']);
    const sending = actor.call('sendPattern', [SIZE, 77, 'sync']);
    const got = await rx.recv({ timeout: 60_000 });
    expect(await sending).toBe(SIZE);
    expect(got.length).toBe(SIZE);
    expect(seq.checkBytes(got, SIZE, 77)).toBe(true);
    expect(ch.stats().received).toMatchObject({ messages: 1, bytes: SIZE, dropped: 0 });
  });

  it('main send -> worker recvSync', async () => {
    const ch = Channel.create<Uint8Array>({ codec: 'bytes' });
    const tx = ch.sender();
    actor = new Actor(ch.handle);
    await actor.call('claim', ['receiver']);
    const receiving = actor.call('recvPattern', [78, 'sync']);
    await tx.send(pattern(SIZE, 78), { timeout: 60_000 });
    expect(await receiving).toEqual({ length: SIZE, ok: true });
    expect(ch.stats().sent).toMatchObject({ messages: 1, bytes: SIZE });
  });

  it('main sendSync -> worker recv (async), v8 codec: a 64 MiB typed array inside an object', async () => {
    const ch = Channel.create<unknown>();
    const tx = ch.sender();
    actor = new Actor(ch.handle);
    await actor.call('claim', ['receiver']);
    const receiving = actor.call('recv', [{ timeout: 60_000 }]);
    const big = pattern(SIZE, 79);
    tx.sendSync({ name: 'big', data: big }, { timeout: 60_000 });
    const got = (await receiving) as { name: string; data: Uint8Array };
    expect(got.name).toBe('big');
    expect(got.data.length).toBe(SIZE);
    expect(seq.checkBytes(got.data, SIZE, 79)).toBe(true);
  });
});
