// Version history and rollback: a stage switched back to an earlier version (by call, or by itself
// when a version on probation misbehaves) while messages flow, with the same per-key guarantees as
// a swap; the old version restarts from its state snapshot; a failed rollback leaves the current
// version running; every change is recorded and reported as an event.
import { describe, expect, it } from 'vitest';
import { pipeline, PipelineError, RingwireRangeError, RingwireTypeError, type DeadLetter, type Pipeline, type VersionChange } from '../../lib/index.js';
import { waitFor } from '../helpers/workers.js';
import { eachOnceInOrder, fixture, flowing, KEYS, versionRuns, type In, type Out } from './flow.js';

/** Every 'swap' and 'rollback' event, in order. */
function events(p: Pipeline<In, Out>): VersionChange[] {
  const seen: VersionChange[] = [];
  p.on('swap', (c) => void seen.push(c));
  p.on('rollback', (c) => void seen.push(c));
  return seen;
}

/** Until every key has an output of version v in `got` (bounded). */
async function everyKeySees(got: Out[], v: number, from = 0): Promise<void> {
  const ok = await waitFor(() => new Set(got.slice(from).filter((m) => m.v === v).map((m) => m.k)).size === KEYS, 30_000);
  expect(ok, `every key got an output of version ${v}`).toBe(true);
}

/**
 * The pipeline most of these tests switch: one keyed stage 's' of 2 workers (`module`, with
 * `options`) over a source that flows until stop(), then `tail` messages more; `got` is what
 * reached the sink.
 */
function keyedStage(module: string, options?: Record<string, unknown>, tail = 1000) {
  let done = false;
  const got: Out[] = [];
  const p = pipeline<In, Out>({
    source: flowing(() => done, tail),
    stages: [{ module: fixture(module), name: 's', workers: 2, ...(options === undefined ? {} : { options }) }],
    sink: (m) => void got.push(m),
    key: (m) => m.k,
    capacity: 4096,
  });
  return { p, got, stop: () => void (done = true) };
}

const rejection = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as PipelineError);

describe('rollback', () => {
  it('switches v1 → v2 → v1 under load: per key nothing lost, duplicated or reordered, one switch each way; v1 resumes from its snapshot', async () => {
    let done = false;
    const got: Out[] = [];
    const p = pipeline<In, Out>({
      source: flowing(() => done, 2000),
      stages: [
        { module: fixture('identity'), workers: 2 },
        { module: fixture('counter'), name: 'counted', workers: 3, options: { v: 1 } },
        { module: fixture('identity'), workers: 2 },
      ],
      sink: (m) => void got.push(m),
      key: (m) => m.k,
      capacity: 8192,
    });
    const seen = events(p);
    try {
      await everyKeySees(got, 1);
      expect(await p.swap('counted', fixture('counter'), { options: { v: 2 }, label: 'two' })).toEqual({ stage: 'counted', version: 1 });
      await everyKeySees(got, 2);
      expect(await p.rollback('counted')).toEqual({ stage: 'counted', version: 0, from: 1 });
    } finally {
      done = true;
    }
    const summary = await p.done;
    for (const outs of eachOnceInOrder(got, summary.produced).values()) {
      expect(versionRuns(outs)).toEqual([1, 2, 1]);
      // Version 1 counts on from where it stopped (its snapshot), not from version 2's counts;
      // version 2 started from nothing.
      expect(outs.filter((m) => m.v === 1).map((m) => m.n)).toEqual(outs.filter((m) => m.v === 1).map((_, j) => j + 1));
      expect(outs.filter((m) => m.v === 2).map((m) => m.n)).toEqual(outs.filter((m) => m.v === 2).map((_, j) => j + 1));
    }
    const versions = p.versions('counted');
    expect(versions.map((v) => [v.version, v.label, v.current, v.previous, v.options, v.snapshot])).toEqual([
      [0, undefined, true, undefined, { v: 1 }, true],
      [1, 'two', false, 0, { v: 2 }, true],
    ]);
    expect(versions[0]!.activatedAt).toBeGreaterThanOrEqual(versions[1]!.activatedAt);
    const st = summary.stages[1]!;
    expect([st.swaps, st.rollbacks, st.version, st.restarts]).toEqual([1, 1, 0, 0]);
    expect(st.in).toBe(summary.produced);
    expect(st.changes.map((c) => [c.type, c.from, c.to, c.label, c.automatic, c.reason, c.ok])).toEqual([
      ['swap', 0, 1, 'two', false, undefined, true],
      ['rollback', 1, 0, undefined, false, 'manual', true],
    ]);
    expect(seen).toEqual(st.changes);
  });

  it('rolls back to a version named by label or index, and by default to the one the current version replaced', async () => {
    const { p, got, stop } = keyedStage('counter', { v: 1 });
    const current = () => p.versions('s').find((v) => v.current)!.version;
    try {
      const none = await rejection(p.rollback('s'));
      expect(none).toBeInstanceOf(RingwireRangeError);
      expect(none!.message).toMatch(/no previous version/);
      await p.swap('s', fixture('counter'), { options: { v: 2 }, label: 'b' });
      await p.swap('s', fixture('counter'), { options: { v: 3 }, label: 'c' });
      expect(await p.rollback('s', { to: 'b', reason: 'c is slow' })).toEqual({ stage: 's', version: 1, from: 2 });
      expect(current()).toBe(1);
      let mark = got.length;
      await everyKeySees(got, 2, mark);
      expect(await p.rollback('s')).toEqual({ stage: 's', version: 0, from: 1 }); // b replaced version 0
      mark = got.length;
      await everyKeySees(got, 1, mark);
      expect(await p.rollback('s', { to: 2 })).toEqual({ stage: 's', version: 2, from: 0 });
      for (const [to, why] of [
        [2, /which is the current one/],
        [3, /options.to must be a version of stage 's' \(0 to 2\)/],
        ['nope', /no version labelled "nope"/],
      ] as const) {
        const err = await rejection(p.rollback('s', { to }));
        expect(err).toBeInstanceOf(RingwireRangeError);
        expect(err!.message).toMatch(why);
      }
      const dup = await rejection(p.swap('s', fixture('counter'), { label: 'b' }));
      expect(dup).toBeInstanceOf(RingwireRangeError);
      expect(dup!.message).toMatch(/options.label "b" names version 1/);
      expect(current()).toBe(2);
    } finally {
      stop();
    }
    const summary = await p.done;
    const byKey = eachOnceInOrder(got, summary.produced);
    for (const outs of byKey.values()) expect(versionRuns(outs).at(-1)).toBe(3);
    const st = summary.stages[0]!;
    expect([st.swaps, st.rollbacks, st.version]).toEqual([2, 3, 2]);
    expect(st.changes.filter((c) => c.type === 'rollback').map((c) => [c.from, c.to, c.reason])).toEqual([
      [2, 1, 'c is slow'],
      [1, 0, 'manual'],
      [0, 2, 'manual'],
    ]);
    // Version 2 ("c") was swapped out once, so it restarted from its snapshot: its counts go on.
    for (const outs of byKey.values()) {
      const c = outs.filter((m) => m.v === 3).map((m) => m.n);
      expect(c).toEqual(c.map((_, j) => j + 1));
    }
  });

  it('a rollback whose version fails its health check leaves the current version running and says so', async () => {
    const sick = new Int32Array(new SharedArrayBuffer(4));
    const { p, got, stop } = keyedStage('counter', { v: 1, sick: sick.buffer });
    const seen = events(p);
    let afterFailure = Infinity;
    try {
      await p.swap('s', fixture('counter'), { options: { v: 2 } });
      Atomics.store(sick, 0, 1); // version 0 can no longer start
      const err = await rejection(p.rollback('s'));
      afterFailure = p.stats().produced;
      expect(err).toBeInstanceOf(PipelineError);
      expect(err!.code).toBe('ERR_ROLLBACK_FAILED');
      expect(err!.stage).toBe('s');
      expect(err!.message).toMatch(/rollback of stage 's' to version 0 failed, version 1 keeps running: counter: unhealthy now/);
      expect((err!.cause as Error).message).toBe('counter: unhealthy now');
      expect(p.versions('s').map((v) => v.current)).toEqual([false, true]);
      expect(p.stats().state).toBe('running');
    } finally {
      stop();
    }
    const summary = await p.done;
    eachOnceInOrder(got, summary.produced);
    expect(afterFailure).toBeLessThan(summary.produced - 500);
    expect(got.filter((m) => m.i >= afterFailure).every((m) => m.v === 2)).toBe(true);
    const st = summary.stages[0]!;
    expect([st.swaps, st.rollbacks, st.version]).toEqual([1, 0, 1]);
    expect(st.changes.map((c) => [c.type, c.ok])).toEqual([
      ['swap', true],
      ['rollback', false],
    ]);
    expect(st.changes[1]!.error).toMatch(/counter: unhealthy now/);
    expect(seen).toEqual(st.changes);
  });

  it('rolls back by itself, well within its probation window, a v2 that passes its probes but fails on real traffic', async () => {
    let done = false;
    const got: Out[] = [];
    const dead: number[] = [];
    const WINDOW = 20_000;
    const p = pipeline<In, Out>({
      source: flowing(() => done, 1000),
      stages: [
        { module: fixture('identity'), workers: 2 },
        { module: fixture('version1'), name: 's', workers: 2, onError: 'dead-letter' },
      ],
      sink: (m) => void got.push(m),
      deadLetter: (d: DeadLetter) => void dead.push((d.message as In).i),
      key: (m) => m.k,
      capacity: 4096,
    });
    const seen = events(p);
    let tookOver = 0;
    let rolledBackAfter = Infinity;
    try {
      await everyKeySees(got, 1);
      await p.swap('s', fixture('bad-v2'), { probe: [{ k: 0, i: -1 }], label: 'bad', rollbackOn: { errorRate: 0.2, window: WINDOW } });
      tookOver = performance.now();
      const back = await waitFor(() => p.versions('s')[0]!.current, WINDOW + 5_000);
      rolledBackAfter = performance.now() - tookOver;
      expect(back).toBe(true);
    } finally {
      done = true;
    }
    // Detection takes a sample of ≥ 20 messages and a poll (≤ 100 ms), then a rollback (workers to
    // start): a second or two on a loaded machine, far from the 20 s window.
    expect(rolledBackAfter).toBeLessThan(5_000);
    const summary = await p.done;
    // Every message once: at the sink in order per key, or dead-lettered by version 2.
    expect([...got.map((m) => m.i), ...dead].sort((a, b) => a - b)).toEqual(Array.from({ length: summary.produced }, (_, i) => i));
    const byKey = new Map<number, Out[]>();
    for (const m of got) byKey.set(m.k, [...(byKey.get(m.k) ?? []), m]);
    for (const outs of byKey.values()) {
      for (let j = 1; j < outs.length; j++) expect(outs[j]!.i).toBeGreaterThan(outs[j - 1]!.i);
      expect(versionRuns(outs)).toContain(1);
      expect(versionRuns(outs).at(-1)).toBe(1);
      expect(versionRuns(outs).length).toBeLessThanOrEqual(3);
    }
    expect(dead.length).toBeGreaterThan(0);
    expect(dead.every((i) => i % 2 === 0)).toBe(true);
    const st = summary.stages[1]!;
    expect([st.swaps, st.rollbacks, st.version]).toEqual([1, 1, 0]);
    const rb = st.changes[1]!;
    expect([rb.type, rb.from, rb.to, rb.automatic, rb.ok]).toEqual(['rollback', 1, 0, true, true]);
    expect(rb.reason).toMatch(/handler error rate 0\.\d+ \(\d+ errors in \d+ messages\) within its probation, above rollbackOn\.errorRate \(0\.2\)/);
    expect(seen).toEqual(st.changes);
  });

  it('rolls back by itself a v2 whose workers die more often than rollbackOn.maxRestarts, without restarting it', async () => {
    const { p, got, stop } = keyedStage('version1');
    const seen = events(p);
    let rolledBackAfter = Infinity;
    try {
      await everyKeySees(got, 1);
      await p.swap('s', fixture('crashy-v2'), { rollbackOn: { maxRestarts: 0, window: 20_000 } });
      const tookOver = performance.now();
      expect(await waitFor(() => p.versions('s')[0]!.current, 25_000)).toBe(true);
      rolledBackAfter = performance.now() - tookOver;
    } finally {
      stop();
    }
    expect(rolledBackAfter).toBeLessThan(5_000);
    const summary = await p.done;
    // At least once (a dead worker's unacknowledged batch is delivered again), nothing lost; every
    // message that killed version 2 was handled by version 1.
    const is = new Set(got.map((m) => m.i));
    expect(is.size).toBe(summary.produced);
    const poison = got.filter((m) => m.i % 1000 === 500);
    expect(poison.length).toBeGreaterThan(0);
    expect(poison.every((m) => m.v === 1)).toBe(true);
    const st = summary.stages[0]!;
    expect([st.swaps, st.rollbacks, st.version]).toEqual([1, 1, 0]);
    // The death that exceeded maxRestarts 0 is the only one: the dead worker was not restarted on v2.
    expect(st.restarts).toBe(1);
    expect(st.changes[1]!.reason).toMatch(/1 worker death within its probation, more than rollbackOn\.maxRestarts \(0\)/);
    expect(seen).toEqual(st.changes);
  });

  it('an automatic rollback that fails restarts the dying version, which then fails the pipeline as any crash loop does', async () => {
    let done = false;
    const sick = new Int32Array(new SharedArrayBuffer(4));
    const p = pipeline<In, Out>({
      source: flowing(() => done, 0),
      stages: [{ module: fixture('counter'), name: 's', workers: 2, options: { v: 1, sick: sick.buffer } }],
      sink: () => {},
      key: (m) => m.k,
      capacity: 4096,
      maxRestarts: 3,
    });
    const seen = events(p);
    try {
      await p.ready;
      Atomics.store(sick, 0, 1); // version 0 can no longer start: the rollback will fail
      await p.swap('s', fixture('crashy-v2'), { rollbackOn: { maxRestarts: 0, window: 20_000 } });
      // Without the restart, the worker that died would wait for a rollback that never comes, and
      // its partition (and the pipeline) would never end.
      const t0 = performance.now();
      const settled = await Promise.race([p.done.then(() => 'done', (e: PipelineError) => e.code), new Promise((r) => setTimeout(r, 30_000, 'hung'))]);
      expect(settled).toBe('ERR_WORKER_DIED');
      expect(performance.now() - t0).toBeLessThan(10_000); // a few worker starts, not the 30 s bound
    } finally {
      done = true;
      await p.abort(); // (settled already, unless it hung)
    }
    expect(seen.map((c) => [c.type, c.automatic, c.ok])).toEqual([
      ['swap', false, true],
      ['rollback', true, false],
    ]);
    expect(seen[1]!.error).toMatch(/version 1 keeps running: counter: unhealthy now/);
    expect(p.versions('s').map((v) => v.current)).toEqual([false, true]);
  });

  it('a snapshot() that cannot be kept is reported, and its version comes back with fresh state', async () => {
    const { p, got, stop } = keyedStage('unclonable-snapshot', undefined, 500);
    try {
      await p.swap('s', fixture('version2'));
      expect(p.versions('s')[0]).toMatchObject({ snapshot: false, snapshotError: expect.stringMatching(/could not be cloned/) });
      expect(await p.rollback('s')).toEqual({ stage: 's', version: 0, from: 1 });
    } finally {
      stop();
    }
    const summary = await p.done;
    eachOnceInOrder(got, summary.produced);
    expect(got.at(-1)!.v).toBe(1);
    expect(summary.stages[0]!.restarts).toBe(0);
  });

  it('swap() and rollback() of a pipeline that has finished (done, still closing its pools) reject with ERR_PIPELINE_STATE and emit nothing', async () => {
    const p = pipeline<In, Out>({ source: flowing(() => true, 0), stages: [{ module: fixture('counter'), name: 's', workers: 2, options: { v: 1 } }], sink: () => {} });
    const seen = events(p);
    await p.swap('s', fixture('counter'), { options: { v: 2 } });
    // Called at the moment the pipeline takes its summary: the state is 'done', its pools are about
    // to be destroyed and `done` has not resolved.
    let late: Array<Promise<PipelineError | undefined>> = [];
    let resolved = false;
    void p.done.then(() => (resolved = true));
    const stats = p.stats.bind(p);
    p.stats = () => {
      const s = stats();
      if (s.state === 'done' && late.length === 0) {
        expect(resolved).toBe(false);
        late = [rejection(p.swap('s', fixture('counter'))), rejection(p.rollback('s'))];
      }
      return s;
    };
    const summary = await p.done;
    expect(late).toHaveLength(2);
    const [swapped, rolledBack] = await Promise.all(late);
    expect([swapped!.code, rolledBack!.code]).toEqual(['ERR_PIPELINE_STATE', 'ERR_PIPELINE_STATE']);
    expect(swapped!.message).toMatch(/swap: the pipeline is done/);
    expect(rolledBack!.message).toMatch(/rollback: the pipeline is done/);
    expect(seen.map((c) => [c.type, c.ok])).toEqual([['swap', true]]);
    expect(summary.stages[0]!.changes.length).toBe(1);
  });

  it('a swap interrupted by abort() while the new version loads rejects with ERR_PIPELINE_STATE and emits nothing', async () => {
    const started = new Int32Array(new SharedArrayBuffer(4));
    const p = pipeline<In, Out>({ source: flowing(() => false, 0), stages: [{ module: fixture('counter'), name: 's', options: { v: 1 } }], sink: () => {} });
    const seen = events(p);
    await p.ready;
    const swapped = rejection(p.swap('s', fixture('slow-health'), { options: { started: started.buffer } }));
    expect(await waitFor(() => Atomics.load(started, 0) === 1, 10_000)).toBe(true);
    expect(p.stats().stages[0]!.switching).toEqual({ kind: 'swap', phase: 'loading' });
    const t0 = performance.now();
    await p.abort();
    const err = await swapped;
    expect(performance.now() - t0).toBeLessThan(5_000); // not the 10 s health check
    expect(err!.code).toBe('ERR_PIPELINE_STATE');
    expect(err!.message).toMatch(/swap: the pipeline stopped during the swap of stage 's'/);
    expect(seen).toEqual([]);
    expect(p.stats().stages[0]!.changes).toEqual([]);
    expect(p.stats().stages[0]!.switching).toBeUndefined();
  });

  it('checks swap() and rollback() options, naming the option', async () => {
    const p = pipeline({ source: flowing(() => true, 0), stages: [{ module: fixture('inc'), name: 'f' }, { module: fixture('identity'), name: 'k', onError: 'skip' }], sink: () => {} });
    const bad: Array<[Promise<unknown>, new (...a: any[]) => Error, RegExp]> = [
      [p.swap('f', fixture('inc'), { tiemout: 5 } as object), RingwireTypeError, /swap: unknown option 'tiemout'/],
      [p.swap('f', fixture('inc'), { label: '' }), RingwireTypeError, /options\.label must be a non-empty string/],
      [p.swap('f', fixture('inc'), { timeout: 0 }), RingwireRangeError, /options\.timeout must be from 1/],
      [p.swap('f', fixture('inc'), { rollbackOn: { maxRestarts: 1 } as never }), RingwireTypeError, /rollbackOn\.window \(the probation, ms\) is required/],
      [p.swap('f', fixture('inc'), { rollbackOn: { window: 1000 } }), RingwireTypeError, /rollbackOn needs errorRate or maxRestarts/],
      [p.swap('f', fixture('inc'), { rollbackOn: { window: -1, maxRestarts: 1 } }), RingwireRangeError, /rollbackOn\.window must be from 1/],
      [p.swap('f', fixture('inc'), { rollbackOn: { window: 1000, maxRestarts: 1.5 } }), RingwireTypeError, /rollbackOn\.maxRestarts must be an integer/],
      [p.swap('f', fixture('inc'), { rollbackOn: { window: 1000, maxRestarts: 1, after: 2 } as never }), RingwireTypeError, /swap: options\.rollbackOn: unknown option 'after'/],
      [p.swap('f', fixture('inc'), { rollbackOn: { window: 1000, errorRate: 0.1 } }), RingwireTypeError, /errorRate needs a stage whose onError is 'skip' or 'dead-letter'/],
      [p.swap('k', fixture('inc'), { rollbackOn: { window: 1000, errorRate: 1 } }), RingwireRangeError, /rollbackOn\.errorRate must be from 0 to below 1, got 1/],
      [p.swap('k', fixture('inc'), { rollbackOn: { window: 1000, errorRate: 0.1, minMessages: 0 } }), RingwireRangeError, /rollbackOn\.minMessages must be from 1/],
      [p.rollback('f', { to: {} as never }), RingwireTypeError, /rollback: options\.to must be a version number or a label/],
      [p.rollback('f', { reason: 3 as never }), RingwireTypeError, /rollback: options\.reason must be a string/],
      [p.rollback('f', { timeout: -5 }), RingwireRangeError, /rollback: options\.timeout must be from 1/],
    ];
    for (const [call, type, message] of bad) {
      const err = await rejection(call);
      expect(err).toBeInstanceOf(type);
      expect(err!.message).toMatch(message);
    }
    const unknown = await rejection(p.rollback('nope'));
    expect(unknown!.code).toBe('ERR_PIPELINE_STATE');
    expect(unknown!.message).toBe(`rollback: no stage "nope" (the stages are 'f', 'k', or their index from 0 to 1)`);
    expect(() => p.versions('nope')).toThrow(/versions: no stage "nope"/);
    await p.done;
  });
});
