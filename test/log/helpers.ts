// Shared bits of the log tests: temporary directories and a deterministic payload per sequence.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dirs: string[] = [];

/** A fresh empty directory, removed by cleanupDirs(). */
export function tempDir(tag = 'log'): string {
  const d = mkdtempSync(join(tmpdir(), `ringwire-${tag}-`));
  dirs.push(d);
  return d;
}

export function cleanupDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** The payload the fixtures write for sequence `seq` (size varies with seq). */
export const payloadFor = (seq: number): string => `${seq}:` + 'abcdefghij'.repeat(seq % 23);

/** Flips bit `bit` of the byte at `offset` of the file. */
export function flipBit(path: string, offset: number, bit: number): void {
  const fd = openSync(path, 'r+');
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, offset);
  b[0]! ^= 1 << bit;
  writeSync(fd, b, 0, 1, offset);
  closeSync(fd);
}

export { prng } from '../helpers/sequence.js';

export const ROOT = new URL('../..', import.meta.url).pathname;
export const FIXTURES = new URL('./fixtures/', import.meta.url).pathname;

/** Whether a C compiler is there to build fixtures/mremap-shim.c. */
export const hasCc = spawnSync('cc', ['--version'], { stdio: 'ignore' }).status === 0;

/** Builds the LD_PRELOAD shim (fixtures/mremap-shim.c) into a temp directory; returns its path. */
export function buildShim(): string {
  const so = join(tempDir('shim'), 'mremap-shim.so');
  const cc = spawnSync('cc', ['-shared', '-fPIC', '-O1', '-o', so, join(FIXTURES, 'mremap-shim.c'), '-ldl'], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`cc: ${cc.stderr}`);
  return so;
}
