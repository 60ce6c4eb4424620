import { defineConfig } from 'vitest/config';

// The vitest suite: test/unit (single-thread and cross-thread behaviour), test/stress (worker
// threads, millions of messages), and whatever else lives under test/ as *.test.ts (test/log,
// test/xproc, test/pipeline). test/native holds the C++ tests (ctest) and test/fixtures the worker
// entry points, neither of which vitest runs.
//
// Worker fixtures import the built library (dist/), so `npm test` runs tsup first; when running
// vitest by hand after editing lib/, run `npx tsup` too (test/helpers/global-setup.ts warns).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/native/**', 'test/fixtures/**', '**/node_modules/**'],
    // Each file in its own process: the stress files spawn worker threads and child processes,
    // and a wedged file cannot take the others down with it.
    pool: 'forks',
    // Stress files run two busy worker threads each; on a small machine running several at once
    // only makes them slower.
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 60_000,
    teardownTimeout: 10_000,
    watch: false,
    globalSetup: ['test/helpers/global-setup.ts'],
    setupFiles: ['test/helpers/track.ts'],
  },
});
