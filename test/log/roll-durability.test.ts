// What a roll makes durable, and in which order, for the durabilities that survive a machine
// crash: when the directory entry of the new segment reaches the disk (the fsync of the log's
// directory), its header must be there already, or a power loss in between leaves a segment
// whose header reads as zeros, which neither LogWriter.open nor a reader gets past. (The writer
// syncs the header before it even links the name: the journal may commit the link on its own.)
// Observed with
// cachestat(2) (fixtures/dirty-pages.c): the pages of a range still dirty in the page cache.
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LogWriter } from '../../lib/log/index.js';
import { logNative } from '../../lib/log/native.js';
import { listSegments } from '../../lib/log/segments.js';
import { cleanupDirs, FIXTURES, payloadFor, tempDir } from './helpers.js';

afterAll(cleanupDirs);

/** The helper, or undefined where it cannot tell (no compiler, no cachestat, a filesystem that
 * keeps pages dirty after fsync such as tmpfs). */
function dirtyPagesTool(): ((path: string, offset: number, length: number) => number) | undefined {
  const dir = tempDir('dirty');
  const exe = join(dir, 'dirty-pages');
  if (spawnSync('cc', ['-O1', '-o', exe, join(FIXTURES, 'dirty-pages.c')], { stdio: 'ignore' }).status !== 0) return undefined;
  const dirty = (path: string, offset: number, length: number) => Number(execFileSync(exe, [path, String(offset), String(length)], { encoding: 'utf8' }));
  const probe = join(dir, 'probe');
  const fd = openSync(probe, 'w');
  writeSync(fd, Buffer.alloc(4096, 1));
  const before = spawnSync(exe, [probe, '0', '4096'], { encoding: 'utf8' });
  fsyncSync(fd);
  closeSync(fd);
  if (before.status !== 0 || Number(before.stdout) !== 1 || dirty(probe, 0, 4096) !== 0) return undefined;
  return dirty;
}

const dirtyPages = dirtyPagesTool();

describe.skipIf(dirtyPages === undefined)('roll durability (cachestat)', () => {
  it.each(['interval', 'sync'] as const)("durability '%s': the new segment's header is on disk before its name", (durability) => {
    const dir = tempDir('roll-durability');
    const N = logNative();
    const fsyncDir = N.fsyncDir;
    const dirtyHeaderPages: number[] = [];
    // Whatever else a roll does, the fsync of the directory is what makes the new name durable.
    N.fsyncDir = (path: string) => {
      dirtyHeaderPages.push(dirtyPages!(listSegments(dir).at(-1)!.path, 0, 128));
      fsyncDir(path);
    };
    try {
      const w = LogWriter.open<string>(dir, { codec: 'string', segmentBytes: 1 << 16, durability, syncIntervalMs: 3_600_000 });
      // Batches: 'sync' msyncs once per call.
      for (let k = 0; w.stats().rolls < 3; k += 50) w.appendBatch(Array.from({ length: 50 }, (_, j) => payloadFor(k + j)));
      w.close();
    } finally {
      N.fsyncDir = fsyncDir;
    }
    expect(dirtyHeaderPages).toEqual([0, 0, 0]);
  });
});
