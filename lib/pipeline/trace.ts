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
// (tracing never applies backpressure; the trace is then closed incomplete, and the drop
// counted). The main thread only notes numbers when it samples a message and when one reaches the
// sink, and copies the rings' reports out every DRAIN_MS; it assembles traces from them only when
// something reads them (PipelineTracer, below): a little work on every traced message, in the
// thread that also runs the source and the sink, costs far more than its own time, since it makes
// the workers wait and park.
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
import { hashInt, IDS_BYTES, IDS_WORDS, KEY_NONE, keyOf, OTEL_SAMPLED, TRACE_ID_BYTES, TRACED, type Meta } from './envelope.js';
import type { StageHandler, StageContext, TraceContext } from './handler.js';

/** `options.trace` of pipeline(). */
export interface TraceOptions {
  /** The fraction of messages traced, from 0 to 1 (sampled by sequence number: the same messages every run). */
  sample: number;
  /** Completed traces kept for traces() (default 1000, the most recent; at most 100,000). */
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

/**
 * clock() − performance.now() in this thread. Both count uv_hrtime (CLOCK_MONOTONIC); process.hrtime
 * from one origin for every thread, performance.now() from the time origin, which the spec lets
 * differ per thread (Node 20-24 give every thread the main thread's). Estimated from the closest of
 * a few paired readings: within about 0.25 µs, but not the same estimate in every thread, so a
 * stage worker whose time origin is the pipeline thread's takes that thread's estimate
 * (adoptClock), and times taken in different threads then compare exactly.
 */
let OFFSET = ((): number => {
  let best = Number.POSITIVE_INFINITY;
  let offset = 0;
  for (let i = 0; i < 8; i++) {
    const before = performance.now();
    const hr = Number(process.hrtime.bigint()) / 1e6;
    const after = performance.now();
    if (after - before < best) {
      best = after - before;
      offset = hr - (before + after) / 2;
    }
  }
  return offset;
})();

/** This thread's clock offset and time origin, for the stage workers (adoptClock). */
export const clockOf = (): TraceClock => ({ offset: OFFSET, origin: performance.timeOrigin });

export interface TraceClock {
  offset: number;
  origin: number;
}

/** In a stage worker: uses the pipeline thread's offset when both threads count from the same time
 * origin; a thread with an origin of its own keeps its own estimate. */
export function adoptClock(c: TraceClock): void {
  if (c.origin === performance.timeOrigin) OFFSET = c.offset;
}

/** Milliseconds on a clock every thread of the process shares. Only traced messages read it. */
export const clock = (): number => performance.now() + OFFSET;

export const HOP_OK = 0;
export const HOP_ERROR = 1;
export const HOP_DEAD_LETTER = 2;
const STATUS = ['ok', 'error', 'dead-letter'] as const;

// The hop ring: i32 words, then ENTRIES entries of 48 bytes from byte 128.
const TAIL = 0; // entries written: the worker's (Atomics.store after the entry)
const DROPPED = 1; // reports dropped because the ring was full: the worker's too
const HEAD = 16; // entries read: the main thread's (Atomics.store once read), a cache line away
const ENTRIES_AT = 128;
const ENTRY_BYTES = 48; // f64 seq, sent, received, done; i32 thread, outputs, status, 0
const ENTRIES = 4096; // a power of two
/** @internal Reports a hop ring holds (tests). */
export const HOP_RING_REPORTS = ENTRIES;
const RING_BYTES = ENTRIES_AT + ENTRIES * ENTRY_BYTES;

export const newHopRing = (): SharedArrayBuffer => new SharedArrayBuffer(RING_BYTES);

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

const hex = (b: ArrayBufferView, from: number, to: number): string => Buffer.from(b.buffer, b.byteOffset + from, to - from).toString('hex');

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

/**
 * A stage worker's side: writes its traced hops into its hop ring, gives the handler ctx.trace, and
 * (with @opentelemetry/api) runs the handler with the message's span context active.
 *
 * One writer of the ring at a time: a slot's next worker (restart, swap) writes only after the last
 * one has ended, but may be created before (a swap's standby), so the tail is read from the ring at
 * each write, never cached.
 */
export class HopTracer {
  readonly view: TraceView;
  /** false once the first traced message found no context manager to make its context active:
   * the stage loop then calls the handler itself. */
  wraps: boolean | undefined;
  readonly #otel: OtelApi | undefined;
  readonly #i32: Int32Array;
  readonly #f64: Float64Array;
  readonly #thread = threadId;

  constructor(ring: SharedArrayBuffer, meta: Meta, otel: OtelApi | undefined) {
    this.#i32 = new Int32Array(ring);
    this.#f64 = new Float64Array(ring);
    this.view = new TraceView(meta);
    this.#otel = otel;
    if (otel === undefined) this.wraps = false;
  }

  /** Calls the handler with the message's span context active (@opentelemetry/api, with a context manager). */
  call(handler: StageHandler, value: unknown, ctx: StageContext): unknown {
    const api = this.#otel!;
    if (this.wraps === undefined) {
      const probe = api.createContextKey('ringwire probe');
      this.wraps = api.context.with(api.ROOT_CONTEXT.setValue(probe, true), () => api.context.active().getValue(probe) === true);
    }
    if (!this.wraps) return handler(value, ctx); // nothing could see the context
    const v = this.view;
    const sc = { traceId: v.traceId, spanId: v.spanId, traceFlags: v.sampled ? api.TraceFlags.SAMPLED : api.TraceFlags.NONE, isRemote: true };
    return api.context.with(api.trace.setSpanContext(api.context.active(), sc), handler, undefined, value, ctx);
  }

  /** Reports a hop: read at `received`, done at `done` (performance.now() readings), `outputs` written. */
  hop(meta: Meta, outputs: number, status: number, received: number, done: number): void {
    const i32 = this.#i32;
    // seq_cst load (acquire): our own word, or a predecessor's, which ended (and stored its last
    // tail) before we run. Distances unsigned: the tail wraps past 2^31 in a long-lived slot.
    const tail = Atomics.load(i32, TAIL);
    // seq_cst load (acquire): the main thread has finished reading every entry before head, so
    // those may be reused. Read at every report, not only when the ring looks full, and the drop
    // counted at every report (adding 0 or 1): work done only in a branch taken once in 4096
    // reports would have no type feedback, and deoptimize this when first taken.
    const full = (tail - Atomics.load(i32, HEAD)) >>> 0 >= ENTRIES ? 1 : 0;
    // seq_cst load and store: the count is this ring's writer's alone (one at a time); the main
    // thread only reads it, for stats().
    Atomics.store(i32, DROPPED, (Atomics.load(i32, DROPPED) + full) | 0);
    if (full !== 0) return; // the report is dropped
    const at = ENTRIES_AT + (tail & (ENTRIES - 1)) * ENTRY_BYTES;
    const f = at >> 3;
    const w = at >> 2;
    const f64 = this.#f64;
    f64[f] = meta.seq;
    f64[f + 1] = meta.sent;
    f64[f + 2] = received + OFFSET;
    f64[f + 3] = done + OFFSET;
    i32[w + 8] = this.#thread;
    i32[w + 9] = outputs;
    i32[w + 10] = status;
    // Release: the entry's fields are visible to a reader that sees the new tail.
    Atomics.store(i32, TAIL, (tail + 1) | 0);
  }
}

/** stats().trace: how many messages were sampled, and how their traces ended. */
export interface TraceStats {
  /** The fraction sampled now (options.trace.sample, or setTraceSample()'s). */
  sample: number;
  /** Messages sampled at the source. */
  sampled: number;
  /** Traces closed with every report in. */
  complete: number;
  /** Traces closed without (see traces()). */
  incomplete: number;
  /** Traces not kept because notes or reports were overwritten before anything read them (traces(),
   * stats(), an OpenTelemetry tracer provider): the sampled messages whose own note was, and the
   * traces open and sampled before a report or delivery was (each may have lost one). */
  expired: number;
  /** Hop reports workers dropped because their report ring was full (the main thread was behind). */
  droppedReports: number;
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
  return { sample: checkSample('pipeline: options.trace.sample', o.sample), buffer: checkInteger('pipeline: options.trace.buffer', o.buffer ?? 1000, 1, MAX_BUFFER) };
}

/** A sampling fraction: a number from 0 to 1 (`what` names it in the error). */
export function checkSample(what: string, sample: unknown): number {
  if (typeof sample !== 'number' || !(sample >= 0 && sample <= 1)) {
    throw new RingwireRangeError('ERR_OUT_OF_RANGE', `${what} must be a number from 0 to 1, got ${describe(sample)}`);
  }
  return sample;
}

/** Open traces beyond this close the oldest, as incomplete. */
const MAX_OPEN = 16_384;
/** How often the hop rings are copied into the main thread's stores: every DRAIN_MS, and every
 * COPY_EVERY sampled messages and traced deliveries (a ring holds ENTRIES reports: at a high
 * fraction, 50 ms is too long). */
const DRAIN_MS = 50;
const COPY_EVERY = 1024;
const POOL_IDS = 1024;
/** options.trace.buffer at most: the stores below grow with it. */
const MAX_BUFFER = 100_000;
/** The unread reports kept, at least: sampled messages' notes; hop reports per ring, and sink deliveries. */
const MIN_NOTES = 4096;
const MIN_ENTRIES = 16_384;
/** Numbers per sink delivery noted: seq, sent, delivered. */
const DELIVERY_FIELDS = 3;
/** int32 words per hop report (ENTRY_BYTES). */
const ENTRY_WORDS = ENTRY_BYTES / 4;

const pow2AtLeast = (n: number): number => 2 ** Math.ceil(Math.log2(n));

/** HOP_FIELDS numbers per hop in Traces.hops: its ring (stage, partition), thread, sent, received, done, outputs, status. */
const HOP_FIELDS = 7;

type Span = import('@opentelemetry/api').Span;

/**
 * Traces in tables indexed by slot, grown by doubling: numbers in typed arrays, each slot's hops
 * and sink deliveries in arrays of its own that are emptied and reused, never dropped. A sampled
 * message then allocates nothing that outlives it (an object and four arrays per trace did, and
 * were promoted: they lived as long as the trace was open or kept). Times on clock().
 */
class Traces {
  seq = new Float64Array(0);
  source = new Float64Array(0);
  ids = new Int32Array(0);
  complete = new Uint8Array(0);
  /** Per level (stage 0 … the sink) of an open trace: records written to it less records read from it. */
  owed = new Int32Array(0);
  /** How much of hops[slot] and sinks[slot] is this slot's: the arrays are reused, never shortened
   * (shortening would free their backing store, to be allocated again). */
  nHops = new Int32Array(0);
  nSinks = new Int32Array(0);
  keys: Array<string | number | undefined> = [];
  spans: Array<Span | undefined> = [];
  hops: number[][] = [];
  /** Per delivery: when the record was sent, and delivered. */
  sinks: number[][] = [];

  constructor(readonly levels: number) {}

  get capacity(): number {
    return this.seq.length;
  }

  grow(to: number): void {
    const from = this.capacity;
    const more = <T extends Float64Array | Uint8Array | Int32Array>(a: T, per: number): T => {
      const b = new (a.constructor as new (n: number) => T)(to * per);
      b.set(a);
      return b;
    };
    this.seq = more(this.seq, 1);
    this.source = more(this.source, 1);
    this.ids = more(this.ids, IDS_WORDS);
    this.complete = more(this.complete, 1);
    this.owed = more(this.owed, this.levels);
    this.nHops = more(this.nHops, 1);
    this.nSinks = more(this.nSinks, 1);
    for (let i = from; i < to; i++) {
      this.keys.push(undefined);
      this.spans.push(undefined);
      this.hops.push([]);
      this.sinks.push([]);
    }
  }
}

/** Copies entry `from` of ids `a` (IDS_WORDS each) to entry `to` of `b`. */
function copyIds(a: Int32Array, from: number, b: Int32Array, to: number): void {
  for (let i = 0, x = from * IDS_WORDS, y = to * IDS_WORDS; i < IDS_WORDS; i++) b[y + i] = a[x + i]!;
}

/**
 * The open traces' slots by sequence number: open addressing with linear probing over typed arrays
 * at most half full, deletion by backward shift (no tombstones), and the order they were opened in
 * (to close the oldest when too many are open). A Map did this with a hash table it reallocated
 * as traces came and went (at 1%, in alternating pairs of pipelines against the Map: +1.7%
 * median throughput; a prototype +1.8% and +4.7%).
 */
export class SlotIndex {
  #keys = new Float64Array(64).fill(-1); // seq, or -1: empty
  #vals = new Int32Array(64);
  size = 0;
  /** Seqs in the order set, from #first; deleted ones are skipped by oldest() and dropped when it compacts. */
  #order = new Float64Array(64);
  #first = 0;
  #end = 0;

  #home(seq: number): number {
    return hashInt(seq) & (this.#keys.length - 1);
  }

  get(seq: number): number | undefined {
    if (!(seq >= 0)) return undefined; // read from shared memory: -1 (the empty mark), NaN, ...
    const keys = this.#keys;
    const mask = keys.length - 1;
    for (let i = this.#home(seq); ; i = (i + 1) & mask) {
      const k = keys[i]!;
      if (k === seq) return this.#vals[i];
      if (k === -1) return undefined;
    }
  }

  /** Adds `seq` (not in the index: a sequence number is opened once). */
  set(seq: number, slot: number): void {
    if (2 * (this.size + 1) > this.#keys.length) this.#rehash(this.#keys.length * 2);
    const keys = this.#keys;
    const mask = keys.length - 1;
    let i = this.#home(seq);
    while (keys[i] !== -1) i = (i + 1) & mask;
    keys[i] = seq;
    this.#vals[i] = slot;
    this.size++;
    if (this.#end === this.#order.length) this.#compact();
    this.#order[this.#end++] = seq;
  }

  delete(seq: number): void {
    if (!(seq >= 0)) return;
    const keys = this.#keys;
    const vals = this.#vals;
    const mask = keys.length - 1;
    let i = this.#home(seq);
    while (keys[i] !== seq) {
      if (keys[i] === -1) return;
      i = (i + 1) & mask;
    }
    this.size--;
    // Backward shift: each following entry of the probe run moves into the hole unless its home
    // lies cyclically in (hole, its place], where a lookup would no longer reach it.
    for (let j = (i + 1) & mask; keys[j] !== -1; j = (j + 1) & mask) {
      if (((j - this.#home(keys[j]!)) & mask) >= ((j - i) & mask)) {
        keys[i] = keys[j]!;
        vals[i] = vals[j]!;
        i = j;
      }
    }
    keys[i] = -1;
  }

  /** The slot of the entry set first among those still in the index (size > 0). */
  oldest(): number {
    for (;;) {
      const slot = this.get(this.#order[this.#first]!);
      if (slot !== undefined) return slot;
      this.#first++;
    }
  }

  /** Every slot, in the order set. */
  slots(): number[] {
    const out: number[] = [];
    for (let i = this.#first; i < this.#end; i++) {
      const slot = this.get(this.#order[i]!);
      if (slot !== undefined) out.push(slot);
    }
    return out;
  }

  /** Drops the deleted seqs from the order (growing it when more than half is live). */
  #compact(): void {
    const order = this.#order;
    let n = 0;
    for (let i = this.#first; i < this.#end; i++) if (this.get(order[i]!) !== undefined) order[n++] = order[i]!;
    this.#first = 0;
    this.#end = n;
    if (2 * n > order.length) {
      this.#order = new Float64Array(order.length * 2);
      this.#order.set(order.subarray(0, n));
    }
  }

  #rehash(capacity: number): void {
    const keys = this.#keys;
    const vals = this.#vals;
    this.#keys = new Float64Array(capacity).fill(-1);
    this.#vals = new Int32Array(capacity);
    const mask = capacity - 1;
    for (let i = 0; i < keys.length; i++) {
      if (keys[i] === -1) continue;
      let j = this.#home(keys[i]!);
      while (this.#keys[j] !== -1) j = (j + 1) & mask;
      this.#keys[j] = keys[i]!;
      this.#vals[j] = vals[i]!;
    }
  }
}

/** A stage slot's hop ring, and the reports copied out of it that are not yet assembled. */
interface RingReader {
  i32: Int32Array;
  /** Reports read from the ring (a copy of its head). */
  head: number;
  /** The copies: a circular store of ENTRY_WORDS-word reports, as int32 words and as f64s. */
  store: Int32Array;
  f64: Float64Array;
  /** Reports copied in, and assembled (or expired): positions in the store, never wrapped. */
  copied: number;
  used: number;
  stage: string;
  index: number;
  partition: number;
}

/**
 * The main thread's side: samples at the source, notes sink deliveries, copies the hop reports out
 * of the workers' rings, and assembles traces from all three when they are read.
 *
 * Assembly (matching reports to their trace, counting what is owed, closing complete traces) is
 * the bulk of tracing's cost in the main thread, which also runs the source and the sink: done for
 * every sampled message as it happened, it cost about 2 points of a 32-byte pipeline's throughput at
 * 1% (in-process A/B, Node 24). So the notes and reports wait in stores of their own, and traces
 * are assembled when something reads them: traces(), stats() (and the summary, at the end), or an
 * OpenTelemetry tracer provider (while a span waits to be ended, every copy of the rings is
 * followed by assembly).
 * The stores keep the most recent: a note or report that would be overwritten unread is dropped,
 * and the traces it belonged to are counted as expired. A trace is then assembled whole or not at
 * all: when reports were dropped at time T, every open trace sampled before T is expired (it may
 * have lost one), and none later (a report is written after its message was sampled).
 */
export class PipelineTracer {
  // Doubles from the start (NaN until set): a field that starts as a small integer changes
  // representation at the first fraction, which deoptimizes the source's sampling.
  #sample = Number.NaN;
  #threshold = Number.NaN;
  readonly #buffer: number;
  readonly #rings: RingReader[] = [];
  /** Open traces: slots found by seq (in the order opened: the first is the oldest), and free slots. */
  readonly #open: Traces;
  readonly #slotOf = new SlotIndex();
  #free: number[] = [];
  /** Kept traces: the last `buffer` closed, a ring once full (#next: the oldest). */
  readonly #done = new Traces(0);
  #kept = 0;
  #next = 0;
  #sampled = 0;
  #complete = 0;
  #incomplete = 0;
  #expired = 0;
  // Noted by sample(), a circular store of #notes: seq and source time, ids, key, span.
  readonly #notes: number;
  readonly #started: Float64Array;
  readonly #startedIds: Int32Array;
  readonly #startedKeys: Array<string | number | undefined>;
  readonly #startedSpans: Array<Span | undefined>;
  #nStarted = 0;
  #usedStarted = 0;
  // Noted by delivered(), a circular store of #entries: seq, sent, delivered.
  readonly #entries: number;
  readonly #deliveries: Float64Array;
  #nDelivered = 0;
  #usedDelivered = 0;
  /** clock() when a report or delivery was last dropped unread (-Infinity: none since the last assembly). */
  #lostAt = Number.NEGATIVE_INFINITY;
  /** Spans started and not yet ended: while there are any, every copy of the rings is followed by
   * assembly (#collect), so that spans end as their traces complete and no store fills. */
  #spans = 0;
  /** #apply() is running (it is not re-entered). */
  #applying = false;
  /** clock() + this: milliseconds since the epoch. */
  readonly #epoch = performance.timeOrigin - OFFSET;
  #otel: OtelApi | undefined;
  /** false once OpenTelemetry gave a no-op span (no tracer provider registered): not asked again
   * until the next DRAIN_MS tick, so that a provider registered later is found within DRAIN_MS. */
  #otelLive: boolean | undefined;
  /** OpenTelemetry's tracer named 'ringwire' (a proxy: it follows the provider registered at any time). */
  #otelTracer: import('@opentelemetry/api').Tracer | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #stopped = false;
  /** Random ids, drawn POOL_IDS at a time (randomFillSync has a cost per call). */
  readonly #pool = new Int32Array(IDS_WORDS * POOL_IDS);
  #pooled = POOL_IDS;

  /** Gives each slot of each stage its hop ring. */
  constructor(plan: TracePlan, stages: ReadonlyArray<{ name: string; slots: Array<{ partition: number; trace?: SharedArrayBuffer }> }>) {
    this.setSample(plan.sample);
    this.#buffer = plan.buffer;
    this.#notes = pow2AtLeast(Math.max(MIN_NOTES, 2 * plan.buffer));
    this.#entries = pow2AtLeast(Math.max(MIN_ENTRIES, 2 * plan.buffer));
    this.#started = new Float64Array(this.#notes * 2);
    this.#startedIds = new Int32Array(this.#notes * IDS_WORDS);
    this.#startedKeys = new Array<string | number | undefined>(this.#notes).fill(undefined);
    this.#startedSpans = new Array<Span | undefined>(this.#notes).fill(undefined);
    this.#deliveries = new Float64Array(this.#entries * DELIVERY_FIELDS);
    this.#open = new Traces(stages.length + 1);
    stages.forEach((st, index) => {
      for (const slot of st.slots) {
        const sab = (slot.trace = newHopRing());
        const store = new Int32Array(this.#entries * ENTRY_WORDS);
        this.#rings.push({ i32: new Int32Array(sab), head: 0, store, f64: new Float64Array(store.buffer), copied: 0, used: 0, stage: st.name, index, partition: slot.partition });
      }
    });
  }

  /** The fraction of messages sampled from the next one the source takes (a number from 0 to 1, checked). */
  setSample(sample: number): void {
    this.#sample = sample;
    // Sampled iff the sequence number's 32-bit hash is below this: deterministic, and evenly spread
    // (a higher fraction samples every message a lower one did, and more).
    this.#threshold = sample * 2 ** 32;
  }

  /** Loads @opentelemetry/api if installed, and starts copying the hop rings every DRAIN_MS. */
  async start(): Promise<void> {
    this.#otel = await loadOtel();
    this.#otelTracer = this.#otel?.trace.getTracer('ringwire');
    if (this.#stopped) return; // the pipeline stopped meanwhile
    this.#timer = setInterval(() => this.#tick(), DRAIN_MS);
    this.#timer.unref();
  }

  #tick(): void {
    this.#otelLive = undefined;
    this.#collect();
  }

  /** The pipeline ended (done, or stopped): assembles what is left and closes every trace still open. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#assemble();
    for (const slot of this.#slotOf.slots()) this.#close(slot, false);
  }

  /**
   * At the source: samples the message in `meta` (seq and key set; `now` is its t0, a
   * performance.now() reading) and, if sampled, marks it and notes it. Small, so that the source's
   * write inlines it: every message pays this check, a sampled one the call below.
   */
  sample(meta: Meta, now: number): void {
    if ((hashInt(meta.seq) >>> 0) >= this.#threshold) meta.flags = 0;
    else this.#start(meta, now + OFFSET);
  }

  #start(meta: Meta, now: number): void {
    this.#sampled++;
    let flags = TRACED;
    let span: Span | undefined;
    const api = this.#otel;
    if (api !== undefined && this.#otelLive !== false) {
      span = this.#otelTracer!.startSpan('ringwire message', { startTime: now + this.#epoch });
      const sc = span.spanContext();
      // No tracer provider registered: a no-op span with the invalid context (the quick test first).
      if (sc !== api.INVALID_SPAN_CONTEXT && api.isSpanContextValid(sc)) {
        meta.ids.set(Buffer.from(sc.traceId + sc.spanId, 'hex'));
        if (sc.traceFlags & api.TraceFlags.SAMPLED) flags |= OTEL_SAMPLED;
        if (span.isRecording()) span.setAttribute('ringwire.seq', meta.seq);
        this.#spans++;
      } else {
        span = undefined;
        this.#otelLive = false; // asked again at the next tick
      }
    }
    const ids = meta.idWords;
    if (span === undefined) {
      if (this.#pooled === POOL_IDS) {
        randomFillSync(this.#pool);
        this.#pooled = 0;
      }
      copyIds(this.#pool, this.#pooled++, ids, 0);
      flags |= OTEL_SAMPLED;
    }
    meta.flags = flags;
    if (this.#nStarted - this.#usedStarted === this.#notes) this.#makeRoom();
    const i = this.#nStarted++ & (this.#notes - 1);
    copyIds(ids, 0, this.#startedIds, i);
    this.#started[2 * i] = meta.seq;
    this.#started[2 * i + 1] = now;
    // Both left undefined once read (#apply).
    if (meta.kind !== KEY_NONE) this.#startedKeys[i] = keyOf(meta);
    if (span !== undefined) this.#startedSpans[i] = span;
    if ((this.#nStarted & (COPY_EVERY - 1)) === 0) this.#collect();
  }

  /** The store of sampled messages is full: the oldest note expires. (With spans waiting, #collect
   * keeps it from filling; the span of an expiring note is ended all the same.) */
  #makeRoom(): void {
    const i = this.#usedStarted++ & (this.#notes - 1);
    this.#startedKeys[i] = undefined;
    this.#expired++;
    const span = this.#startedSpans[i];
    this.#startedSpans[i] = undefined;
    if (span !== undefined) this.#endExpired(span);
  }

  /** At the sink: a traced record (meta) is being delivered; `now` is a performance.now() reading. */
  delivered(meta: Meta, now: number): void {
    if (this.#nDelivered - this.#usedDelivered === this.#entries) {
      this.#usedDelivered++; // the oldest delivery is dropped unread
      this.#lostAt = now + OFFSET;
    }
    const d = this.#deliveries;
    const i = (this.#nDelivered++ & (this.#entries - 1)) * DELIVERY_FIELDS;
    d[i] = meta.seq;
    d[i + 1] = meta.sent;
    d[i + 2] = now + OFFSET;
    if ((this.#nDelivered & (COPY_EVERY - 1)) === 0) this.#collect();
  }

  /** Copies the hop rings out; with a span waiting, assembles too. Every DRAIN_MS and COPY_EVERY
   * notes: with spans, no store then holds more than COPY_EVERY notes or deliveries or ENTRIES
   * reports per ring unread, far from full. */
  #collect(): void {
    this.#copy();
    if (this.#spans > 0) this.#apply();
  }

  /** Copies the new reports out of every hop ring into its store (dropping the oldest unread ones
   * when it is full: most reports are never read). */
  #copy(): void {
    const size = this.#entries;
    for (const r of this.#rings) {
      // Acquire: every entry before tail is completely written.
      const tail = Atomics.load(r.i32, TAIL);
      const n = (tail - r.head) | 0;
      if (n === 0) continue;
      // n outside [0, ENTRIES] is not what a working writer leaves: skip to its tail rather than read garbage.
      if (n > 0 && n <= ENTRIES) {
        if (r.copied + n - r.used > size) {
          r.used = r.copied + n - size; // the oldest unread reports are overwritten
          this.#lostAt = clock();
        }
        // In runs that wrap neither the ring nor the store (both sizes are powers of two).
        for (let done = 0; done < n; ) {
          const from = (r.head + done) & (ENTRIES - 1);
          const to = (r.copied + done) & (size - 1);
          const k = Math.min(n - done, ENTRIES - from, size - to);
          const at = (ENTRIES_AT >> 2) + from * ENTRY_WORDS;
          r.store.set(r.i32.subarray(at, at + k * ENTRY_WORDS), to * ENTRY_WORDS);
          done += k;
        }
        r.copied += n;
      }
      r.head = tail;
      // Release: the entries copied are free for the worker again.
      Atomics.store(r.i32, HEAD, tail);
    }
  }

  /** Copies the hop rings, then assembles everything noted and copied. */
  #assemble(): void {
    this.#copy();
    this.#apply();
  }

  /** Opens the traces noted by sample(), applies the hop reports copied, then the deliveries noted;
   * then expires the open traces that may have lost a report (sampled before one was dropped), and
   * closes the oldest as incomplete while more than MAX_OPEN are open. Not re-entered: closing a
   * trace ends its span, which runs the tracer provider's code, and that may read stats() or traces(). */
  #apply(): void {
    if (this.#applying) return;
    this.#applying = true;
    try {
      this.#applyNow();
    } finally {
      this.#applying = false;
    }
  }

  #applyNow(): void {
    const o = this.#open;
    const levels = o.levels;
    const mask = this.#notes - 1;
    for (; this.#usedStarted < this.#nStarted; this.#usedStarted++) {
      const i = this.#usedStarted & mask;
      if (this.#free.length === 0) {
        // Every unread note is opened before any report is applied: up to MAX_OPEN carried over plus #notes.
        const from = o.capacity;
        o.grow(Math.min(Math.max(64, 2 * from), MAX_OPEN + this.#notes));
        for (let s = o.capacity - 1; s >= from; s--) this.#free.push(s);
      }
      const slot = this.#free.pop()!;
      const seq = this.#started[2 * i]!;
      o.seq[slot] = seq;
      o.source[slot] = this.#started[2 * i + 1]!;
      copyIds(this.#startedIds, i, o.ids, slot);
      o.owed.fill(0, slot * levels, (slot + 1) * levels);
      o.owed[slot * levels] = 1; // the source wrote one record to stage 0
      o.keys[slot] = this.#startedKeys[i];
      o.spans[slot] = this.#startedSpans[i];
      this.#startedKeys[i] = undefined;
      this.#startedSpans[i] = undefined;
      this.#slotOf.set(seq, slot);
    }
    const size = this.#entries;
    for (let k = 0; k < this.#rings.length; k++) {
      const r = this.#rings[k]!;
      for (; r.used < r.copied; r.used++) this.#hop(k, (r.used & (size - 1)) * ENTRY_WORDS);
    }
    const d = this.#deliveries;
    for (; this.#usedDelivered < this.#nDelivered; this.#usedDelivered++) {
      const i = (this.#usedDelivered & (size - 1)) * DELIVERY_FIELDS;
      const slot = this.#slotOf.get(d[i]!);
      if (slot === undefined) continue;
      const sink = o.sinks[slot]!;
      const n = o.nSinks[slot]!;
      sink[n] = d[i + 1]!;
      sink[n + 1] = d[i + 2]!;
      o.nSinks[slot] = n + 2;
      o.owed[slot * levels + levels - 1]!--;
      this.#check(slot);
    }
    if (this.#lostAt !== Number.NEGATIVE_INFINITY) {
      for (const slot of this.#slotOf.slots()) if (o.source[slot]! <= this.#lostAt) this.#expire(slot);
      this.#lostAt = Number.NEGATIVE_INFINITY;
    }
    while (this.#slotOf.size > MAX_OPEN) this.#close(this.#slotOf.oldest(), false);
  }

  /** The counts, with everything noted and copied so far assembled (the rings are copied every
   * DRAIN_MS, not here: a main thread busy elsewhere is not reading them); reports dropped as of now. */
  stats(): TraceStats {
    this.#apply();
    let droppedReports = 0;
    // seq_cst load (acquire): a count only its ring's worker adds to.
    for (const r of this.#rings) droppedReports += Atomics.load(r.i32, DROPPED) >>> 0;
    return { sample: this.#sample, sampled: this.#sampled, complete: this.#complete, incomplete: this.#incomplete, expired: this.#expired, droppedReports };
  }

  /** The completed (and closed-incomplete) traces, oldest first. */
  traces(): MessageTrace[] {
    this.#assemble();
    const out: MessageTrace[] = [];
    const from = this.#kept < this.#buffer ? 0 : this.#next;
    for (let i = 0; i < this.#kept; i++) out.push(this.#public((from + i) % this.#kept));
    return out;
  }

  /** Applies the report at int32 word `at` of ring `ring`'s store. */
  #hop(ring: number, at: number): void {
    const r = this.#rings[ring]!;
    const f = at >> 1;
    const slot = this.#slotOf.get(r.f64[f]!);
    if (slot === undefined) return; // closed already (e.g. a message delivered again after a crash), or expired
    const status = r.store[at + 10]!;
    const outputs = r.store[at + 9]!;
    if (status < 0 || status >= STATUS.length || outputs < 0) return; // not a working writer's: left out
    const o = this.#open;
    const h = o.hops[slot]!;
    const n = o.nHops[slot]!;
    h[n] = ring;
    h[n + 1] = r.store[at + 8]!;
    h[n + 2] = r.f64[f + 1]!;
    h[n + 3] = r.f64[f + 2]!;
    h[n + 4] = r.f64[f + 3]!;
    h[n + 5] = outputs;
    h[n + 6] = status;
    o.nHops[slot] = n + HOP_FIELDS;
    const at0 = slot * o.levels + r.index;
    o.owed[at0]!--;
    o.owed[at0 + 1]! += outputs;
    this.#check(slot);
  }

  /** Drops an open trace that may have lost a report to a full store: counted as expired, not kept. */
  #expire(slot: number): void {
    this.#expired++;
    const span = this.#release(slot);
    if (span !== undefined) this.#endExpired(span);
  }

  /** Ends the span of a trace that expired. */
  #endExpired(span: Span): void {
    this.#spans--;
    span.setAttributes({ 'ringwire.complete': false, 'ringwire.expired': true });
    span.end();
  }

  /** Frees an open trace's slot (its hops and deliveries emptied); returns its span, if any. */
  #release(slot: number): Span | undefined {
    const o = this.#open;
    this.#slotOf.delete(o.seq[slot]!);
    this.#free.push(slot);
    o.keys[slot] = undefined;
    o.nHops[slot] = 0;
    o.nSinks[slot] = 0;
    const span = o.spans[slot];
    o.spans[slot] = undefined;
    return span;
  }

  #check(slot: number): void {
    const owed = this.#open.owed;
    for (let l = slot * this.#open.levels, end = l + this.#open.levels; l < end; l++) if (owed[l] !== 0) return;
    this.#close(slot, true);
  }

  /** Moves an open trace into the kept ones: its hop and sink arrays change places with the ones of
   * the kept trace it replaces, which the slot reuses. */
  #close(slot: number, complete: boolean): void {
    if (complete) this.#complete++;
    else this.#incomplete++;
    const o = this.#open;
    const k = this.#done;
    let d: number;
    if (this.#kept < this.#buffer) {
      if (this.#kept === k.capacity) k.grow(Math.min(Math.max(64, 2 * k.capacity), this.#buffer));
      d = this.#kept++;
    } else {
      d = this.#next;
      this.#next = (this.#next + 1) % this.#buffer;
    }
    k.seq[d] = o.seq[slot]!;
    k.source[d] = o.source[slot]!;
    copyIds(o.ids, slot, k.ids, d);
    k.complete[d] = complete ? 1 : 0;
    k.keys[d] = o.keys[slot];
    const hops = k.hops[d]!;
    const sinks = k.sinks[d]!;
    k.hops[d] = o.hops[slot]!;
    k.sinks[d] = o.sinks[slot]!;
    k.nHops[d] = o.nHops[slot]!;
    k.nSinks[d] = o.nSinks[slot]!;
    o.hops[slot] = hops;
    o.sinks[slot] = sinks;
    const span = this.#release(slot);
    if (span !== undefined) {
      this.#spans--;
      this.#emit(span, this.#public(d));
    }
  }

  /** What traces() shows of kept trace `d`: ids in hex, times since the epoch, hops in stage order. */
  #public(d: number): MessageTrace {
    const k = this.#done;
    const e = this.#epoch;
    const hops: HopTrace[] = [];
    const h = k.hops[d]!;
    for (let i = 0; i < k.nHops[d]!; i += HOP_FIELDS) {
      const [ring, thread, sent, received, done, outputs, status] = h.slice(i, i + HOP_FIELDS) as [number, number, number, number, number, number, number];
      const r = this.#rings[ring]!;
      hops.push({
        stage: r.stage, index: r.index, partition: r.partition, thread, sent: sent + e, received: received + e, done: done + e,
        queueMs: received - sent, handlerMs: done - received, outputs, status: STATUS[status]!,
      });
    }
    hops.sort((a, b) => a.index - b.index || a.received - b.received);
    const s = k.sinks[d]!;
    const sink: MessageTrace['sink'] = [];
    for (let i = 0; i < k.nSinks[d]!; i += 2) sink.push({ at: s[i + 1]! + e, queueMs: s[i + 1]! - s[i]! });
    const ids = k.ids.subarray(d * IDS_WORDS, (d + 1) * IDS_WORDS);
    return {
      traceId: hex(ids, 0, TRACE_ID_BYTES), spanId: hex(ids, TRACE_ID_BYTES, IDS_BYTES), seq: k.seq[d]!, key: k.keys[d],
      complete: k.complete[d] === 1, source: k.source[d]! + e, hops, sink,
    };
  }

  /** The hop spans, children of the message's span, then the message's span ends (at its last event). */
  #emit(span: Span, trace: MessageTrace): void {
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
