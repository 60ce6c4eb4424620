// `verify` on a log whose writer crashed and that nobody reopened yet: the unfinished tail (a
// record in progress at the end, a roll interrupted before the previous segment was sealed) is the
// normal state after a crash, reported with its size and exit 0; damage to committed records is
// still exit 1. Writers are real child processes killed with SIGKILL (at exact points and at
// random moments); the interrupted roll is laid out with the writer's own segment creation.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LogWriter, verifyLog } from '../../lib/log/index.js';
import * as F from '../../lib/log/format.js';
import { createSegment, listSegments, readHeaderFile } from '../../lib/log/segments.js';
import { cleanupDirs, FIXTURES, flipBit, payloadFor, prng, ROOT, tempDir } from './helpers.js';

afterAll(cleanupDirs);

const BIN = join(ROOT, 'bin', 'ringwire.mjs');
const verifyCli = (dir: string) => spawnSync(process.execPath, [BIN, 'log', 'verify', dir], { encoding: 'utf8', timeout: 30_000 });
const TAIL_TEXT = /unfinished tail after a crash \((\d+) bytes\), repaired when the log is next opened for writing/;

/** Runs a fixture until it dies of SIGKILL (its own, or ours `killAfterMs` after "ready"). */
function runUntilKilled(script: string, args: string[], killAfterMs?: number): Promise<{ out: string; ready: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`${FIXTURES}${script}`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    const guard = setTimeout(() => child.kill('SIGKILL'), 20_000); // bounded even if "ready" never comes
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (killAfterMs !== undefined && timer === undefined && /ready \d+/.test(out)) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      clearTimeout(timer);
      if (signal !== 'SIGKILL') return reject(new Error(`${script} exited with ${code}: ${err}`));
      resolve({ out, ready: Number(/ready (\d+)/.exec(out)?.[1] ?? -1) });
    });
  });
}

/** A log whose writer died in appendBatch with `laidOut` records of the batch in progress. */
async function crashedInBatch(before: number, laidOut: number): Promise<string> {
  const dir = tempDir('vcrash');
  const { out, ready } = await runUntilKilled('die-in-batch.mjs', [dir, String(before), '50', String(laidOut)]);
  expect(ready).toBe(before);
  expect(out).not.toContain('survived');
  return dir;
}

describe('verify after a writer crash', () => {
  it('a batch in progress at the end: exit 0, the unfinished tail and its size; reopening repairs it', async () => {
    const dir = await crashedInBatch(100, 5);
    const report = verifyLog(dir);
    expect(report).toMatchObject({ ok: true, problems: [], records: 100, nextSequence: 100 });
    const tail = report.unfinishedTail!;
    expect(tail).toMatchObject({ segment: listSegments(dir).at(-1)!.path, rollInterrupted: false, writerRunning: false });
    expect(tail.bytes).toBeGreaterThan(5 * F.RECORD_HEADER_BYTES); // five records laid out, none committed
    const cli = verifyCli(dir);
    expect(cli.status).toBe(0);
    expect(Number(TAIL_TEXT.exec(cli.stdout)?.[1])).toBe(tail.bytes);
    expect(cli.stdout).toContain(`from offset ${tail.offset}`);
    const w = LogWriter.open(dir, { codec: { encode: (v: Uint8Array) => v, decode: (b: Uint8Array) => b } });
    expect(w.recovery).toMatchObject({ discardedFrom: tail.offset, discardedBytes: tail.bytes });
    w.close();
    expect(verifyLog(dir)).toMatchObject({ ok: true, records: 100, unfinishedTail: undefined });
    expect(verifyCli(dir).stdout).toContain('ok: every record CRC32C checks');
  });

  it('while the writer named in log.ctl is alive, the tail is reported as a record being written (exit 0)', async () => {
    const dir = await crashedInBatch(10, 2);
    const pid = Buffer.alloc(4);
    pid.writeInt32LE(process.pid); // as if this process were its writer, caught mid-append
    const fd = openSync(join(dir, 'log.ctl'), 'r+');
    writeSync(fd, pid, 0, 4, F.CTL_WRITER_PID_OFFSET);
    closeSync(fd);
    expect(verifyLog(dir)).toMatchObject({ ok: true, unfinishedTail: { writerRunning: true, rollInterrupted: false } });
    const cli = verifyCli(dir);
    expect(cli.status).toBe(0);
    expect(cli.stdout).toContain('a record being written by the running writer');
    expect(cli.stdout).not.toMatch(TAIL_TEXT);
  });

  it('damage to a committed record before the unfinished tail is still exit 1', async () => {
    const dir = await crashedInBatch(100, 3);
    const tail = verifyLog(dir).unfinishedTail!;
    flipBit(tail.segment, tail.offset - 8, 2); // the last committed record's last payload byte (padding is < 8)
    const report = verifyLog(dir);
    expect(report.ok).toBe(false);
    expect(report.problems[0]).toMatchObject({ segment: tail.segment, problem: 'record CRC mismatch' });
    const cli = verifyCli(dir);
    expect(cli.status).toBe(1);
    expect(cli.stdout).toMatch(/CORRUPT .* record CRC mismatch/);
  });

  it('a committed record whose in-progress bit flipped is damage, not a tail (committed records follow it)', async () => {
    const dir = await crashedInBatch(100, 2);
    const seg = listSegments(dir).at(-1)!.path;
    // The second record of the last segment: its length word's top bit (byte 3) set.
    const first = F.SEGMENT_HEADER_BYTES;
    const fd = openSync(seg, 'r');
    const w = Buffer.alloc(4);
    readSync(fd, w, 0, 4, first);
    closeSync(fd);
    const second = first + F.alignRecord(w.readUInt32LE(0));
    flipBit(seg, second + 3, 7);
    const report = verifyLog(dir);
    expect(report.ok).toBe(false);
    expect(report.unfinishedTail).toBeUndefined();
    expect(report.problems[0]).toMatchObject({ segment: seg, offset: second });
    expect(verifyCli(dir).status).toBe(1);
  });

  it('a roll interrupted before the previous segment was sealed (end-of-segment absent or in progress): exit 0', () => {
    for (const eos of ['absent', 'in progress'] as const) {
      const dir = tempDir('vroll');
      const w = LogWriter.open<string>(dir, { codec: 'string', segmentBytes: F.MIN_SEGMENT_BYTES });
      for (let i = 0; i < 1000; i++) w.append(payloadFor(i));
      const next = w.nextSequence;
      const last = listSegments(dir).at(-1)!;
      expect(verifyLog(dir).unfinishedTail).toBeUndefined(); // a live writer between records
      w.close();
      // What #roll has done when it dies before the end-of-segment record: the next segment exists.
      const h = readHeaderFile(last.path);
      const { file } = createSegment(dir, { ...h, epoch: h.epoch + 1, index: h.index + 1, baseSequence: next, created: Date.now() }, 0o600);
      file.close();
      let bytes = 0;
      if (eos === 'in progress') {
        const at = verifyLog(dir).unfinishedTail!.offset;
        const fd = openSync(last.path, 'r+');
        writeSync(fd, new Uint8Array(new Uint32Array([F.IN_PROGRESS >>> 0, 0, F.TYPE_END_OF_SEGMENT]).buffer), 0, 12, at);
        closeSync(fd);
        bytes = F.REC_TYPE_OFFSET + 1; // up to its last non-zero byte
      }
      const report = verifyLog(dir);
      expect(report).toMatchObject({ ok: true, problems: [], records: 1000, segments: listSegments(dir).length });
      expect(report.unfinishedTail).toMatchObject({ segment: last.path, rollInterrupted: true, bytes });
      const cli = verifyCli(dir);
      expect(cli.status).toBe(0);
      expect(cli.stdout).toMatch(TAIL_TEXT);
      expect(cli.stdout).toContain('segment roll interrupted');
      const again = LogWriter.open<string>(dir, { codec: 'string' });
      expect(again.nextSequence).toBe(1000);
      again.append(payloadFor(1000));
      again.close();
      expect(verifyLog(dir)).toMatchObject({ ok: true, records: 1001, unfinishedTail: undefined });
    }
  });

  it('an unsealed segment followed by a segment with records is damage (exit 1)', () => {
    const dir = tempDir('vroll');
    const w = LogWriter.open<string>(dir, { codec: 'string', segmentBytes: F.MIN_SEGMENT_BYTES });
    for (let i = 0; i < 1000; i++) w.append(payloadFor(i));
    w.close();
    const segs = listSegments(dir);
    expect(segs.length).toBeGreaterThan(2);
    // Unseal the first segment: zero its end-of-segment record's length word.
    const eos = verifyLog(dir);
    expect(eos.ok).toBe(true);
    const r = readHeaderFile(segs[1]!.path);
    expect(r.baseSequence).toBeGreaterThan(0);
    const fd = openSync(segs[0]!.path, 'r');
    const buf = Buffer.alloc(F.MIN_SEGMENT_BYTES);
    readSync(fd, buf, 0, buf.length, 0);
    closeSync(fd);
    let p = F.SEGMENT_HEADER_BYTES;
    while (buf.readUInt32LE(p + F.REC_TYPE_OFFSET) !== F.TYPE_END_OF_SEGMENT) p += F.alignRecord(buf.readUInt32LE(p));
    const wfd = openSync(segs[0]!.path, 'r+');
    writeSync(wfd, new Uint8Array(F.END_OF_SEGMENT_BYTES), 0, F.END_OF_SEGMENT_BYTES, p);
    closeSync(wfd);
    const report = verifyLog(dir);
    expect(report.ok).toBe(false);
    expect(report.unfinishedTail).toBeUndefined();
    expect(report.problems[0]).toMatchObject({ segment: segs[0]!.path, problem: 'segment is not sealed but a later one exists' });
    expect(verifyCli(dir).status).toBe(1);
  });

  it('SIGKILL at random moments (appends, batches, rolls): verify before reopening is ok every time', async () => {
    const dir = tempDir('vkill');
    const rand = prng(77);
    const deadline = Date.now() + 20_000;
    let trials = 0;
    let tails = 0;
    let expectedNext = 0;
    for (; trials < 40 && Date.now() < deadline; trials++) {
      const { out, ready } = await runUntilKilled('writer.mjs', [dir, String(64 * 1024), '0', String(500 + trials), '0'], Math.floor(rand() * 30));
      expect(ready).toBe(expectedNext);
      const acks = [...out.matchAll(/ack (\d+)\n/g)].map((m) => Number(m[1]));
      const report = verifyLog(dir);
      expect(report.problems).toEqual([]);
      expect(report.ok).toBe(true);
      expect(report.nextSequence).toBeGreaterThan(acks.at(-1) ?? ready - 1);
      if (report.unfinishedTail !== undefined) {
        tails++;
        expect(report.unfinishedTail.writerRunning).toBe(false);
        if (tails === 1) {
          const cli = verifyCli(dir);
          expect(cli.status).toBe(0);
          expect(Number(TAIL_TEXT.exec(cli.stdout)?.[1])).toBe(report.unfinishedTail.bytes);
        }
      }
      expectedNext = report.nextSequence;
    }
    console.log(`verify after kills: ${trials} kills, ${tails} left an unfinished tail`);
    expect(trials).toBeGreaterThanOrEqual(10);
  });
});
