// Builds the prebuilt addons the package carries (`npm pack` / `npm publish` run it as prepack):
// one Node-API build per platform serves every Node version, laid out as node-gyp-build finds it,
// prebuilds/<platform>-<arch>/node.napi.glibc.node. linux-x64 is built with the machine's compiler,
// linux-arm64 with Debian's cross compiler (apt-get install g++-aarch64-linux-gnu).
//
//   node scripts/prebuild.mjs [x64] [arm64]   default: both (or RINGWIRE_PREBUILD_ARCHS=x64,arm64);
//                                             fails if one cannot be built
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { arch as hostArch, platform } from 'node:os';
import { join } from 'node:path';
import { buildFromSource, missingTools, root, TOOLCHAIN_ADVICE } from './build-native.mjs';

const CROSS = {
  arm64: { compiler: 'aarch64-linux-gnu-g++', strip: 'aarch64-linux-gnu-strip', processor: 'aarch64', apt: 'g++-aarch64-linux-gnu' },
  x64: { compiler: 'x86_64-linux-gnu-g++', strip: 'x86_64-linux-gnu-strip', processor: 'x86_64', apt: 'g++-x86-64-linux-gnu' },
};

if (platform() !== 'linux') {
  console.error(`prebuild: builds Linux prebuilds only (this is ${platform()}); build from source with npm run build`);
  process.exit(1);
}
const archs = process.argv.length > 2 ? process.argv.slice(2) : (process.env.RINGWIRE_PREBUILD_ARCHS ?? 'x64,arm64').split(',');
for (const arch of archs) {
  if (!(arch in CROSS)) {
    console.error(`prebuild: unknown arch ${JSON.stringify(arch)}; choose x64 or arm64`);
    process.exit(2);
  }
  const out = join('build', `prebuild-${arch}`);
  const args = ['--out', out];
  let strip = 'strip';
  if (arch !== hostArch()) {
    const c = CROSS[arch];
    if (spawnSync(c.compiler, ['--version'], { stdio: 'ignore' }).status !== 0) {
      console.error(`prebuild: no cross compiler for linux-${arch} (${c.compiler}); Debian/Ubuntu: apt-get install ${c.apt}`);
      process.exit(1);
    }
    args.push('--CDCMAKE_SYSTEM_NAME=Linux', `--CDCMAKE_SYSTEM_PROCESSOR=${c.processor}`, `--CDCMAKE_CXX_COMPILER=${c.compiler}`);
    strip = c.strip;
  } else if (missingTools().length > 0) {
    console.error(`prebuild: cannot build for linux-${arch}: missing ${missingTools().join(' and ')}. ${TOOLCHAIN_ADVICE}`);
    process.exit(1);
  }
  rmSync(join(root, out), { recursive: true, force: true });
  if (buildFromSource(args, ['ignore', 'ignore', 'inherit']) !== 0) {
    console.error(`prebuild: the linux-${arch} build failed`);
    process.exit(1);
  }
  const dir = join(root, 'prebuilds', `linux-${arch}`);
  mkdirSync(dir, { recursive: true });
  const dest = join(dir, 'node.napi.glibc.node');
  copyFileSync(join(root, out, 'Release', 'ringwire.node'), dest);
  spawnSync(strip, ['--strip-unneeded', dest], { stdio: 'inherit' }); // debug symbols are most of the size
  console.log(`prebuild: ${dest.slice(root.length + 1)}`);
}
