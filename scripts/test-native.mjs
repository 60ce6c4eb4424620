// Builds and runs the C++ tests of the ring core (test/native) with assertions on: `npm run test:native`.
// Release flags without NDEBUG (-O2); the sanitizer builds are scripts/sanitizers.sh. Also builds the
// test-only addon (test/native/addon: NativeProducer / NativeConsumer) into build/test-addon, which
// the vitest suite loads (test/helpers/testing-addon.ts); `--addon-only` builds just that.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildFromSource } from './build-native.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'test', 'native');
// build/ is shared with cmake-js, whose clean step removes it whole; RINGWIRE_BUILD_ROOT moves ours.
const buildRoot = process.env.RINGWIRE_BUILD_ROOT || join(root, 'build');
const build = join(buildRoot, 'native-tests');
const testAddonDir = join(buildRoot, 'test-addon');

function has(cmd, args = ['--version']) {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}

const missing = [];
if (!has('cmake')) missing.push('cmake (>= 3.15, with ctest)');
else if (!has('ctest')) missing.push('ctest (ships with cmake)');
const cxx = process.env.CXX || 'c++';
if (!has(cxx) && !has('g++') && !has('clang++')) missing.push('a C++20 compiler (g++ >= 10 or clang++ >= 13)');
if (missing.length > 0) {
  console.error(`ringwire: cannot run the C++ tests: missing ${missing.join(' and ')}.`);
  console.error('  Debian/Ubuntu: apt-get install cmake g++    macOS: xcode-select --install && brew install cmake');
  process.exit(1);
}

function run(cmd, args, what) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root });
  if (r.error) {
    console.error(`ringwire: ${what}: ${r.error.message}`);
    process.exit(1);
  }
  if (r.status !== 0) {
    console.error(`ringwire: ${what} failed${r.signal ? ` (signal ${r.signal})` : ''}.`);
    process.exit(r.status ?? 1);
  }
}

if (buildFromSource(['--out', testAddonDir, '--CDRINGWIRE_TEST_ADDON=ON']) !== 0) {
  console.error('ringwire: building the test-only addon (test/native/addon) failed.');
  process.exit(1);
}
if (process.argv.includes('--addon-only')) process.exit(0);
run('cmake', ['-S', source, '-B', build, '-DCMAKE_BUILD_TYPE=Release'], 'configuring test/native');
run('cmake', ['--build', build, '-j2'], 'building test/native');
run('ctest', ['--test-dir', build, '--output-on-failure'], 'the C++ tests');
