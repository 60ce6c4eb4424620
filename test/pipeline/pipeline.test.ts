// Pipelines: stages in worker threads joined by ringwire channels. Stage modules are in fixtures/;
// the workers run the built library (dist/), the test thread runs lib/.
import { describe, expect, it } from 'vitest';
import { Channel, pipeline, PipelineError, StageRegistry, type PipelineSummary } from '../../lib/index.js';
import { waitFor } from '../helpers/workers.js';

const fixture = (name: string) => new URL(`./fixtures/${name}.mjs`, import.meta.url);

describe('pipeline: 3 stages', () => {
  it('carries 1,000,000 messages through inc → double (2 workers) → inc with an exact checksum', async () => {
    const N = 1_000_000;
    // Every output value 2(i + 1) + 1 is distinct: count each one, then check all were seen once.
    const seen = new Uint8Array(2 * N + 4);
    let count = 0;
    let sum = 0;
    function* source() {
      for (let i = 0; i < N; i++) yield i;
    }
    const p = pipeline<number, number>({
      source: source(),
      stages: [{ module: fixture('inc') }, { module: fixture('double'), workers: 2 }, { module: fixture('inc') }],
      sink: (v) => {
        seen[v]!++;
        sum += v;
        count++;
      },
      codec: 'json',
    });
    const summary = await p.done;
    expect(count).toBe(N);
    expect(sum).toBe(2 * ((N * (N - 1)) / 2 + N) + N);
    let once = 0;
    for (let i = 0; i < N; i++) if (seen[2 * (i + 1) + 1] === 1) once++;
    expect(once).toBe(N);
    expect(summary.state).toBe('done');
    expect(summary.produced).toBe(N);
    expect(summary.consumed).toBe(N);
    expect(summary.stages.map((s) => [s.name, s.workers, s.in, s.out, s.errors])).toEqual([
      ['inc', 1, N, N, 0],
      ['double', 2, N, N, 0],
      ['inc', 1, N, N, 0],
    ]);
    for (const s of summary.stages) {
      expect(s.latency.count).toBe(N);
      expect(s.latency.p50).toBeGreaterThan(0);
      expect(s.latency.p99).toBeGreaterThanOrEqual(s.latency.p50);
      expect(s.queued).toEqual({ messages: 0, bytes: 0 });
    }
    expect(summary.latency.count).toBe(N);
  });
});

describe('pipeline: partitioning', () => {
  for (const workers of [2, 3, 4]) {
    it(`keeps per-key order with fan-out ${workers} → ${workers + 1 > 4 ? 2 : workers + 1}, and a key stays on one worker per stage`, async () => {
      const keys = 7 * workers;
      const perKey = 300;
      const msgs: Array<{ k: number; i: number }> = [];
      for (let i = 0; i < perKey; i++) for (let k = 0; k < keys; k++) msgs.push({ k, i });
      const next = workers + 1 > 4 ? 2 : workers + 1;
      const got: Array<{ k: number; i: number; path: string[] }> = [];
      const summary = await pipeline<{ k: number; i: number }, { k: number; i: number; path: string[] }>({
        source: msgs,
        stages: [
          { module: fixture('tag'), name: 'a', workers },
          { module: fixture('tag'), name: 'b', workers: next },
        ],
        sink: (m) => void got.push(m),
        key: (m) => `key-${m.k}`,
        capacity: 4096, // small rings: writers wait, and the order must hold anyway
      }).done;
      expect(got.length).toBe(msgs.length);
      const last = new Map<number, number>();
      const pathOf = new Map<number, string>();
      for (const m of got) {
        expect(m.i).toBe((last.get(m.k) ?? -1) + 1); // in order, none missing, none twice
        last.set(m.k, m.i);
        const path = m.path.join('→');
        expect(pathOf.get(m.k) ?? path).toBe(path);
        pathOf.set(m.k, path);
      }
      // The keys spread over every worker of both stages.
      const used = new Set([...pathOf.values()].flatMap((p) => p.split('→')));
      expect(used.size).toBe(workers + next);
      expect(summary.stages.map((s) => s.in)).toEqual([msgs.length, msgs.length]);
    });
  }

  it('round-robin spreads messages evenly and fans in every worker', async () => {
    const N = 6000;
    const got: Array<{ n: number; path: string[] }> = [];
    const summary = await pipeline({
      source: Array.from({ length: N }, (_, n) => ({ n })),
      stages: [{ module: fixture('tag'), name: 'rr', workers: 3 }],
      sink: (m: { n: number; path: string[] }) => void got.push(m),
    }).done;
    expect(got.map((m) => m.n).sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, n) => n));
    const per = new Map<string, number>();
    for (const m of got) per.set(m.path[0]!, (per.get(m.path[0]!) ?? 0) + 1);
    // The source deals messages in turn, so each worker gets exactly a third.
    expect([...per.entries()].sort()).toEqual([['rr:0', N / 3], ['rr:1', N / 3], ['rr:2', N / 3]]);
    expect(summary.stages[0]!.in).toBe(N);
  });
});

describe('pipeline: handlers, sources and sinks', () => {
  it('handles every handler shape: none, one, many(), generators, async', async () => {
    const N = 500;
    const got: Array<{ n: number; copy: number }> = [];
    const summary = await pipeline({
      source: (async function* () {
        for (let n = 0; n < N; n++) yield { n };
      })(),
      stages: [{ module: fixture('shapes'), workers: 2 }],
      sink: async (m: { n: number; copy: number }) => {
        got.push(m);
      },
    }).done;
    const expected: string[] = [];
    const copies = [0, 1, 2, 3, 1];
    for (let n = 0; n < N; n++) for (let c = 0; c < copies[n % 5]!; c++) expected.push(`${n}/${c}`);
    expect(got.map((m) => `${m.n}/${m.copy}`).sort()).toEqual(expected.sort());
    expect(summary.stages[0]!.in).toBe(N);
    expect(summary.stages[0]!.out).toBe(expected.length);
  });

  it('takes a ringwire Receiver as the source and a ringwire Sender as the sink', async () => {
    const input = Channel.create<{ i: number }>({ capacity: 4096 });
    const output = Channel.create<{ i: number; half: number }>();
    const tx = input.sender();
    const rx = output.receiver();
    const N = 2000;
    const p = pipeline({ source: input.receiver(), stages: [{ module: fixture('async-gen'), workers: 2 }], sink: output.sender() });
    const feeding = (async () => {
      for (let i = 0; i < N; i++) await tx.send({ i });
      await tx.close();
    })();
    const got: string[] = [];
    const reading = (async () => {
      for (let k = 0; k < 2 * N; k++) {
        const m = await rx.recv({ timeout: 60_000 });
        got.push(`${m.i}.${m.half}`);
      }
    })();
    const summary = await p.done;
    await Promise.all([feeding, reading]);
    expect(got.length).toBe(2 * N);
    expect(new Set(got).size).toBe(2 * N);
    expect(summary.consumed).toBe(2 * N);
  });

  it('refers to stages by registered name, with registered defaults', async () => {
    const registry = new StageRegistry()
      .register('plus-one', fixture('inc'), { workers: 2 })
      .register('twice', fileURLPath(fixture('double')));
    expect(registry.names()).toEqual(['plus-one', 'twice']);
    let sum = 0;
    const summary = await pipeline<number, number>({
      source: [1, 2, 3, 4],
      stages: ['plus-one', { module: 'twice' }],
      sink: (v) => void (sum += v),
      registry,
    }).done;
    expect(sum).toBe(2 * (2 + 3 + 4 + 5));
    expect(summary.stages.map((s) => [s.name, s.workers])).toEqual([['plus-one', 2], ['twice', 1]]);
    expect(() => pipeline({ source: [], stages: ['nope'], sink: () => {}, registry })).toThrow(/unknown stage 'nope'/);
  });

  it('validates its options with messages that name them', () => {
    const ok = { source: [1], stages: [{ module: fixture('inc') }], sink: () => {} };
    expect(() => pipeline({ ...ok, stages: [] })).toThrow(/options.stages must be a non-empty array/);
    expect(() => pipeline({ ...ok, stages: [{ module: fixture('inc'), workers: 0 }] })).toThrow(/workers must be from 1/);
    expect(() => pipeline({ ...ok, capacity: 1000 })).toThrow(/capacity must be a power of two/);
    expect(() => pipeline({ ...ok, stages: [{ module: fixture('inc'), partition: 'key' }] })).toThrow(/no key function/);
    expect(() => pipeline({ ...ok, stages: [{ module: fixture('inc'), onError: 'dead-letter' }] })).toThrow(/no deadLetter target/);
    expect(() => pipeline({ ...ok, sink: 42 as never })).toThrow(/options.sink must be/);
    expect(() => pipeline({ ...ok, speed: 1 } as never)).toThrow(/unknown option 'speed'/);
  });

  it('a message too large for the rings fails the pipeline, naming the limit', async () => {
    const err = await pipeline({
      source: ['x'.repeat(3000)],
      stages: [{ module: fixture('identity') }],
      sink: () => {},
      codec: 'string',
      capacity: 4096,
    }).done.then(() => undefined, (e: unknown) => e);
    // The source itself writes the first hop: the message never fits, so the source fails.
    expect(err).toBeInstanceOf(PipelineError);
    expect((err as PipelineError).code).toBe('ERR_SOURCE');
    expect(String((err as Error).cause)).toMatch(/does not fit one ring record/);
  });
});

describe('pipeline: backpressure, stats, close and abort', () => {
  it('a slow sink slows the source: messages in flight stay within what the rings hold', async () => {
    const N = 4000;
    const capacity = 4096;
    let pulled = 0;
    let delivered = 0;
    let maxInFlight = 0;
    function* source() {
      for (let i = 0; i < N; i++) {
        pulled++;
        yield { i, pad: 'x'.repeat(200) };
      }
    }
    const p = pipeline({
      source: source(),
      stages: [{ module: fixture('identity') }, { module: fixture('identity'), workers: 2 }],
      sink: async () => {
        maxInFlight = Math.max(maxInFlight, pulled - delivered);
        delivered++;
        if (delivered % 50 === 0) await new Promise((r) => setTimeout(r, 1));
      },
      codec: 'json',
      capacity,
    });
    let live: ReturnType<typeof p.stats> | undefined;
    expect(await waitFor(() => (live ??= delivered > 100 ? p.stats() : undefined) !== undefined && delivered >= N / 2, 60_000)).toBe(true);
    const summary = await p.done;
    expect(delivered).toBe(N);
    // Rings: source → stage 1 (1), stage 1 → stage 2 (2), stage 2 → sink (2): 5 rings of 4 KiB;
    // a record is ≥ 240 bytes, so at most 17 per ring, plus one message in each thread's hands.
    const bound = 5 * Math.floor(capacity / 240) + 4;
    expect(maxInFlight).toBeLessThanOrEqual(bound);
    expect(maxInFlight).toBeGreaterThan(10); // the rings did fill up
    expect(live).toBeDefined();
    expect(live!.state).toBe('running');
    expect(live!.stages).toHaveLength(2);
    expect(live!.produced).toBeGreaterThanOrEqual(live!.consumed);
    expect(summary.stages.map((s) => s.in)).toEqual([N, N]);
  });

  it('stats() shows live counters and queue depths while running', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let delivered = 0;
    const p = pipeline({
      source: Array.from({ length: 3000 }, (_, i) => ({ i })),
      stages: [{ module: fixture('identity'), name: 'first' }, { module: fixture('identity'), name: 'second' }],
      sink: async () => {
        if (delivered++ === 0) await gate; // hold the sink: the queues fill up behind it
      },
      capacity: 4096,
    });
    // Wait (bounded) until the queues are full; then all stages have counted messages.
    await p.ready;
    let s = p.stats();
    const full = () => {
      s = p.stats();
      return s.stages[0]!.in > 0 && s.stages[1]!.out > 0 && s.stages[0]!.queued.bytes > 0;
    };
    expect(await waitFor(full)).toBe(true);
    expect(s.state).toBe('running');
    expect(s.stages.map((x) => x.name)).toEqual(['first', 'second']);
    expect(s.stages[0]!.in).toBeGreaterThan(0);
    expect(s.stages[1]!.out).toBeGreaterThan(0);
    expect(s.stages[0]!.queued.bytes).toBeGreaterThan(0);
    expect(s.produced).toBeLessThan(3000); // the source was held back
    release();
    const summary: PipelineSummary = await p.done;
    expect(summary.consumed).toBe(3000);
    expect(summary.durationMs).toBeGreaterThan(0);
  });

  it('close() stops taking from an endless source and delivers everything taken', async () => {
    let produced = 0;
    const got: number[] = [];
    const p = pipeline<number, number>({
      source: (async function* () {
        for (;;) yield produced++;
      })(),
      stages: [{ module: fixture('inc'), workers: 2 }],
      sink: (v) => void got.push(v),
    });
    expect(await waitFor(() => got.length >= 1000)).toBe(true);
    const summary = await p.close();
    // Every value the source produced went through, exactly once.
    expect(got.length).toBe(produced);
    expect(summary.produced).toBe(produced);
    expect(new Set(got).size).toBe(produced);
    expect(got.sort((a, b) => a - b)).toEqual(Array.from({ length: produced }, (_, i) => i + 1));
    expect(summary.state).toBe('done');
  });

  it('close() ends a pipeline whose source is a Receiver still waiting for messages', async () => {
    const input = Channel.create<number>({ capacity: 4096 });
    const tx = input.sender();
    const got: number[] = [];
    const p = pipeline<number, number>({ source: input.receiver(), stages: [{ module: fixture('inc') }], sink: (v) => void got.push(v) });
    await p.ready;
    expect(p.stats().state).toBe('running');
    for (let i = 0; i < 100; i++) await tx.send(i);
    expect(await waitFor(() => got.length >= 100)).toBe(true);
    const summary = await p.close(); // the source never ended: close() interrupts the wait
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(summary.produced).toBe(100);
    expect(tx.trySend(100)).toBe(true); // the channel is not closed: the sender may hand it to someone else
  });

  it('abort() stops promptly, even with a handler stuck in a loop', async () => {
    let sunk = 0;
    const p = pipeline<number, number>({
      source: (function* () {
        for (let i = 0; ; i++) yield i;
      })(),
      stages: [{ module: fixture('inc') }, { module: fixture('spin-forever') }],
      sink: () => void sunk++,
    });
    expect(await waitFor(() => p.stats().stages[0]!.out > 0)).toBe(true);
    await p.abort(new Error('enough'));
    const err = await p.done.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(PipelineError);
    expect((err as PipelineError).code).toBe('ERR_ABORTED');
    expect(p.stats().state).toBe('aborted');
    expect(sunk).toBe(0);
  });
});

function fileURLPath(u: URL): string {
  return decodeURIComponent(u.pathname);
}
