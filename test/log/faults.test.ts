// Fault injection on closed logs: truncated files, flipped bits, zeroed pages, garbage tails,
// foreign and empty files. verify() finds the damage and names the segment and offset; reopening
// for writing keeps the valid prefix of the tail and continues the sequence; readers report
// corruption as LogCorruptError; nothing crashes the process.
import { closeSync, copyFileSync, openSync, readdirSync, renameSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LogCorruptError, LogReader, LogWriter, verifyLog } from '../../lib/log/index.js';
import * as F from '../../lib/log/format.js';
import { listSegments } from '../../lib/log/segments.js';
import { cleanupDirs, flipBit, payloadFor, prng, tempDir } from './helpers.js';

afterAll(cleanupDirs);

const SEGMENT = F.MIN_SEGMENT_BYTES;

interface Rec {
  seq: number;
  segment: string;
  offset: number;
  length: number; // record bytes, header included (not padding)
}

/** A closed log with `n` string records over several segments, and where each record lies. */
function makeLog(n: number): { dir: string; recs: Rec[] } {
  const dir = tempDir('fault');
  const w = LogWriter.open<string>(dir, { codec: 'string', segmentBytes: SEGMENT });
  for (let i = 0; i < n; i++) w.append(payloadFor(i));
  w.close();
  const r = LogReader.open<string>(dir);
  const recs: Rec[] = [];
  for (;;) {
    const before = r.position;
    const e = r.read();
    if (e === undefined) break;
    // A read that crossed a roll started in the previous segment: the record is at the new one's start.
    const pos = r.position;
    const offset = pos.segment === before.segment ? before.offset : F.SEGMENT_HEADER_BYTES;
    const length = F.RECORD_HEADER_BYTES + Buffer.byteLength(e.value);
    recs.push({ seq: e.sequence, segment: pos.segment, offset, length });
  }
  r.close();
  expect(recs.length).toBe(n);
  return { dir, recs };
}

function copyLog(src: string): string {
  const dst = tempDir('fault-copy');
  for (const n of readdirSync(src)) copyFileSync(join(src, n), join(dst, n));
  return dst;
}

function patch(path: string, offset: number, bytes: Uint8Array): void {
  const fd = openSync(path, 'r+');
  writeSync(fd, bytes, 0, bytes.length, offset);
  closeSync(fd);
}

/** Reads everything; returns the records and the error that stopped it, if any. */
function readAllSafe(dir: string): { seqs: number[]; error: unknown } {
  let r: LogReader<string> | undefined;
  const seqs: number[] = [];
  try {
    r = LogReader.open<string>(dir, { codec: 'string' });
    for (let e = r.read(); e !== undefined; e = r.read()) {
      expect(e.value).toBe(payloadFor(e.sequence));
      seqs.push(e.sequence);
    }
    return { seqs, error: undefined };
  } catch (error) {
    return { seqs, error };
  } finally {
    r?.close();
  }
}

const tailOf = (dir: string) => listSegments(dir).at(-1)!.path;

function errorOf(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('fault injection', () => {
  const base = makeLog(1500);
  const tail = tailOf(base.dir);
  const tailRecs = base.recs.filter((r) => r.segment.endsWith(tail.slice(tail.lastIndexOf('/'))));

  it('the pristine log verifies', () => {
    expect(listSegments(base.dir).length).toBeGreaterThanOrEqual(3);
    expect(tailRecs.length).toBeGreaterThan(20);
    expect(verifyLog(base.dir)).toMatchObject({ ok: true, records: 1500, problems: [] });
  });

  it('a bit flipped inside any record of the tail: verify names it, recovery keeps the records before it', () => {
    const rand = prng(11);
    for (let t = 0; t < 15; t++) {
      const dir = copyLog(base.dir);
      const victim = tailRecs[Math.floor(rand() * tailRecs.length)]!;
      const seg = join(dir, victim.segment.slice(victim.segment.lastIndexOf('/') + 1));
      const at = victim.offset + Math.floor(rand() * victim.length);
      flipBit(seg, at, Math.floor(rand() * 8));
      const report = verifyLog(dir);
      expect(report.ok).toBe(false);
      expect(report.problems[0]).toMatchObject({ segment: seg, offset: victim.offset });
      const read = readAllSafe(dir);
      expect(read.error).toBeInstanceOf(LogCorruptError);
      expect(read.error).toMatchObject({ code: 'ERR_CORRUPT', segment: seg, offset: victim.offset });
      expect(read.seqs.length).toBe(victim.seq);

      const w = LogWriter.open<string>(dir, { codec: 'string' });
      expect(w.nextSequence).toBe(victim.seq);
      expect(w.recovery).toMatchObject({ segment: seg, discardedFrom: victim.offset });
      w.append(payloadFor(victim.seq));
      w.close();
      expect(verifyLog(dir)).toMatchObject({ ok: true, records: victim.seq + 1 });
    }
  });

  it('a bit flipped in a sealed segment: verify and readers report it with file and offset', () => {
    const dir = copyLog(base.dir);
    const victim = base.recs[100]!;
    const seg = join(dir, victim.segment.slice(victim.segment.lastIndexOf('/') + 1));
    flipBit(seg, victim.offset + F.RECORD_HEADER_BYTES + 1, 3);
    expect(verifyLog(dir).problems[0]).toMatchObject({ segment: seg, offset: victim.offset, problem: 'record CRC mismatch' });
    const read = readAllSafe(dir);
    expect(read.seqs.length).toBe(100);
    expect((read.error as Error).message).toContain(`${seg} is corrupt at offset ${victim.offset}`);
  });

  it('a truncated tail: recovery keeps the whole records before the cut and restores the file size', () => {
    const rand = prng(5);
    for (let t = 0; t < 10; t++) {
      const dir = copyLog(base.dir);
      const seg = tailOf(dir);
      const last = tailRecs.at(-1)!;
      const cut = F.SEGMENT_HEADER_BYTES + Math.floor(rand() * (last.offset + last.length - F.SEGMENT_HEADER_BYTES));
      truncateSync(seg, cut);
      const report = verifyLog(dir);
      expect(report.ok).toBe(false);
      expect(report.problems[0]!.segment).toBe(seg);
      const kept = tailRecs.filter((r) => r.offset + r.length <= cut);
      const w = LogWriter.open<string>(dir, { codec: 'string' });
      expect(w.nextSequence).toBe(kept.length > 0 ? kept.at(-1)!.seq + 1 : tailRecs[0]!.seq);
      w.close();
      expect(statSync(seg).size).toBe(SEGMENT);
      expect(verifyLog(dir).ok).toBe(true);
    }
  });

  it('a zeroed page in the tail: recovery stops at the first damaged record', () => {
    const dir = copyLog(base.dir);
    const seg = tailOf(dir);
    const page = 4096 * 2;
    patch(seg, page, new Uint8Array(4096));
    const firstHit = tailRecs.find((r) => r.offset + r.length > page)!;
    expect(verifyLog(dir).ok).toBe(false);
    const w = LogWriter.open<string>(dir, { codec: 'string' });
    expect(w.nextSequence).toBe(firstHit.seq);
    w.close();
    expect(verifyLog(dir).ok).toBe(true);
  });

  it('garbage after the last record: verify reports it, recovery zeroes it and continues', () => {
    const dir = copyLog(base.dir);
    const seg = tailOf(dir);
    const last = tailRecs.at(-1)!;
    const end = last.offset + F.alignRecord(last.length);
    const rand = prng(9);
    const junk = new Uint8Array(3000).map(() => Math.floor(rand() * 256));
    patch(seg, end + 64, junk);
    expect(verifyLog(dir).problems[0]).toMatchObject({ segment: seg, problem: 'non-zero bytes after the last record', offset: end + 64 });
    expect(readAllSafe(dir)).toMatchObject({ error: undefined });
    const w = LogWriter.open<string>(dir, { codec: 'string' });
    expect(w.nextSequence).toBe(1500);
    expect(w.recovery.discardedBytes).toBeGreaterThan(0);
    w.append(payloadFor(1500));
    w.close();
    expect(verifyLog(dir)).toMatchObject({ ok: true, records: 1501 });

    // Garbage that looks like the start of a record (a plausible length word) right at the end.
    const d2 = copyLog(base.dir);
    patch(tailOf(d2), end, new Uint8Array(new Uint32Array([200, 0xdeadbeef, 1, 7]).buffer));
    expect(verifyLog(d2).problems[0]).toMatchObject({ offset: end });
    const w2 = LogWriter.open<string>(d2, { codec: 'string' });
    expect(w2.nextSequence).toBe(1500);
    w2.close();
  });

  it('foreign, empty and header-less files never crash: errors name the file', () => {
    const cases: Array<[string, (p: string) => void]> = [
      ['empty', (p) => truncateSync(p, 0)],
      ['short', (p) => truncateSync(p, 50)],
      ['garbage', (p) => writeFileSync(p, Buffer.alloc(SEGMENT, 0x5a))],
      ['zeros', (p) => writeFileSync(p, Buffer.alloc(SEGMENT))],
      ['header flip', (p) => flipBit(p, F.SEG_BASE_SEQ_OFFSET, 0)],
    ];
    for (const [name, damage] of cases) {
      const dir = copyLog(base.dir);
      const seg = tailOf(dir);
      damage(seg);
      const report = verifyLog(dir);
      expect({ name, ok: report.ok }).toEqual({ name, ok: false });
      expect(report.problems.some((p) => p.segment === seg)).toBe(true);
      expect(() => LogWriter.open(dir, { codec: 'string' })).toThrow(expect.objectContaining({ code: 'ERR_CORRUPT' }));
      // Only a header of zeros (what a machine crash leaves) is told apart, with what to do.
      const zeroed = name === 'empty' || name === 'zeros';
      expect({ name, advice: /no segment header.*moving it out of the directory/.test(String(errorOf(() => LogWriter.open(dir, { codec: 'string' })))) }).toEqual({ name, advice: zeroed });
      const read = readAllSafe(dir);
      expect(read.error).toMatchObject({ code: 'ERR_CORRUPT' });
    }
    const notLog = tempDir('notlog');
    writeFileSync(join(notLog, F.CONTROL_FILE), 'hello');
    expect(() => LogReader.open(notLog)).toThrow(expect.objectContaining({ code: 'ERR_NOT_A_LOG' }));
    expect(() => verifyLog(notLog)).toThrow(expect.objectContaining({ code: 'ERR_NOT_A_LOG' }));
  });

  it('a last segment left with a zeroed header (machine crash, durability process): open names it; moved aside, the log continues', () => {
    const dir = copyLog(base.dir);
    const segs = listSegments(dir);
    const last = segs.at(-1)!.path;
    const before = readAllSafe(dir).seqs.filter((s) => !base.recs.find((r) => r.seq === s)!.segment.endsWith(last.slice(last.lastIndexOf('/'))));
    writeFileSync(last, Buffer.alloc(statSync(last).size));
    expect(() => LogWriter.open(dir, { codec: 'string' })).toThrow(/no segment header \(its first \d+ bytes are zeros\)/);
    expect(verifyLog(dir).ok).toBe(false);
    renameSync(last, join(tempDir('aside'), 'moved'));
    const w = LogWriter.open<string>(dir, { codec: 'string', segmentBytes: SEGMENT });
    const next = before.length;
    expect(w.nextSequence).toBe(next);
    w.append(payloadFor(next));
    w.close();
    expect(readAllSafe(dir)).toEqual({ seqs: [...before, next], error: undefined });
    expect(verifyLog(dir).ok).toBe(true);
  });

  // What must hold whatever the damage: a log verify calls fine reads back whole; a reader that
  // fails fails with ERR_CORRUPT (never another error), on a log verify does not call fine; what
  // a reader returns is the log's records from the first, in order, each with its own payload
  // (readAllSafe checks the payloads: a wrong one comes back as its error); recovery keeps at least
  // what a reader could read.
  it('random damage anywhere (fuzz): verify, recovery and readers never crash and agree on what is damaged', () => {
    const rand = prng(77);
    const first = (n: number) => Array.from({ length: n }, (_, i) => i);
    /** `records`: how many the log holds if undamaged. */
    const agree = (what: string, records: number, report: ReturnType<typeof verifyLog>, read: ReturnType<typeof readAllSafe>) => {
      expect(read.seqs, what).toEqual(first(read.seqs.length));
      if (report.ok) expect(read, `${what}: verify called the log fine`).toEqual({ seqs: first(records), error: undefined });
      if (read.error !== undefined) {
        expect(read.error, what).toBeInstanceOf(LogCorruptError);
        expect(report.ok, `${what}: a reader failed (${(read.error as Error).message})`).toBe(false);
      }
    };
    for (let t = 0; t < 25; t++) {
      const dir = copyLog(base.dir);
      const segs = listSegments(dir);
      const seg = segs[Math.floor(rand() * segs.length)]!.path;
      const size = statSync(seg).size;
      const kind = Math.floor(rand() * 4);
      if (kind === 0) for (let k = 0; k < 5; k++) flipBit(seg, Math.floor(rand() * size), Math.floor(rand() * 8));
      else if (kind === 1) truncateSync(seg, Math.floor(rand() * size));
      else if (kind === 2) patch(seg, Math.floor(rand() * (size - 512)), new Uint8Array(512).map(() => Math.floor(rand() * 256)));
      else patch(seg, Math.floor(rand() * (size / 4096)) * 4096, new Uint8Array(4096));
      const what = `case ${t} (damage kind ${kind})`;
      const read = readAllSafe(dir);
      agree(what, 1500, verifyLog(dir), read);
      let next: number | undefined;
      try {
        const w = LogWriter.open(dir, { codec: 'string' });
        next = w.nextSequence;
        w.close();
      } catch (err) {
        expect(err, what).toMatchObject({ code: 'ERR_CORRUPT' });
      }
      if (next !== undefined) expect(next, `${what}: recovery kept fewer records than a reader read`).toBeGreaterThanOrEqual(read.seqs.length);
      // Recovery cut the tail at the first damaged record: the log now ends before `next`.
      agree(`${what}, after recovery`, next ?? 1500, verifyLog(dir), readAllSafe(dir));
    }
  });
});
