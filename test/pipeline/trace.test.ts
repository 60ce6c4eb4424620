// Tracing (options.trace): sampled messages' paths through the stages, compared with the path the
// stages themselves record (fixtures/trace-path.mjs appends stage, partition and threadId), and
// what a handler sees as ctx.trace. OpenTelemetry: trace-otel.test.ts.
import { describe, expect, it } from 'vitest';
import { pipeline, type MessageTrace, type Pipeline } from '../../lib/index.js';
import { HOP_RING_REPORTS } from '../../lib/pipeline/trace.js';

const PATH = new URL('./fixtures/trace-path.mjs', import.meta.url);
const fixture = (name: string) => new URL(`./fixtures/${name}.mjs`, import.meta.url);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Hop {
  stage: string;
  partition: number;
  thread: number;
  trace: { traceId: string; spanId: string; sampled: boolean } | undefined;
}
interface Out {
  v: number;
  k: number;
  path: Hop[];
  copy: number[];
}

/** A 3-stage keyed pipeline (2 → 3 → 2 workers); the middle stage yields v % 3 copies. */
async function run(n: number, trace: { sample: number; buffer?: number } | undefined) {
  const outs: Array<{ seq: number; out: Out }> = [];
  const p = pipeline<{ v: number; k: number }, Out>({
    source: Array.from({ length: n }, (_, v) => ({ v, k: v % 11 })),
    stages: [
      { module: PATH, name: 'a', workers: 2 },
      { module: PATH, name: 'b', workers: 3, options: { fanOut: true } },
      { module: PATH, name: 'c', workers: 2 },
    ],
    sink: (out, info) => {
      outs.push({ seq: info.seq, out });
    },
    key: (m) => m.k,
    ...(trace ? { trace } : {}),
  });
  const summary = await p.done;
  return { p, outs, summary };
}

/** Every time in a trace, in the order it must hold: source ≤ sent ≤ received ≤ done per hop, and a hop's outputs are sent while it runs. */
function checkTimes(t: MessageTrace): void {
  const byStage = (i: number) => t.hops.filter((h) => h.index === i);
  for (const h of t.hops) {
    expect(h.sent).toBeGreaterThanOrEqual(t.source);
    expect(h.received).toBeGreaterThanOrEqual(h.sent);
    expect(h.done).toBeGreaterThanOrEqual(h.received);
    // Epoch milliseconds (~1.8e12) hold about 0.25 µs: the differences agree to a microsecond.
    expect(h.queueMs).toBeCloseTo(h.received - h.sent, 3);
    expect(h.handlerMs).toBeCloseTo(h.done - h.received, 3);
    expect(h.queueMs).toBeGreaterThanOrEqual(0);
    expect(h.handlerMs).toBeGreaterThanOrEqual(0);
  }
  for (let i = 1; i < 3; i++) {
    for (const h of byStage(i)) {
      // Written by one hop of the stage before, while it ran (one key: one partition, one hop there).
      const [up] = byStage(i - 1);
      expect(h.sent).toBeGreaterThanOrEqual(up!.received);
      expect(h.sent).toBeLessThanOrEqual(up!.done);
    }
  }
  for (const d of t.sink) {
    expect(d.at).toBeGreaterThanOrEqual(t.source);
    expect(d.queueMs).toBeGreaterThanOrEqual(0);
  }
  // Each delivery is the output of its own last-stage hop, written while that hop ran: sorted, the
  // i-th delivery comes no earlier than the i-th last-stage hop began. (Not every hop before every
  // delivery: with fan-out, one copy can reach the sink while the stage before still writes the next.)
  const starts = byStage(2).map((h) => h.received).sort((a, b) => a - b);
  const ats = t.sink.map((d) => d.at).sort((a, b) => a - b);
  expect(ats.length).toBe(starts.length);
  ats.forEach((at, i) => expect(at).toBeGreaterThanOrEqual(starts[i]!));
}

describe('pipeline tracing', () => {
  it('sample: 1 traces every message through 3 keyed stages with fan-out: hops, workers, partitions, outputs and times agree with the path taken', async () => {
    const N = 600;
    const { p, outs, summary } = await run(N, { sample: 1 });
    const traces = p.traces();
    expect(traces).toHaveLength(N);
    expect(summary.trace).toEqual({ sample: 1, sampled: N, complete: N, incomplete: 0, expired: 0, droppedReports: 0 });
    const bySeq = new Map(traces.map((t) => [t.seq, t]));
    expect(bySeq.size).toBe(N);
    const outsBySeq = new Map<number, Out[]>();
    for (const o of outs) outsBySeq.set(o.seq, [...(outsBySeq.get(o.seq) ?? []), o.out]);

    for (let v = 0; v < N; v++) {
      const t = bySeq.get(v)!; // the array source: seq v is message v
      const copies = v % 3;
      expect(t.complete).toBe(true);
      expect(t.key).toBe(v % 11);
      expect(t.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(t.spanId).toMatch(/^[0-9a-f]{16}$/);
      expect(t.hops.map((h) => [h.stage, h.index, h.outputs, h.status])).toEqual([
        ['a', 0, 1, 'ok'],
        ['b', 1, copies, 'ok'],
        ...Array.from({ length: copies }, () => ['c', 2, 1, 'ok']),
      ]);
      expect(t.sink).toHaveLength(copies);
      checkTimes(t);
      // Where each hop ran is where the stages say they ran (a key's messages take one path).
      const seen = outsBySeq.get(v) ?? [];
      expect(seen).toHaveLength(copies);
      for (const out of seen) {
        expect(out.path.map((h) => [h.stage, h.partition, h.thread])).toEqual([
          [t.hops[0]!.stage, t.hops[0]!.partition, t.hops[0]!.thread],
          [t.hops[1]!.stage, t.hops[1]!.partition, t.hops[1]!.thread],
          [t.hops[2]!.stage, t.hops[2]!.partition, t.hops[2]!.thread],
        ]);
        // ctx.trace: the message's ids at every stage.
        for (const h of out.path) expect(h.trace).toEqual({ traceId: t.traceId, spanId: t.spanId, sampled: true });
      }
      for (const h of t.hops) expect(h.thread).toBeGreaterThan(0);
    }
    // Workers: one thread per (stage, partition), a different one for each.
    const threads = new Map<string, Set<number>>();
    for (const t of traces) for (const h of t.hops) threads.set(`${h.index}:${h.partition}`, (threads.get(`${h.index}:${h.partition}`) ?? new Set()).add(h.thread));
    expect([...threads.keys()].sort()).toEqual(['0:0', '0:1', '1:0', '1:1', '1:2', '2:0', '2:1']);
    for (const s of threads.values()) expect(s.size).toBe(1);
    expect(new Set([...threads.values()].map((s) => [...s][0])).size).toBe(7);
    // Distinct ids per message.
    expect(new Set(traces.map((t) => t.traceId)).size).toBe(N);
  });

  it('sample: 0 traces nothing, and no handler sees ctx.trace', async () => {
    const { p, outs, summary } = await run(300, { sample: 0 });
    expect(outs.length).toBeGreaterThan(0);
    expect(p.traces()).toEqual([]);
    expect(summary.trace).toEqual({ sample: 0, sampled: 0, complete: 0, incomplete: 0, expired: 0, droppedReports: 0 });
    for (const { out } of outs) for (const h of out.path) expect(h.trace).toBeUndefined();
  });

  it('without options.trace there are no traces and no ctx.trace', async () => {
    const { p, outs, summary } = await run(100, undefined);
    expect(outs.length).toBeGreaterThan(0);
    expect(p.traces()).toEqual([]);
    expect(summary.trace).toBeUndefined();
    for (const { out } of outs) for (const h of out.path) expect(h.trace).toBeUndefined();
  });

  it('samples about the given fraction, the same messages every run (by sequence number), and exactly those carry ctx.trace', async () => {
    const N = 4000;
    const first = await run(N, { sample: 0.1, buffer: N });
    const second = await run(N, { sample: 0.1, buffer: N });
    const seqs = (r: typeof first) => r.p.traces().map((t) => t.seq).sort((a, b) => a - b);
    const a = seqs(first);
    expect(a.length).toBeGreaterThan(N * 0.07);
    expect(a.length).toBeLessThan(N * 0.13);
    expect(seqs(second)).toEqual(a);
    // The handlers saw ctx.trace for the sampled messages and for no other.
    const withCtx = new Set(first.outs.filter((o) => o.out.path.every((h) => h.trace !== undefined)).map((o) => o.seq));
    const without = new Set(first.outs.filter((o) => o.out.path.every((h) => h.trace === undefined)).map((o) => o.seq));
    expect(withCtx.size + without.size).toBe(new Set(first.outs.map((o) => o.seq)).size);
    const sampled = new Set(a);
    for (const s of withCtx) expect(sampled.has(s)).toBe(true);
    for (const s of without) expect(sampled.has(s)).toBe(false);
    for (const t of first.p.traces()) expect(t.complete).toBe(true);
  });

  it('keeps the most recent `buffer` traces, oldest first', async () => {
    // One worker per stage and one output per message: traces complete in source order.
    const p = pipeline<{ v: number }, unknown>({
      source: Array.from({ length: 200 }, (_, v) => ({ v })),
      stages: [{ module: PATH, name: 'a' }, { module: PATH, name: 'b' }],
      sink: () => undefined,
      trace: { sample: 1, buffer: 25 },
    });
    await p.done;
    const traces = p.traces();
    expect(traces.map((t) => t.seq)).toEqual(Array.from({ length: 25 }, (_, i) => 175 + i));
    for (const t of traces) expect(t.complete).toBe(true);
  });

  it('assembles traces when they are read: unread, only the recent sampled messages are kept (the rest expire); read as it runs, none expire', async () => {
    // One worker, one output per message: every report fits its stores, so what expires is exactly
    // what the store of sampled messages (4096 at the default buffer) could not keep.
    const N = 12_000;
    const NOTES = 4096;
    const unread = pipeline<number, number>({ source: Array.from({ length: N }, (_, v) => v), stages: [{ module: fixture('identity') }], sink: () => undefined, trace: { sample: 1 } });
    const a = await unread.done;
    expect(a.trace).toEqual({ sample: 1, sampled: N, complete: NOTES, incomplete: 0, expired: N - NOTES, droppedReports: 0 });
    expect(unread.traces().map((t) => t.seq)).toEqual(Array.from({ length: 1000 }, (_, i) => N - 1000 + i));

    let reads = 0;
    let newest = -1;
    const read = pipeline<number, number>({
      source: Array.from({ length: N }, (_, v) => v),
      stages: [{ module: fixture('identity') }],
      sink: (_v, info) => {
        if (info.seq % 1000 !== 999) return;
        reads++;
        const ts = read.traces();
        // Everything delivered before this one is assembled, complete (one worker: in order).
        newest = ts.at(-1)!.seq;
        expect(newest).toBeGreaterThanOrEqual(info.seq - 1);
        expect(ts.every((t) => t.complete)).toBe(true);
      },
      trace: { sample: 1 },
    });
    const b = await read.done;
    expect(reads).toBe(N / 1000);
    expect(newest).toBeGreaterThanOrEqual(N - 2);
    expect(b.trace).toEqual({ sample: 1, sampled: N, complete: N, incomplete: 0, expired: 0, droppedReports: 0 });
  });

  it('a buffer above the open-trace limit: more unread sampled messages than 16384 are all assembled at the end, complete', async () => {
    // buffer 10000 keeps 32768 unread notes (and as many reports per ring): nothing overflows, and
    // opening them all before applying their reports must not close any of them early.
    const N = 30_000;
    const p = pipeline<number, number>({ source: Array.from({ length: N }, (_, v) => v), stages: [{ module: fixture('identity') }], sink: () => undefined, trace: { sample: 1, buffer: 10_000 } });
    const summary = await p.done;
    expect(summary.trace).toEqual({ sample: 1, sampled: N, complete: N, incomplete: 0, expired: 0, droppedReports: 0 });
    const traces = p.traces();
    expect(traces.map((t) => t.seq)).toEqual(Array.from({ length: 10_000 }, (_, i) => N - 10_000 + i));
    for (const t of traces) expect(t.hops).toHaveLength(1);
  });

  it("a trace that lost reports to a full store expires whole (neither complete nor incomplete); read in time, it completes", async () => {
    // One message fans out into more copies than a ring's store keeps (16384 at the default buffer).
    const COPIES = 20_000;
    const run = async (readEvery: number) => {
      let got = 0;
      const p: Pipeline<number, number> = pipeline<number, number>({
        source: [0],
        stages: [{ module: fixture('spread'), name: 'fan', options: { copies: COPIES } }, { module: fixture('identity'), name: 'pass' }],
        sink: () => {
          if (readEvery > 0 && ++got % readEvery === 0) p.traces();
        },
        trace: { sample: 1 },
      });
      const summary = await p.done;
      return { p, summary };
    };
    const lost = await run(0);
    expect(lost.summary.consumed).toBe(COPIES);
    expect(lost.summary.trace).toMatchObject({ sampled: 1, complete: 0, incomplete: 0, expired: 1 });
    expect(lost.p.traces()).toEqual([]);
    const kept = await run(2000);
    expect(kept.summary.trace).toMatchObject({ sampled: 1, complete: 1, incomplete: 0, expired: 0, droppedReports: 0 });
    const [t] = kept.p.traces();
    expect(t!.hops.filter((h) => h.stage === 'pass')).toHaveLength(COPIES);
    expect(t!.sink).toHaveLength(COPIES);
  });

  it("counts the hop reports a worker drops while the main thread is behind: the trace closes incomplete, and reports received plus dropped are every hop", async () => {
    // One message fans out into COPIES for the second stage, which reports a hop for each. The
    // sink holds the main thread (so nothing reads the report rings) until that stage has written
    // twice as many outputs as its ring holds reports: the rest of its reports are dropped.
    const COPIES = 12_000;
    const RING_REPORTS = HOP_RING_REPORTS;
    let held = -1;
    const p = pipeline<number, number>({
      source: [0],
      stages: [{ module: fixture('spread'), name: 'fan', options: { copies: COPIES } }, { module: fixture('identity'), name: 'pass' }],
      sink: () => {
        if (held !== -1) return;
        const deadline = performance.now() + 20_000;
        while ((held = p.stats().stages[1]!.out) < 2 * RING_REPORTS && performance.now() < deadline);
      },
      capacity: 1 << 20, // room for the outputs written while the sink holds on
      trace: { sample: 1 },
    });
    const summary = await p.done;
    expect(held).toBeGreaterThanOrEqual(2 * RING_REPORTS);
    expect(summary.consumed).toBe(COPIES);
    const [t, ...rest] = p.traces();
    expect(rest).toEqual([]);
    expect(t!.complete).toBe(false);
    const fan = t!.hops.filter((h) => h.stage === 'fan');
    expect(fan.map((h) => [h.outputs, h.status])).toEqual([[COPIES, 'ok']]);
    const passed = t!.hops.filter((h) => h.stage === 'pass').length;
    const { droppedReports } = summary.trace!;
    expect(droppedReports).toBeGreaterThan(0);
    expect(passed + droppedReports).toBe(COPIES);
    expect(summary.trace).toEqual({ sample: 1, sampled: 1, complete: 0, incomplete: 1, expired: 0, droppedReports });
    expect(t!.sink).toHaveLength(COPIES);
  });

  it('setTraceSample() changes the fraction from the next message the source takes; it checks its argument and needs options.trace', async () => {
    const N = 600;
    let p: Pipeline<number, number> | undefined;
    async function* source() {
      for (let v = 0; v < N; v++) {
        if (v === 200) p!.setTraceSample(1);
        if (v === 400) p!.setTraceSample(0);
        yield v;
      }
    }
    p = pipeline<number, number>({ source: source(), stages: [{ module: fixture('identity') }], sink: () => undefined, trace: { sample: 0, buffer: N } });
    expect(p.stats().trace!.sample).toBe(0);
    const summary = await p.done;
    expect(p.traces().map((t) => t.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => 200 + i));
    expect(summary.trace).toEqual({ sample: 0, sampled: 200, complete: 200, incomplete: 0, expired: 0, droppedReports: 0 });
    for (const bad of [-0.1, 1.5, Number.NaN, '0.5', undefined]) {
      expect(() => p!.setTraceSample(bad as never)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE', message: expect.stringMatching(/^setTraceSample: sample must be a number from 0 to 1, got /) }));
    }
    const plain = pipeline({ source: [1], stages: [{ module: fixture('identity') }], sink: () => undefined });
    expect(() => plain.setTraceSample(0.5)).toThrow(expect.objectContaining({ code: 'ERR_PIPELINE_STATE', message: expect.stringMatching(/without options\.trace/) }));
    await plain.done;
  });

  it('records a handler error as the hop status, with no outputs', async () => {
    const p = pipeline<{ v: number; bad: boolean }, unknown>({
      source: Array.from({ length: 40 }, (_, v) => ({ v, bad: v % 4 === 0 })),
      stages: [{ module: PATH, name: 'a' }, { module: PATH, name: 'b', onError: 'skip', options: { throwBad: true } }],
      sink: () => undefined,
      trace: { sample: 1 },
    });
    await p.done;
    const traces = p.traces();
    expect(traces).toHaveLength(40);
    for (const t of traces) {
      expect(t.complete).toBe(true);
      const bad = t.seq % 4 === 0;
      expect(t.hops.map((h) => [h.stage, h.status, h.outputs])).toEqual([
        ['a', 'ok', 1],
        ['b', bad ? 'error' : 'ok', bad ? 0 : 1],
      ]);
      expect(t.sink).toHaveLength(bad ? 0 : 1);
    }
  });

  it('rejects a bad options.trace, naming the option', () => {
    const base = { source: [1], stages: [{ module: PATH }], sink: () => undefined };
    for (const sample of [-0.1, 1.5, Number.NaN, '0.1', undefined]) {
      expect(() => pipeline({ ...base, trace: { sample } as never })).toThrow(/options\.trace\.sample must be a number from 0 to 1/);
    }
    expect(() => pipeline({ ...base, trace: 0.5 as never })).toThrow(/options\.trace/);
    expect(() => pipeline({ ...base, trace: { sample: 0.5, smaple: 1 } as never })).toThrow(/options\.trace: unknown option 'smaple'/);
    expect(() => pipeline({ ...base, trace: { sample: 0.5, buffer: 0 } })).toThrow(/options\.trace\.buffer must be from 1/);
    expect(() => pipeline({ ...base, trace: { sample: 0.5, buffer: 100_001 } })).toThrow(/options\.trace\.buffer must be from 1 to 100000, got 100001/);
  });
});

describe('pipeline tracing across swaps and restarts', () => {
  it('a swapped-in version reports its hops too: every trace completes, in the old or the new workers', async () => {
    let swapped = false;
    async function* source() {
      for (let v = 0; v < 1000; v++) yield { v };
      for (let n = 0; n < 30_000 && !swapped; n++) await sleep(1);
      for (let v = 1000; v < 2000; v++) yield { v };
    }
    const outs = new Map<number, number>();
    const p = pipeline<{ v: number }, { v: number }>({
      source: source(),
      stages: [{ module: PATH, name: 'a' }, { module: fixture('version1'), name: 'versioned', workers: 2 }],
      sink: (out, info) => {
        outs.set(info.seq, out.v);
      },
      trace: { sample: 1, buffer: 2000 },
    });
    await p.swap('versioned', fixture('version2'));
    swapped = true;
    await p.done;
    const traces = p.traces();
    expect(traces).toHaveLength(2000);
    const threads = { 1: new Set<number>(), 2: new Set<number>() };
    for (const t of traces) {
      expect(t.complete).toBe(true);
      expect(t.hops.map((h) => h.stage)).toEqual(['a', 'versioned']);
      const version = outs.get(t.seq) as 1 | 2;
      if (t.seq >= 1000) expect(version).toBe(2); // taken from the source after the swap
      threads[version].add(t.hops[1]!.thread);
    }
    expect(threads[2].size).toBe(2);
    for (const th of threads[1]) expect(threads[2].has(th)).toBe(false);
  });

  it('a restarted worker reports its hops: only messages of the batch its predecessor died in may have incomplete traces', async () => {
    const N = 3000;
    const at = 1000;
    const flag = new SharedArrayBuffer(4);
    const p = pipeline<{ i: number }, unknown>({
      source: Array.from({ length: N }, (_, i) => ({ i })),
      stages: [{ module: PATH, name: 'a' }, { module: fixture('crash'), name: 'crashy', options: { at, how: 'exit', flag } }],
      sink: () => undefined,
      batch: 8,
      trace: { sample: 1, buffer: N },
    });
    const summary = await p.done;
    expect(summary.stages[1]!.restarts).toBe(1);
    const traces = p.traces();
    expect(new Set(traces.map((t) => t.seq)).size).toBe(N);
    const incomplete = traces.filter((t) => !t.complete).map((t) => t.seq);
    expect(incomplete.length).toBeLessThanOrEqual(2 * 8);
    for (const seq of incomplete) expect(Math.abs(seq - at)).toBeLessThanOrEqual(64);
    // Before the death one thread, after it another.
    const threadOf = (seq: number) => traces.find((t) => t.seq === seq)!.hops.find((h) => h.stage === 'crashy')!.thread;
    expect(threadOf(N - 1)).not.toBe(threadOf(0));
    for (const t of traces) if (t.seq > at + 64) expect(t.hops.map((h) => [h.stage, h.thread])).toEqual([['a', t.hops[0]!.thread], ['crashy', threadOf(N - 1)]]);
  });
});
