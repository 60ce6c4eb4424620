// Hot swap: a stage's module replaced while messages flow; rolled back when the new version does
// not load or is not healthy.
import { describe, expect, it } from 'vitest';
import { pipeline, PipelineError } from '../../lib/index.js';
import { waitFor } from '../helpers/workers.js';
import { eachOnceInOrder, fixture, flowing, versionRuns, type In, type Out } from './flow.js';

/** Per key: every message once, in order; versions never go back. Returns the versions seen. */
function check(got: Out[], total: number): Set<number> {
  for (const outs of eachOnceInOrder(got, total).values()) {
    const runs = versionRuns(outs);
    expect(runs).toEqual([...runs].sort((a, b) => a - b));
  }
  return new Set(got.map((m) => m.v));
}

describe('hot swap', () => {
  it('rolls back a module that fails to load, fails its health check or its probe; then swaps in a good one', async () => {
    let done = false;
    let producedAtSwap = Infinity;
    const got: Out[] = [];
    const p = pipeline<In, Out>({
      source: flowing(() => done, 2000),
      stages: [
        { module: fixture('identity'), workers: 2 },
        { module: fixture('version1'), name: 'versioned', workers: 3 },
        { module: fixture('identity'), workers: 2 },
      ],
      sink: (m) => void got.push(m),
      key: (m) => m.k,
      capacity: 8192,
    });
    try {
      for (const [bad, options, why] of [
        ['broken', {}, /broken: this module cannot load/],
        ['unhealthy', {}, /unhealthy: dependency missing/],
        ['faulty', { probe: [{ k: 0, i: -1, bad: true }] }, /bad message -1/],
      ] as const) {
        const err = (await p.swap('versioned', fixture(bad), options).then(() => undefined, (e: unknown) => e)) as PipelineError;
        expect(err).toBeInstanceOf(PipelineError);
        expect(err.code).toBe('ERR_SWAP_FAILED');
        expect(err.rolledBack).toBe(true);
        expect(err.stage).toBe('versioned');
        expect(err.message).toMatch(why);
        expect(p.stats().state).toBe('running');
      }
      const before = got.length;
      const res = await p.swap('versioned', fixture('version2'), { probe: [{ k: 0, i: -1 }] });
      expect(res).toEqual({ stage: 'versioned', version: 1 });
      expect(before).toBeGreaterThan(0);
      producedAtSwap = p.stats().produced;
    } finally {
      done = true;
    }
    const summary = await p.done;
    const versions = check(got, summary.produced);
    expect([...versions].sort()).toEqual([1, 2]);
    // Every message the source produced after the swap completed went through version 2.
    expect(producedAtSwap).toBeLessThan(summary.produced - 1000);
    expect(got.filter((m) => m.i >= producedAtSwap).every((m) => m.v === 2)).toBe(true);
    const st = summary.stages[1]!;
    expect(st.swaps).toBe(1);
    expect(st.in).toBe(summary.produced); // counters carry over the swap: nothing lost or doubled
    expect(st.restarts).toBe(0);
  });

  it('swaps twice in a row under load, by stage index, keeping per-key order', async () => {
    let done = false;
    const got: Out[] = [];
    const p = pipeline<In, Out>({
      source: flowing(() => done, 500),
      stages: [{ module: fixture('version1'), workers: 2 }],
      sink: (m) => void got.push(m),
      key: (m) => m.k,
      capacity: 4096,
    });
    try {
      expect((await p.swap(0, fixture('version2'))).version).toBe(1);
      expect((await p.swap(0, fixture('version1'))).version).toBe(2);
    } finally {
      done = true;
    }
    const summary = await p.done;
    // Per key, in order and exactly once (versions may go 1 → 2 → 1 here).
    eachOnceInOrder(got, summary.produced);
    expect(got.at(-1)!.v).toBe(1);
  });

  it('a new worker that dies in standby while the old one hands over is restarted on the new version, not left out', async () => {
    const gate = new Int32Array(new SharedArrayBuffer(4));
    let done = false;
    const got: Out[] = [];
    const p = pipeline<In, Out>({
      source: flowing(() => done, 200),
      stages: [{ module: fixture('standby-crash'), name: 's', workers: 1, options: { v: 1, gate: gate.buffer, slowMs: 1 } }],
      sink: (m) => void got.push(m),
      key: (m) => m.k,
      batch: 4,
      capacity: 4096,
    });
    let swapped: unknown;
    try {
      await p.ready;
      // The old worker, always busy (1 ms a message), is held in a handler call from the moment the
      // new one is healthy until the new one's thread has died: it hands over its channels after.
      swapped = await p.swap('s', fixture('standby-crash'), { options: { v: 2, gate: gate.buffer, crash: true } }).catch((e: unknown) => e);
    } finally {
      done = true;
    }
    expect(await waitFor(() => Atomics.load(gate, 0) === 2, 10_000)).toBe(true); // the standby worker did die
    const t0 = performance.now();
    const settled = await Promise.race([p.done.then(() => 'done', (e: PipelineError) => e.code), new Promise((r) => setTimeout(r, 30_000, 'hung'))]);
    // Without a worker on its channels, the partition (and the pipeline) would never end.
    expect(settled, String(await p.done.catch((e: unknown) => e))).toBe('done');
    expect(performance.now() - t0).toBeLessThan(10_000);
    const summary = await p.done;
    // Swapped (the dead standby worker restarted on version 2) or rolled back (version 1 runs on):
    // either way every message once, in order per key.
    check(got, summary.produced);
    if (swapped instanceof Error) expect((swapped as PipelineError).code).toBe('ERR_SWAP_FAILED');
    else expect(got.at(-1)!.v).toBe(2);
  });

  it('rejects a swap of an unknown stage', async () => {
    const p = pipeline({ source: [1, 2, 3], stages: [{ module: fixture('inc') }], sink: () => {} });
    const err = (await p.swap('nope', fixture('inc')).then(() => undefined, (e: unknown) => e)) as PipelineError;
    expect(err.code).toBe('ERR_PIPELINE_STATE');
    await p.done;
  });
});
