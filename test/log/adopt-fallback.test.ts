// LogFile.adopt where it cannot move the spare's mapping as it does on this machine's kernel: a
// shim preloaded into a writer process (fixtures/mremap-shim.c) makes mremap refuse
// MREMAP_DONTUNMAP as Linux 5.7-5.12 do for file mappings, fail the move of the spare, or fail the
// thread that unmaps the old file. The writer must roll on either way (every record read back and
// verified), leave no mapping or descriptor of its files after close(), and never unmap memory it
// does not own.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LogReader, verifyLog } from '../../lib/log/index.js';
import { buildShim, cleanupDirs, FIXTURES, hasCc, payloadFor, tempDir } from './helpers.js';

afterAll(cleanupDirs);

const ROLLS = 12;

function rollUnder(mode: string, so: string, dir: string) {
  const child = spawnSync(process.execPath, [join(FIXTURES, 'roll-under-shim.mjs'), dir, String(ROLLS)], {
    encoding: 'utf8',
    timeout: 60_000, // bounded
    env: { ...process.env, LD_PRELOAD: so, RINGWIRE_MREMAP_SHIM: mode },
  });
  if (child.status !== 0) throw new Error(`child (${mode}) exited with ${child.status ?? child.signal}: ${child.stderr}`);
  const lines = child.stderr.split('\n');
  return {
    ...(JSON.parse(child.stdout.trim()) as { records: number; canaries: number; left: { maps: number; fds: number } }),
    refused: lines.filter((l) => l === 'refused').length,
    canariesMade: lines.filter((l) => l === 'canary').length,
  };
}

function expectLogOf(dir: string, records: number): void {
  const r = LogReader.open<string>(dir, { codec: 'string' });
  const values: string[] = [];
  for (let e = r.read(); e !== undefined; e = r.read()) values.push(e.value);
  r.close();
  expect(values).toEqual(Array.from({ length: records }, (_, k) => payloadFor(k)));
  expect(verifyLog(dir)).toMatchObject({ ok: true, records, segments: ROLLS + 1 });
}

describe.skipIf(!hasCc)('LogFile.adopt fallbacks (mremap shim)', () => {
  const so = hasCc ? buildShim() : '';

  it('without MREMAP_DONTUNMAP for files (Linux 5.7-5.12): rolls replace the mapping in place and unmap nothing else', () => {
    const dir = tempDir('adopt-old-kernel');
    const out = rollUnder('old-kernel', so, dir);
    expect(out.refused).toBeGreaterThanOrEqual(ROLLS); // the DONTUNMAP step was refused at every roll
    expect(out.canaries).toBe(out.canariesMade); // what another thread mapped meanwhile is still mapped
    expect(out.left).toEqual({ maps: 0, fds: 0 });
    expectLogOf(dir, out.records);
  });

  it.each([
    ['fail-move', 'when moving the spare fails (ERR_IO), each roll continues in the new file mapped on its own'],
    ['no-thread', 'when no thread can be started to unmap the old file, the roll does it itself'],
  ])('%s: %s', (mode) => {
    const dir = tempDir(`adopt-${mode}`);
    const out = rollUnder(mode, so, dir);
    expect(out.refused).toBeGreaterThanOrEqual(ROLLS);
    expect(out.left).toEqual({ maps: 0, fds: 0 });
    expectLogOf(dir, out.records);
  });
});
