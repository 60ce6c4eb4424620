// cpp/log/format.h is the one description of the log's bytes; lib/log/format.ts mirrors it. The
// addon exports every C++ constant under its TS name: names and values must agree. The TS and C++
// CRC32C (hardware and table) must agree on every input.
import { describe, expect, it } from 'vitest';
import { crc32c, recordCrc } from '../../lib/log/crc32c.js';
import * as F from '../../lib/log/format.js';
import { logNative } from '../../lib/log/native.js';
import { cleanupDirs, prng, tempDir } from './helpers.js';
import { afterAll } from 'vitest';

const tsConstants = Object.fromEntries(Object.entries(F).filter(([, v]) => typeof v === 'number')) as Record<string, number>;

afterAll(cleanupDirs);

describe('log format', () => {
  it('the addon exports exactly the numeric constants of lib/log/format.ts', () => {
    expect(Object.keys(logNative().constants).sort()).toEqual(Object.keys(tsConstants).sort());
  });

  it('every constant has the same value in C++ and TS', () => {
    const cpp = logNative().constants;
    for (const [name, value] of Object.entries(tsConstants)) expect({ name, value: cpp[name] }).toEqual({ name, value });
  });

  it('record arithmetic matches the static_asserts of log_format.h', () => {
    expect(F.recordBytes(0)).toBe(32);
    expect(F.recordBytes(1)).toBe(40);
    expect(F.recordBytes(8)).toBe(40);
    expect(F.recordBytes(100)).toBe(136);
    expect(F.maxPayload(F.MAX_SEGMENT_BYTES)).toBeLessThan(F.IN_PROGRESS);
    expect(F.segmentIndexOf(F.segmentName(42))).toBe(42);
    expect(F.segmentIndexOf('00000000000000000042.rwlog.tmp')).toBe(-1);
  });
});

describe('CRC32C', () => {
  it('has the standard check value', () => {
    const b = new TextEncoder().encode('123456789');
    expect(crc32c(b)).toBe(0xe3069283);
    expect(logNative().crc32c(b)).toBe(0xe3069283);
    expect(logNative().crc32c(b, 0, true)).toBe(0xe3069283);
  });

  it('TS (slicing-by-16), C++ hardware and C++ table agree on random inputs, offsets and continuations', () => {
    const rand = prng(7);
    const N = logNative();
    for (let i = 0; i < 300; i++) {
      const len = Math.floor(rand() * 300);
      const off = Math.floor(rand() * 9);
      const buf = new Uint8Array(off + len + 8);
      for (let k = 0; k < buf.length; k++) buf[k] = Math.floor(rand() * 256);
      const view = buf.subarray(off, off + len);
      const init = i % 3 === 0 ? 0 : Math.floor(rand() * 2 ** 32);
      const ts = crc32c(view, 0, view.length, init);
      expect(N.crc32c(view, init)).toBe(ts);
      expect(N.crc32c(view, init, true)).toBe(ts);
    }
  });

  it('a record CRC computed in TS equals the one LogFile.commit computes natively', () => {
    const N = logNative();
    const f = new N.LogFile(`${tempDir('crc')}/seg`, 2, F.MIN_SEGMENT_BYTES);
    const u8 = new Uint8Array(f.buffer);
    const i32 = new Int32Array(f.buffer);
    const rand = prng(3);
    let p = 128;
    const expected: number[] = [];
    for (let r = 0; r < 50; r++) {
      const n = Math.floor(rand() * 300);
      const length = F.RECORD_HEADER_BYTES + n;
      for (let k = 8; k < length; k++) u8[p + k] = Math.floor(rand() * 256);
      i32[p >> 2] = (F.IN_PROGRESS | length) | 0;
      expected.push(recordCrc(u8, i32, p, length));
      p += F.alignRecord(length);
    }
    expect(f.commit(128, p)).toBe(50);
    p = 128;
    for (let r = 0; r < 50; r++) {
      const length = i32[p >> 2]!;
      expect(length & F.IN_PROGRESS).toBe(0);
      expect(i32[(p >> 2) + 1]! >>> 0).toBe(expected[r]);
      p += F.alignRecord(length);
    }
    f.close();
    expect(u8.length).toBe(0); // detached
  });
});
