// Regressions from a review: close() with a generator source loses nothing it pulled; abort()
// during start-up or during a swap's hand-over leaves no piscina pool running.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { pipeline, PipelineError } from '../../lib/index.js';
import { waitFor } from '../helpers/workers.js';

const fixture = (name: string) => new URL(`./fixtures/${name}.mjs`, import.meta.url);
const DIST = new URL('../../dist/index.js', import.meta.url).pathname;

/** Runs an ES module script with the built library; a pool left running keeps the process alive. */
function runScript(body: string): { stdout: string; exited: boolean } {
  const script = `import { pipeline } from ${JSON.stringify(DIST)};
    const fx = (n) => new URL(${JSON.stringify(new URL('./fixtures/', import.meta.url).href)} + n + '.mjs');
    ${body}`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 15_000 });
  return { stdout: r.stdout, exited: r.signal === null && r.status === 0 };
}

describe('pipeline review regressions', () => {
  it('close() while the source waits for room delivers every value a generator source gave', async () => {
    let pulled = 0;
    let got = 0;
    const p = pipeline({
      source: (function* () {
        for (let i = 0; i < 1e6; i++) {
          pulled++;
          yield { i, pad: 'x'.repeat(200) };
        }
      })(),
      stages: [{ module: fixture('identity') }],
      sink: async () => {
        got++;
        await new Promise((r) => setImmediate(r));
      },
      capacity: 4096, // the rings fill: the source waits for room when close() comes
    });
    expect(await waitFor(() => got >= 500)).toBe(true);
    const summary = await p.close();
    expect(pulled).toBeLessThan(1e6);
    expect(got).toBe(pulled);
    expect(summary.produced).toBe(pulled);
    expect(summary.consumed).toBe(pulled);
  });

  it('abort() right after pipeline() leaves no worker pool running', () => {
    const r = runScript(`
      const p = pipeline({ source: [1, 2, 3], stages: [{ module: fx('identity'), workers: 2 }], sink: () => {} });
      await p.abort();
      console.log(await p.done.then(() => 'resolved', (e) => e.code), await p.ready.then(() => 'ready', (e) => e.code));`);
    expect(r.stdout.trim()).toBe('ERR_ABORTED ERR_ABORTED');
    expect(r.exited).toBe(true);
  });

  it('abort() while a swap waits for the old workers to pause ends the new pool too', () => {
    const r = runScript(`
      async function* src() { for (let i = 0; ; i++) { yield { i }; await new Promise((r) => setTimeout(r, 20)); } }
      const p = pipeline({ source: src(), stages: [{ module: fx('spin-forever'), name: 's' }], sink: () => {} });
      await p.ready;
      // The old worker is stuck in its handler: it never pauses, so the swap waits in its hand-over.
      const loaded = new Int32Array(new SharedArrayBuffer(4));
      const sw = p.swap('s', fx('version2'), { options: { loaded: loaded.buffer } }).then(() => 'swapped', (e) => e.code);
      // Polled (bounded): the swap has its new workers in standby and waits for the old one to pause.
      const handingOver = () => p.stats().stages[0].switching?.phase === 'handing-over';
      for (let k = 0; k < 10000 && !handingOver(); k++) await new Promise((r) => setTimeout(r, 1));
      if (!handingOver()) throw new Error('the swap did not reach its hand-over within 10 s');
      if (Atomics.load(loaded, 0) !== 1) throw new Error('handing over before the new version loaded');
      await p.abort();
      console.log(await sw, await p.done.then(() => 'resolved', (e) => e.code));`);
    expect(r.stdout.trim()).toBe('ERR_PIPELINE_STATE ERR_ABORTED');
    expect(r.exited).toBe(true);
  });

  it('swap() after abort() rejects with ERR_PIPELINE_STATE', async () => {
    const p = pipeline({ source: [1], stages: [{ module: fixture('identity'), name: 's' }], sink: () => {} });
    await p.abort();
    const err = await p.swap('s', fixture('version2')).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(PipelineError);
    expect((err as PipelineError).code).toBe('ERR_PIPELINE_STATE');
  });
});
