// Builds the native addon with cmake-js; runs on `npm install` / `npm ci`.
// Checks the toolchain first so that a missing compiler or cmake says what to install.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

function has(cmd, args = ['--version']) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.status === 0;
}

const missing = [];
if (!has('cmake')) missing.push('cmake (>= 3.15)');
const cxx = process.env.CXX || 'c++';
if (!has(cxx) && !has('g++') && !has('clang++')) missing.push('a C++20 compiler (g++ >= 10 or clang++ >= 13)');
if (missing.length > 0) {
  console.error(`ringwire: cannot build the native addon: missing ${missing.join(' and ')}.`);
  console.error('  Debian/Ubuntu: apt-get install cmake g++    macOS: xcode-select --install && brew install cmake');
  process.exit(1);
}

const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
const r = spawnSync(process.execPath, [cmakeJs, 'compile', '--directory', root, ...process.argv.slice(2)], {
  stdio: 'inherit',
  cwd: root,
});
if (r.status !== 0) {
  console.error('ringwire: the native build failed (see the compiler output above).');
  process.exit(r.status ?? 1);
}
