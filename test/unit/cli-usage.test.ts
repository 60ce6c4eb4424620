// The ringwire CLI's usage: --help and <command> --help on stdout with exit 0 (every command, its
// options and exit codes), --version, a missing or extra argument named with exit 2, and tail's
// -n honoured together with --from.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { LogWriter } from '../../lib/index.js';

const bin = fileURLToPath(new URL('../../bin/ringwire.mjs', import.meta.url));
const version = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;
const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 30_000 });
const dir = mkdtempSync(join(tmpdir(), 'ringwire-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ringwire CLI usage', () => {
  it('--help lists every command on stdout and exits 0', () => {
    const r = cli('--help');
    expect(r.status).toBe(0);
    for (const c of ['log tail', 'log dump', 'log verify', 'stat', 'ls', 'rm', '--version']) expect(r.stdout).toContain(`ringwire ${c}`);
    expect(r.stderr).toBe('');
  });

  it('<command> --help describes the command, its options and exit codes', () => {
    for (const [args, words] of [
      [['log', 'tail', '--help'], ['--follow', '-n N', '--from', '--format', 'Exit: 0']],
      [['log', 'verify', '--help'], ['unfinished tail', 'Exit: 0', '1 committed records are damaged']],
      [['rm', '--help'], ['Exit: 0 removed; 1 no such channel']],
      [['ls', '--help'], ['--format text|ndjson']],
    ] as const) {
      const r = cli(...args);
      expect(r.status, args.join(' ')).toBe(0);
      for (const w of words) expect(r.stdout, args.join(' ')).toContain(w);
    }
  });

  it('--version prints the package version', () => {
    expect(cli('--version')).toMatchObject({ status: 0, stdout: `${version}\n` });
  });

  it('a missing or extra argument says which, with the command usage, exit 2', () => {
    expect(cli('log', 'tail')).toMatchObject({ status: 2, stderr: expect.stringContaining('log tail: missing <dir>') });
    expect(cli('stat')).toMatchObject({ status: 2, stderr: expect.stringContaining('stat: missing <log-dir | channel-file | channel-name>') });
    expect(cli('rm', 'a', 'b')).toMatchObject({ status: 2, stderr: expect.stringContaining('rm: too many arguments') });
    expect(cli('log')).toMatchObject({ status: 2, stderr: expect.stringContaining('log: missing a subcommand') });
    expect(cli('frobnicate')).toMatchObject({ status: 2, stderr: expect.stringContaining('unknown command: frobnicate') });
  });

  it('log tail: -n alone is the last N; with --from, at most N from there', () => {
    const log = join(dir, 'log');
    const w = LogWriter.open(log, { codec: 'json' });
    for (let i = 0; i < 50; i++) w.append({ i });
    w.close();
    const lines = (r: ReturnType<typeof cli>) => r.stdout.trim().split('\n').map((l) => JSON.parse(l).i);
    expect(lines(cli('log', 'tail', log, '-n', '3'))).toEqual([47, 48, 49]);
    expect(lines(cli('log', 'tail', log, '--from', '10', '-n', '3'))).toEqual([10, 11, 12]);
    expect(lines(cli('log', 'tail', log, '--from', '45'))).toEqual([45, 46, 47, 48, 49]);
  });
});
