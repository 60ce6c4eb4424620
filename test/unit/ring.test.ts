// The ring itself, through the channel API with the 'bytes' codec: wrap-around under seeded random
// traffic, positions that wrap past 2^32, and what each side may (and may not) write.
import { describe, expect, it } from 'vitest';
import { Channel, type Receiver, type Sender } from '../../lib/index.js';
import * as L from '../../lib/core/layout.js';
import { bytes, headOf, setPositions, tailOf, words } from '../helpers/ring.js';
import * as seq from '../helpers/sequence.js';

/**
 * Random traffic: bursts of trySend until full or the burst ends, then bursts of tryRecv / drain
 * with a random max, every message checked against the sequence. Stops after `wraps` trips around
 * the ring (counted from the bytes the tail advanced) or `limit` rounds.
 */
function traffic(ch: Channel<Uint8Array>, tx: Sender<Uint8Array>, rx: Receiver<Uint8Array>, opts: { seed: number; min: number; max: number; wraps: number }) {
  const rand = seq.prng(opts.seed);
  const start = tailOf(ch);
  let sent = 0;
  let received = 0;
  let bad = 0;
  const verify = (view: Uint8Array, offset: number, length: number) => {
    if (!seq.check(view, length, received, opts.seed, opts.min, opts.max, offset)) bad++;
    received++;
  };
  let advanced = 0;
  for (let round = 0; round < 1_000_000 && advanced < opts.wraps * ch.capacity; round++) {
    const burst = seq.between(rand, 1, 40);
    for (let k = 0; k < burst; k++) {
      if (!tx.trySend(seq.message(sent, opts.seed, opts.min, opts.max))) break;
      sent++;
    }
    const take = seq.between(rand, 0, 3);
    if (take === 0) {
      rx.drain(verify); // everything
    } else if (take === 1) {
      rx.drain(verify, seq.between(rand, 1, 8));
    } else {
      const reads = seq.between(rand, 1, 20);
      for (let k = 0; k < reads; k++) {
        const m = rx.tryRecv();
        if (m === undefined) break;
        verify(m, 0, m.length);
      }
    }
    advanced = (tailOf(ch) - start) >>> 0; // modulo 2^32: a test moves far less than 4 GiB
  }
  rx.drain(verify);
  return { sent, received, bad, wraps: advanced / ch.capacity };
}

describe('ring wrap-around', () => {
  for (const capacity of [1024, 4096, 1 << 16]) {
    for (const [min, max] of [[0, 16], [0, L.maxRecordPayload(capacity)], [L.maxRecordPayload(capacity) - 64, L.maxRecordPayload(capacity)]] as const) {
      it(`capacity ${capacity}, sizes ${min}..${max}: >= 100 wraps, every message in order and intact`, () => {
        const ch = Channel.create<Uint8Array>({ capacity, codec: 'bytes' });
        const tx = ch.sender();
        const rx = ch.receiver();
        const r = traffic(ch, tx, rx, { seed: capacity ^ max, min, max, wraps: 100 });
        expect(r.wraps).toBeGreaterThanOrEqual(100);
        expect(r.bad).toBe(0);
        expect(r.received).toBe(r.sent);
        expect(headOf(ch)).toBe(tailOf(ch));
      });
    }
  }
});

describe('positions near 2^32', () => {
  // Positions are u32 byte counters; tail - head is taken modulo 2^32. Start both just below 2^32
  // (8-aligned, at various offsets into the data region) and run across the wrap.
  for (const start of [0xfffff000, 0xfffffff8, 0xffffff00 + 8 * 13, 0x7ffffff8]) {
    it(`starting at 0x${start.toString(16)}: traffic crosses the wrap of the counters`, () => {
      const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
      setPositions(ch, start);
      const tx = ch.sender();
      const rx = ch.receiver();
      const r = traffic(ch, tx, rx, { seed: start, min: 0, max: 300, wraps: 40 });
      expect(r.bad).toBe(0);
      expect(r.received).toBe(r.sent);
      expect(r.sent).toBeGreaterThan(100);
      const end = tailOf(ch);
      // It went round: the counter is now past start + 40 capacities modulo 2^32.
      expect((end - start) >>> 0).toBeGreaterThanOrEqual(40 * 1024);
      if (start > 0x80000000) expect(end).toBeLessThan(start);
      expect(headOf(ch)).toBe(end);
    });
  }

  it('a fragmented message straddling the 2^32 wrap arrives intact (send / recv)', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    setPositions(ch, 0xfffffe00);
    const tx = ch.sender();
    const rx = ch.receiver();
    for (const n of [505, 1500, 10_000]) {
      const [, got] = await Promise.all([tx.send(seq.message(n, 1, n, n), { timeout: 10_000 }), rx.recv({ timeout: 10_000 })]);
      expect(seq.check(got, got.length, n, 1, n, n)).toBe(true);
    }
    expect(tailOf(ch)).toBeLessThan(0xfffffe00);
  });
});

describe('what each side writes', () => {
  const CANARY = 0xa5;

  it('a send changes only the bytes of the records it publishes (padding included), nothing else in the data region', () => {
    const capacity = 1024;
    const ch = Channel.create<Uint8Array>({ capacity, codec: 'bytes' });
    const mem = bytes(ch);
    mem.fill(CANARY, L.CONTROL_BYTES);
    const tx = ch.sender();
    const rx = ch.receiver();
    const rand = seq.prng(5);
    let outside = 0;
    let checked = 0;
    for (let i = 0; i < 2000; i++) {
      const before = mem.slice(L.CONTROL_BYTES);
      const t0 = tailOf(ch);
      const n = seq.between(rand, 0, L.maxRecordPayload(capacity));
      if (!tx.trySend(new Uint8Array(n).fill(i & 0xff))) {
        // Full: nothing at all may have changed.
        for (let k = 0; k < capacity; k++) if (mem[L.CONTROL_BYTES + k] !== before[k]) outside++;
        rx.drain(() => undefined);
        // Refill the freed space with the canary, so the next writes are visible.
        mem.fill(CANARY, L.CONTROL_BYTES);
        continue;
      }
      const written = (tailOf(ch) - t0) >>> 0;
      for (let k = 0; k < capacity; k++) {
        if (mem[L.CONTROL_BYTES + k] === before[k]) continue;
        const fromTail = (k - (t0 & (capacity - 1)) + capacity) & (capacity - 1);
        if (fromTail >= written) outside++;
      }
      checked++;
    }
    expect(checked).toBeGreaterThan(1000);
    expect(outside).toBe(0);
  });

  it('the receiver never writes to the data region (tryRecv, drain, recv)', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 4096, codec: 'bytes' });
    const mem = bytes(ch);
    const tx = ch.sender();
    const rx = ch.receiver();
    for (let round = 0; round < 50; round++) {
      while (tx.trySend(seq.message(round, 2, 0, 300)));
      const snapshot = mem.slice(L.CONTROL_BYTES);
      if (round % 3 === 0) rx.drain(() => undefined);
      else if (round % 3 === 1) while (rx.tryRecv() !== undefined);
      else for (let k = 0; k < 5; k++) await rx.recv({ timeout: 1000 });
      expect(Buffer.compare(mem.subarray(L.CONTROL_BYTES), snapshot)).toBe(0);
      rx.drain(() => undefined);
    }
  });

  it('control-block words other than tail/head/park/stats/stream/roles/fragment in progress are never written', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 2048, codec: 'bytes' });
    const w = words(ch);
    const may = new Set<number>([
      L.TAIL_OFFSET >> 2, L.HEAD_OFFSET >> 2, L.RX_PARKED_OFFSET >> 2, L.TX_PARKED_OFFSET >> 2, L.FRAG_IN_PROGRESS_OFFSET >> 2,
      L.CLOSED_OFFSET >> 2, L.SENDER_OWNER_OFFSET >> 2, L.RECEIVER_OWNER_OFFSET >> 2, L.RX_EPOCH_OFFSET >> 2,
    ]);
    // The role holders' identities: pid, start time (two words), echo.
    for (const off of [L.SENDER_PID_OFFSET, L.RECEIVER_PID_OFFSET, L.SENDER_ECHO_OFFSET, L.RECEIVER_ECHO_OFFSET]) may.add(off >> 2);
    for (const off of [L.SENDER_START_OFFSET, L.RECEIVER_START_OFFSET]) may.add(off >> 2).add((off >> 2) + 1);
    for (const region of [L.TX_STATS_OFFSET, L.RX_STATS_OFFSET]) {
      for (let b = 0; b < L.STATS_BYTES; b += 4) may.add((region + b) >> 2);
    }
    // Canary values in every word nobody should write (the header fields keep their values).
    const headerWords = new Set([L.MAGIC_OFFSET, L.VERSION_OFFSET, L.CAPACITY_OFFSET, L.DATA_OFFSET_OFFSET, L.MAX_MESSAGE_OFFSET, L.CODEC_OFFSET].map((o) => o >> 2));
    for (let k = 0; k < L.CONTROL_BYTES >> 2; k++) {
      if (!may.has(k) && !headerWords.has(k)) w[k] = 0x5a5a0000 | k;
    }
    const before = w.slice(0, L.CONTROL_BYTES >> 2);

    const tx = ch.sender();
    const rx = ch.receiver();
    for (let i = 0; i < 3000; i++) {
      if (!tx.trySend(seq.message(i, 4, 0, 900))) {
        rx.drain(() => undefined);
        i--;
      }
    }
    rx.drain(() => undefined);
    const view = tx.reserve(100)!;
    view.fill(1);
    tx.commit(50);
    tx.reserve(10);
    tx.abort();
    expect(rx.tryRecv()).toEqual(new Uint8Array(50).fill(1));
    // Fragmented, with both sides parking in turn.
    const [, big] = await Promise.all([tx.send(new Uint8Array(20_000).fill(7), { timeout: 10_000 }), rx.recv({ timeout: 10_000 })]);
    expect(big).toEqual(new Uint8Array(20_000).fill(7));
    await expect(rx.recv({ timeout: 5 })).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    ch.stats();
    await tx.close();
    await expect(rx.recv()).rejects.toMatchObject({ code: 'ERR_CHANNEL_CLOSED' });
    rx.close();

    const changed: string[] = [];
    for (let k = 0; k < L.CONTROL_BYTES >> 2; k++) {
      if (!may.has(k) && w[k] !== before[k]) changed.push(`byte ${k * 4}: ${before[k]} -> ${w[k]}`);
    }
    expect(changed).toEqual([]);
    // And the words that may change did (so the test watched the right memory).
    expect(tailOf(ch)).not.toBe(0);
    // The receiver returned the end (so its later close() changes nothing); no new stream started.
    expect(w[L.CLOSED_OFFSET >> 2]).toBe(L.SENDER_CLOSED | L.END_SEEN);
  });
});
