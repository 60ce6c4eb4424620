// The package's install script. It never fails the install: worker-thread channels and pipelines
// are pure TypeScript, only channel files and the log need the native addon.
// - Installed as a dependency: a prebuilt addon for this platform (prebuilds/, see
//   scripts/prebuild.mjs) is used as it is when it loads; otherwise the addon is built from source
//   when cmake and a C++ compiler are there; otherwise one line says what is missing.
// - In a git checkout (development) it always builds from source.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import { join } from 'node:path';
import { buildFromSource, missingTools, root, TOOLCHAIN_ADVICE } from './build-native.mjs';

const require = createRequire(import.meta.url);
const where = `${platform()}-${arch()}`;
const say = (line) => console.log(`ringwire: ${line}`);

/** The prebuilt addon node-gyp-build would load here, if it loads (tried in a child process). */
function loadablePrebuild() {
  let file;
  try {
    file = require('node-gyp-build').resolve(root);
  } catch {
    return undefined; // none for this platform
  }
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(file)})`], { stdio: 'ignore' });
  return r.status === 0 ? file : undefined;
}

const developing = existsSync(join(root, '.git'));
const prebuilt = developing || process.env.RINGWIRE_BUILD_FROM_SOURCE === '1' ? undefined : loadablePrebuild();
if (prebuilt !== undefined) {
  process.exit(0); // nothing to do: the prebuilt addon is used
}
const missing = missingTools();
if (missing.length > 0) {
  say(
    `no prebuilt native addon for ${where} and no toolchain to build one (missing ${missing.join(' and ')}): ` +
      `worker-thread channels and pipelines work; channel files and the log need the addon — ${TOOLCHAIN_ADVICE}, then npm rebuild ringwire`,
  );
  process.exit(0);
}
if (buildFromSource() !== 0) {
  say(`the native addon did not build for ${where} (see above): channel files and the log are unavailable; worker-thread channels and pipelines work`);
}
