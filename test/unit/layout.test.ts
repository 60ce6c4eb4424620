// cpp/ring/layout.h is the one description of the shared bytes; lib/core/layout.ts mirrors it. The addon
// exports every C++ constant under its TS name: the two sets of names and every value must agree.
import { describe, expect, it } from 'vitest';
import * as L from '../../lib/core/layout.js';
import { native } from '../../lib/native.js';
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

  it('regions do not overlap and the header fits its region', () => {
    const regions = [L.HEADER_OFFSET, L.TX_STATS_OFFSET, L.RX_STATS_OFFSET, L.TAIL_OFFSET, L.HEAD_OFFSET, L.PARK_OFFSET];
    for (const r of regions) expect(r % L.REGION).toBe(0);
    expect(new Set(regions).size).toBe(regions.length);
    expect(L.PARK_OFFSET + L.REGION).toBeLessThanOrEqual(L.CONTROL_BYTES);
    expect(L.RECEIVER_START_OFFSET + 8).toBeLessThanOrEqual(L.TX_STATS_OFFSET);
    expect(L.STATS_BYTES).toBeLessThanOrEqual(L.REGION);
    expect(L.HEAD_OFFSET - L.TAIL_OFFSET).toBeGreaterThanOrEqual(128);
  });

  it('record arithmetic matches the static_asserts of layout.h', () => {
    expect(L.recordBytes(1) - L.RECORD_HEADER_BYTES).toBe(8);
    expect(L.recordBytes(0)).toBe(8);
    expect(L.recordBytes(8)).toBe(16);
    expect(L.recordBytes(9)).toBe(24);
    // The static_asserts on FitsAtOnce and FragmentChunk in layout.h.
    expect([L.fitsAtOnce(1024, 504), L.fitsAtOnce(1024, 505), L.fitsAtOnce(1024, 1024)]).toEqual([true, true, false]);
    expect(L.fragmentChunk(1024, 0, 10000, true)).toBe(496);
    expect(L.fragmentChunk(1024, 0, 10000, false)).toBe(504);
    expect(L.fragmentChunk(1024, 1024 - 80, 10000, true)).toBe(64);
    expect(L.fragmentChunk(1024, 1024 - 72, 10000, true)).toBe(496);
    expect(L.maxRecordPayload(L.MIN_CAPACITY)).toBeGreaterThan(L.FRAG_PREFIX_BYTES);
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
