// A roll that fails after sealing the segment it leaves: readers may have moved on to the next
// segment already, so the writer must not append to the old one again (nor go on in the new one
// without what its durability promises). It stops: the append that rolled throws the failure, every
// writing call after it throws ERR_LOG_FAILED naming it, close() still releases the log, and a new
// writer recovers it and continues after the last record appended. The failures are injected in a
// child process by the LD_PRELOAD shim of adopt-fallback.test.ts.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LogReader, LogWriter, verifyLog } from '../../lib/log/index.js';
import { cleanupDirs, FIXTURES, tempDir } from './helpers.js';

afterAll(cleanupDirs);

const hasCc = spawnSync('cc', ['--version'], { stdio: 'ignore' }).status === 0;

interface Failure {
  code: string | null;
  message: string;
  cause: string | null;
}
interface Outcome {
  appended: number;
  failed: Failure | null;
  after: Record<'append' | 'appendBatch' | 'appendEncoded' | 'flush', Failure | null>;
  close: Failure | null;
  closedAfter: Failure | null;
}

function rollFailing(so: string, mode: string, durability: string, dir: string): Outcome {
  const child = spawnSync(process.execPath, [join(FIXTURES, 'roll-failure.mjs'), dir, durability], {
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
  let so = '';
  const shim = (): string => {
    if (so !== '') return so;
    so = join(tempDir('shim'), 'mremap-shim.so');
    const cc = spawnSync('cc', ['-shared', '-fPIC', '-O1', '-o', so, join(FIXTURES, 'mremap-shim.c'), '-ldl'], { encoding: 'utf8' });
    if (cc.status !== 0) throw new Error(`cc: ${cc.stderr}`);
    return so;
  };

  it.each([
    ['msync-eio', 'sync', /msync/i],
    ['fail-move-no-threads', 'interval', /cannot start the thread that msyncs/],
  ])('%s (durability %s): the writer stops, close() releases the log, a new writer continues it', (mode, durability, cause) => {
    const dir = tempDir(`roll-failure-${mode}`);
    const out = rollFailing(shim(), mode, durability, dir);
    // The append that rolled threw the failure itself, after a segment's worth of records.
    expect(out.appended).toBeGreaterThan(1000);
    expect(out.failed).toMatchObject({ code: 'ERR_IO' });
    expect(out.failed!.message).toMatch(cause);
    // Nothing was written after it: each writing call names the failure.
    for (const [call, f] of Object.entries(out.after)) {
      expect(f, call).toMatchObject({ code: 'ERR_LOG_FAILED', cause: out.failed!.message });
      expect(f!.message).toContain(`LogWriter.${call}: the writer stopped when a roll failed`);
    }
    expect(out.close).toBeNull();
    expect(out.closedAfter).toMatchObject({ code: 'ERR_LOG_CLOSED' });
    // Every record appended before the failure, in order, and nothing else.
    const expected = Array.from({ length: out.appended }, (_, i) => `record ${i}`);
    expect(readAll(dir)).toEqual(expected);
    expect(verifyLog(dir)).toMatchObject({ ok: true, records: out.appended });
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
