// cpp/ring/layout.h is the one description of the shared bytes; lib/core/layout.ts mirrors it. The addon
// exports every C++ constant under its TS name: the two sets of names and every value must agree.
import { describe, expect, it } from 'vitest';
import { Channel } from '../../lib/index.js';
import * as L from '../../lib/core/layout.js';
import { native } from '../../lib/native.js';
import { bytes as memOf, setPositions, words } from '../helpers/ring.js';
import { testing } from '../helpers/testing-addon.js';

const tsConstants = Object.fromEntries(Object.entries(L).filter(([, v]) => typeof v === 'number')) as Record<string, number>;

describe('layout', () => {
  it('the addon exports exactly the numeric constants of lib/core/layout.ts', () => {
    const cpp = native().constants;
    expect(Object.keys(cpp).sort()).toEqual(Object.keys(tsConstants).sort());
  });

  it('every constant has the same value in C++ and TS', () => {
    const cpp = native().constants;
    for (const [name, value] of Object.entries(tsConstants)) {
      expect({ name, value: cpp[name] }).toEqual({ name, value });
    }
  });

  // The regions' placement and the record arithmetic are pinned by layout.h's static_asserts and by
  // the comparison above; what is left to check is that the TS ring writes where they say.
  it('a message the TS sender writes lies at the offsets the layout names, and the C++ consumer reads it there', () => {
    const capacity = 1024;
    const ch = Channel.create<Uint8Array>({ capacity, codec: 'bytes' });
    const tx = ch.sender();
    const cpp = new (testing().NativeConsumer)(memOf(ch));
    const w = words(ch);
    const u8 = memOf(ch);
    let pos = 0;
    let pads = 0;
    // Sizes that walk the ring several times: records at every 8-byte offset, some wrapping.
    for (let k = 0; k < 60; k++) {
      const size = (k * 37) % 300;
      const m = new Uint8Array(size).map((_, i) => (k * 7 + i) & 255);
      expect(tx.trySend(m)).toBe(true);
      let at = pos % capacity;
      let start = pos;
      if (capacity - at < L.recordBytes(size)) {
        // No room before the end: a padding record fills it, and the message starts at offset 0.
        expect(w[L.W.DATA + L.wordAt(at) + 1]).toBe(L.TYPE_PAD);
        start += capacity - at;
        at = 0;
        pads++;
      }
      const tail = Atomics.load(w, L.W.TAIL) >>> 0;
      expect(tail).toBe(start + L.recordBytes(size));
      expect([w[L.W.DATA + L.wordAt(at)], w[L.W.DATA + L.wordAt(at) + 1]]).toEqual([size, L.TYPE_MESSAGE]);
      const payload = L.CONTROL_BYTES + at + L.RECORD_HEADER_BYTES;
      expect(u8.subarray(payload, payload + size)).toEqual(m);
      expect(cpp.read()).toEqual(m);
      pos = tail;
    }
    expect(pads).toBeGreaterThan(0);
    expect(cpp.read()).toBeNull();
  });

  it('a fragmented TS message is cut where fragmentChunk says, and the C++ consumer reassembles it', () => {
    const capacity = 1024;
    const size = 600; // more than one record (maxRecordPayload 504), fits the ring at once
    for (const from of [0, capacity - 80, capacity - 72]) {
      const ch = Channel.create<Uint8Array>({ capacity, codec: 'bytes' });
      setPositions(ch, from); // before any role is claimed
      const tx = ch.sender();
      const cpp = new (testing().NativeConsumer)(memOf(ch));
      const w = words(ch);
      const m = new Uint8Array(size).map((_, i) => (i * 13) & 255);
      expect(tx.trySend(m)).toBe(true);
      // Walk the records from `from`: FRAG_FIRST (total length prefix), then FRAG_LAST, each as long
      // as fragmentChunk says (a record that cannot start before the end is preceded by padding).
      let pos = from;
      let remaining = size;
      const types: number[] = [];
      // Bounded: each pass writes a fragment or moves past the end of the ring (at most twice per lap).
      for (let first = true, guard = 0; remaining > 0 && guard < 8; guard++) {
        const at = pos % capacity;
        const chunk = L.fragmentChunk(capacity, at, remaining, first);
        const prefix = first ? L.FRAG_PREFIX_BYTES : 0;
        if (capacity - at < L.recordBytes(prefix + chunk)) {
          expect(w[L.W.DATA + L.wordAt(at) + 1]).toBe(L.TYPE_PAD);
          pos += capacity - at;
          continue;
        }
        expect(w[L.W.DATA + L.wordAt(at)]).toBe(prefix + chunk);
        types.push(w[L.W.DATA + L.wordAt(at) + 1]!);
        if (first) expect(w[L.W.DATA + L.wordAt(at) + 2]).toBe(size);
        pos += L.recordBytes(prefix + chunk);
        remaining -= chunk;
        first = false;
      }
      expect(remaining).toBe(0);
      expect({ from, types: [types[0], types.at(-1)] }).toEqual({ from, types: [L.TYPE_FRAG_FIRST, L.TYPE_FRAG_LAST] });
      expect(Atomics.load(w, L.W.TAIL) >>> 0).toBe(pos);
      expect(cpp.read()).toEqual(m);
    }
  });

  it('fitsAtOnce agrees with the C++ producer on an empty ring (TryWriteMessage: OK vs TOO_LARGE)', () => {
    const n = native();
    const t = testing();
    for (const capacity of [1024, 4096, 1 << 16]) {
      const mrp = L.maxRecordPayload(capacity);
      for (const size of [0, 1, mrp - 1, mrp, mrp + 1, mrp + 8, 2 * mrp - 8, 2 * mrp, capacity - 8, capacity, 3 * capacity]) {
        const mem = new Uint8Array(new SharedArrayBuffer(L.totalBytes(capacity)));
        t.initRing(mem, capacity, 1 << 30, 1);
        const status = new t.NativeProducer(mem).tryWrite(new Uint8Array(size));
        expect({ capacity, size, status }).toEqual({ capacity, size, status: L.fitsAtOnce(capacity, size) ? n.status.OK : n.status.TOO_LARGE });
      }
    }
  });
});
