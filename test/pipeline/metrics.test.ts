// p.metrics() and registerMetrics() of a pipeline: per-stage messages in and out, errors, skipped,
// the service-time histograms (their count is the messages handled without error, their buckets
// and _sum agree with each other), source → sink; read back by a strict exposition parser.
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { pipeline, registerMetrics } from '../../lib/index.js';
import { ControlBlock } from '../../lib/pipeline/control.js';
import { BUCKETS, bucketOf, countsBelowPowersOfTwo, record } from '../../lib/pipeline/histogram.js';
import { prng } from '../helpers/sequence.js';
import { histogramOf, parseExposition, samplesOf, valueOf, type Exposition } from '../helpers/prometheus.js';

const fixture = (name: string) => new URL(`./fixtures/${name}.mjs`, import.meta.url);
type Msg = { i: number; bad?: boolean };

/** Checks a histogram's shape: cumulative buckets, +Inf = _count, and a _sum within what the buckets allow. */
function checkHistogram(e: Exposition, name: string, labels: Record<string, string>, maxSeconds: number): number {
  const h = histogramOf(e, name, labels);
  expect(h.buckets.at(-1)).toEqual({ le: Infinity, count: h.count });
  let low = 0;
  let high = 0;
  let below = 0;
  let bound = 0;
  for (const b of h.buckets) {
    expect(b.count).toBeGreaterThanOrEqual(below);
    const n = b.count - below;
    low += n * bound; // each sample in (previous le, le]
    high += n * Math.min(b.le, maxSeconds);
    below = b.count;
    bound = b.le;
  }
  expect(h.sum).toBeGreaterThanOrEqual(low * 0.999);
  expect(h.sum).toBeLessThanOrEqual(high * 1.001);
  return h.count;
}

describe('pipeline metrics', () => {
  it('per stage: in, out, errors and skipped as counted, a latency histogram per stage counting the messages handled', async () => {
    const N = 4000;
    const bad = new Set<number>();
    const random = prng(11);
    for (let k = 0; k < 57; k++) bad.add(Math.floor(random() * N));
    const source: Msg[] = Array.from({ length: N }, (_, i) => (bad.has(i) ? { i, bad: true } : { i }));
    let sunk = 0;
    const p = pipeline<Msg, Msg>({
      source,
      stages: [
        { module: fixture('faulty'), name: 'check', workers: 2, onError: 'skip' },
        { module: fixture('identity'), name: 'pass' },
      ],
      sink: () => void sunk++,
      key: (m) => m.i % 7,
      codec: 'json',
    });
    const registry = new Registry();
    registerMetrics(registry, p, { name: 'orders' }); // registered while it runs
    const summary = await p.done;

    const E = bad.size;
    expect(sunk).toBe(N - E);
    const e = parseExposition(await p.metrics({ name: 'orders' }));
    const stage = (name: string, s: string) => valueOf(e, `ringwire_pipeline_stage_${name}`, { pipeline: 'orders', stage: s });
    expect(stage('messages_in_total', 'check')).toBe(N);
    expect(stage('messages_out_total', 'check')).toBe(N - E);
    expect(stage('errors_total', 'check')).toBe(E);
    expect(stage('skipped_messages_total', 'check')).toBe(E);
    expect(stage('dead_lettered_messages_total', 'check')).toBe(0);
    expect(stage('messages_in_total', 'pass')).toBe(N - E);
    expect(stage('messages_out_total', 'pass')).toBe(N - E);
    expect(stage('errors_total', 'pass')).toBe(0);
    expect(stage('workers', 'check')).toBe(2);
    expect(stage('restarts_total', 'check')).toBe(0);
    expect(stage('queued_messages', 'pass')).toBe(0);
    expect(stage('queued_bytes', 'pass')).toBe(0);
    expect(valueOf(e, 'ringwire_pipeline_source_messages_total', { pipeline: 'orders' })).toBe(N);
    expect(valueOf(e, 'ringwire_pipeline_sink_messages_total', { pipeline: 'orders' })).toBe(N - E);
    // Without options.trace: no samples of tracing's counters.
    for (const name of ['trace_sample_ratio', 'traced_messages_total', 'traces_total', 'traces_expired_total', 'trace_reports_dropped_total']) expect(samplesOf(e, `ringwire_pipeline_${name}`, {})).toEqual([]);

    // Histograms: one sample per message handled without error; buckets and sum agree with the max p.stats() saw.
    const [check, pass] = summary.stages;
    const labels = (s: string) => ({ pipeline: 'orders', stage: s });
    expect(checkHistogram(e, 'ringwire_pipeline_stage_latency_seconds', labels('check'), check!.latency.max / 1e3)).toBe(N - E);
    expect(checkHistogram(e, 'ringwire_pipeline_stage_latency_seconds', labels('pass'), pass!.latency.max / 1e3)).toBe(N - E);
    expect(checkHistogram(e, 'ringwire_pipeline_latency_seconds', { pipeline: 'orders' }, summary.latency.max / 1e3)).toBe(N - E);
    expect(e.types.get('ringwire_pipeline_stage_latency_seconds')).toBe('histogram');

    // The user's registry reads the same live object.
    expect(parseExposition(await registry.metrics()).samples).toEqual(e.samples);
  });

  it("tracing's numbers: the fraction sampled, messages sampled, traces closed by completeness, hop reports dropped", async () => {
    const N = 300;
    const p = pipeline({ source: Array.from({ length: N }, (_, i) => i), stages: [{ module: fixture('identity') }, { module: fixture('identity') }], sink: () => undefined, trace: { sample: 1 } });
    const summary = await p.done;
    const e = parseExposition(await p.metrics());
    expect(valueOf(e, 'ringwire_pipeline_trace_sample_ratio', { pipeline: '' })).toBe(1);
    expect(e.types.get('ringwire_pipeline_trace_sample_ratio')).toBe('gauge');
    expect(valueOf(e, 'ringwire_pipeline_traced_messages_total', { pipeline: '' })).toBe(N);
    expect(valueOf(e, 'ringwire_pipeline_traces_total', { pipeline: '', complete: 'true' })).toBe(N);
    expect(valueOf(e, 'ringwire_pipeline_traces_total', { pipeline: '', complete: 'false' })).toBe(0);
    expect(valueOf(e, 'ringwire_pipeline_traces_expired_total', { pipeline: '' })).toBe(0);
    expect(valueOf(e, 'ringwire_pipeline_trace_reports_dropped_total', { pipeline: '' })).toBe(0);
    expect(e.types.get('ringwire_pipeline_traces_total')).toBe('counter');
    expect(summary.trace).toEqual({ sample: 1, sampled: N, complete: N, incomplete: 0, expired: 0, droppedReports: 0 });
  });

  it("a stage's swaps, rollbacks (manual and automatic alike) and the version it runs", async () => {
    let open = true;
    async function* source() {
      for (let i = 0; open && i < 1e6; i++) {
        yield { k: i % 4, i };
        if (i % 20 === 19) await new Promise((r) => setTimeout(r, 1));
      }
    }
    const p = pipeline({ source: source(), stages: [{ module: fixture('counter'), name: 's', workers: 2, options: { v: 1 } }, { module: fixture('identity'), name: 'pass' }], sink: () => undefined });
    const stage = async (name: string, s = 's') => valueOf(parseExposition(await p.metrics()), `ringwire_pipeline_stage_${name}`, { pipeline: '', stage: s });
    try {
      await p.swap('s', fixture('counter'), { options: { v: 2 } });
      await p.swap('s', fixture('counter'), { options: { v: 3 } });
      await p.rollback('s');
      expect([await stage('swaps_total'), await stage('rollbacks_total'), await stage('version')]).toEqual([2, 1, 1]);
      expect([await stage('rollbacks_total', 'pass'), await stage('version', 'pass')]).toEqual([0, 0]);
    } finally {
      open = false;
    }
    await p.done;
  });

  it("a stage's dead letters are counted", async () => {
    const N = 1000;
    const source: Msg[] = Array.from({ length: N }, (_, i) => (i % 50 === 3 ? { i, bad: true } : { i }));
    const letters: unknown[] = [];
    const p = pipeline<Msg, Msg>({
      source,
      stages: [{ module: fixture('faulty'), name: 'check', onError: 'dead-letter' }],
      sink: () => undefined,
      deadLetter: (d) => void letters.push(d),
    });
    await p.done;
    const e = parseExposition(await p.metrics());
    expect(letters).toHaveLength(N / 50);
    expect(valueOf(e, 'ringwire_pipeline_stage_dead_lettered_messages_total', { pipeline: '', stage: 'check' })).toBe(N / 50);
    expect(valueOf(e, 'ringwire_pipeline_stage_errors_total', { pipeline: '', stage: 'check' })).toBe(N / 50);
    expect(valueOf(e, 'ringwire_pipeline_dead_lettered_messages_total', { pipeline: '' })).toBe(N / 50);
  });
});

describe('latency buckets', () => {
  it('the counts below each power of two of nanoseconds are exact (every power of two is a bucket edge)', () => {
    const counts = new Float64Array(BUCKETS);
    const values: number[] = [];
    const random = prng(5);
    for (let i = 0; i < 20_000; i++) {
      const ns = Math.floor(2 ** (random() * 33)); // 1 ns to ~8.6 s, past the top bucket
      values.push(ns);
      record(counts, ns);
    }
    for (const k of [0, 1, 2, 3, 4, 8, 10, 17, 24, 30]) values.push(2 ** k), record(counts, 2 ** k); // on an edge: not below it
    const below = countsBelowPowersOfTwo(counts, 0, 30);
    for (let k = 0; k <= 30; k++) expect(below[k], `2^${k} ns`).toBe(values.filter((v) => v < 2 ** k).length);
  });

  it("a worker's bucket counts on past 2^32 samples (a long-running stage's _bucket and _count never wrap)", () => {
    const ctl = new ControlBlock();
    const at = bucketOf(1000);
    ctl.hist[at] = 2 ** 32 - 1; // as after 4.3e9 messages of ~1 µs (hours, for a busy stage)
    record(ctl.hist, 1000);
    record(ctl.hist, 1000);
    expect(ctl.hist[at]).toBe(2 ** 32 + 1);
    expect(countsBelowPowersOfTwo(ctl.hist, 10, 10)).toEqual([2 ** 32 + 1]);
  });
});
