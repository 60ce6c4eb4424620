// The pipeline coordinator (main thread): builds the channel mesh, runs each stage's workers as
// long-running tasks in a piscina pool of its own, pumps the source into the first stage, merges
// the last stage into the sink, restarts dead workers on their channels, and hot-swaps stages
// (and rolls them back to an earlier version, by request or when a new one misbehaves).
//
// Topology: the source (main) → N1 channels → stage 1 (N1 workers) → N1×N2 channels → stage 2 …
// → N_last channels → the sink (main). Every hop is its own SPSC ring; a worker fans out over its
// outputs (by key hash, or round-robin) and fans in over its inputs (round-robin batches).
import { performance } from 'node:perf_hooks';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ChannelHandle } from '../channel/channel.js';
import { resolveCodec, type CodecName, type WireCodec } from '../channel/codecs.js';
import * as L from '../core/layout.js';
import { RingwireRangeError, RingwireTypeError } from '../errors.js';
import { CMD_ABANDON, CMD_GO, CMD_PAUSE, CMD_RUN, ControlBlock, STATE_EXITED, STATE_RUNNING, STATE_STANDBY, STATE_STARTING } from './control.js';
import { PipelineError, reviveError } from './errors.js';
import { BUCKETS, merge as mergeHistogram, record, summarize } from './histogram.js';
import { InputLink, OutputLink } from './link.js';
import type { WaitSpec } from '../core/park.js';
import { deliverer, merge } from './merge.js';
import { metricsOf, type MetricsOptions, type MetricsSource, type RawHistogram } from '../metrics.js';
import { pipelineSource } from './metrics.js';
import { buildMesh, freeRoles, type PiscinaLike, type Slot, type StageRuntime } from './mesh.js';
import { checkRollbackOptions, checkSwapOptions, planPipeline, type PipelinePlan } from './options.js';
import { moduleUrl } from './registry.js';
import type { StageTask, TaskResult } from './stage-task.js';
import { pump } from './source.js';
import type {
  MessageInfo, PipelineEvents, PipelineOptions, PipelineSource, PipelineStats, PipelineSummary, RollbackOn, RollbackOptions, RollbackResult,
  StageStats, StageVersion, SwapOptions, SwapResult, VersionChange,
} from './types.js';
import { Probation, type VersionRecord } from './versions.js';
import { checkSample, clockOf, PipelineTracer, type MessageTrace } from './trace.js';

interface PiscinaWorkerLike {
  readonly id: number;
}

/** Decodes dead-letter records (the stages v8-serialize them whatever the pipeline's codec). */
const V8 = resolveCodec('v8');
const PISCINA: string = 'piscina';
const PARK_POLL_MS = 2;
const THREAD_EXIT_WAIT_MS = 10_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const messageOf = (err: unknown): string => (err as Error)?.message ?? String(err);

/** A stage's switch to another version: done (with what the old one leaves behind), or not (the old one runs on). */
type Switched = { ok: true; oldPool: PiscinaLike; snapshot: unknown[]; snapshotError: string | undefined } | { ok: false; cause: unknown };

let workerFileCache: string | undefined;
/**
 * dist/workers/stage-entry.cjs (which imports stage-worker.js: see there why piscina is given a
 * CommonJS file), from the built library or from the sources (tests run lib/ directly).
 */
function stageWorkerFile(): string {
  if (workerFileCache !== undefined) return workerFileCache;
  const candidates = [new URL('./workers/stage-entry.cjs', import.meta.url), new URL('../../dist/workers/stage-entry.cjs', import.meta.url)];
  for (const c of candidates) {
    if (c.protocol === 'file:' && existsSync(fileURLToPath(c))) return (workerFileCache = c.href);
  }
  throw new PipelineError('ERR_STAGE_LOAD', `pipeline: the stage worker is missing (looked for ${candidates.map((c) => c.href).join(', ')}); build the library with tsup`);
}

/** Starts a pipeline. It runs until the source ends (`done`), `close()` or `abort()`. */
export function pipeline<I = unknown, O = unknown>(options: PipelineOptions<I, O>): Pipeline<I, O> {
  return new Pipeline<I, O>(options);
}

/**
 * A running pipeline. It is an EventEmitter (typed by PipelineEvents): 'swap' and 'rollback' report
 * each stage's version changes as they complete or fail (never an 'error' event).
 */
export class Pipeline<I = unknown, O = unknown> extends EventEmitter<PipelineEvents> {
  /** Resolves with the summary once the source has ended (or close()) and everything is delivered. */
  readonly done: Promise<PipelineSummary>;
  /**
   * Resolves once every stage worker has started, loaded its module and attached to its channels
   * (messages flow before that too: they wait in the rings). Rejects like `done` if the pipeline fails first.
   */
  readonly ready: Promise<void>;

  readonly #codec: WireCodec;
  readonly #codecName: CodecName;
  readonly #wait: WaitSpec;
  readonly #batch: number;
  readonly #maxRestarts: number;
  readonly #capacity: number;
  readonly #key: ((m: I) => string | number) | undefined;
  readonly #source: PipelineSource<I>;
  readonly #sink: (v: O, info: MessageInfo) => unknown;
  readonly #closeAtEnd: PipelinePlan<I, O>['closeAtEnd'];
  readonly #stages: StageRuntime[];
  readonly #sourceLinks: OutputLink[];
  readonly #sinkHandles: ChannelHandle[];
  readonly #deadHandles: Array<{ handle: ChannelHandle; stage: StageRuntime }>;
  readonly #tracer: PipelineTracer | undefined;
  readonly #threads = new Map<number, PiscinaWorkerLike>();
  readonly #stop = new AbortController();
  /** Aborted by close() and abort(): interrupts a wait for the source (a Receiver). */
  readonly #closeSignal = new AbortController();
  readonly #e2e = new Float64Array(BUCKETS);
  #e2eMax = 0;
  #e2eSumNs = 0;
  #state: PipelineStats['state'] = 'starting';
  #closing = false;
  /** Messages the source wrote (shared with the pump). */
  readonly #producedRef = { n: 0 };
  #consumed = 0;
  #deadLettered = 0;
  #started = performance.now();
  #swapping: Promise<unknown>;
  #markStarted!: () => void;
  #resolve!: (s: PipelineSummary) => void;
  #reject!: (e: unknown) => void;
  #settled = false;

  constructor(options: PipelineOptions<I, O>) {
    super();
    const plan = planPipeline(options);
    this.#codec = plan.codec;
    this.#codecName = plan.codecName;
    this.#capacity = plan.capacity;
    this.#batch = plan.batch;
    this.#maxRestarts = plan.maxRestarts;
    this.#wait = plan.wait;
    this.#key = plan.key;
    this.#source = plan.source;
    this.#sink = plan.sink;
    this.#closeAtEnd = plan.closeAtEnd;

    this.done = new Promise<PipelineSummary>((res, rej) => {
      this.#resolve = res;
      this.#reject = rej;
    });
    this.done.catch(() => undefined); // rejections are the caller's to observe, never unhandled
    // Swaps wait for the pools to exist.
    this.#swapping = new Promise<void>((r) => (this.#markStarted = r));
    this.ready = this.#swapping.then(async () => {
      const slots = () => this.#stages.flatMap((st) => st.slots);
      while (!this.#settled && !slots().every((sl) => sl.control.state === STATE_RUNNING)) await sleep(PARK_POLL_MS);
      if (this.#state === 'failed' || this.#state === 'aborted') await this.done;
    });
    this.ready.catch(() => undefined);

    const workerFile = stageWorkerFile();
    const mesh = buildMesh(plan.stages, this.#capacity);
    this.#stages = mesh.stages;
    this.#sinkHandles = mesh.sinkHandles;
    this.#deadHandles = mesh.deadHandles;
    this.#sourceLinks = mesh.sourceHandles.map((h) => new OutputLink(h, this.#wait));
    this.#tracer = plan.trace && new PipelineTracer(plan.trace, this.#stages);

    void this.#run(workerFile);
  }

  /** Live counters and queue depths. */
  stats(): PipelineStats {
    return this.#stats();
  }

  /** The same counters, and the latency histograms, in Prometheus text format (lib/metrics.ts; needs prom-client). */
  metrics(options?: MetricsOptions): Promise<string> {
    return metricsOf(this, options);
  }

  /** @internal What registerMetrics() and metrics() read at each scrape. */
  metricsSource(name = ''): MetricsSource {
    return pipelineSource(name, () => {
      const stages: RawHistogram[] = [];
      const stats = this.#stats(stages);
      return { stats, latency: { counts: this.#e2e, sumNs: this.#e2eSumNs }, stages };
    });
  }

  /** stats(); with `raw`, each stage's merged latency histogram is pushed onto it too. */
  #stats(raw?: RawHistogram[]): PipelineStats {
    return {
      state: this.#state,
      produced: this.#producedRef.n,
      consumed: this.#consumed,
      deadLettered: this.#deadLettered,
      stages: this.#stages.map((s) => this.#stageStats(s, raw)),
      latency: summarize(this.#e2e, this.#e2eMax),
      ...(this.#tracer === undefined ? {} : { trace: this.#tracer.stats() }),
    };
  }

  /**
   * The recent traces of sampled messages (options.trace; [] without), oldest first: per message
   * its source time, every stage hop (worker, partition, queue wait, handler time, outputs) and its
   * deliveries to the sink. A trace appears once all of it is in (or it was closed incomplete).
   * Traces are assembled here, from the reports of the recent sampled messages (README, Tracing).
   */
  traces(): MessageTrace[] {
    return this.#tracer?.traces() ?? [];
  }

  /**
   * Changes the fraction of messages traced, from the next message the source takes: raise it to
   * look at a running pipeline, lower it again after. Needs options.trace (`{ sample: 0 }` starts
   * with none traced). Once the pipeline has ended it changes nothing but stats().trace.sample.
   */
  setTraceSample(sample: number): void {
    const s = checkSample('setTraceSample: sample', sample);
    if (this.#tracer === undefined) {
      throw new PipelineError('ERR_PIPELINE_STATE', 'setTraceSample: the pipeline was created without options.trace (give trace: { sample: 0 } to start with none traced)');
    }
    this.#tracer.setSample(s);
  }

  /** Stops taking messages from the source, delivers everything taken, and resolves with the summary. */
  close(): Promise<PipelineSummary> {
    if (!this.#settled && this.#state !== 'closing') {
      this.#closing = true;
      if (this.#state === 'running' || this.#state === 'starting') this.#state = 'closing';
      this.#closeSignal.abort();
    }
    return this.done;
  }

  /**
   * close(), for `await using p = pipeline(...)`: at the end of the scope the pipeline stops taking
   * messages, delivers what it took, and ends; rejects as close() does if the pipeline failed.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Stops at once: workers are terminated, messages in flight are dropped, `done` rejects with ERR_ABORTED. */
  async abort(reason?: unknown): Promise<void> {
    await this.#fail(new PipelineError('ERR_ABORTED', 'the pipeline was aborted', { cause: reason }), 'aborted');
  }

  /**
   * Replaces a stage's module while the pipeline runs. The new version starts in fresh workers,
   * loads, passes its healthCheck() export and the probe messages, and only then takes over: each
   * old worker finishes and acknowledges its batch and hands its channels to its successor, which
   * continues from the same positions (no message lost, none reordered within a partition). If the
   * new version fails to load or to pass, it is discarded and the old one keeps running: the promise
   * rejects with ERR_SWAP_FAILED and `rolledBack: true`. The old version stays in versions(stage),
   * with what its snapshot() export returned, for rollback(); `rollbackOn` puts the new version on
   * probation (rolled back by itself if it misbehaves).
   */
  swap(stage: string | number, module: string | URL, options: SwapOptions = {}): Promise<SwapResult> {
    let st: StageRuntime;
    let opts: SwapOptions;
    try {
      st = this.#stage(stage, 'swap');
      if (typeof module !== 'string' && !(module instanceof URL)) throw new RingwireTypeError(`swap: module must be a path or a URL, got ${String(module)}`);
      opts = checkSwapOptions(options, st.onError);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#enqueue(() => this.#swap(st, moduleUrl(module), opts));
  }

  /**
   * Switches a stage back to an earlier version (`to`: its index or label; default: the version the
   * current one replaced), as swap() switches: per partition nothing lost, duplicated or reordered.
   * Its workers restart from the state snapshot the version left when it was swapped out (its
   * module's snapshot() / restore(state) exports), with its module, export and options. If they fail
   * to load, restore or pass their health check, the current version keeps running and the promise
   * rejects with ERR_ROLLBACK_FAILED.
   */
  rollback(stage: string | number, options: RollbackOptions = {}): Promise<RollbackResult> {
    let st: StageRuntime;
    let opts: RollbackOptions;
    try {
      st = this.#stage(stage, 'rollback');
      opts = checkRollbackOptions(options);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#enqueue(() => this.#rollback(st, opts, undefined));
  }

  /** A stage's versions, oldest first: the one the pipeline started with, then one per swap(). */
  versions(stage: string | number): StageVersion[] {
    return this.#stage(stage, 'versions').history.list();
  }

  // ---------------------------------------------------------------------------------------------

  async #run(workerFile: string): Promise<void> {
    try {
      // Loaded on first use, by a specifier the bundler leaves alone: piscina stays an external
      // dependency, and importing ringwire does not load it.
      type Ctor = new (o: object) => PiscinaLike;
      const mod = (await import(PISCINA)) as { Piscina?: Ctor; default?: Ctor & { Piscina?: Ctor } };
      const Piscina = (mod.Piscina ?? mod.default?.Piscina ?? mod.default)!; // ESM, or the CommonJS build's interop
      if (this.#settled) {
        // abort() (or a failure) while piscina loaded: #fail found no pools to destroy, so make none.
        this.#markStarted();
        return;
      }
      await this.#tracer?.start();
      for (const stage of this.#stages) stage.pool = this.#makePool(Piscina, workerFile, stage);
      this.#Piscina = Piscina;
      this.#workerFile = workerFile;
      for (const stage of this.#stages) for (const slot of stage.slots) this.#startSlot(stage, slot, false);
      this.#markStarted();
      if (this.#settled) return;
      if (this.#state === 'starting') this.#state = 'running';
      await Promise.all([this.#pump(), this.#drainSink(), this.#drainDeadLetters()]);
      await this.#swapping;
      // Every last-stage worker closed its outputs, so every worker has finished.
      for (const stage of this.#stages) {
        for (const slot of stage.slots) {
          const res = await slot.result;
          stage.errors.push(...res.errors);
        }
      }
      if (this.#settled) return;
      this.#tracer?.stop();
      this.#state = 'done';
      for (const stage of this.#stages) stage.probation?.end();
      const summary = this.#summary();
      await Promise.all(this.#stages.map((s) => s.pool.destroy()));
      // Everything is delivered: the Senders have no send pending, so their close() is immediate.
      try {
        await Promise.all(this.#closeAtEnd.map((t) => t.close()));
      } catch (err) {
        throw new PipelineError('ERR_SINK', `the pipeline could not close its sink or dead-letter target: ${(err as Error)?.message ?? String(err)}`, { cause: err });
      }
      this.#settled = true;
      this.#resolve(summary);
    } catch (err) {
      this.#markStarted();
      await this.#fail(err, 'failed');
    }
  }

  #Piscina: (new (o: object) => PiscinaLike) | undefined;
  #workerFile = '';

  #makePool(Piscina: new (o: object) => PiscinaLike, filename: string, stage: StageRuntime): PiscinaLike {
    const pool = new Piscina({
      filename,
      minThreads: stage.workers,
      maxThreads: stage.workers,
      idleTimeout: 60_000,
      concurrentTasksPerWorker: 1,
      ...(stage.resourceLimits ? { resourceLimits: stage.resourceLimits } : {}),
    });
    pool.on('workerCreate', (w: PiscinaWorkerLike) => this.#threads.set(w.id, w));
    pool.on('error', () => undefined); // a worker's death reaches us through its task; never an unhandled 'error'
    return pool;
  }

  #task(stage: StageRuntime, slot: Slot, standby: boolean, probe?: readonly unknown[], restore?: unknown): StageTask {
    const next = this.#stages[stage.index + 1];
    return {
      stage: stage.name,
      index: stage.index,
      partition: slot.partition,
      workers: stage.workers,
      module: slot.module,
      exportName: slot.exportName,
      codec: this.#codecName,
      inputs: slot.inputs,
      outputs: slot.outputs,
      route: next === undefined ? 'round-robin' : next.partition,
      onError: stage.onError,
      deadLetter: slot.deadLetter,
      control: slot.control.sab,
      wait: this.#wait,
      batch: this.#batch,
      standby,
      probe,
      options: slot.options,
      restore,
      trace: slot.trace,
      traceClock: slot.trace === undefined ? undefined : clockOf(),
    };
  }

  /** Runs a slot's task until it returns (restarting it on its channels when its worker dies). */
  #startSlot(stage: StageRuntime, slot: Slot, standby: boolean, pool = stage.pool, probe?: readonly unknown[], restore?: unknown): Promise<TaskResult> {
    const run = async (): Promise<TaskResult> => {
      let first = true;
      for (;;) {
        try {
          const res = (await pool.run(this.#task(stage, slot, standby && first, probe, standby && first ? restore : undefined))) as TaskResult;
          if (res.status === 'failed') {
            throw new PipelineError('ERR_STAGE_FAILED', `stage '${stage.name}' failed on message ${res.seq}${res.key === undefined ? '' : ` (key ${JSON.stringify(res.key)})`}: ${res.error.message}`, {
              stage: stage.name,
              seq: res.seq,
              key: res.key,
              cause: reviveError(res.error),
            });
          }
          if (res.status === 'load-failed' && !(standby && first)) {
            throw new PipelineError('ERR_STAGE_LOAD', `stage '${stage.name}' could not load ${slot.module}: ${res.error.message}`, { stage: stage.name, cause: reviveError(res.error) });
          }
          return res;
        } catch (err) {
          if (err instanceof PipelineError || this.#settled) throw err;
          if (standby && first && slot.control.state < STATE_RUNNING) {
            // A crash while loading a standby (hot-swap) worker is the new version failing: no retry.
            if (slot.control.state !== STATE_STANDBY) throw err;
            // A crash in standby may come after its switch has begun the hand-over (the old worker
            // releasing the channels): mark it (the switch fails if it has not begun) and wait for
            // the switch's word, which it always gives: GO (the channels are this slot's: restart
            // it on them, as any dead worker) or ABANDON.
            slot.control.state = STATE_EXITED;
            while (slot.control.cmd === CMD_RUN && !this.#settled) await sleep(PARK_POLL_MS);
            if (slot.control.cmd !== CMD_GO || this.#settled) throw err;
            await this.#threadGone(slot.control.thread); // it may have claimed channels after GO
          }
          // A version on probation that dies too often is rolled back: its worker is not restarted.
          const probation = stage.slots.includes(slot) ? stage.probation : undefined;
          const park = probation?.death() ?? false;
          if (++stage.restarts > this.#maxRestarts) {
            throw new PipelineError('ERR_WORKER_DIED', `stage '${stage.name}': workers died ${stage.restarts} times (maxRestarts ${this.#maxRestarts}); last: ${(err as Error)?.message}`, {
              stage: stage.name,
              cause: err,
            });
          }
          // A task that threw gave its roles back itself; a dead thread must have exited first.
          if (slot.control.state !== STATE_EXITED) await this.#threadGone(slot.control.thread);
          if (this.#settled) throw err;
          freeRoles(slot);
          slot.control.thread = 0;
          slot.control.state = STATE_STARTING;
          if (park && probation!.waiting) {
            // Its channels wait, where it left them, for the rollback's worker (as for a paused
            // one); if the rollback fails, the slot is restarted on the current version. (A
            // rollback that failed while this thread exited has ended the probation: restart now.)
            probation!.parked.push(() => void this.#startSlot(stage, slot, false));
            return { status: 'paused', errors: [] };
          }
          first = false;
        }
      }
    };
    const result = run();
    slot.result = result;
    result.catch((err) => {
      // Only a live slot's failure fails the pipeline; a standby's is a rolled-back swap.
      if (slot.result === result && stage.slots.includes(slot)) void this.#fail(err, 'failed');
    });
    return result;
  }

  /** Resolves once the thread that ran a task has exited (so it can no longer touch the rings). */
  async #threadGone(threadId: number): Promise<void> {
    if (threadId === 0) return; // the task never started: it claimed nothing
    const w = this.#threads.get(threadId);
    if (w === undefined) {
      await sleep(100);
      return;
    }
    const until = performance.now() + THREAD_EXIT_WAIT_MS;
    // A piscina worker's id reads the Worker's threadId, which is -1 once the thread has exited.
    while (w.id !== -1 && performance.now() < until) await sleep(PARK_POLL_MS);
    this.#threads.delete(threadId);
  }

  #pump(): Promise<void> {
    return pump<I>({
      source: this.#source,
      links: this.#sourceLinks,
      codec: this.#codec,
      key: this.#key,
      keyed: this.#stages[0]!.partition === 'key',
      signal: this.#stop.signal,
      closeSignal: this.#closeSignal.signal,
      closing: () => this.#closing,
      produced: this.#producedRef,
      tracer: this.#tracer,
    });
  }

  /** The sink's fan-in: decode, time source → sink, deliver. */
  #drainSink(): Promise<void> {
    const codec = this.#codec;
    const sink = this.#sink as (v: unknown, i: MessageInfo) => unknown;
    const e2e = this.#e2e;
    const tracer = this.#tracer;
    return merge({
      links: this.#sinkHandles.map((h) => new InputLink(h, this.#wait)),
      batch: this.#batch,
      wait: this.#wait,
      signal: this.#stop.signal,
      what: 'sink',
      deliver: (link, _i, meta, info) => {
        const value = codec.decode(link.buf, link.payloadStart, link.payloadEnd, false, link.u8);
        const now = performance.now();
        const ns = (now - meta.t0) * 1e6;
        record(e2e, ns);
        this.#e2eSumNs += ns;
        if (ns > this.#e2eMax) this.#e2eMax = ns;
        this.#consumed++;
        if (meta.flags !== 0 && tracer !== undefined) tracer.delivered(meta, now);
        return sink(value, info);
      },
    });
  }

  /** The dead-letter channels' fan-in, each to its stage's target. */
  #drainDeadLetters(): Promise<void> {
    const targets = this.#deadHandles.map((d) => deliverer(d.stage.deadLetter!) as (v: unknown, i: MessageInfo) => unknown);
    return merge({
      links: this.#deadHandles.map((d) => new InputLink(d.handle, this.#wait)),
      batch: this.#batch,
      wait: this.#wait,
      signal: this.#stop.signal,
      what: 'dead-letter target',
      deliver: (link, i, _meta, info) => {
        this.#deadLettered++;
        // Dead-letter records are v8-serialized by the stage; decoded by the v8 codec into memory of their own.
        return targets[i]!(V8.decode(link.buf, link.payloadStart, link.payloadEnd), info);
      },
    });
  }

  /** Runs swaps and rollbacks one at a time, in call order, once the pools exist. */
  #enqueue<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#swapping.then(op);
    this.#swapping = run.catch(() => undefined);
    return run;
  }

  #stage(ref: string | number, what: string): StageRuntime {
    const stage = typeof ref === 'number' ? this.#stages[ref] : this.#stages.find((s) => s.name === ref);
    if (stage === undefined) {
      const names = this.#stages.map((s) => `'${s.name}'`).join(', ');
      throw new PipelineError('ERR_PIPELINE_STATE', `${what}: no stage ${JSON.stringify(ref)} (the stages are ${names}, or their index from 0 to ${this.#stages.length - 1})`);
    }
    return stage;
  }

  #checkRunning(stage: StageRuntime, what: string): void {
    // 'done' before `done` settles: every worker has finished and the pools are being destroyed.
    if (this.#settled || this.#state === 'done' || this.#Piscina === undefined) {
      throw new PipelineError('ERR_PIPELINE_STATE', `${what}: the pipeline is ${this.#Piscina === undefined && !this.#settled ? 'starting' : this.#state}`, { stage: stage.name });
    }
  }

  async #swap(stage: StageRuntime, url: string, options: SwapOptions): Promise<SwapResult> {
    this.#checkRunning(stage, 'swap');
    const h = stage.history;
    const { label } = options;
    const taken = label === undefined ? -1 : h.records.findIndex((r) => r.label === label);
    if (taken >= 0) throw new RingwireRangeError('ERR_OUT_OF_RANGE', `swap: options.label ${JSON.stringify(label)} names version ${taken} of stage '${stage.name}' already`);
    const from = h.current;
    const to = h.records.length;
    const target = {
      module: url,
      exportName: options.export ?? h.active.exportName,
      options: options.options === undefined ? h.active.options : options.options,
    };
    const sw = await this.#switch('swap', stage, target, options.probe, options.timeout, undefined);
    const change = { type: 'swap', from, to, label, automatic: false, reason: undefined } as const;
    if (!sw.ok) {
      const err = new PipelineError('ERR_SWAP_FAILED', `swap of stage '${stage.name}' to ${url} was rolled back: ${messageOf(sw.cause)}`, {
        stage: stage.name,
        cause: sw.cause,
        rolledBack: true,
      });
      this.#change(stage, { ...change, ok: false, error: err.message });
      throw err;
    }
    this.#retire(stage, sw);
    h.records.push({ ...target, label, activatedAt: Date.now(), previous: from, snapshot: undefined, snapshotError: undefined });
    h.current = to;
    stage.swaps++;
    if (options.rollbackOn !== undefined) this.#probation(stage, to, options.rollbackOn);
    this.#change(stage, { ...change, ok: true, error: undefined });
    await sw.oldPool.destroy();
    return { stage: stage.name, version: to };
  }

  /** A rollback, asked for by a call or (`auto`) by the current version's probation. */
  async #rollback(stage: StageRuntime, options: RollbackOptions, auto: { probation: Probation; reason: string } | undefined): Promise<RollbackResult> {
    this.#checkRunning(stage, 'rollback');
    const h = stage.history;
    const from = h.current;
    const to = auto === undefined ? h.target(stage.name, options.to) : h.active.previous!;
    const target = h.records[to]!;
    const change = { type: 'rollback', from, to, label: target.label, automatic: auto !== undefined, reason: auto?.reason ?? options.reason ?? 'manual' } as const;
    const sw = await this.#switch('rollback', stage, target, undefined, options.timeout, target.snapshot);
    if (!sw.ok) {
      const err = new PipelineError('ERR_ROLLBACK_FAILED', `rollback of stage '${stage.name}' to version ${to} failed, version ${from} keeps running: ${messageOf(sw.cause)}`, {
        stage: stage.name,
        cause: sw.cause,
      });
      if (auto !== undefined) {
        // The version stays: its probation is over, and its workers that died meanwhile restart.
        auto.probation.end();
        if (stage.probation === auto.probation) stage.probation = undefined;
        for (const restart of auto.probation.parked.splice(0)) restart();
      }
      this.#change(stage, { ...change, ok: false, error: err.message });
      throw err;
    }
    this.#retire(stage, sw);
    target.activatedAt = Date.now();
    h.current = to;
    this.#change(stage, { ...change, ok: true, error: undefined });
    await sw.oldPool.destroy();
    return { stage: stage.name, version: to, from };
  }

  /** The rollback a probation asks for (queued behind any swap in progress, which may make it moot). */
  #probation(stage: StageRuntime, version: number, rule: RollbackOn): void {
    const probation: Probation = new Probation(
      version,
      rule,
      () => {
        let n = 0;
        let errors = 0;
        for (const slot of stage.slots) {
          const c = slot.control.counters();
          n += c.in;
          errors += c.errors;
        }
        return { in: n, errors };
      },
      (reason) => {
        const rollback = this.#enqueue(async () => {
          // Replaced meanwhile (a swap or rollback completed, which took over the parked channels too).
          if (stage.probation !== probation || this.#settled) return;
          await this.#rollback(stage, {}, { probation, reason });
        });
        rollback.catch(() => undefined); // a failed rollback is reported by its 'rollback' event and stats()
      },
    );
    stage.probation = probation;
  }

  /**
   * Switches a stage to `target` (a new version, or one from its history): fresh workers in a pool
   * of their own load it (restoring `restore[p]` in partition p when given), pass its health check
   * and the probes, wait in standby, and only then take over each old worker's channels where it
   * left them. Resolves with ok: false, the new workers discarded, if they do not get that far (the
   * old ones keep running).
   */
  async #switch(
    what: 'swap' | 'rollback',
    stage: StageRuntime,
    target: Pick<VersionRecord, 'module' | 'exportName' | 'options'>,
    probe: readonly unknown[] | undefined,
    timeout = 30_000,
    restore: unknown[] | undefined,
  ): Promise<Switched> {
    stage.switching = { kind: what, phase: 'loading' };
    try {
      const pool = this.#makePool(this.#Piscina!, this.#workerFile, stage);
      const fresh: Slot[] = stage.slots.map((old) => ({
        ...old,
        control: new ControlBlock(),
        module: target.module,
        exportName: target.exportName,
        options: target.options,
      }));
      const results = fresh.map((slot, p) => this.#startSlot(stage, slot, true, pool, probe, restore?.[p]));
      // Wait until every new worker is loaded and healthy (standby), or one fails.
      const deadline = performance.now() + timeout;
      let failure: unknown;
      results.map((r) =>
        r.then(
          (res) => {
            if (res.status === 'load-failed') failure ??= reviveError(res.error);
          },
          (err) => {
            failure ??= err;
          },
        ),
      );
      // The pipeline stopping (abort, failure) is not the new version's failure: the switch throws.
      const stopped = (cause: unknown) => new PipelineError('ERR_PIPELINE_STATE', `${what}: the pipeline stopped during the ${what} of stage '${stage.name}'`, { stage: stage.name, cause });
      while (failure === undefined && !this.#settled && !fresh.every((s) => s.control.state === STATE_STANDBY)) {
        if (fresh.some((s) => s.control.state === STATE_EXITED)) failure = new Error('a worker of the new version died in standby');
        else if (performance.now() > deadline) failure = new Error(`the new version did not become ready within ${timeout} ms`);
        else await sleep(PARK_POLL_MS);
      }
      const stoppedNow = this.#settled;
      if (failure !== undefined || stoppedNow) {
        for (const s of fresh) s.control.command(CMD_ABANDON);
        await pool.destroy();
        if (stoppedNow) throw stopped(failure);
        return { ok: false, cause: failure instanceof PipelineError && failure.cause !== undefined ? failure.cause : failure };
      }
      // Hand over: pause the old workers, then let each successor take the same channels.
      stage.switching = { kind: what, phase: 'handing-over' };
      const old = stage.slots;
      const oldPool = stage.pool;
      for (const s of old) s.control.command(CMD_PAUSE);
      let oldResults: TaskResult[];
      try {
        oldResults = await Promise.all(old.map((s) => s.result));
      } catch (err) {
        // The pipeline stopped (abort, failure) before every old worker paused: #fail destroys only
        // stage.pool, so the new workers (waiting in standby) and their pool are ours to end.
        for (const s of fresh) s.control.command(CMD_ABANDON);
        await pool.destroy();
        throw this.#settled ? stopped(err) : err;
      }
      for (let p = 0; p < fresh.length; p++) {
        const res = oldResults[p]!;
        stage.errors.push(...res.errors);
        fresh[p]!.control.command(res.status === 'paused' ? CMD_GO : CMD_ABANDON);
        if (res.status !== 'paused') fresh[p]!.result = Promise.resolve({ status: 'done', errors: [] });
      }
      // Retire the old generation's counters; the new one counts from zero.
      for (const s of old) {
        const c = s.control.counters();
        const r = stage.retired;
        r.in += c.in;
        r.out += c.out;
        r.errors += c.errors;
        r.skipped += c.skipped;
        r.deadLettered += c.deadLettered;
        r.maxNs = Math.max(r.maxNs, c.maxNs);
        r.sumNs += c.sumNs;
        mergeHistogram(r.hist, s.control.hist);
      }
      stage.slots = fresh;
      stage.pool = pool;
      return { ok: true, oldPool, snapshot: oldResults.map((r) => r.snapshot), snapshotError: oldResults.find((r) => r.snapshotError !== undefined)?.snapshotError };
    } finally {
      stage.switching = undefined;
    }
  }

  /** After a switch: the version swapped out keeps its state snapshot; a probation it was on is over. */
  #retire(stage: StageRuntime, sw: Extract<Switched, { ok: true }>): void {
    const out = stage.history.active;
    out.snapshot = sw.snapshot;
    out.snapshotError = sw.snapshotError;
    stage.probation?.end();
    stage.probation = undefined;
  }

  /** Records a swap or rollback (stats) and emits it as a 'swap' or 'rollback' event. */
  #change(stage: StageRuntime, c: Omit<VersionChange, 'stage' | 'at'>): void {
    const change: VersionChange = { ...c, stage: stage.name, at: Date.now() };
    stage.history.record(change);
    try {
      this.emit(change.type, change);
    } catch (err) {
      // A listener threw: like any listener error outside a caller's stack, it is uncaught (the
      // change itself is done and recorded).
      queueMicrotask(() => {
        throw err;
      });
    }
  }

  #stageStats(s: StageRuntime, raw?: RawHistogram[]): StageStats {
    const r = s.retired;
    const out: StageStats = {
      name: s.name,
      workers: s.workers,
      in: r.in,
      out: r.out,
      errors: r.errors,
      skipped: r.skipped,
      deadLettered: r.deadLettered,
      restarts: s.restarts,
      swaps: s.swaps,
      rollbacks: s.history.rollbacks,
      version: s.history.current,
      changes: s.history.changes.slice(),
      switching: s.switching && { ...s.switching },
      queued: { messages: 0, bytes: 0 },
      latency: { count: 0, p50: 0, p99: 0, max: 0 },
    };
    const hist = r.hist.slice();
    let maxNs = r.maxNs;
    let sumNs = r.sumNs;
    for (const slot of s.slots) {
      const c = slot.control.counters();
      out.in += c.in;
      out.out += c.out;
      out.errors += c.errors;
      out.skipped += c.skipped;
      out.deadLettered += c.deadLettered;
      if (c.maxNs > maxNs) maxNs = c.maxNs;
      sumNs += c.sumNs;
      mergeHistogram(hist, slot.control.hist);
      for (const h of slot.inputs) out.queued.bytes += InputLink.queuedBytes(new Int32Array(h.buffer, h.byteOffset, L.W.DATA));
    }
    const upstream = s.index === 0 ? this.#producedRef.n : this.#stageOut(this.#stages[s.index - 1]!);
    out.queued.messages = Math.max(0, upstream - out.in);
    out.latency = summarize(hist, maxNs);
    raw?.push({ counts: hist, sumNs });
    return out;
  }

  #stageOut(s: StageRuntime): number {
    let n = s.retired.out;
    for (const slot of s.slots) n += slot.control.counters().out;
    return n;
  }

  #summary(): PipelineSummary {
    const stats = this.stats();
    return {
      ...stats,
      durationMs: performance.now() - this.#started,
      errors: this.#stages.flatMap((s) => s.errors.map((e) => ({ stage: s.name, ...e }))),
    };
  }

  async #fail(err: unknown, state: 'failed' | 'aborted'): Promise<void> {
    if (this.#settled) return;
    this.#settled = true;
    this.#state = state;
    this.#stop.abort(err);
    this.#closeSignal.abort();
    this.#tracer?.stop();
    this.#reject(err);
    for (const stage of this.#stages) stage.probation?.end();
    for (const l of this.#sourceLinks) l.release();
    await Promise.allSettled(this.#stages.map((s) => s.pool?.destroy()));
    // Not awaited: a Sender's close() waits for a send in progress (the sink's, waiting for room),
    // which ends only if its reader reads on; the reader then sees the end after it.
    for (const t of this.#closeAtEnd) {
      try {
        void Promise.resolve(t.close()).catch(() => undefined);
      } catch {}
    }
  }
}
