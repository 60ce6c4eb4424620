// A roll that fails once the next segment is installed: its name is taken (the roll cannot be tried
// again), and once the segment it leaves is sealed readers may have moved on, so the writer must not
// append to the old one again (nor go on in the new one without what its durability promises). It
// stops: the call that rolled throws ERR_LOG_FAILED with the failure as its cause, every writing
// call after it the same, close() still releases the log's files, and a new writer recovers the log
// and continues after the last record appended. The failures are injected in a child process by
// the LD_PRELOAD shim of adopt-fallback.test.ts.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LogReader, LogWriter, verifyLog } from '../../lib/log/index.js';
import { buildShim, cleanupDirs, FIXTURES, hasCc, tempDir } from './helpers.js';

afterAll(cleanupDirs);

interface Failure {
  code: string | null;
  message: string;
  cause: string | null;
}
interface Outcome {
  appended: number;
  failed: Failure | null;
  after: Record<'append' | 'appendBatch' | 'appendEncoded' | 'flush' | 'applyRetention', Failure | null>;
  close: Failure | null;
  closedAfter: Failure | null;
  fdsAtClose: number;
  left: { maps: number; fds: number };
}

function rollFailing(so: string, mode: string, durability: string, calls: string, dir: string): Outcome {
  const child = spawnSync(process.execPath, ['--expose-gc', join(FIXTURES, 'roll-failure.mjs'), dir, durability, calls], {
    encoding: 'utf8',
    timeout: 60_000, // bounded
    env: { ...process.env, LD_PRELOAD: so, RINGWIRE_MREMAP_SHIM: mode },
  });
  if (child.status !== 0) throw new Error(`child (${mode}) exited with ${child.status ?? child.signal}: ${child.stderr}`);
  expect(child.stderr).toContain('refused'); // the shim did inject the failure
  return JSON.parse(child.stdout.trim()) as Outcome;
}

function readAll(dir: string): string[] {
  const r = LogReader.open<string>(dir, { codec: 'string' });
  const values: string[] = [];
  for (let e = r.read(); e !== undefined; e = r.read()) values.push(e.value);
  r.close();
  return values;
}

describe.skipIf(!hasCc)('a roll that fails after sealing its segment', () => {
  const so = hasCc ? buildShim() : '';

  it.each([
    ['msync-eio', 'sync', 'single', /msync/i],
    ['msync-eio', 'sync', 'batch', /msync/i],
    ['fail-move-no-threads', 'interval', 'single', /cannot start the thread that msyncs/],
  ])('%s (durability %s, %s appends): the writer stops, close() releases the log, a new writer continues it', (mode, durability, calls, cause) => {
    const dir = tempDir(`roll-failure-${mode}-${calls}`);
    const out = rollFailing(so, mode, durability, calls, dir);
    // The call that rolled threw, after a segment's worth of records, with the failure as its cause.
    expect(out.appended).toBeGreaterThan(1000);
    expect(out.failed).toMatchObject({ code: 'ERR_LOG_FAILED' });
    expect(out.failed!.message).toMatch(/^rolling to segment 1 of the log in .* failed \(.*\): the writer stopped; close it and open the log again$/);
    expect(out.failed!.cause).toMatch(cause);
    // Nothing was written after it: each writing call names the failure.
    for (const [call, f] of Object.entries(out.after)) {
      expect(f, call).toMatchObject({ code: 'ERR_LOG_FAILED', cause: out.failed!.cause });
      expect(f!.message).toContain(`LogWriter.${call}: the writer stopped when a roll failed`);
    }
    expect(out.close).toBeNull();
    expect(out.closedAfter).toMatchObject({ code: 'ERR_LOG_CLOSED' });
    // close() released both segments' files (the next one's too, whoever held it at the failure):
    // descriptors at once, mappings by the next garbage collection.
    expect(out.fdsAtClose).toBe(0);
    expect(out.left).toEqual({ maps: 0, fds: 0 });
    // The roll failed after the next segment was installed: two segments, holding every record
    // appended before the failure, in order, and nothing else.
    const expected = Array.from({ length: out.appended }, (_, i) => `record ${i}`);
    expect(readAll(dir)).toEqual(expected);
    expect(verifyLog(dir)).toMatchObject({ ok: true, records: out.appended, segments: 2 });
    // The next writer (no shim) picks up after the last record and rolls on.
    const w = LogWriter.open<string>(dir, { codec: 'string', segmentBytes: 64 * 1024, durability: durability as 'sync' | 'interval' });
    expect(w.nextSequence).toBe(out.appended);
    for (let i = out.appended; i < out.appended + 5000; i++) w.append(`record ${i}`);
    expect(w.stats().rolls).toBeGreaterThan(0);
    w.close();
    expect(readAll(dir)).toEqual(Array.from({ length: out.appended + 5000 }, (_, i) => `record ${i}`));
    expect(verifyLog(dir)).toMatchObject({ ok: true, records: out.appended + 5000 });
  });
});
