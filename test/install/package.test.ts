// The package as users get it: `npm pack` (with the prebuilt addons), then `npm install` of the
// tarball in a new project on a machine with no compiler (PATH holds only node and sh). With the
// prebuild every feature works, with install scripts and without; with no prebuild for the machine
// and no toolchain, the install still succeeds, says what is missing in one line, and worker-thread
// channels and pipelines (traced, with no @opentelemetry/api installed) work while channel files
// throw ERR_NATIVE with the same advice. The arm64 prebuild is
// run under qemu-user with the npm registry's linux-arm64 Node.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error a plain-JS script
import { nodeDir } from '../../scripts/with-node.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'ringwire-package-'));
const has = (cmd: string) => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
const crossArm64 = has('aarch64-linux-gnu-g++') && has('qemu-aarch64');
// npm itself is a Node script: run it with node, so PATH can lack everything else.
const npmCli = join(realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim()), '..', 'npm-cli.js');
let tarball = '';

/** A folder with node and sh only: no cmake, no compiler. */
const bare = join(work, 'bin');
mkdirSync(bare);
symlinkSync(process.execPath, join(bare, 'node'));
symlinkSync('/bin/sh', join(bare, 'sh'));

function npm(cwd: string, args: string[]) {
  return spawnSync(process.execPath, [npmCli, ...args, '--no-audit', '--no-fund', '--prefer-offline'], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, PATH: bare, npm_config_loglevel: 'warn' },
    timeout: 120_000,
  });
}

function project(name: string): string {
  const dir = join(work, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true, type: 'module' }));
  cpSync(fileURLToPath(new URL('./fixtures/try.mjs', import.meta.url)), join(dir, 'try.mjs'));
  return dir;
}

function tryIn(dir: string, path = bare) {
  const r = spawnSync('node', ['try.mjs'], { cwd: dir, encoding: 'utf8', env: { ...process.env, PATH: path }, timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}

/** What try.mjs gets where the addon loads; metrics need prom-client, which these projects lack. */
const traced = [0, 1, 2].map((seq) => ({ seq, complete: true, hops: 1, ids: true }));
const tracing = { sample: 1, sampled: 3, complete: 3, incomplete: 0, expired: 0, droppedReports: 0 };
const WORKS = { worker: { ok: { hello: 'worker' } }, pipeline: { ok: { out: [2, 4, 6], traced, trace: tracing, otel: 'ERR_MODULE_NOT_FOUND' } }, file: { ok: 'file' }, log: { ok: { hello: 'log' } }, metrics: { code: 'ERR_MISSING_DEPENDENCY' } };

beforeAll(() => {
  // The prebuilds as `npm pack` makes them (prepack); packed without re-running tsup (the suite's
  // worker fixtures use dist/ meanwhile).
  const archs = crossArm64 ? 'x64,arm64' : 'x64';
  const pre = spawnSync(process.execPath, ['scripts/prebuild.mjs'], { cwd: root, encoding: 'utf8', env: { ...process.env, RINGWIRE_PREBUILD_ARCHS: archs } });
  expect(pre.status, pre.stderr).toBe(0);
  const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--pack-destination', work], { cwd: root, encoding: 'utf8' });
  expect(pack.status, pack.stderr).toBe(0);
  tarball = join(work, readdirSync(work).find((f) => f.endsWith('.tgz'))!);
}, 180_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('installing the packed package without a compiler', () => {
  it('with install scripts: the prebuilt addon is used, every feature works', () => {
    const dir = project('with-scripts');
    const r = npm(dir, ['install', tarball]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toMatch(/ringwire: /); // nothing to say: the prebuild loads
    expect(existsSync(join(dir, 'node_modules/ringwire/prebuilds/linux-x64/node.napi.glibc.node'))).toBe(true);
    expect(tryIn(dir)).toMatchObject({ arch: 'x64', ...WORKS });
  });

  it('with --ignore-scripts: the same (a prebuild needs no script)', () => {
    const dir = project('ignore-scripts');
    const r = npm(dir, ['install', '--ignore-scripts', tarball]);
    expect(r.status, r.stderr).toBe(0);
    expect(tryIn(dir)).toMatchObject(WORKS);
  });

  it('no prebuild for this machine and no toolchain: the install succeeds with one line of advice; worker channels and pipelines work', () => {
    const dir = project('no-prebuild');
    expect(npm(dir, ['install', '--ignore-scripts', tarball]).status).toBe(0);
    rmSync(join(dir, 'node_modules/ringwire/prebuilds'), { recursive: true });
    const r = npm(dir, ['rebuild', 'ringwire', '--foreground-scripts']);
    expect(r.status, r.stderr).toBe(0);
    const said = (r.stdout + r.stderr).split('\n').filter((l) => l.includes('ringwire: '));
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/no prebuilt native addon for linux-x64 and no toolchain.*missing cmake.*apt-get install cmake g\+\+.*npm rebuild ringwire/);
    const got = tryIn(dir);
    expect(got.worker).toEqual(WORKS.worker);
    expect(got.pipeline).toEqual(WORKS.pipeline); // worker threads and SharedArrayBuffer rings: no addon
    for (const part of [got.file, got.log]) {
      expect(part.code).toBe('ERR_NATIVE');
      expect(part.message).toMatch(/apt-get install cmake g\+\+.*npm rebuild ringwire/);
    }
  });

  it.skipIf(!crossArm64)('linux-arm64: the cross-built prebuild runs under qemu with Node 22 for arm64', () => {
    const dir = project('arm64');
    expect(npm(dir, ['install', '--ignore-scripts', tarball]).status).toBe(0);
    const got = tryIn(dir, `${nodeDir('arm64@22')}:${bare}`);
    expect(got).toMatchObject({ arch: 'arm64', ...WORKS });
  }, 120_000);
});
