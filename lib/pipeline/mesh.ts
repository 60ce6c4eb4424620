// The channel mesh of a pipeline and the slots that run on it: one SPSC channel per hop, so stage s
// with N_s workers reads N_{s-1}×N_s channels; a slot is one worker's place (its inputs, outputs,
// dead-letter channel and control block), which survives the worker (restarts and swaps reuse it).
import type { ResourceLimits } from 'node:worker_threads';
import { Channel, type ChannelHandle } from '../channel/channel.js';
import * as L from '../core/layout.js';
import { ControlBlock } from './control.js';
import { BUCKETS } from './histogram.js';
import type { StagePlan } from './options.js';
import type { ErrorPolicy, ErrorRecord, StageResult } from './stage-loop.js';
import type { DeadLetter, SinkTarget, StageStats } from './types.js';
import { VersionHistory, type Probation } from './versions.js';

export interface PiscinaLike {
  run(task: unknown): Promise<unknown>;
  destroy(): Promise<void>;
  on(event: string, fn: (...args: any[]) => void): unknown;
}

export interface Slot {
  partition: number;
  inputs: ChannelHandle[];
  outputs: ChannelHandle[];
  deadLetter: ChannelHandle | undefined;
  control: ControlBlock;
  module: string;
  exportName: string | undefined;
  options: unknown;
  /** The slot's hop ring when the pipeline traces (trace.ts); every generation of the slot writes it. */
  trace?: SharedArrayBuffer;
  /** The final (non-crash) result of this generation; restarts happen inside. */
  result: Promise<StageResult>;
}

export interface StageRuntime {
  index: number;
  name: string;
  workers: number;
  onError: ErrorPolicy;
  deadLetter: SinkTarget<DeadLetter> | undefined;
  partition: 'key' | 'round-robin';
  resourceLimits: ResourceLimits | undefined;
  /** Set once piscina is loaded. */
  pool: PiscinaLike;
  slots: Slot[];
  restarts: number;
  swaps: number;
  /** Counters and histogram of swapped-out generations. */
  retired: { in: number; out: number; errors: number; skipped: number; deadLettered: number; maxNs: number; sumNs: number; hist: number[] };
  errors: ErrorRecord[];
  /** Every version the stage has run, and its swaps and rollbacks. */
  history: VersionHistory;
  /** The current version's probation (swapped in with rollbackOn), while it lasts. */
  probation: Probation | undefined;
  /** A swap or rollback under way (stats). */
  switching: StageStats['switching'];
}

export interface Mesh {
  stages: StageRuntime[];
  /** The first stage's inputs, one per worker: the source writes them. */
  sourceHandles: ChannelHandle[];
  /** The last stage's outputs, one per worker: the sink reads them. */
  sinkHandles: ChannelHandle[];
  /** Every dead-letter channel, with the stage whose target it feeds. */
  deadHandles: Array<{ handle: ChannelHandle; stage: StageRuntime }>;
}

/** Creates the channels (bytes codec, `capacity` each) and a slot per worker of every stage. */
export function buildMesh(plans: StagePlan[], capacity: number): Mesh {
  const make = () => Channel.create<Uint8Array>({ capacity, codec: 'bytes' }).handle;
  const stages: StageRuntime[] = [];
  const deadHandles: Mesh['deadHandles'] = [];
  // upstream[q][p]: from upstream partition q to partition p of this stage.
  let upstream: ChannelHandle[][] = [Array.from({ length: plans[0]!.workers }, make)];
  for (let s = 0; s < plans.length; s++) {
    const plan = plans[s]!;
    const next = plans[s + 1];
    const outs: ChannelHandle[][] = Array.from({ length: plan.workers }, () => Array.from({ length: next ? next.workers : 1 }, make));
    const stage: StageRuntime = {
      index: s,
      name: plan.name,
      workers: plan.workers,
      onError: plan.onError,
      deadLetter: plan.deadLetter,
      partition: plan.partition,
      resourceLimits: plan.resourceLimits,
      pool: undefined as unknown as PiscinaLike,
      slots: [],
      restarts: 0,
      swaps: 0,
      retired: { in: 0, out: 0, errors: 0, skipped: 0, deadLettered: 0, maxNs: 0, sumNs: 0, hist: new Array(BUCKETS).fill(0) },
      errors: [],
      history: new VersionHistory({ module: plan.url, exportName: plan.exportName, options: plan.options }),
      probation: undefined,
      switching: undefined,
    };
    for (let p = 0; p < plan.workers; p++) {
      const dead = plan.onError === 'dead-letter' ? make() : undefined;
      if (dead !== undefined) deadHandles.push({ handle: dead, stage });
      stage.slots.push({
        partition: p,
        inputs: upstream.map((row) => row[p]!),
        outputs: outs[p]!,
        deadLetter: dead,
        control: new ControlBlock(),
        module: plan.url,
        exportName: plan.exportName,
        options: plan.options,
        result: undefined as unknown as Promise<StageResult>,
      });
    }
    stages.push(stage);
    upstream = outs;
  }
  return {
    stages,
    sourceHandles: stages[0]!.slots.map((s) => s.inputs[0]!),
    sinkHandles: upstream.map((row) => row[0]!),
    deadHandles,
  };
}

/** Frees the channel roles a dead worker held, so that its successor can claim them. */
export function freeRoles(slot: Slot): void {
  const words = (h: ChannelHandle) => new Int32Array(h.buffer, h.byteOffset, L.W.DATA);
  for (const h of slot.inputs) {
    const i32 = words(h);
    Atomics.store(i32, L.W.RECEIVER_OWNER, 0);
    Atomics.store(i32, L.W.RX_PARKED, 0);
  }
  for (const h of slot.deadLetter === undefined ? slot.outputs : [...slot.outputs, slot.deadLetter]) {
    const i32 = words(h);
    Atomics.store(i32, L.W.SENDER_OWNER, 0);
    Atomics.store(i32, L.W.TX_PARKED, 0);
  }
}
