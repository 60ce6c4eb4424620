// Every value a LogReader returns owns its memory: segments are mapped read-only and unmapped when
// the reader moves to the next segment or closes, so a value that aliased a mapping would crash
// the process when written to (SIGSEGV) or turn empty. For every codec and every receive path
// (read, iteration, follow): keep values across segment rolls, check them after the reader moved
// on, mutate them, check them after close, and check the log itself is unchanged.
import { deserialize, serialize } from 'node:v8';
import { afterAll, describe, expect, it } from 'vitest';
import { LogReader, LogWriter, type LogEntry } from '../../lib/log/index.js';
import type { CodecSpec } from '../../lib/channel/codecs.js';
import { cleanupDirs, tempDir } from './helpers.js';

afterAll(cleanupDirs);

const SEGMENT = 64 * 1024;
const RECORDS = 1500; // ~3 segments of ~150-byte records
const fillBytes = (i: number, n: number) => new Uint8Array(n).fill((i * 7 + 1) & 0xff);

interface Case {
  name: string;
  codec: CodecSpec;
  raw?: boolean;
  make(i: number): unknown;
  /** The value as read (raw: the payload bytes). */
  expected(i: number): unknown;
  /** Writes into every mutable part of the value. */
  mutate(v: any): void;
}

const identity = { encode: (v: Uint8Array) => v, decode: (b: Uint8Array) => b };
const CASES: Case[] = [
  { name: 'bytes', codec: 'bytes', make: (i) => fillBytes(i, 100), expected: (i) => fillBytes(i, 100), mutate: (v) => v.fill(0) },
  {
    name: 'v8 (typed arrays, Buffer, object)',
    codec: 'v8',
    make: (i) => ({ i, data: fillBytes(i, 40), f: new Float64Array([i, i / 2]), b: Buffer.from(`b${i}`), s: 'x'.repeat(i % 30) }),
    expected: (i) => ({ i, data: fillBytes(i, 40), f: new Float64Array([i, i / 2]), b: Buffer.from(`b${i}`), s: 'x'.repeat(i % 30) }),
    mutate: (v) => {
      v.data.fill(0);
      v.f.fill(0);
      v.b.fill(0);
      v.i = -1;
    },
  },
  { name: 'json', codec: 'json', make: (i) => ({ i, s: 'y'.repeat(i % 50) }), expected: (i) => ({ i, s: 'y'.repeat(i % 50) }), mutate: (v) => (v.i = -1) },
  { name: 'string', codec: 'string', make: (i) => `${i}:` + 'z'.repeat(i % 90), expected: (i) => `${i}:` + 'z'.repeat(i % 90), mutate: () => {} },
  { name: 'custom (decode returns the bytes it is given)', codec: identity, make: (i) => fillBytes(i, 90), expected: (i) => fillBytes(i, 90), mutate: (v) => v.fill(0) },
  {
    name: 'raw: true (payload bytes of a json log)',
    codec: 'json',
    raw: true,
    make: (i) => ({ i }),
    expected: (i) => new TextEncoder().encode(JSON.stringify({ i })),
    mutate: (v) => v.fill(0),
  },
];

function openReader(dir: string, c: Case): LogReader {
  return LogReader.open(dir, { ...(c.raw ? { raw: true } : typeof c.codec === 'object' ? { codec: c.codec } : {}) });
}

describe('values returned by LogReader own their memory', () => {
  for (const c of CASES) {
    it(`${c.name}: read, iteration and follow values survive the reader moving on, mutation and close`, async () => {
      const dir = tempDir('owned');
      const w = LogWriter.open(dir, { codec: c.codec, segmentBytes: SEGMENT });
      for (let i = 0; i < RECORDS; i++) w.append(c.make(i));
      const kept: LogEntry[] = [];
      const r = openReader(dir, c);
      const firstSegment = r.position.segment;
      for (let k = 0; k < 20; k++) kept.push(r.read()!);
      let n = 0;
      for await (const e of r) {
        kept.push(e);
        if (++n === 20) break;
      }
      // follow(): what is there, then records appended while it is parked.
      const follow = r.follow();
      const more = RECORDS + 5;
      const appender = setImmediate(() => {
        for (let i = RECORDS; i < more; i++) w.append(c.make(i));
      });
      for (let next = await follow.next(); !next.done; next = await follow.next()) {
        if (next.value.sequence % 97 === 0 || next.value.sequence >= RECORDS) kept.push(next.value);
        if (next.value.sequence === more - 1) break;
      }
      await follow.return();
      clearImmediate(appender);
      // The reader has moved on: the first segment is unmapped.
      expect(r.position.segment).not.toBe(firstSegment);
      for (const e of kept) expect(e.value).toEqual(c.expected(e.sequence));
      for (const e of kept) c.mutate(e.value); // a view of a read-only mapping would SIGSEGV here
      const mutated = kept.map((e) => deserialize(serialize(e.value)));
      r.close();
      kept.forEach((e, k) => expect(e.value).toEqual(mutated[k]));
      if (c.name !== 'string') expect(kept.some((e) => JSON.stringify(e.value) !== JSON.stringify(c.expected(e.sequence)))).toBe(true);
      // The log is unchanged.
      const again = openReader(dir, c);
      for (let e = again.read(); e !== undefined; e = again.read()) if (e.sequence % 50 === 0) expect(e.value).toEqual(c.expected(e.sequence));
      expect(again.nextSequence).toBe(more);
      again.close();
      w.close();
    });
  }
});
