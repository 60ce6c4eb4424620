// LogWriter / LogReader in one process: codecs, batches, rolls, reopening, positioning, the lock,
// option checks, durability modes, follow() with abort and close.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { LogReader, LogWriter, verifyLog, type LogEntry } from '../../lib/log/index.js';
import * as F from '../../lib/log/format.js';
import { cleanupDirs, payloadFor, tempDir } from './helpers.js';

afterAll(cleanupDirs);

const SMALL = F.MIN_SEGMENT_BYTES;

function readAll<T>(r: LogReader<T>): LogEntry<T>[] {
  const out: LogEntry<T>[] = [];
  for (let e = r.read(); e !== undefined; e = r.read()) out.push(e);
  return out;
}

describe('LogWriter / LogReader', () => {
  it('appends and reads back json records with consecutive sequences and timestamps', () => {
    const dir = tempDir();
    const w = LogWriter.open(dir);
    expect(w.codec).toBe('json');
    const before = Date.now();
    for (let i = 0; i < 100; i++) expect(w.append({ i, s: payloadFor(i) })).toBe(i);
    const r = LogReader.open(dir);
    const all = readAll(r);
    expect(all.map((e) => e.sequence)).toEqual([...Array(100).keys()]);
    expect(all[42]!.value).toEqual({ i: 42, s: payloadFor(42) });
    for (const e of all) expect(e.timestamp).toBeGreaterThanOrEqual(before - 1);
    expect(r.read()).toBeUndefined();
    w.append({ late: true });
    expect(r.read()?.value).toEqual({ late: true });
    r.close();
    w.close();
  });

  it('the records of one appendBatch share one timestamp; single appends read the clock every 16', () => {
    const dir = tempDir();
    const w = LogWriter.open<string>(dir, { codec: 'string' });
    let clock = 1_000_000;
    const now = vi.spyOn(Date, 'now').mockImplementation(() => clock++); // a clock that moves at every reading
    try {
      w.appendBatch(Array.from({ length: 100 }, (_, k) => payloadFor(k)));
      for (let k = 100; k < 140; k++) w.append(payloadFor(k));
    } finally {
      now.mockRestore();
    }
    const r = LogReader.open<string>(dir);
    const stamps = readAll(r).map((e) => e.timestamp);
    r.close();
    w.close();
    expect(new Set(stamps.slice(0, 100)).size).toBe(1);
    // After the batch's budget of 100 readings-worth: 40 single appends take ceil(40 / 16) readings.
    expect(new Set(stamps.slice(100)).size).toBe(3);
    expect(stamps[100]).toBeGreaterThan(stamps[99]!);
  });

  it('bytes and string codecs, empty payloads, multi-byte UTF-8', () => {
    const dir = tempDir();
    const w = LogWriter.open<Uint8Array>(dir, { codec: 'bytes' });
    w.append(new Uint8Array(0));
    w.append(new Uint8Array([1, 2, 3]));
    w.close();
    const r = LogReader.open<Uint8Array>(dir);
    expect(readAll(r).map((e) => [...e.value])).toEqual([[], [1, 2, 3]]);
    r.close();

    const d2 = tempDir();
    const s = LogWriter.open<string>(d2, { codec: 'string', segmentBytes: SMALL });
    const texts = ['', 'plain', 'żółć ☃ 𝄞', '€'.repeat(10_000)];
    for (const t of texts) s.append(t);
    s.close();
    const r2 = LogReader.open<string>(d2);
    expect(readAll(r2).map((e) => e.value)).toEqual(texts);
    r2.close();
  });

  it('rolls segments, batches across rolls, and a reader crosses every roll', () => {
    const dir = tempDir();
    const w = LogWriter.open<string>(dir, { codec: 'string', segmentBytes: SMALL });
    let next = 0;
    for (let round = 0; round < 20; round++) {
      const batch = Array.from({ length: 50 + round * 7 }, (_, k) => payloadFor(next + k));
      expect(w.appendBatch(batch)).toBe(next);
      next += batch.length;
      for (let k = 0; k < 30; k++) expect(w.append(payloadFor(next))).toBe(next++);
    }
    expect(w.appendBatch([])).toBe(next);
    const segments = readdirSync(dir).filter((n) => n.endsWith(F.SEGMENT_SUFFIX));
    expect(segments.length).toBeGreaterThan(5);
    const r = LogReader.open<string>(dir);
    const all = readAll(r);
    expect(all.length).toBe(next);
    all.forEach((e, k) => expect(e).toMatchObject({ sequence: k, value: payloadFor(k) }));
    w.close();
    r.close();
    const report = verifyLog(dir);
    expect(report).toMatchObject({ ok: true, records: next, nextSequence: next, firstSequence: 0 });
  });

  it('prepares the next segment as a spare file: a roll installs that very file, and close removes the spare', () => {
    const dir = tempDir();
    const spares = () => readdirSync(dir).filter((n) => n.endsWith('.tmp'));
    const w = LogWriter.open<string>(dir, { codec: 'string', segmentBytes: SMALL });
    expect(spares()).toHaveLength(1);
    const spare = join(dir, spares()[0]!);
    const inode = statSync(spare).ino;
    let next = 0;
    while (w.stats().rolls === 0) w.append(payloadFor(next++));
    expect(statSync(w.segment).ino).toBe(inode); // the spare became segment 1
    expect(w.segment).toBe(join(dir, F.segmentName(1)));
    expect(spares()).toHaveLength(1);
    expect(statSync(join(dir, spares()[0]!)).ino).not.toBe(inode); // and a new one waits for segment 2
    w.close();
    expect(spares()).toEqual([]);
    const r = LogReader.open<string>(dir);
    expect(readAll(r).map((e) => e.value)).toEqual([...Array(next).keys()].map(payloadFor));
    r.close();
    expect(verifyLog(dir)).toMatchObject({ ok: true, records: next });
  });

  it('a writer with another segmentBytes rolls out of a tail segment of the old size, then on at its own', () => {
    const dir = tempDir();
    let next = 0;
    const first = LogWriter.open<string>(dir, { codec: 'string', segmentBytes: SMALL });
    for (let k = 0; k < 10; k++) first.append(payloadFor(next++));
    first.close();
    const w = LogWriter.open<string>(dir, { codec: 'string', segmentBytes: 2 * SMALL });
    while (w.stats().rolls < 3) w.append(payloadFor(next++)); // 64 KiB -> 128 KiB (own file), then 128 -> 128 (adopted)
    w.close();
    const sizes = readdirSync(dir)
      .filter((n) => n.endsWith(F.SEGMENT_SUFFIX))
      .map((n) => statSync(join(dir, n)).size);
    expect(sizes).toEqual([SMALL, 2 * SMALL, 2 * SMALL, 2 * SMALL]);
    const r = LogReader.open<string>(dir);
    expect(readAll(r).map((e) => e.value)).toEqual([...Array(next).keys()].map(payloadFor));
    r.close();
    expect(verifyLog(dir)).toMatchObject({ ok: true, records: next });
  });

  it('reopening continues the sequence in the same segment', () => {
    const dir = tempDir();
    for (let run = 0; run < 3; run++) {
      const w = LogWriter.open<string>(dir, { codec: 'string' });
      expect(w.nextSequence).toBe(run * 10);
      expect(w.recovery.problem).toBe('');
      for (let k = 0; k < 10; k++) w.append(payloadFor(run * 10 + k));
      w.close();
    }
    const r = LogReader.open<string>(dir);
    expect(readAll(r).map((e) => e.value)).toEqual([...Array(30).keys()].map(payloadFor));
    r.close();
  });

  it("from: 'end' and from: sequence", () => {
    const dir = tempDir();
    const w = LogWriter.open<number>(dir, { segmentBytes: SMALL });
    for (let i = 0; i < 5000; i++) w.append(i);
    const atEnd = LogReader.open<number>(dir, { from: 'end' });
    expect(atEnd.read()).toBeUndefined();
    w.append(5000);
    expect(atEnd.read()).toMatchObject({ sequence: 5000, value: 5000 });
    for (const from of [0, 1, 777, 2500, 4999, 5000]) {
      const r = LogReader.open<number>(dir, { from });
      expect(r.read()).toMatchObject({ sequence: from, value: from });
      r.close();
    }
    const ahead = LogReader.open<number>(dir, { from: 5003 });
    expect(ahead.read()).toBeUndefined();
    w.append(5001);
    w.append(5002);
    w.append(5003);
    expect(ahead.read()).toMatchObject({ sequence: 5003 });
    ahead.close();
    atEnd.close();
    w.close();
  });

  it('one writer per log: a second open fails with ERR_LOCKED until the first closes', () => {
    const dir = tempDir();
    const w = LogWriter.open(dir);
    expect(() => LogWriter.open(dir)).toThrow(expect.objectContaining({ code: 'ERR_LOCKED' }));
    w.close();
    const w2 = LogWriter.open(dir);
    w2.close();
    expect(() => w2.append(1)).toThrow(expect.objectContaining({ code: 'ERR_LOG_CLOSED' }));
  });

  it('checks options and names the bad one', () => {
    const dir = tempDir();
    expect(() => LogWriter.open(dir, { segmentBytes: 1000 })).toThrow(/options.segmentBytes must be from 65536/);
    expect(() => LogWriter.open(dir, { segmentBytes: 65536 + 100 })).toThrow(/multiple of 4096/);
    expect(() => LogWriter.open(dir, { durability: 'always' as never })).toThrow(/options.durability/);
    expect(() => LogWriter.open(dir, { segmentBites: 1 } as never)).toThrow(/unknown option 'segmentBites'/);
    expect(() => LogWriter.open(dir, { retention: { maxSegment: 1 } } as never)).toThrow(/unknown option 'maxSegment'/);
    expect(() => LogReader.open(tempDir())).toThrow(expect.objectContaining({ code: 'ERR_NOT_A_LOG' }));
    expect(() => LogReader.open(dir, { from: -1 })).toThrow(/options.from/);
    const w = LogWriter.open(dir, { codec: 'string', segmentBytes: SMALL });
    expect(() => w.append('x'.repeat(SMALL))).toThrow(expect.objectContaining({ code: 'ERR_MESSAGE_TOO_LARGE' }));
    expect(w.append('x'.repeat(F.maxPayload(SMALL)))).toBe(0); // the largest record fits
    w.close();
    expect(() => LogWriter.open(dir, { codec: 'json' })).toThrow(/created with codec 'string'/);
  });

  it("durability 'sync' and 'interval' write the same records", () => {
    for (const durability of ['sync', 'interval'] as const) {
      const dir = tempDir();
      const w = LogWriter.open<number>(dir, { durability, syncIntervalMs: 5, segmentBytes: SMALL });
      for (let i = 0; i < 100; i++) w.append(i);
      w.appendBatch([100, 101]);
      w.flush();
      w.close();
      expect(verifyLog(dir)).toMatchObject({ ok: true, records: 102 });
    }
  });

  it('follow() waits for new records, ends on close and rejects on abort', async () => {
    const dir = tempDir();
    const w = LogWriter.open<number>(dir, { segmentBytes: SMALL });
    const r = LogReader.open<number>(dir);
    const seen: number[] = [];
    const done = (async () => {
      for await (const e of r.follow()) {
        seen.push(e.value);
        if (seen.length === 3000) break;
      }
    })();
    for (let i = 0; i < 3000; i++) {
      w.append(i);
      if (i % 500 === 0) await new Promise((res) => setTimeout(res, 5)); // let the reader park
    }
    await done;
    expect(seen).toEqual([...Array(3000).keys()]);
    expect(w.stats().rolls).toBeGreaterThan(0); // it followed the writer across rolls (adopted mappings)

    const ac = new AbortController();
    const aborted = (async () => {
      for await (const _ of r.follow({ signal: ac.signal })) void _;
    })();
    setTimeout(() => ac.abort(), 20);
    await expect(aborted).rejects.toMatchObject({ code: 'ERR_ABORTED' });

    const closing = (async () => {
      let n = 0;
      for await (const _ of r.follow()) n++;
      return n;
    })();
    setTimeout(() => r.close(), 20);
    expect(await closing).toBe(0);
    w.close();
  });

  it('async iteration yields the records present, then ends', async () => {
    const dir = tempDir();
    const w = LogWriter.open<number>(dir);
    w.appendBatch([1, 2, 3]);
    const r = LogReader.open<number>(dir);
    const got: number[] = [];
    for await (const e of r) got.push(e.value);
    expect(got).toEqual([1, 2, 3]);
    r.close();
    w.close();
  });

  it('a writer opened on a missing directory creates it with the files private (0600)', async () => {
    const dir = join(tempDir(), 'a', 'b');
    const w = LogWriter.open(dir);
    w.close();
    const { statSync } = await import('node:fs');
    for (const n of readdirSync(dir)) expect(statSync(join(dir, n)).mode & 0o777).toBe(0o600);
  });
});
