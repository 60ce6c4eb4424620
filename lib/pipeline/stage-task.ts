// The task a stage worker runs (in a piscina worker, for the life of the stage): attach to the
// input and output channels, then loop "read a batch → handler → write outputs → acknowledge" until
// every input has ended, then close the outputs. Nothing here goes through postMessage: the task's
// arguments and its result are the only messages.
import * as v8 from 'node:v8';
import { threadId } from 'node:worker_threads';
import type { ChannelHandle } from '../channel/channel.js';
import { resolveCodec, type CodecName, type WireCodec } from '../channel/codecs.js';
import { RingwireError, RingwireTypeError } from '../errors.js';
import {
  C_DEAD, C_ERRORS, C_IN, C_MAX_NS, C_OUT, C_SKIPPED, CMD, CMD_ABANDON, CMD_GO, CMD_PAUSE, CMD_RUN,
  ControlBlock, STATE_EXITED, STATE_RUNNING, STATE_STANDBY,
} from './control.js';
import { keyOf, newMeta, type Meta } from './envelope.js';
import { record } from './histogram.js';
import { InputLink, OutputLink, waitAny } from './link.js';

export type ErrorPolicy = 'fail' | 'skip' | 'dead-letter';

/** Everything a stage worker needs; structured-clonable (the channels are SharedArrayBuffers). */
export interface StageTask {
  stage: string;
  index: number;
  partition: number;
  workers: number;
  module: string;
  exportName: string | undefined;
  codec: CodecName;
  inputs: ChannelHandle[];
  outputs: ChannelHandle[];
  /** 'key': outputs[hash % n] (a key keeps its path and order); 'round-robin': in turn. */
  route: 'key' | 'round-robin';
  onError: ErrorPolicy;
  deadLetter: ChannelHandle | undefined;
  control: SharedArrayBuffer;
  spinMicros: number;
  batch: number;
  /** Load, health-check, then wait for CMD_GO before claiming the channels (hot swap). */
  standby: boolean;
  probe: readonly unknown[] | undefined;
  options: unknown;
}

export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
}

export interface ErrorRecord {
  seq: number;
  key: string | number | undefined;
  error: SerializedError;
}

export type StageResult =
  | { status: 'done' | 'paused' | 'abandoned'; errors: ErrorRecord[] }
  | { status: 'failed'; error: SerializedError; seq: number; key: string | number | undefined; errors: ErrorRecord[] }
  | { status: 'load-failed'; phase: 'load' | 'health'; error: SerializedError; errors: ErrorRecord[] };

/** What a handler receives besides the message. */
export interface StageContext {
  readonly stage: string;
  readonly partition: number;
  readonly workers: number;
  /** The stage's `options` from the pipeline definition. */
  readonly options: unknown;
  /** The source sequence number of the message being handled. */
  readonly seq: number;
  /** Its key (when the pipeline has a key function). */
  readonly key: string | number | undefined;
}

export type StageHandler = (message: any, ctx: StageContext) => unknown;

/** Marks an array returned by a handler as several outputs (`return many([a, b])`). */
export const MANY = Symbol.for('ringwire.pipeline.many');
export function many<T>(outputs: T[]): T[] {
  (outputs as unknown as Record<symbol, boolean>)[MANY] = true;
  return outputs;
}

const MAX_ERROR_RECORDS = 10;

export function serializeError(err: unknown): SerializedError {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { name: err.name, message: err.message, stack: err.stack, ...(typeof code === 'string' ? { code } : {}) };
  }
  return { name: 'Error', message: String(err) };
}

function pickHandler(mod: Record<string, unknown>, exportName: string | undefined): StageHandler {
  const name = exportName ?? 'handler';
  let h = mod[name];
  if (h === undefined && exportName === undefined) h = mod.default;
  if (typeof h === 'object' && h !== null && typeof (h as { handler?: unknown }).handler === 'function') h = (h as { handler: unknown }).handler;
  if (typeof h !== 'function') {
    throw new RingwireTypeError(`the stage module exports no function '${name}'${exportName === undefined ? ' (nor a default export)' : ''}`);
  }
  return h as StageHandler;
}

const isThenable = (r: unknown): r is PromiseLike<unknown> =>
  r !== null && (typeof r === 'object' || typeof r === 'function') && typeof (r as { then?: unknown }).then === 'function';

const tagOf = (r: object): string => Object.prototype.toString.call(r);

/** many([...]), a generator or an async generator: several outputs. */
function isMulti(r: unknown): boolean {
  if (typeof r !== 'object' || r === null) return false;
  if ((r as Record<symbol, unknown>)[MANY] === true) return true;
  if (typeof (r as { next?: unknown }).next !== 'function') return false;
  const tag = tagOf(r);
  return tag === '[object Generator]' || tag === '[object AsyncGenerator]';
}

/** Waits (keeping the loop alive) until the command word leaves `from`. */
async function awaitCommand(ctl: ControlBlock, from: number): Promise<number> {
  for (;;) {
    const cmd = ctl.cmd;
    if (cmd !== from) return cmd;
    const w = Atomics.waitAsync(ctl.i32, CMD, from, 1000);
    if (w.async) {
      const keepAlive = setTimeout(() => undefined, 1000);
      await w.value;
      clearTimeout(keepAlive);
    }
  }
}

// Writes a handler's result: undefined (nothing), many([...]), a generator, or one value.
async function drainResult(r: unknown, write?: (v: unknown) => Promise<void>): Promise<void> {
  if (isThenable(r)) r = await r;
  if (r === undefined) return;
  if (typeof r === 'object' && r !== null) {
    if ((r as Record<symbol, unknown>)[MANY] === true) {
      if (write) for (const v of r as unknown[]) await write(v);
      return;
    }
    const tag = tagOf(r);
    if (tag === '[object Generator]') {
      for (const v of r as Iterable<unknown>) if (write) await write(v);
      return;
    }
    if (tag === '[object AsyncGenerator]') {
      for await (const v of r as AsyncIterable<unknown>) if (write) await write(v);
      return;
    }
  }
  if (write) await write(r);
}

export default async function stageTask(task: StageTask): Promise<StageResult> {
  const ctl = new ControlBlock(task.control);
  ctl.thread = threadId;
  const codec: WireCodec = resolveCodec(task.codec);
  const errors: ErrorRecord[] = [];

  let handler: StageHandler;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(task.module)) as Record<string, unknown>;
    handler = pickHandler(mod, task.exportName);
  } catch (err) {
    return { status: 'load-failed', phase: 'load', error: serializeError(err), errors };
  }

  const meta: Meta = newMeta();
  const ctx: StageContext = {
    stage: task.stage,
    partition: task.partition,
    workers: task.workers,
    options: task.options,
    get seq() {
      return meta.seq;
    },
    get key() {
      return keyOf(meta);
    },
  };

  if (task.standby) {
    try {
      if (typeof mod.healthCheck === 'function') {
        const ok = await (mod.healthCheck as (o: unknown) => unknown)(task.options);
        if (ok === false) throw new Error('healthCheck() returned false');
      }
      for (const value of task.probe ?? []) await drainResult(handler(value, ctx));
    } catch (err) {
      return { status: 'load-failed', phase: 'health', error: serializeError(err), errors };
    }
    ctl.state = STATE_STANDBY;
    const cmd = await awaitCommand(ctl, CMD_RUN);
    if (cmd === CMD_ABANDON) return { status: 'abandoned', errors };
    if (cmd !== CMD_GO) throw new Error(`stage worker: unexpected command ${cmd} in standby`);
  }

  // Claim the channels. A crashed predecessor's roles were freed by the coordinator.
  const inputs: InputLink[] = [];
  const outputs: OutputLink[] = [];
  let dead: OutputLink | undefined;
  try {
    for (const h of task.inputs) inputs.push(new InputLink(h, task.spinMicros));
    for (const h of task.outputs) outputs.push(new OutputLink(h, task.spinMicros));
    if (task.deadLetter !== undefined) dead = new OutputLink(task.deadLetter, task.spinMicros);
    ctl.state = STATE_RUNNING;
    return await run(task, ctl, codec, handler, meta, ctx, inputs, outputs, dead, errors);
  } catch (err) {
    // Not a death: the thread lives on. Give the roles back (what was read and not acknowledged
    // is read again by the successor) and say so, so the coordinator need not wait for an exit.
    for (const l of inputs) l.release();
    for (const o of outputs) o.release();
    dead?.release();
    ctl.state = STATE_EXITED;
    throw err;
  }
}

async function run(
  task: StageTask,
  ctl: ControlBlock,
  codec: WireCodec,
  handler: StageHandler,
  meta: Meta,
  ctx: StageContext,
  inputs: InputLink[],
  outputs: OutputLink[],
  dead: OutputLink | undefined,
  errors: ErrorRecord[],
): Promise<StageResult> {
  // The command word while running: RUN, or GO for a swapped-in version (also after a restart).
  const runWord = ctl.cmd === CMD_GO ? CMD_GO : CMD_RUN;

  const f = ctl.f64;
  const hist = ctl.hist;
  let cIn = f[C_IN]!;
  let cOut = f[C_OUT]!;
  let cErr = f[C_ERRORS]!;
  let cSkip = f[C_SKIPPED]!;
  let cDead = f[C_DEAD]!;
  let maxNs = f[C_MAX_NS]!;
  const flush = () => {
    f[C_IN] = cIn;
    f[C_OUT] = cOut;
    f[C_ERRORS] = cErr;
    f[C_SKIPPED] = cSkip;
    f[C_DEAD] = cDead;
    f[C_MAX_NS] = maxNs;
  };

  const nOut = outputs.length;
  const keyed = task.route === 'key';
  let turn = 0;
  const emit = async (value: unknown): Promise<void> => {
    const wire = codec.toWire(value);
    const out = outputs[nOut === 1 ? 0 : keyed ? (meta.hash >>> 0) % nOut : turn++ % nOut]!;
    if (!out.tryWrite(meta, wire)) {
      flush(); // the counters stay live while we wait
      await out.write(meta, wire);
    }
    cOut++;
  };
  const deadLetter = async (value: unknown, err: unknown): Promise<void> => {
    const rec = {
      stage: task.stage,
      partition: task.partition,
      seq: meta.seq,
      key: keyOf(meta),
      error: serializeError(err),
      message: value,
    };
    let bytes: Uint8Array;
    try {
      bytes = v8.serialize(rec);
    } catch {
      bytes = v8.serialize({ ...rec, message: undefined });
    }
    if (!dead!.tryWrite(meta, bytes)) {
      flush();
      await dead!.write(meta, bytes);
    }
  };

  // Publishes every output, then acknowledges the input: what was read is done only once its
  // outputs are visible downstream.
  const publish = () => {
    for (let i = 0; i < nOut; i++) outputs[i]!.flush();
    dead?.flush();
  };
  const settle = (link: InputLink) => {
    publish();
    link.ack();
  };

  const n = inputs.length;
  const batch = task.batch;
  let rr = 0;
  try {
    for (;;) {
      let progressed = false;
      for (let k = 0; k < n; k++) {
        const link = inputs[(rr + k) % n]!;
        if (link.ended) continue;
        let got = 0;
        while (got < batch && link.next(meta)) {
          got++;
          cIn++;
          let value: unknown;
          const t = performance.now();
          try {
            value = codec.decode(link.buf, link.payloadStart, link.payloadEnd);
            let r = handler(value, ctx);
            if (isThenable(r)) {
              publish(); // never hold outputs back while waiting
              flush();
              r = await r;
            }
            if (r !== undefined) {
              if (isMulti(r)) await drainResult(r, emit);
              else {
                // The common case, without a promise: one output, written now if there is room.
                const wire = codec.toWire(r);
                const out = outputs[nOut === 1 ? 0 : keyed ? (meta.hash >>> 0) % nOut : turn++ % nOut]!;
                if (!out.tryWrite(meta, wire)) {
                  flush(); // the counters stay live while we wait for room
                  await out.write(meta, wire);
                }
                cOut++;
              }
            }
            // Service time: read → decode → handler → outputs written.
            const ns = (performance.now() - t) * 1e6;
            record(hist, ns);
            if (ns > maxNs) maxNs = ns;
          } catch (err) {
            if (err instanceof RingwireError && (err.code === 'ERR_CHANNEL_CLOSED' || err.code === 'ERR_CORRUPT')) throw err;
            cErr++;
            if (errors.length < MAX_ERROR_RECORDS) errors.push({ seq: meta.seq, key: keyOf(meta), error: serializeError(err) });
            if (task.onError === 'fail') {
              flush();
              return { status: 'failed', error: serializeError(err), seq: meta.seq, key: keyOf(meta), errors };
            }
            if (task.onError === 'dead-letter' && dead !== undefined) {
              await deadLetter(value, err);
              cDead++;
            } else {
              cSkip++;
            }
          }
          if (link.unackedBytes() >= link.ackBytes) settle(link);
        }
        if (got > 0) {
          settle(link);
          progressed = true;
          flush();
        } else {
          link.checkEnded();
        }
      }
      rr++;
      if (ctl.cmd === CMD_PAUSE) {
        // Hand-over (hot swap): everything read is acknowledged; the successor starts after it.
        flush();
        for (const link of inputs) link.release();
        for (const out of outputs) out.release();
        dead?.release();
        return { status: 'paused', errors };
      }
      if (!progressed) {
        let all = true;
        for (let i = 0; i < n; i++) if (!inputs[i]!.ended) all = false;
        if (all) break;
        publish();
        await waitAny(inputs, { i32: ctl.i32, index: CMD, value: runWord }, task.spinMicros);
      }
    }
  } finally {
    flush();
  }
  for (const out of outputs) out.close();
  dead?.close();
  return { status: 'done', errors };
}
