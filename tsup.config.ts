import { copyFile } from 'node:fs/promises';
import { defineConfig } from 'tsup';

// ESM and CommonJS builds of the library (and of ringwire/pino, ringwire/nats), with .d.ts / .d.cts types.
// `shims` gives the CommonJS build an import.meta.url, which lib/native.ts uses to find the addon.
export default defineConfig({
  entry: { index: 'lib/index.ts', pino: 'lib/log/pino.ts', nats: 'lib/nats/index.ts', 'workers/stage-worker': 'workers/stage-worker.ts' },
  // One shared chunk for both entries (CommonJS too): one RingwireError class, one addon loader.
  splitting: true,
  format: ['esm', 'cjs'],
  // stripInternal: members marked @internal (the channel's memory and codec, the endpoints'
  // hooks) are left out of the published types; scripts/check-dts.mjs checks that nothing leaks.
  dts: { compilerOptions: { stripInternal: true } },
  shims: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  outDir: 'dist',
  // The CommonJS piscina entry of stage workers, as written (see the file).
  onSuccess: () => copyFile('workers/stage-entry.cjs', 'dist/workers/stage-entry.cjs'),
});
