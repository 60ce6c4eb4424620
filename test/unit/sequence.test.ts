// The message sequence (test/native/sequence.h) has three implementations: C++ (the addon's produce /
// consume), the TS port (test/helpers/sequence.ts) and the JS copy for workers
// (test/fixtures/sequence.mjs). Every other test trusts them, so they are checked here against
// each other, byte for byte.
import { describe, expect, it } from 'vitest';
import { Channel } from '../../lib/index.js';
import * as L from '../../lib/core/layout.js';
import { words } from '../helpers/ring.js';
import * as seq from '../helpers/sequence.js';
// @ts-expect-error: plain JS module without types
import * as jsSeq from '../fixtures/sequence.mjs';
import { testing } from '../helpers/testing-addon.js';

// Mix(i, seed) for these i and seeds, printed by a program compiled from test/native/sequence.h.
const IS = [0, 1, 2, 1000, 0x7fffffff, 0x80000000, 0xffffffff, 123456789];
const GOLDEN: [number, number[]][] = [
  [0, [0, 1561565218, 3573156908, 3299237249, 1048270311, 1249203128, 4093904431, 1486783186]],
  [1, [2247091497, 3609403167, 1326619093, 1250825883, 3294647194, 3496233313, 2045558738, 3733906663]],
  [3735928559, [656209986, 4270316988, 2161831402, 2289191622, 384952524, 1905740810, 3430694036, 458307443]],
  [4294967295, [1796298896, 2045558738, 2043241884, 842524977, 563981015, 3045895240, 3609403167, 2418460450]],
];

const memOf = (ch: Channel) => new Uint8Array(ch.handle.buffer);

describe('sequence', () => {
  it('Mix matches values computed by the C++ original (uint32 wrap-around included)', () => {
    for (const [seed, values] of GOLDEN) {
      IS.forEach((i, k) => {
        expect(seq.mix(i, seed)).toBe(values[k]);
        expect(jsSeq.mix(i, seed)).toBe(values[k]);
      });
    }
    expect(seq.size(5, 7, 0, 1000)).toBe(982);
    expect(seq.size(0xffffffff, 3, 10, 0x7fffffff)).toBe(1846848271);
    expect(seq.size(42, 0, 100, 100)).toBe(100);
  });

  it('the TS port and the JS copy for workers agree on sizes and bytes', () => {
    const rand = seq.prng(1);
    const a = new Uint8Array(300);
    const b = new Uint8Array(300);
    for (let t = 0; t < 2000; t++) {
      const i = Math.floor(rand() * 2 ** 32);
      const seed = Math.floor(rand() * 2 ** 32);
      expect(jsSeq.mix(i, seed)).toBe(seq.mix(i, seed));
      expect(jsSeq.size(i, seed, 0, 299)).toBe(seq.size(i, seed, 0, 299));
      const n = seq.size(i, seed, 0, 299);
      a.fill(0);
      b.fill(0);
      seq.fill(a, n, i);
      jsSeq.fill(b, n, i);
      expect(Buffer.compare(a, b)).toBe(0);
      expect(seq.check(a, n, i, seed, 0, 299)).toBe(true);
      expect(jsSeq.check(a, n, i, seed, 0, 299)).toBe(true);
    }
  });

  it('check rejects a wrong size, a wrong index and a flipped byte', () => {
    const m = seq.message(7, 3, 10, 40);
    expect(seq.check(m, m.length, 7, 3, 10, 40)).toBe(true);
    expect(seq.check(m, m.length, 8, 3, 10, 40)).toBe(false);
    expect(seq.check(m, m.length - 1, 7, 3, 10, 40)).toBe(false);
    for (const k of [0, 3, 4, m.length - 1]) {
      const bad = m.slice();
      bad[k]! ^= 1;
      expect(seq.check(bad, bad.length, 7, 3, 10, 40)).toBe(false);
    }
    // Messages under four bytes carry no index: only the pattern bytes.
    const small = seq.message(9, 3, 0, 3);
    expect(seq.check(small, small.length, 9, 3, 0, 3)).toBe(true);
  });

  // Size ranges chosen so that sizes reveal different bits of Mix: spans of powers of two and primes.
  const RANGES: [number, number][] = [[0, 0], [0, 3], [0, 7], [5, 5], [1, 64], [0, 255], [3, 1023], [100, 100 + 997], [0, 2040]];

  it('C++ NativeProducer.produce -> TS receiver: every message passes the TS check', () => {
    const p = testing();
    for (const [min, max] of RANGES) {
      for (const seed of [0, 1, 0x9e3779b9]) {
        const ch = Channel.create({ capacity: 4096, codec: 'bytes' });
        const producer = new p.NativeProducer(memOf(ch));
        const rx = ch.receiver();
        const count = 300;
        let produced = 0;
        let checked = 0;
        for (let round = 0; round < 10_000 && checked < count; round++) {
          produced += producer.produce(produced, count - produced, seed, min, max);
          rx.drain((view, offset, length) => {
            expect(seq.check(view, length, checked, seed, min, max, offset)).toBe(true);
            checked++;
          });
        }
        expect(checked).toBe(count);
      }
    }
  });

  it('TS fill -> TS sender -> C++ NativeConsumer.consume: every message passes the C++ check', () => {
    const p = testing();
    for (const [min, max] of RANGES) {
      for (const seed of [0, 1, 0x9e3779b9]) {
        const ch = Channel.create({ capacity: 4096, codec: 'bytes' });
        const tx = ch.sender();
        const consumer = new p.NativeConsumer(memOf(ch));
        const count = 300;
        let sent = 0;
        let consumed = 0;
        for (let round = 0; round < 10_000 && consumed < count; round++) {
          while (sent < count && tx.trySend(seq.message(sent, seed, min, max))) sent++;
          consumed += consumer.consume(consumed, sent - consumed, seed, min, max);
        }
        expect(consumed).toBe(count);
      }
    }
  });

  it('NativeConsumer.consume really checks: a message from another seed fails with ERR_SEQUENCE', () => {
    const ch = Channel.create({ capacity: 4096, codec: 'bytes' });
    const tx = ch.sender();
    const consumer = new (testing().NativeConsumer)(memOf(ch));
    expect(tx.trySend(seq.message(0, 1, 10, 200))).toBe(true);
    expect(tx.trySend(seq.message(1, 2, 10, 200))).toBe(true); // seed 2, not 1
    expect(() => consumer.consume(0, 2, 1, 10, 200)).toThrow(expect.objectContaining({ code: 'ERR_SEQUENCE' }));
  });

  // The cross-checks above send every size in RANGES as one record (capacity 4096): the ring
  // must write a message of up to maxRecordPayload bytes as one record and fragment only past it.
  it('a message of maxRecordPayload bytes is one record and one byte more is fragmented; RANGES stay within one record', () => {
    for (const capacity of [1024, 4096]) {
      const max = L.maxRecordPayload(capacity);
      for (const [n, type] of [[max, L.TYPE_MESSAGE], [max + 1, L.TYPE_FRAG_FIRST]] as const) {
        const ch = Channel.create({ capacity, codec: 'bytes' });
        expect(ch.sender().trySend(seq.message(0, 0, n, n))).toBe(true);
        const header = words(ch).subarray(L.CONTROL_BYTES >> 2);
        expect({ capacity, n, type: header[1] }).toEqual({ capacity, n, type });
        if (type === L.TYPE_MESSAGE) expect(header[0]).toBe(n);
      }
    }
    expect(Math.max(...RANGES.map(([, max]) => max))).toBeLessThanOrEqual(L.maxRecordPayload(4096));
  });
});
