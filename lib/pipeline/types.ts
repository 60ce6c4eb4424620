// The pipeline's public types: options, stage specs, sink targets, stats and summaries.
import type { ResourceLimits } from 'node:worker_threads';
import type { CodecName } from '../channel/codecs.js';
import type { Receiver } from '../channel/receiver.js';
import type { Sender } from '../channel/sender.js';
import type { WaitStrategy } from '../core/park.js';
import type { LatencySummary } from './histogram.js';
import type { StageRegistry } from './registry.js';
import type { ErrorPolicy, ErrorRecord } from './stage-loop.js';
import type { TraceOptions, TraceStats } from './trace.js';

/** Something with an append(message) method: a ringwire LogWriter, or any object like it. */
export interface AppendTarget<T = unknown> {
  append(message: T): unknown;
}

/** Where messages go: a function (sync or async), a ringwire Sender, or a log writer. */
export type SinkTarget<T = unknown> = ((message: T, info: MessageInfo) => unknown) | Sender<T> | AppendTarget<T>;

/** The source sequence number and key of the message a sink call receives (valid during the call). */
export interface MessageInfo {
  readonly seq: number;
  readonly key: string | number | undefined;
}

/** What a dead-letter target receives. */
export interface DeadLetter<T = unknown> {
  stage: string;
  partition: number;
  seq: number;
  key: string | number | undefined;
  error: { name: string; message: string; stack?: string; code?: string };
  message: T;
}

export interface StageSpec {
  /** A registered stage name, or the module's file (path or URL). */
  module: string | URL;
  /** Shown in stats and errors (default: the registered name or the file's base name). */
  name?: string;
  /** The handler's export (default 'handler', else the default export). */
  export?: string;
  /** Worker threads running this stage (default 1). */
  workers?: number;
  /** When the handler throws: 'fail' (default) rejects the pipeline, 'skip' counts and goes on, 'dead-letter' forwards. */
  onError?: ErrorPolicy;
  /** Dead-letter target of this stage (default: the pipeline's). */
  deadLetter?: SinkTarget<DeadLetter>;
  /** How messages reach this stage's workers: 'key' (default when the pipeline has a key) or 'round-robin'. */
  partition?: 'key' | 'round-robin';
  /** Passed to the handler as ctx.options and to healthCheck(options); structured-clonable. */
  options?: unknown;
  /** Worker resource limits (a worker that exceeds them dies and is replaced). */
  resourceLimits?: ResourceLimits;
}

export type PipelineSource<T> = Iterable<T> | AsyncIterable<T> | Receiver<T>;

export interface PipelineOptions<I = unknown, O = unknown> {
  source: PipelineSource<I>;
  stages: Array<StageSpec | string>;
  sink: SinkTarget<O>;
  /** Partition key: messages with the same key take the same workers, in order. */
  key?: (message: I) => string | number;
  /** How messages cross threads: 'v8' (default, structured clone), 'json', 'string' or 'bytes'. */
  codec?: CodecName;
  /** Ring bytes per hop (default 64 KiB); a message must fit half of it. Memory is bounded by the sum. */
  capacity?: number;
  /** How every wait waits before it parks: 'adaptive' (default), 'spin', 'backoff' or 'park'. */
  wait?: WaitStrategy;
  /** Bound on spinning per wait, microseconds (default: 2 when threads outnumber cores, else 20). */
  spinMicros?: number;
  /** Messages a worker takes from one input before turning to the next (default 64). */
  batch?: number;
  /** Restarts of dead workers allowed per stage before the pipeline fails (default 10). */
  maxRestarts?: number;
  deadLetter?: SinkTarget<DeadLetter>;
  registry?: StageRegistry;
  /**
   * Close the ringwire Senders and LogWriters given as `sink` or dead-letter targets when the
   * pipeline ends (done, close(), abort(), failure), so their readers end too (default true), as
   * stream.pipeline ends its destination. Functions and other append() objects are never closed.
   */
  closeTargets?: boolean;
  /** Trace a sample of the messages through the stages: `{ sample: 0.01 }` (see traces()). */
  trace?: TraceOptions;
}

export interface StageStats {
  name: string;
  workers: number;
  /** Messages handled (a message delivered again after a crash counts again). */
  in: number;
  out: number;
  errors: number;
  skipped: number;
  deadLettered: number;
  restarts: number;
  swaps: number;
  /** Completed rollbacks (manual and automatic). */
  rollbacks: number;
  /** The version running now: its index in `versions(stage)` (0: the pipeline's own). */
  version: number;
  /** The stage's swaps and rollbacks (and failed attempts), oldest first (the last 100). */
  changes: VersionChange[];
  /** A swap or rollback under way: 'loading' while the new workers load and pass their checks,
   * 'handing-over' while the old ones finish what they hold and pause. */
  switching: { kind: 'swap' | 'rollback'; phase: 'loading' | 'handing-over' } | undefined;
  /** Messages and ring bytes waiting in this stage's inputs (messages: from the counters, a batch behind). */
  queued: { messages: number; bytes: number };
  /** Time in the handler per message. */
  latency: LatencySummary;
}

export interface PipelineStats {
  state: 'starting' | 'running' | 'closing' | 'done' | 'failed' | 'aborted';
  /** Messages taken from the source and written to the first stage. */
  produced: number;
  /** Messages delivered to the sink. */
  consumed: number;
  deadLettered: number;
  stages: StageStats[];
  /** Source to sink, main-thread clock. */
  latency: LatencySummary;
  /** With options.trace: messages sampled, traces closed complete and incomplete, traces expired unread, hop reports dropped. */
  trace?: TraceStats;
}

export interface PipelineSummary extends PipelineStats {
  durationMs: number;
  /** The first few handler errors of each stage (skipped or dead-lettered). */
  errors: Array<ErrorRecord & { stage: string }>;
}

export interface SwapOptions {
  /** The new version's handler export (default: the stage's). */
  export?: string;
  /** New options for the stage (default: the current ones). */
  options?: unknown;
  /** Messages the new version must handle without throwing before it takes over (outputs discarded). */
  probe?: readonly unknown[];
  /** How long the new workers may take to load and pass their health check (default 30 s). */
  timeout?: number;
  /** Names the new version in versions(), rollback({ to }), events and stats (unique per stage). */
  label?: string;
  /** Watch the new version for a probation window and roll it back by itself if it misbehaves. */
  rollbackOn?: RollbackOn;
}

/** When a swapped-in version is rolled back by itself. At least one of errorRate and maxRestarts. */
export interface RollbackOn {
  /** The probation window, ms from the moment the version took over. */
  window: number;
  /** Roll back when handler errors / messages handled since the version took over exceed this (0 ≤ rate < 1). */
  errorRate?: number;
  /** Messages the version must have handled before its error rate counts (default 20). */
  minMessages?: number;
  /** Roll back when more of the version's workers than this die within the window. */
  maxRestarts?: number;
}

export interface SwapResult {
  stage: string;
  /** The new version: its index in versions(stage), which is how many times the stage has been swapped. */
  version: number;
}

export interface RollbackOptions {
  /** The version to return to: its index in versions(stage) or its label (default: the one the current version replaced). */
  to?: number | string;
  /** How long the version's workers may take to load, restore their state and pass their health check (default 30 s). */
  timeout?: number;
  /** Recorded with the rollback (stats, events; default 'manual'). */
  reason?: string;
}

export interface RollbackResult {
  stage: string;
  /** The version running now (index in versions(stage)). */
  version: number;
  /** The version it replaced. */
  from: number;
}

/** One entry of `versions(stage)`. */
export interface StageVersion {
  /** Its index: 0 is the version the pipeline started with, each swap() adds one. */
  version: number;
  label: string | undefined;
  /** The module's URL. */
  module: string;
  export: string | undefined;
  options: unknown;
  /** Date.now() when it last took over. */
  activatedAt: number;
  current: boolean;
  /** The version that was running when swap() installed this one: where rollback() goes by default. */
  previous: number | undefined;
  /** Whether it holds a state snapshot (its module exports snapshot(), and it was swapped out). */
  snapshot: boolean;
  /** Why a partition's snapshot() failed, if one did (that partition restarts without state). */
  snapshotError?: string;
}

/** A swap or a rollback of a stage, as stats() records it and the 'swap' and 'rollback' events report it. */
export interface VersionChange {
  type: 'swap' | 'rollback';
  stage: string;
  /** The version running before. */
  from: number;
  /** The version switched to (for a failed swap: the one it would have been). */
  to: number;
  label: string | undefined;
  /** Date.now() when it completed or failed. */
  at: number;
  /** A rollback asked for by rollbackOn (not by a call). */
  automatic: boolean;
  /** Rollbacks: why ('manual', the caller's reason, or the rollbackOn threshold exceeded). */
  reason: string | undefined;
  /** false: it failed, and `from` keeps running. */
  ok: boolean;
  /** Why it failed. */
  error: string | undefined;
}

/** The events a Pipeline emits. */
export interface PipelineEvents {
  swap: [VersionChange];
  rollback: [VersionChange];
}
