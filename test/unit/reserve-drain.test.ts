// Zero-copy paths: reserve/commit/abort write a message in place; drain reads messages in place.
import { describe, expect, it } from 'vitest';
import { Channel } from '../../lib/index.js';
import * as L from '../../lib/core/layout.js';
import { tailOf } from '../helpers/ring.js';
import * as seq from '../helpers/sequence.js';

const code = (c: string) => expect.objectContaining({ code: c });

describe('reserve / commit / abort', () => {
  it('reserve(n) is a view of ring memory; commit(len) publishes exactly len bytes as one message', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    const view = tx.reserve(100)!;
    expect(view).toBeInstanceOf(Uint8Array);
    expect(view.length).toBe(100);
    expect(view.buffer).toBe(ch.handle.buffer);
    expect(view.byteOffset).toBe(L.CONTROL_BYTES + L.RECORD_HEADER_BYTES);
    seq.fill(view, 60, 5);
    // Claimed but not committed: invisible.
    expect(rx.tryRecv()).toBeUndefined();
    tx.commit(60);
    const got = rx.tryRecv()!;
    expect(got.length).toBe(60);
    expect(seq.checkBytes(got, 60, 5)).toBe(true);
    expect(tailOf(ch)).toBe(L.recordBytes(60)); // commit(len) takes only the space len needs
  });

  it('abort() publishes nothing and the next reservation reuses the same space', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    const a = tx.reserve(200)!;
    a.fill(1);
    tx.abort();
    expect(rx.tryRecv()).toBeUndefined();
    expect(tailOf(ch)).toBe(0);
    const b = tx.reserve(50)!;
    expect(b.byteOffset).toBe(a.byteOffset);
    b.fill(2);
    tx.commit(50);
    expect(rx.tryRecv()).toEqual(new Uint8Array(50).fill(2));
    expect(ch.stats().sent).toMatchObject({ messages: 1, bytes: 50 });
  });

  it('reserve(0) + commit(0) sends an empty message; the largest reservation is one record', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    expect(tx.reserve(0)!.length).toBe(0);
    tx.commit(0);
    expect(rx.tryRecv()).toEqual(new Uint8Array(0));
    const mrp = L.maxRecordPayload(1024);
    const big = tx.reserve(mrp)!;
    expect(big.length).toBe(mrp);
    seq.fill(big, mrp, 1);
    tx.commit(mrp);
    expect(seq.checkBytes(rx.tryRecv()!, mrp, 1)).toBe(true);
    for (const n of [mrp + 1, -1, 1.5, NaN]) {
      expect(() => tx.reserve(n)).toThrow(expect.objectContaining({ name: 'RingwireRangeError', code: 'ERR_OUT_OF_RANGE', message: expect.stringMatching(/reserve/) }));
    }
  });

  it('reserve respects maxMessageBytes', () => {
    const tx = Channel.create<Uint8Array>({ capacity: 4096, codec: 'bytes', maxMessageBytes: 100 }).sender();
    expect(tx.reserve(100)).toBeDefined();
    tx.abort();
    expect(() => tx.reserve(101)).toThrow(code('ERR_OUT_OF_RANGE'));
  });

  it('misuse is ERR_RESERVE or ERR_OUT_OF_RANGE: double reserve, commit/abort without one, sending while one is open, commit beyond the claim', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    expect(() => tx.commit(1)).toThrow(code('ERR_RESERVE'));
    expect(() => tx.abort()).toThrow(code('ERR_RESERVE'));
    tx.reserve(16);
    expect(() => tx.reserve(16)).toThrow(code('ERR_RESERVE'));
    expect(() => tx.trySend(new Uint8Array(1))).toThrow(code('ERR_RESERVE'));
    expect(() => tx.sendSync(new Uint8Array(1))).toThrow(code('ERR_RESERVE'));
    expect(() => tx.commit(17)).toThrow(code('ERR_OUT_OF_RANGE'));
    expect(() => tx.commit(-1)).toThrow(code('ERR_OUT_OF_RANGE'));
    tx.commit(16);
    expect(rx.tryRecv()!.length).toBe(16);
    expect(rx.tryRecv()).toBeUndefined();
  });

  it('reserve returns undefined when the ring is full (counted as full) and works again after the receiver drains', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    let n = 0;
    for (let v = tx.reserve(100); v !== undefined && n < 100; v = tx.reserve(100)) {
      v.fill(n);
      tx.commit(100);
      n++;
    }
    expect(n).toBe(Math.floor(1024 / L.recordBytes(100)));
    expect(ch.stats().sent.full).toBe(1);
    expect(rx.drain(() => undefined)).toBe(n);
    expect(tx.reserve(100)).toBeDefined();
    tx.abort();
  });

  it('a reservation that needs the end of the ring is placed after a padding record; the receiver skips the padding', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    expect(tx.trySend(new Uint8Array(400))).toBe(true);
    expect(tx.trySend(new Uint8Array(400))).toBe(true); // tail at 816
    expect(rx.drain(() => undefined)).toBe(2);
    const v = tx.reserve(300)!; // 208 left before the end: padding, then offset 0
    expect(v.byteOffset).toBe(L.CONTROL_BYTES + L.RECORD_HEADER_BYTES);
    v.fill(3);
    tx.commit(300);
    expect(rx.tryRecv()).toEqual(new Uint8Array(300).fill(3));
  });

  it('close() with an open reservation drops it', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    tx.reserve(10)!.fill(1);
    await tx.close();
    expect(rx.tryRecv()).toBeUndefined();
    await expect(rx.recv()).rejects.toMatchObject({ code: 'ERR_CHANNEL_CLOSED' });
  });

  it('committed bytes are decoded by the channel codec (json)', () => {
    const ch = Channel.create<unknown>({ capacity: 1024, codec: 'json' });
    const tx = ch.sender();
    const text = Buffer.from('{"zero":"copy"}');
    tx.reserve(64)!.set(text);
    tx.commit(text.length);
    expect(ch.receiver().tryRecv()).toEqual({ zero: 'copy' });
  });
});

describe('drain', () => {
  it('hands each message as (view, offset, length) over ring memory, in order, with the same view object every time', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 4096, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    const views = new Set<unknown>();
    let sent = 0;
    let got = 0;
    let bad = 0;
    for (let round = 0; round < 300; round++) {
      while (tx.trySend(seq.message(sent, 8, 0, 200))) sent++;
      rx.drain((view, offset, length) => {
        views.add(view);
        if (view.buffer !== ch.handle.buffer) bad++;
        if (offset < L.CONTROL_BYTES || offset + length > L.totalBytes(4096)) bad++;
        if (!seq.check(view, length, got, 8, 0, 200, offset)) bad++;
        got++;
      });
    }
    expect(got).toBe(sent);
    expect(sent).toBeGreaterThan(3000);
    expect(bad).toBe(0);
    expect(views.size).toBe(1);
    expect([...views][0]).toBeInstanceOf(Buffer);
  });

  it('drain(fn, max) delivers at most max and returns the count', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 4096, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    for (let i = 0; i < 10; i++) expect(tx.trySend(new Uint8Array([i]))).toBe(true);
    const seen: number[] = [];
    const fn = (view: Buffer, offset: number) => void seen.push(view[offset]!);
    expect(rx.drain(fn, 3)).toBe(3);
    expect(rx.drain(fn, 3)).toBe(3);
    expect(rx.drain(fn, 0)).toBe(0);
    expect(rx.drain(fn)).toBe(4);
    expect(rx.drain(fn)).toBe(0);
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('whole and fragmented messages interleaved across many wraps arrive in order with any max; stats count each once', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 8192, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    // Sizes from empty to past one record (4088 B): trySend writes a fragmented one at once when it fits.
    const size = (i: number) => [0, 1, 32, 500, 4000, 4089, 6000, 7, 64][i % 9]!;
    let sent = 0;
    let got = 0;
    let bad = 0;
    let bytes = 0;
    for (let round = 0; round < 400; round++) {
      while (tx.trySend(seq.message(sent, 8, size(sent), size(sent)))) bytes += size(sent++);
      const max = 1 + (round % 5);
      const n = rx.drain((view, offset, length) => {
        if (length !== size(got) || !seq.check(view, length, got, 8, size(got), size(got), offset)) bad++;
        got++;
      }, max);
      expect(n).toBeLessThanOrEqual(max);
    }
    while (rx.drain(() => void got++) !== 0);
    expect(got).toBe(sent);
    expect(sent).toBeGreaterThan(600);
    expect(bad).toBe(0);
    rx.close();
    expect(ch.stats().received).toMatchObject({ messages: sent, bytes });
  });

  it('passes raw encoded bytes, not decoded values (json)', () => {
    const ch = Channel.create<unknown>({ capacity: 1024, codec: 'json' });
    ch.sender().trySend({ a: 1 });
    const texts: string[] = [];
    ch.receiver().drain((view, offset, length) => texts.push(view.toString('utf8', offset, offset + length)));
    expect(texts).toEqual(['{"a":1}']);
  });

  it('a fragmented message arrives whole, from offset 0 of the reassembly buffer', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    const sending = tx.send(seq.message(1, 0, 3000, 3000), { timeout: 5000 });
    const got: { length: number; ok: boolean; offset: number }[] = [];
    for (let k = 0; k < 10_000 && got.length === 0; k++) {
      rx.drain((view, offset, length) => got.push({ length, offset, ok: seq.checkBytes(view, length, 1, offset) && view.buffer !== ch.handle.buffer }));
      await new Promise((r) => setImmediate(r));
    }
    await sending;
    expect(got).toEqual([{ length: 3000, offset: 0, ok: true }]);
  });

  it('releases space once per batch: after a drain the sender sees the whole ring free', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    let n = 0;
    while (tx.trySend(new Uint8Array(40))) n++;
    expect(rx.drain(() => undefined)).toBe(n);
    let again = 0;
    while (tx.trySend(new Uint8Array(40))) again++;
    expect(again).toBeGreaterThanOrEqual(n - 1); // the same room (minus padding at the wrap)
  });

  it('an exception thrown by the callback propagates; messages before it stay consumed, later ones are delivered next', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    for (let i = 0; i < 5; i++) tx.trySend(new Uint8Array([i]));
    const seen: number[] = [];
    expect(() =>
      rx.drain((view, offset) => {
        if (view[offset] === 2) throw new Error('callback failed');
        seen.push(view[offset]!);
      }),
    ).toThrow('callback failed');
    rx.drain((view, offset) => void seen.push(view[offset]!));
    expect(seen).toEqual([0, 1, 3, 4]);
  });

  it.each(['release', 'close'] as const)('%s() in a callback stops the drain there: nothing more is delivered, and head is not moved past what was received', (how) => {
    const ch = Channel.create<Uint8Array>({ capacity: 4096, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    for (let i = 0; i < 6; i++) expect(tx.trySend(new Uint8Array([i]))).toBe(true);
    // A fragmented message after them: the drain's other path (next()) must stop as well.
    expect(tx.trySend(new Uint8Array(3000).fill(6))).toBe(true);
    const seen: number[] = [];
    const n = rx.drain((view, offset) => {
      seen.push(view[offset]!);
      if (view[offset] === 2) rx[how]();
    });
    expect(seen).toEqual([0, 1, 2]);
    expect(n).toBe(3);
    if (how === 'release') {
      // The next receiver continues after the last message received (2), with nothing lost.
      const next: number[] = [];
      ch.receiver().drain((view, offset) => void next.push(view[offset]!));
      expect(next).toEqual([3, 4, 5, 6]);
    } else {
      // The stream ended with the close: the sender's next send says so.
      expect(() => tx.trySend(new Uint8Array(1))).toThrow(expect.objectContaining({ code: 'ERR_CHANNEL_CLOSED' }));
    }
  });

  it('argument checks', () => {
    const rx = Channel.create({ capacity: 1024 }).receiver();
    expect(() => rx.drain(42 as any)).toThrow(expect.objectContaining({ name: 'RingwireTypeError' }));
    rx.close();
    expect(() => rx.drain(() => undefined)).toThrow(code('ERR_CHANNEL_CLOSED'));
  });
});
