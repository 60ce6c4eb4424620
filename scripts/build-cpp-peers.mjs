// Builds the C++ programs that talk to Node over ringwire (test/cpp/peer.cc and the README's
// examples/cpp), against an *installed* copy of the C++ API: cpp/ is configured and installed into
// build/cpp-peers/prefix, then test/cpp finds it with find_package(ringwire). Used by the
// cross-language tests (test/cpp) and bench/cpp-peers.mjs; `node scripts/build-cpp-peers.mjs` by hand.
// Incremental (cmake rebuilds what changed). Concurrent callers (vitest runs test files in
// parallel processes) take turns through a lock directory.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// build/ is shared with cmake-js, whose clean step removes it whole; RINGWIRE_BUILD_ROOT moves ours.
export const buildDir = join(process.env.RINGWIRE_BUILD_ROOT || join(root, 'build'), 'cpp-peers');
export const programs = {
  peer: join(buildDir, 'bin', 'peer'),
  producer: join(buildDir, 'bin', 'examples', 'producer'),
  consumer: join(buildDir, 'bin', 'examples', 'consumer'),
};

function run(args, what) {
  const r = spawnSync('cmake', args, { cwd: root, encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(`build-cpp-peers: ${what} failed: ${r.error?.message ?? ''}\n${(r.stdout ?? '').slice(-4000)}\n${(r.stderr ?? '').slice(-4000)}`);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Builds (or brings up to date) the programs; resolves with their paths. */
export async function buildCppPeers() {
  mkdirSync(buildDir, { recursive: true });
  const lock = join(buildDir, 'lock');
  // Bounded: a build takes well under the 5 minutes after which a lock counts as left by a dead builder.
  for (let tries = 0; ; tries++) {
    try {
      mkdirSync(lock);
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      let age = 0;
      try {
        age = Date.now() - statSync(lock).mtimeMs;
      } catch {}
      if (age > 300_000) rmSync(lock, { recursive: true, force: true });
      if (tries > 3000) throw new Error(`build-cpp-peers: ${lock} is held for too long`);
      await sleep(100);
    }
  }
  try {
    const prefix = join(buildDir, 'prefix');
    run(['-S', 'cpp', '-B', join(buildDir, 'lib'), '-DCMAKE_BUILD_TYPE=Release'], 'configuring cpp/');
    run(['--install', join(buildDir, 'lib'), '--prefix', prefix], 'installing cpp/');
    run(['-S', 'test/cpp', '-B', join(buildDir, 'bin'), '-DCMAKE_BUILD_TYPE=Release', `-DCMAKE_PREFIX_PATH=${prefix}`], 'configuring test/cpp');
    run(['--build', join(buildDir, 'bin'), '-j2'], 'building test/cpp');
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
  return programs;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const p = await buildCppPeers();
  console.log(Object.values(p).join('\n'));
}
