// Tracing through @opentelemetry/api: an SDK tracer provider with an in-memory exporter in the
// test thread receives a span per message (child of the context active where the pipeline started)
// and a span per stage hop (child of the message's span); in the workers, the handler runs with
// the message's span context active (fixtures/trace-otel.mjs registers a context manager there).
import { context, trace, type SpanContext } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pipeline } from '../../lib/index.js';

const PATH = new URL('./fixtures/trace-path.mjs', import.meta.url);
const OTEL = new URL('./fixtures/trace-otel.mjs', import.meta.url);
const fixture = (name: string) => new URL(`./fixtures/${name}.mjs`, import.meta.url);

const exporter = new InMemorySpanExporter();
beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
});
afterAll(() => {
  trace.disable();
  context.disable();
});
beforeEach(() => exporter.reset());

/** ms since the epoch of an OpenTelemetry HrTime. */
const ms = (t: [number, number]) => t[0] * 1e3 + t[1] / 1e6;
const ids = (sc: SpanContext | undefined) => sc && { traceId: sc.traceId, spanId: sc.spanId };

interface Out {
  v: number;
  seen: Array<{ active: { traceId: string; spanId: string } | undefined; ctx: { traceId: string; spanId: string; sampled: boolean } | undefined }>;
}

describe('pipeline tracing through @opentelemetry/api', () => {
  it('emits a span per message under the active span and a span per stage hop under it; the handler runs in the message span context', async () => {
    const N = 60;
    const outs = new Map<number, Out>();
    const tracer = trace.getTracer('test');
    const { root, p } = await tracer.startActiveSpan('request', async (root) => {
      const p = pipeline<{ v: number }, Out>({
        source: Array.from({ length: N }, (_, v) => ({ v })),
        stages: [
          { module: PATH, name: 'a' },
          { module: OTEL, name: 'b', workers: 2 },
          { module: PATH, name: 'c' },
        ],
        sink: (out, info) => {
          outs.set(info.seq, out);
        },
        key: (m) => m.v % 5,
        trace: { sample: 1 },
      });
      await p.done;
      root.end();
      return { root, p };
    });
    const spans = exporter.getFinishedSpans();
    const rootCtx = root.spanContext();
    const messages = spans.filter((s) => s.name === 'ringwire message');
    expect(messages).toHaveLength(N);
    for (const m of messages) {
      expect(ids(m.parentSpanContext)).toEqual(ids(rootCtx));
      expect(m.spanContext().traceId).toBe(rootCtx.traceId);
      expect(m.attributes['ringwire.complete']).toBe(true);
    }
    const hops = spans.filter((s) => s.name.startsWith('ringwire stage '));
    expect(hops).toHaveLength(3 * N);
    expect(spans).toHaveLength(4 * N + 1); // and the root

    const messageBySpanId = new Map(messages.map((m) => [m.spanContext().spanId, m]));
    const children = new Map<string, ReadableSpan[]>();
    for (const h of hops) {
      const parent = h.parentSpanContext;
      expect(parent?.traceId).toBe(rootCtx.traceId);
      expect(messageBySpanId.has(parent!.spanId)).toBe(true);
      children.set(parent!.spanId, [...(children.get(parent!.spanId) ?? []), h]);
    }
    const traces = p.traces();
    expect(traces).toHaveLength(N);
    for (const t of traces) {
      // p.traces() names the OpenTelemetry ids; the message span's children are its hops, a → b → c.
      expect(t.traceId).toBe(rootCtx.traceId);
      const m = messageBySpanId.get(t.spanId)!;
      expect(m.attributes['ringwire.seq']).toBe(t.seq);
      const kids = children.get(t.spanId)!.sort((x, y) => ms(x.startTime) - ms(y.startTime));
      expect(kids.map((k) => k.name)).toEqual(['ringwire stage a', 'ringwire stage b', 'ringwire stage c']);
      kids.forEach((k, i) => {
        const hop = t.hops[i]!;
        expect(k.attributes['ringwire.partition']).toBe(hop.partition);
        expect(k.attributes['ringwire.thread']).toBe(hop.thread);
        expect(k.attributes['ringwire.outputs']).toBe(1);
        expect(Math.abs(ms(k.startTime) - hop.received)).toBeLessThan(0.01);
        expect(Math.abs(ms(k.endTime) - hop.done)).toBeLessThan(0.01);
        expect(ms(k.startTime)).toBeGreaterThanOrEqual(ms(m.startTime) - 0.01);
        expect(ms(k.endTime)).toBeLessThanOrEqual(ms(m.endTime) + 0.01);
      });
      // In the worker: the message's span context was the active one, and ctx.trace said the same.
      const out = outs.get(t.seq)!;
      expect(out.seen).toEqual([{ active: { traceId: t.traceId, spanId: t.spanId }, ctx: { traceId: t.traceId, spanId: t.spanId, sampled: true } }]);
    }
  });

  it('emits no span for a message that is not sampled, and the handler has no active span context', async () => {
    const outs: Out[] = [];
    const p = pipeline<{ v: number }, Out>({
      source: Array.from({ length: 50 }, (_, v) => ({ v })),
      stages: [{ module: OTEL, name: 'b' }],
      sink: (out) => {
        outs.push(out);
      },
      trace: { sample: 0 },
    });
    await p.done;
    expect(outs).toHaveLength(50);
    expect(exporter.getFinishedSpans()).toEqual([]);
    for (const out of outs) expect(out.seen).toEqual([{ active: undefined, ctx: undefined }]);
  });

  it('with a tracer provider every trace is assembled and exported, however many: none expires unread', async () => {
    // More sampled messages than the tracer keeps unread (4096 at the default buffer), written in
    // one synchronous run of the source (the ring has room for all): with spans waiting, the notes
    // are assembled every 1024, so each message still gets its span and its hop's.
    const N = 10_000;
    const p = pipeline<number, number>({
      source: Array.from({ length: N }, (_, v) => v),
      stages: [{ module: fixture('identity'), name: 'a' }],
      sink: () => undefined,
      capacity: 1 << 22,
      trace: { sample: 1 },
    });
    const summary = await p.done;
    // The worker may run ahead of the main thread's copies (the rings hold all 10,000): a report it
    // drops for a full ring leaves that trace incomplete, but nothing expires and every span ends.
    const t = summary.trace!;
    expect(t).toMatchObject({ sample: 1, sampled: N, expired: 0 });
    expect(t.complete + t.incomplete).toBe(N);
    const spans = exporter.getFinishedSpans();
    const messages = spans.filter((s) => s.name === 'ringwire message');
    expect(messages).toHaveLength(N);
    expect(messages.filter((m) => m.attributes['ringwire.complete'] === true)).toHaveLength(t.complete);
    expect(spans.filter((s) => s.name === 'ringwire stage a').length + t.droppedReports).toBe(N);
  });

  it('with a tracer provider a trace larger than the stores is assembled as it arrives, not dropped', async () => {
    // One message fans out into more copies than a ring's store or the deliveries' store keeps
    // (16384): with its span waiting, each copy of the rings is assembled, so no store fills.
    const COPIES = 20_000;
    const p = pipeline<number, number>({
      source: [0],
      stages: [{ module: fixture('spread'), name: 'fan', options: { copies: COPIES } }, { module: fixture('identity'), name: 'pass' }],
      sink: () => undefined,
      trace: { sample: 1 },
    });
    const summary = await p.done;
    expect(summary.consumed).toBe(COPIES);
    expect(summary.trace).toEqual({ sample: 1, sampled: 1, complete: 1, incomplete: 0, expired: 0, droppedReports: 0 });
    const spans = exporter.getFinishedSpans();
    expect(spans.filter((s) => s.name === 'ringwire stage pass')).toHaveLength(COPIES);
    const [message] = spans.filter((s) => s.name === 'ringwire message');
    expect(message!.attributes).toMatchObject({ 'ringwire.complete': true, 'ringwire.deliveries': COPIES });
  });
});
