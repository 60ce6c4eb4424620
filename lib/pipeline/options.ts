// A pipeline's options, validated and resolved: the codec, the sizes, and per stage its module
// (through the registry), workers, error policy, dead-letter target and partitioning.
import { availableParallelism } from 'node:os';
import type { ResourceLimits } from 'node:worker_threads';
import { resolveCodec, type CodecName, type WireCodec } from '../channel/codecs.js';
import { Receiver } from '../channel/receiver.js';
import { Sender } from '../channel/sender.js';
import { checkCapacity, checkInteger, checkOptions, describe, RingwireRangeError, RingwireTypeError } from '../errors.js';
import { checkWait, type WaitSpec } from '../core/park.js';
import { LogWriter } from '../log/writer.js';
import { deliverer, isSinkTarget } from './merge.js';
import { stages as defaultRegistry } from './registry.js';
import type { ErrorPolicy } from './stage-loop.js';
import { planTrace, type TracePlan } from './trace.js';
import type { DeadLetter, MessageInfo, PipelineOptions, PipelineSource, RollbackOn, RollbackOptions, SinkTarget, StageSpec, SwapOptions } from './types.js';

/** One stage, resolved. */
export interface StagePlan {
  name: string;
  /** The module's URL. */
  url: string;
  exportName: string | undefined;
  options: unknown;
  workers: number;
  onError: ErrorPolicy;
  /** The target of a stage that dead-letters (undefined otherwise). */
  deadLetter: SinkTarget<DeadLetter> | undefined;
  partition: 'key' | 'round-robin';
  resourceLimits: ResourceLimits | undefined;
}

/** A pipeline's options, checked, with their defaults. */
export interface PipelinePlan<I, O> {
  codec: WireCodec;
  codecName: CodecName;
  capacity: number;
  batch: number;
  maxRestarts: number;
  wait: WaitSpec;
  key: ((m: I) => string | number) | undefined;
  source: PipelineSource<I>;
  sink: (v: O, info: MessageInfo) => unknown;
  stages: StagePlan[];
  /** The ringwire Senders and LogWriters given as targets, each once, to close when the pipeline
   * ends (empty with closeTargets: false). */
  closeAtEnd: Array<Sender<unknown> | LogWriter<unknown>>;
  /** options.trace, checked (undefined: no tracing). */
  trace: TracePlan | undefined;
}

const KNOWN = new Set(['source', 'stages', 'sink', 'key', 'codec', 'capacity', 'wait', 'spinMicros', 'batch', 'maxRestarts', 'deadLetter', 'registry', 'closeTargets', 'trace']);

/** Validates `options` (RingwireTypeError / RingwireRangeError naming the option) and resolves the stages. */
export function planPipeline<I, O>(options: PipelineOptions<I, O>): PipelinePlan<I, O> {
  if (typeof options !== 'object' || options === null) throw new RingwireTypeError('pipeline: options must be an object');
  for (const k of Object.keys(options)) if (!KNOWN.has(k)) throw new RingwireTypeError(`pipeline: unknown option '${k}'`);
  const src = options.source as unknown;
  if (
    !(src instanceof Receiver) &&
    (typeof src !== 'object' || src === null || (typeof (src as Iterable<I>)[Symbol.iterator] !== 'function' && typeof (src as AsyncIterable<I>)[Symbol.asyncIterator] !== 'function'))
  ) {
    throw new RingwireTypeError('pipeline: options.source must be an array, an iterable, an async iterable or a ringwire Receiver');
  }
  if (!isSinkTarget(options.sink)) throw new RingwireTypeError('pipeline: options.sink must be a function, a ringwire Sender or a log writer (append)');
  if (options.key !== undefined && typeof options.key !== 'function') throw new RingwireTypeError('pipeline: options.key must be a function');
  if (!Array.isArray(options.stages) || options.stages.length === 0) throw new RingwireTypeError('pipeline: options.stages must be a non-empty array');
  if (options.deadLetter !== undefined && !isSinkTarget(options.deadLetter)) throw new RingwireTypeError('pipeline: options.deadLetter must be a function, a ringwire Sender or a log writer');
  const codecName = options.codec ?? 'v8';
  const codec = resolveCodec(codecName, 'pipeline: options.codec');
  if (codec.name === 'custom') throw new RingwireTypeError('pipeline: options.codec must be a built-in codec name');
  const capacity = checkCapacity(options.capacity ?? 1 << 16, 'pipeline: options.capacity');
  const batch = options.batch === undefined ? 64 : checkInteger('pipeline: options.batch', options.batch, 1, 1 << 20);
  const maxRestarts = checkInteger('pipeline: options.maxRestarts', options.maxRestarts ?? 10, 0, Number.MAX_SAFE_INTEGER);
  const key = options.key;
  const sink = deliverer(options.sink) as (v: O, info: MessageInfo) => unknown;
  const stages = options.stages.map((s, i) => planStage(options, s, i));
  const threads = 1 + stages.reduce((n, s) => n + s.workers, 0);
  const wait: WaitSpec = {
    wait: checkWait(options.wait, 'pipeline: options.wait'),
    spinMicros: checkInteger('pipeline: options.spinMicros', options.spinMicros ?? (threads > availableParallelism() ? 0 : 20), 0, 1e6),
  };
  if (options.closeTargets !== undefined && typeof options.closeTargets !== 'boolean') {
    throw new RingwireTypeError(`pipeline: options.closeTargets must be a boolean, got ${describe(options.closeTargets)}`);
  }
  const given = [options.sink, options.deadLetter, ...options.stages.map((s) => (typeof s === 'object' ? s.deadLetter : undefined))];
  const closeAtEnd = options.closeTargets === false ? [] : [...new Set(given.filter((t) => t instanceof Sender || t instanceof LogWriter))];
  const trace = planTrace(options.trace);
  return { codec, codecName, capacity, batch, maxRestarts, wait, key, source: options.source, sink, stages, closeAtEnd, trace };
}

function planStage<I, O>(options: PipelineOptions<I, O>, s: StageSpec | string, i: number): StagePlan {
  const registry = options.registry ?? defaultRegistry;
  const spec: StageSpec = typeof s === 'string' ? { module: s } : s;
  if (typeof spec !== 'object' || spec === null || spec.module === undefined) throw new RingwireTypeError(`pipeline: options.stages[${i}] must be a module name/path or { module, ... }`);
  const { name, registration } = registry.resolve(spec.module);
  const workers = checkInteger(`pipeline: options.stages[${i}].workers`, spec.workers ?? registration.workers ?? 1, 1, 256);
  const onError = spec.onError ?? registration.onError ?? 'fail';
  if (onError !== 'fail' && onError !== 'skip' && onError !== 'dead-letter') {
    throw new RingwireTypeError(`pipeline: options.stages[${i}].onError must be 'fail', 'skip' or 'dead-letter', got ${String(onError)}`);
  }
  const deadLetter = spec.deadLetter ?? options.deadLetter;
  if (onError === 'dead-letter' && deadLetter === undefined) throw new RingwireTypeError(`pipeline: options.stages[${i}] dead-letters but no deadLetter target is given`);
  if (spec.deadLetter !== undefined && !isSinkTarget(spec.deadLetter)) throw new RingwireTypeError(`pipeline: options.stages[${i}].deadLetter must be a function, a Sender or a log writer`);
  const partition = spec.partition ?? (options.key ? 'key' : 'round-robin');
  if (partition === 'key' && options.key === undefined) throw new RingwireTypeError(`pipeline: options.stages[${i}] partitions by key but the pipeline has no key function`);
  if (partition !== 'key' && partition !== 'round-robin') throw new RingwireTypeError(`pipeline: options.stages[${i}].partition must be 'key' or 'round-robin'`);
  return {
    name: spec.name ?? name,
    url: registration.url,
    exportName: spec.export ?? registration.export,
    options: spec.options ?? registration.options,
    workers,
    onError,
    deadLetter: onError === 'dead-letter' ? deadLetter : undefined,
    partition,
    resourceLimits: spec.resourceLimits,
  };
}

const SWAP_KNOWN = new Set(['export', 'options', 'probe', 'timeout', 'label', 'rollbackOn']);
const ROLLBACK_ON_KNOWN = new Set(['window', 'errorRate', 'minMessages', 'maxRestarts']);
const ROLLBACK_KNOWN = new Set(['to', 'timeout', 'reason']);
const MAX_TIMEOUT = 2 ** 31 - 1; // setTimeout's limit, ms

/** Checks swap()'s options (for a stage with error policy `onError`); returns them. */
export function checkSwapOptions(options: unknown, onError: ErrorPolicy): SwapOptions {
  const o = checkOptions(options, SWAP_KNOWN, 'swap') as SwapOptions;
  if (o.export !== undefined && typeof o.export !== 'string') throw new RingwireTypeError(`swap: options.export must be a string, got ${describe(o.export)}`);
  if (o.probe !== undefined && !Array.isArray(o.probe)) throw new RingwireTypeError(`swap: options.probe must be an array, got ${describe(o.probe)}`);
  if (o.timeout !== undefined) checkInteger('swap: options.timeout', o.timeout, 1, MAX_TIMEOUT);
  if (o.label !== undefined && (typeof o.label !== 'string' || o.label.length === 0)) throw new RingwireTypeError(`swap: options.label must be a non-empty string, got ${describe(o.label)}`);
  if (o.rollbackOn !== undefined) checkRollbackOn(o.rollbackOn, onError);
  return o;
}

function checkRollbackOn(r: RollbackOn, onError: ErrorPolicy): void {
  checkOptions(r, ROLLBACK_ON_KNOWN, 'swap: options.rollbackOn');
  if (r.window === undefined) throw new RingwireTypeError('swap: options.rollbackOn.window (the probation, ms) is required');
  checkInteger('swap: options.rollbackOn.window', r.window, 1, MAX_TIMEOUT);
  if (r.errorRate === undefined && r.maxRestarts === undefined) throw new RingwireTypeError('swap: options.rollbackOn needs errorRate or maxRestarts (or both)');
  if (r.errorRate !== undefined) {
    if (typeof r.errorRate !== 'number' || Number.isNaN(r.errorRate)) throw new RingwireTypeError(`swap: options.rollbackOn.errorRate must be a number, got ${describe(r.errorRate)}`);
    if (r.errorRate < 0 || r.errorRate >= 1) throw new RingwireRangeError('ERR_OUT_OF_RANGE', `swap: options.rollbackOn.errorRate must be from 0 to below 1, got ${r.errorRate}`);
    // Under 'fail' the first handler error fails the pipeline: there is no rate to watch.
    if (onError === 'fail') throw new RingwireTypeError("swap: options.rollbackOn.errorRate needs a stage whose onError is 'skip' or 'dead-letter' (under 'fail' a handler error fails the pipeline)");
  }
  if (r.minMessages !== undefined) checkInteger('swap: options.rollbackOn.minMessages', r.minMessages, 1, Number.MAX_SAFE_INTEGER);
  if (r.maxRestarts !== undefined) checkInteger('swap: options.rollbackOn.maxRestarts', r.maxRestarts, 0, Number.MAX_SAFE_INTEGER);
}

/** Checks rollback()'s options (the version `to` names is checked when the rollback runs); returns them. */
export function checkRollbackOptions(options: unknown): RollbackOptions {
  const o = checkOptions(options, ROLLBACK_KNOWN, 'rollback') as RollbackOptions;
  if (o.to !== undefined && typeof o.to !== 'string' && typeof o.to !== 'number') throw new RingwireTypeError(`rollback: options.to must be a version number or a label, got ${describe(o.to)}`);
  if (o.timeout !== undefined) checkInteger('rollback: options.timeout', o.timeout, 1, MAX_TIMEOUT);
  if (o.reason !== undefined && typeof o.reason !== 'string') throw new RingwireTypeError(`rollback: options.reason must be a string, got ${describe(o.reason)}`);
  return o;
}
