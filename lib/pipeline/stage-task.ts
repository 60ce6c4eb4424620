// The task a stage worker runs (in a piscina worker, for the life of the stage): load the stage's
// module (and, for a hot swap, health-check it and wait in standby), attach to the input and output
// channels, then run the stage loop (stage-loop.ts) on them. Nothing here goes through postMessage: the task's
// arguments and its result are the only messages.
import { threadId } from 'node:worker_threads';
import type { ChannelHandle } from '../channel/channel.js';
import { resolveCodec, type CodecName, type WireCodec } from '../channel/codecs.js';
import { CMD, CMD_ABANDON, CMD_GO, CMD_RUN, ControlBlock, STATE_EXITED, STATE_RUNNING, STATE_STANDBY } from './control.js';
import { keyOf, newMeta, type Meta } from './envelope.js';
import { serializeError } from './errors.js';
import { drainResult, pickHandler, type StageContext, type StageHandler } from './handler.js';
import { InputLink, OutputLink } from './link.js';
import type { WaitSpec } from '../core/park.js';
import { runStage, type ErrorPolicy, type ErrorRecord, type StageResult } from './stage-loop.js';
import { adoptClock, HopTracer, loadOtel, type TraceClock } from './trace.js';

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
  wait: WaitSpec;
  batch: number;
  /** Load, health-check, then wait for CMD_GO before claiming the channels (hot swap). */
  standby: boolean;
  probe: readonly unknown[] | undefined;
  options: unknown;
  /** A rollback: what the module's snapshot() returned when this version was swapped out, for its restore(). */
  restore: unknown;
  /** The slot's hop ring when the pipeline traces (options.trace). */
  trace: SharedArrayBuffer | undefined;
  /** The pipeline thread's clock (trace.ts adoptClock), when it traces. */
  traceClock: TraceClock | undefined;
}

/** A worker's result; after a hand-over, with what the module's snapshot() export returned. */
export type TaskResult = StageResult & { snapshot?: unknown; snapshotError?: string };

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

export default async function stageTask(task: StageTask): Promise<TaskResult> {
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
  if (task.traceClock !== undefined) adoptClock(task.traceClock);
  const tracer = task.trace === undefined ? undefined : new HopTracer(task.trace, meta, await loadOtel());
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
    get trace() {
      return meta.flags !== 0 ? tracer?.view : undefined;
    },
  };

  if (task.standby) {
    try {
      if (task.restore !== undefined) {
        if (typeof mod.restore !== 'function') throw new Error('the module has a state snapshot to restore but exports no restore(state)');
        await (mod.restore as (s: unknown) => unknown)(task.restore);
      }
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
    for (const h of task.inputs) inputs.push(new InputLink(h, task.wait));
    for (const h of task.outputs) outputs.push(new OutputLink(h, task.wait));
    if (task.deadLetter !== undefined) dead = new OutputLink(task.deadLetter, task.wait);
    ctl.state = STATE_RUNNING;
    const res: TaskResult = await runStage({
      stage: task.stage,
      partition: task.partition,
      route: task.route,
      onError: task.onError,
      batch: task.batch,
      wait: task.wait,
      ctl, codec, handler, meta, ctx, inputs, outputs, dead, errors, tracer,
    });
    if (res.status === 'paused' && typeof mod.snapshot === 'function') {
      // Handed over: the state this version leaves behind, kept in its history for a rollback.
      // Cloned here so that a value that cannot cross threads is this snapshot's failure, not the task's.
      try {
        res.snapshot = structuredClone(await (mod.snapshot as () => unknown)());
      } catch (err) {
        res.snapshotError = (err as Error)?.message ?? String(err);
      }
    }
    return res;
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
