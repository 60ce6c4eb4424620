// The log where no thread can start (a thread limit reached): LogFile.populate, which a writer calls
// after committing a record, skips its page toucher instead of failing that append; syncEvery
// (durability 'interval') fails the open with ERR_IO naming the thread. Run in a child process as
// the unprivileged user `nobody` under RLIMIT_NPROC set to the threads the child has once the
// library is loaded (root ignores the limit). Needs root, setpriv and prlimit (util-linux).
import { spawnSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { afterAll, describe, expect, it } from 'vitest';
import { LogReader } from '../../lib/log/index.js';
import { cleanupDirs, FIXTURES, tempDir } from './helpers.js';

afterAll(cleanupDirs);

const NOBODY = '65534';
const AS_NOBODY = ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'];
const has = (cmd: string) => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
// Root (to become nobody), the tools, and a node binary and fixture that nobody can run and read.
const usable =
  process.getuid?.() === 0 &&
  has('setpriv') &&
  has('prlimit') &&
  spawnSync(AS_NOBODY[0]!, [...AS_NOBODY.slice(1), process.execPath, '-e', `require('fs').readFileSync(${JSON.stringify(join(FIXTURES, 'thread-limit.mjs'))})`], {
    stdio: 'ignore',
    timeout: 30_000,
  }).status === 0;

function child(nproc: number, ...args: string[]): Record<string, unknown> {
  const r = spawnSync(
    'prlimit',
    [`--nproc=${nproc}:${nproc}`, ...AS_NOBODY, process.execPath, join(FIXTURES, 'thread-limit.mjs'), ...args],
    { encoding: 'utf8', timeout: 60_000 }, // bounded
  );
  if (r.status !== 0) throw new Error(`child (${args.join(' ')}) exited with ${r.status ?? r.signal}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim()) as Record<string, unknown>;
}

describe.runIf(usable)('log under a thread limit', () => {
  it("appends go on without the page toucher ('process'); 'interval' fails to open with ERR_IO naming its thread", () => {
    const { threads } = child(64, 'count') as { threads: number };
    const dir = tempDir('thread-limit');
    chmodSync(dir, 0o777); // the child runs as nobody
    const n = 5000;
    const proc = child(threads, 'process', join(dir, 'process'), String(n));
    // No spare thread when the log opened: the toucher could not have started.
    expect(proc).toEqual({ before: threads, appended: n });
    const r = LogReader.open<string>(join(dir, 'process'), { codec: 'string' });
    let seen = 0;
    for (let e = r.read(); e !== undefined; e = r.read()) expect(e.value).toBe(`record ${seen++}`);
    r.close();
    expect(seen).toBe(n);
    const interval = child(threads, 'interval', join(dir, 'interval'), String(n));
    expect(interval).toMatchObject({ before: threads, code: 'ERR_IO' });
    expect(interval.message).toMatch(/cannot start the thread that msyncs .* every 1000 ms/);
  });
});
