// Workers terminated while they load the stage code: on Node 20.19+ and 22, piscina's require() of
// an ES module entry aborted the whole process when the worker was terminated mid-load ("FATAL
// ERROR: v8::Module::IsGraphAsync"), which a pipeline does to workers still starting (abort(), a
// version failing its health check); the CI run that took a vitest process down that way was
// rollback.test.ts. The entry piscina loads is CommonJS now (workers/stage-entry.cjs). With the ES
// module entry this test failed 3 times in 3 (and 2 of 6 runs of 100 rounds aborted); with the
// CommonJS one, no run of 16 x 100 rounds aborted (Node 20 and 22).
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { run } from '../xproc/helpers.js';

describe('pipelines aborted while their workers start', () => {
  it('300 pipelines aborted at random moments of their start: the process lives through all of them', async () => {
    const script = fileURLToPath(new URL('./fixtures/abort-while-starting.mjs', import.meta.url));
    expect(await run(script, { rounds: 300 }, 90_000)).toEqual({ rounds: 300 });
  });
});
