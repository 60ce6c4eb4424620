// Builds the native addon from source with cmake-js (`npm run build`, and `npm install` when no
// prebuilt addon fits this machine: scripts/install.mjs). Checks the toolchain first, so that a
// missing compiler or cmake says what to install.
//
//   node scripts/build-native.mjs [cmake-js options...]   exits non-zero if the build fails
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

/** What to install to build from source (Debian/Ubuntu, macOS), as one line. */
export const TOOLCHAIN_ADVICE = 'Debian/Ubuntu: apt-get install cmake g++; macOS: xcode-select --install && brew install cmake';

function has(cmd, args = ['--version']) {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}

/** The tools missing for a source build (empty when cmake and a C++20 compiler are there). */
export function missingTools(cxx = process.env.CXX || 'c++') {
  const missing = [];
  if (!has('cmake')) missing.push('cmake (>= 3.15)');
  if (!has(cxx) && !has('g++') && !has('clang++')) missing.push('a C++20 compiler (g++ >= 10 or clang++ >= 13)');
  return missing;
}

/** Runs cmake-js compile with `args`; returns its exit status. */
export function buildFromSource(args = [], stdio = 'inherit') {
  const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
  const r = spawnSync(process.execPath, [cmakeJs, 'compile', '--directory', root, ...args], { stdio, cwd: root });
  return r.status ?? 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const missing = missingTools();
  if (missing.length > 0) {
    console.error(`ringwire: cannot build the native addon: missing ${missing.join(' and ')}.`);
    console.error(`  ${TOOLCHAIN_ADVICE}`);
    process.exit(1);
  }
  if (buildFromSource(process.argv.slice(2)) !== 0) {
    console.error('ringwire: the native build failed (see the compiler output above).');
    process.exit(1);
  }
}
