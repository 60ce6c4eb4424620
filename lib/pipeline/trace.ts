// Tracing a sampled message through a pipeline's stages (options.trace).
//
// The source samples a message by its sequence number and marks its envelope TRACED, with a trace
// id and span id (envelope.ts); outputs inherit the mark, so every hop a sampled message takes, and
// nothing else, is traced. An unsampled message costs one flag check per hop and allocates nothing.
//
// A worker reports each traced hop (when the record was written upstream, when it read it, when
// its handler was done, the outputs, the outcome) into a hop ring of its own: a small
// SharedArrayBuffer of fixed 48-byte entries, one writer (the slot's worker) and one reader (the
// main thread). Not postMessage: a hop costs a few stores and one Atomics.store, never a message
// to the main thread's event loop, and a full ring drops the entry instead of slowing the stage
// (tracing never applies backpressure; the trace is then closed incomplete). The main thread only
// notes numbers when it samples a message and when one reaches the sink, and does the rest in
// batches (#ingest: every DRAIN_MS, every BATCH sampled messages or deliveries, on traces(), at the
// end): a little work on every traced message, in the thread that also runs the source and the
// sink, costs far more than its own time, since it makes the workers wait and park.
//
// A trace is complete when every record of it is accounted for: the source wrote one record, each
// hop's outputs are records for the next stage (or the sink), and each record read gives a hop (or
// a sink delivery). Hop entries and sink deliveries arrive in any order; a trace whose counts
// balance at every level has nothing more to come. One that cannot balance (an entry dropped, a
// message delivered again after a worker died, a pipeline that stopped) is closed as incomplete
// when the open traces exceed MAX_OPEN, or at the end.
//
// With @opentelemetry/api installed (an optional peer dependency), the message's span is started
// through it at the source (so its ids are OpenTelemetry's, and its parent is whatever context is
// active where the pipeline was started), each hop becomes a span parented to it when the trace
// completes, and in the worker the propagated context is made active around the handler.
import process from 'node:process';
import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import { randomFillSync } from 'node:crypto';
import { threadId } from 'node:worker_threads';
import { checkInteger, checkOptions, describe, RingwireRangeError } from '../errors.js';
import { hashInt, IDS_BYTES, keyOf, OTEL_SAMPLED, TRACE_ID_BYTES, TRACED, type Meta } from './envelope.js';
import type { StageHandler, StageContext, TraceContext } from './handler.js';

/** `options.trace` of pipeline(). */
export interface TraceOptions {
  /** The fraction of messages traced, from 0 to 1 (sampled by sequence number: the same messages every run). */
  sample: number;
  /** Completed traces kept for traces() (default 1000, the most recent). */
  buffer?: number;
}

/** One stage hop of a traced message. Times are milliseconds since the epoch (fractional). */
export interface HopTrace {
  stage: string;
  /** The stage's position in the pipeline (0 is the first). */
  index: number;
  partition: number;
  /** The worker's threadId. */
  thread: number;
  /** When the previous hop (or the source) wrote the record. */
  sent: number;
  /** When this worker read it. */
  received: number;
  /** When its handler was done and its outputs written. */
  done: number;
  /** received − sent: the time the record waited in the ring. */
  queueMs: number;
  /** done − received: decode, handler, and writing the outputs (with any wait for room). */
  handlerMs: number;
  /** Records written to the next stage (or the sink). */
  outputs: number;
  status: 'ok' | 'error' | 'dead-letter';
}

/** A sampled message's path from the source to the sink. */
export interface MessageTrace {
  /** 32 hex digits (OpenTelemetry's when @opentelemetry/api is installed). */
  traceId: string;
  /** The message's span: 16 hex digits. */
  spanId: string;
  seq: number;
  key: string | number | undefined;
  /** Every hop reported and every output accounted for; false when the trace was closed without (see README). */
  complete: boolean;
  /** When the source took the message. */
  source: number;
  /** In the order of the stages, then of time. */
  hops: HopTrace[];
  /** Each delivery of one of its outputs to the sink: when, and how long it waited in the last ring. */
  sink: Array<{ at: number; queueMs: number }>;
}

/** Milliseconds on CLOCK_MONOTONIC, which every thread of the process shares (performance.now() does
 * not: each thread counts from its own start). Only traced messages read it. */
export const clock = (): number => Number(process.hrtime.bigint()) / 1e6;

export const HOP_OK = 0;
export const HOP_ERROR = 1;
export const HOP_DEAD_LETTER = 2;
const STATUS = ['ok', 'error', 'dead-letter'] as const;

// The hop ring: i32 words, then ENTRIES entries of 48 bytes from byte 128.
const TAIL = 0; // entries written: the worker's (Atomics.store after the entry)
const HEAD = 16; // entries read: the main thread's (Atomics.store once read), a cache line away
const ENTRIES_AT = 128;
const ENTRY_BYTES = 48; // f64 seq, sent, received, done; i32 thread, outputs, status, 0
const ENTRIES = 4096; // a power of two
const RING_BYTES = ENTRIES_AT + ENTRIES * ENTRY_BYTES;

export const newHopRing = (): SharedArrayBuffer => new SharedArrayBuffer(RING_BYTES);

/**
 * The worker's end of a hop ring. One writer at a time: a slot's next worker (restart, swap) writes
 * only after the last one has ended, but may be created before (a swap's standby), so the tail is
 * read from the ring at each write, never cached.
 */
class HopWriter {
  readonly #i32: Int32Array;
  readonly #f64: Float64Array;

  constructor(sab: SharedArrayBuffer) {
    this.#i32 = new Int32Array(sab);
    this.#f64 = new Float64Array(sab);
  }

  write(seq: number, sent: number, received: number, done: number, outputs: number, status: number): void {
    const i32 = this.#i32;
    // Our own word, or a predecessor's: it ended (and stored its last tail) before we run.
    const tail = Atomics.load(i32, TAIL);
    // Acquire: the main thread has finished reading every entry before head, so those may be reused.
    if (((tail - Atomics.load(i32, HEAD)) | 0) >= ENTRIES) return; // full: the report is dropped
    const at = ENTRIES_AT + (tail & (ENTRIES - 1)) * ENTRY_BYTES;
    const f = at >> 3;
    const w = at >> 2;
    this.#f64[f] = seq;
    this.#f64[f + 1] = sent;
    this.#f64[f + 2] = received;
    this.#f64[f + 3] = done;
    i32[w + 8] = threadId;
    i32[w + 9] = outputs;
    i32[w + 10] = status;
    // Release: the entry's fields are visible to a reader that sees the new tail.
    Atomics.store(i32, TAIL, (tail + 1) | 0);
  }
}

/** The ids of the message in hand, as the handler reads them (ctx.trace; valid during the call). */
class TraceView implements TraceContext {
  readonly #meta: Meta;
  constructor(meta: Meta) {
    this.#meta = meta;
  }
  get traceId(): string {
    return hex(this.#meta.ids, 0, TRACE_ID_BYTES);
  }
  get spanId(): string {
    return hex(this.#meta.ids, TRACE_ID_BYTES, IDS_BYTES);
  }
  get sampled(): boolean {
    return (this.#meta.flags & OTEL_SAMPLED) !== 0;
  }
}

const hex = (b: Uint8Array, from: number, to: number): string => Buffer.from(b.buffer, b.byteOffset + from, to - from).toString('hex');

type OtelApi = typeof import('@opentelemetry/api');
const OTEL: string = '@opentelemetry/api';

/**
 * @opentelemetry/api if it can be loaded (by a specifier the bundler leaves alone), else undefined.
 * Not installed is ERR_MODULE_NOT_FOUND in Node, but a bundler or test runner may substitute a
 * module that throws something else (Vite does, for a missing optional peer dependency): whatever
 * the failure, tracing goes on without OpenTelemetry.
 */
export async function loadOtel(): Promise<OtelApi | undefined> {
  try {
    return (await import(OTEL)) as OtelApi;
  } catch {
    return undefined;
  }
}

/** A stage worker's side: reports traced hops, gives the handler ctx.trace, and (with
 * @opentelemetry/api) runs the handler with the message's span context active. */
export class HopTracer {
  readonly view: TraceView;
  readonly #ring: HopWriter;
  readonly #otel: OtelApi | undefined;
  /** Whether context.with() makes a context active here (a context manager is registered): probed at the first traced message. */
  #activates: boolean | undefined;
  #received = 0;
  #outputs = 0;

  constructor(ring: SharedArrayBuffer, meta: Meta, otel: OtelApi | undefined) {
    this.#ring = new HopWriter(ring);
    this.view = new TraceView(meta);
    this.#otel = otel;
  }

  /** A traced record was read; `outputs` is the worker's output count so far. */
  begin(outputs: number): void {
    this.#received = clock();
    this.#outputs = outputs;
  }

  /** Calls the handler, with the message's span context active when @opentelemetry/api is there. */
  call(handler: StageHandler, value: unknown, ctx: StageContext): unknown {
    const api = this.#otel;
    if (api === undefined) return handler(value, ctx);
    if (this.#activates === undefined) {
      const probe = api.createContextKey('ringwire probe');
      this.#activates = api.context.with(api.ROOT_CONTEXT.setValue(probe, true), () => api.context.active().getValue(probe) === true);
    }
    if (!this.#activates) return handler(value, ctx); // nothing could see the context
    const v = this.view;
    const sc = { traceId: v.traceId, spanId: v.spanId, traceFlags: v.sampled ? api.TraceFlags.SAMPLED : api.TraceFlags.NONE, isRemote: true };
    return api.context.with(api.trace.setSpanContext(api.context.active(), sc), handler, undefined, value, ctx);
  }

  /** The hop is over: reports it (`outputs`: the worker's output count now). */
  end(meta: Meta, outputs: number, status: number): void {
    this.#ring.write(meta.seq, meta.sent, this.#received, clock(), outputs - this.#outputs, status);
  }
}

/** The validated options.trace. */
export interface TracePlan {
  sample: number;
  buffer: number;
}

const TRACE_KEYS = new Set(['sample', 'buffer']);

export function planTrace(t: unknown): TracePlan | undefined {
  if (t === undefined) return undefined;
  const o = checkOptions(t, TRACE_KEYS, 'pipeline: options.trace');
  const sample = o.sample;
  if (typeof sample !== 'number' || !(sample >= 0 && sample <= 1)) {
    throw new RingwireRangeError('ERR_OUT_OF_RANGE', `pipeline: options.trace.sample must be a number from 0 to 1, got ${describe(sample)}`);
  }
  return { sample, buffer: checkInteger('pipeline: options.trace.buffer', o.buffer ?? 1000, 1, 1_000_000) };
}

/** Open traces beyond this close the oldest, as incomplete. */
const MAX_OPEN = 16_384;
const DRAIN_MS = 50;
const POOL_IDS = 1024;
/** Sampled messages, or traced deliveries to the sink, noted between two #ingest()s at most. */
const BATCH = 1024;

/** HOP_FIELDS numbers per hop in OpenTrace.hops: its ring (stage, partition), thread, sent, received, done, outputs, status. */
const HOP_FIELDS = 7;

/** A trace being collected, and then kept (the public MessageTrace is made by traces()): flat
 * arrays of numbers, since at 100% this runs for every message. Times on clock(). */
interface OpenTrace {
  seq: number;
  key: string | number | undefined;
  ids: Uint8Array;
  source: number;
  hops: number[];
  /** Per delivery: when the record was sent, and delivered. */
  sink: number[];
  /** Per level (stage 0 … the sink): records written to it less records read from it. */
  owed: number[];
  complete: boolean;
  span: import('@opentelemetry/api').Span | undefined;
}

interface RingReader {
  i32: Int32Array;
  f64: Float64Array;
  head: number;
  stage: string;
  index: number;
  partition: number;
}

/** The main thread's side: samples at the source, collects hops and sink deliveries, keeps the recent traces. */
export class PipelineTracer {
  readonly #threshold: number;
  readonly #buffer: number;
  readonly #stages: number;
  readonly #rings: RingReader[] = [];
  readonly #open = new Map<number, OpenTrace>();
  readonly #done: OpenTrace[] = [];
  #next = 0;
  // Noted by sample(): seq and source time, ids, key, span; by delivered(): seq, sent, delivered.
  readonly #started = new Float64Array(BATCH * 2);
  readonly #startedIds = new Uint8Array(BATCH * IDS_BYTES);
  readonly #startedKeys: Array<string | number | undefined> = [];
  readonly #startedSpans: Array<OpenTrace['span']> = [];
  #nStarted = 0;
  readonly #deliveries = new Float64Array(BATCH * 3);
  #nDelivered = 0;
  /** clock() + this: milliseconds since the epoch. */
  readonly #epoch = performance.timeOrigin + performance.now() - clock();
  #otel: OtelApi | undefined;
  /** OpenTelemetry's tracer named 'ringwire' (a proxy: it follows the provider registered at any time). */
  #otelTracer: import('@opentelemetry/api').Tracer | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #stopped = false;
  /** Random ids, drawn POOL_IDS at a time (randomFillSync has a cost per call). */
  readonly #pool = Buffer.alloc(IDS_BYTES * POOL_IDS);
  #pooled = POOL_IDS;

  /** Gives each slot of each stage its hop ring. */
  constructor(plan: TracePlan, stages: ReadonlyArray<{ name: string; slots: Array<{ partition: number; trace?: SharedArrayBuffer }> }>) {
    // Sampled iff the sequence number's 32-bit hash is below this: deterministic, and evenly spread.
    this.#threshold = plan.sample * 2 ** 32;
    this.#buffer = plan.buffer;
    this.#stages = stages.length;
    stages.forEach((st, index) => {
      for (const slot of st.slots) {
        const sab = (slot.trace = newHopRing());
        this.#rings.push({ i32: new Int32Array(sab), f64: new Float64Array(sab), head: 0, stage: st.name, index, partition: slot.partition });
      }
    });
  }

  /** Loads @opentelemetry/api if installed, and starts draining the hop rings every DRAIN_MS. */
  async start(): Promise<void> {
    this.#otel = await loadOtel();
    this.#otelTracer = this.#otel?.trace.getTracer('ringwire');
    if (this.#stopped) return; // the pipeline stopped meanwhile
    this.#timer = setInterval(() => this.#ingest(), DRAIN_MS);
    this.#timer.unref();
  }

  /** The pipeline ended (done, or stopped): reads the last reports and closes every trace still open. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#ingest();
    for (const t of [...this.#open.values()]) this.#close(t, false);
  }

  /** At the source: samples the message in `meta` (seq and key set) and, if sampled, marks it and notes it. */
  sample(meta: Meta): void {
    if ((hashInt(meta.seq) >>> 0) >= this.#threshold) {
      meta.flags = 0;
      return;
    }
    const now = clock();
    let flags = TRACED;
    let span: OpenTrace['span'];
    const api = this.#otel;
    if (api !== undefined) {
      span = this.#otelTracer!.startSpan('ringwire message', { startTime: now + this.#epoch });
      const sc = span.spanContext();
      // No tracer provider registered: a no-op span with the invalid context (the quick test first).
      if (sc !== api.INVALID_SPAN_CONTEXT && api.isSpanContextValid(sc)) {
        meta.ids.set(Buffer.from(sc.traceId + sc.spanId, 'hex'));
        if (sc.traceFlags & api.TraceFlags.SAMPLED) flags |= OTEL_SAMPLED;
        if (span.isRecording()) span.setAttribute('ringwire.seq', meta.seq);
      } else {
        span = undefined;
      }
    }
    if (span === undefined) {
      if (this.#pooled === POOL_IDS) {
        randomFillSync(this.#pool);
        this.#pooled = 0;
      }
      const at = this.#pooled++ * IDS_BYTES;
      this.#pool.copy(meta.ids, 0, at, at + IDS_BYTES);
      flags |= OTEL_SAMPLED;
    }
    meta.flags = flags;
    const i = this.#nStarted;
    this.#started[2 * i] = meta.seq;
    this.#started[2 * i + 1] = now;
    this.#startedIds.set(meta.ids, i * IDS_BYTES);
    this.#startedKeys[i] = keyOf(meta);
    this.#startedSpans[i] = span;
    if (++this.#nStarted === BATCH) this.#ingest();
  }

  /** At the sink: a traced record (meta) is being delivered. */
  delivered(meta: Meta): void {
    const d = this.#deliveries;
    const i = this.#nDelivered * 3;
    d[i] = meta.seq;
    d[i + 1] = meta.sent;
    d[i + 2] = clock();
    if (++this.#nDelivered === BATCH) this.#ingest();
  }

  /** Opens the traces noted by sample(), reads the hop rings, then applies the deliveries noted. */
  #ingest(): void {
    const open = this.#open;
    const levels = this.#stages + 1;
    for (let i = 0; i < this.#nStarted; i++) {
      const owed = new Array<number>(levels).fill(0);
      owed[0] = 1; // the source wrote one record to stage 0
      const seq = this.#started[2 * i]!;
      const ids = this.#startedIds.slice(i * IDS_BYTES, (i + 1) * IDS_BYTES);
      open.set(seq, { seq, key: this.#startedKeys[i], ids, source: this.#started[2 * i + 1]!, hops: [], sink: [], owed, complete: false, span: this.#startedSpans[i] });
      this.#startedKeys[i] = undefined;
      this.#startedSpans[i] = undefined;
      if (open.size > MAX_OPEN) this.#close(open.values().next().value!, false);
    }
    this.#nStarted = 0;
    this.#drain();
    const d = this.#deliveries;
    for (let i = 0; i < this.#nDelivered * 3; i += 3) {
      const t = open.get(d[i]!);
      if (t === undefined) continue;
      t.sink.push(d[i + 1]!, d[i + 2]!);
      t.owed[this.#stages]!--;
      this.#check(t);
    }
    this.#nDelivered = 0;
  }

  /** Reads every hop ring. */
  #drain(): void {
    const rings = this.#rings;
    for (let k = 0; k < rings.length; k++) {
      const r = rings[k]!;
      // Acquire: every entry before tail is completely written.
      const tail = Atomics.load(r.i32, TAIL);
      const n = (tail - r.head) | 0;
      if (n === 0) continue;
      // n outside [0, ENTRIES] is not what a working writer leaves: skip to its tail rather than read garbage.
      if (n > 0 && n <= ENTRIES) for (let i = 0; i < n; i++) this.#hop(k, ENTRIES_AT + ((r.head + i) & (ENTRIES - 1)) * ENTRY_BYTES);
      r.head = tail;
      // Release: the entries read are free for the worker again.
      Atomics.store(r.i32, HEAD, tail);
    }
  }

  /** The completed (and closed-incomplete) traces, oldest first. */
  traces(): MessageTrace[] {
    this.#ingest();
    const done = this.#done;
    const kept = done.length < this.#buffer ? done : [...done.slice(this.#next), ...done.slice(0, this.#next)];
    return kept.map((t) => this.#public(t));
  }

  #hop(ring: number, at: number): void {
    const r = this.#rings[ring]!;
    const f = at >> 3;
    const w = at >> 2;
    const t = this.#open.get(r.f64[f]!);
    if (t === undefined) return; // closed already (e.g. a message delivered again after a crash)
    const status = r.i32[w + 10]!;
    const outputs = r.i32[w + 9]!;
    if (status < 0 || status >= STATUS.length || outputs < 0) return; // not a working writer's: left out
    t.hops.push(ring, r.i32[w + 8]!, r.f64[f + 1]!, r.f64[f + 2]!, r.f64[f + 3]!, outputs, status);
    t.owed[r.index]!--;
    t.owed[r.index + 1]! += outputs;
    this.#check(t);
  }

  #check(t: OpenTrace): void {
    const owed = t.owed;
    for (let l = 0; l < owed.length; l++) if (owed[l] !== 0) return;
    this.#close(t, true);
  }

  #close(t: OpenTrace, complete: boolean): void {
    this.#open.delete(t.seq);
    t.complete = complete;
    if (this.#done.length < this.#buffer) this.#done.push(t);
    else {
      this.#done[this.#next] = t;
      this.#next = (this.#next + 1) % this.#buffer;
    }
    if (t.span !== undefined) this.#emit(t.span, this.#public(t));
  }

  /** What traces() shows of a trace: ids in hex, times since the epoch, hops in stage order. */
  #public(t: OpenTrace): MessageTrace {
    const e = this.#epoch;
    const hops: HopTrace[] = [];
    for (let i = 0; i < t.hops.length; i += HOP_FIELDS) {
      const [ring, thread, sent, received, done, outputs, status] = t.hops.slice(i, i + HOP_FIELDS) as [number, number, number, number, number, number, number];
      const r = this.#rings[ring]!;
      hops.push({
        stage: r.stage, index: r.index, partition: r.partition, thread, sent: sent + e, received: received + e, done: done + e,
        queueMs: received - sent, handlerMs: done - received, outputs, status: STATUS[status]!,
      });
    }
    hops.sort((a, b) => a.index - b.index || a.received - b.received);
    const sink: MessageTrace['sink'] = [];
    for (let i = 0; i < t.sink.length; i += 2) sink.push({ at: t.sink[i + 1]! + e, queueMs: t.sink[i + 1]! - t.sink[i]! });
    return {
      traceId: hex(t.ids, 0, TRACE_ID_BYTES), spanId: hex(t.ids, TRACE_ID_BYTES, IDS_BYTES), seq: t.seq, key: t.key,
      complete: t.complete, source: t.source + e, hops, sink,
    };
  }

  /** The hop spans, children of the message's span, then the message's span ends (at its last event). */
  #emit(span: NonNullable<OpenTrace['span']>, trace: MessageTrace): void {
    const api = this.#otel!;
    const tracer = this.#otelTracer!;
    const parent = api.trace.setSpan(api.ROOT_CONTEXT, span);
    let end = trace.source;
    for (const h of trace.hops) {
      const attributes = {
        'ringwire.stage': h.stage, 'ringwire.partition': h.partition, 'ringwire.thread': h.thread,
        'ringwire.queue_ms': h.queueMs, 'ringwire.outputs': h.outputs, 'ringwire.status': h.status,
      };
      const s = tracer.startSpan(`ringwire stage ${h.stage}`, { startTime: h.received, attributes }, parent);
      if (h.status !== 'ok') s.setStatus({ code: api.SpanStatusCode.ERROR, message: h.status });
      s.end(h.done);
      if (h.done > end) end = h.done;
    }
    for (const d of trace.sink) if (d.at > end) end = d.at;
    span.setAttributes({ 'ringwire.complete': trace.complete, 'ringwire.deliveries': trace.sink.length });
    span.end(end);
  }
}
