// A stage worker's control block: a small SharedArrayBuffer per (stage, partition) that the
// coordinator and the worker share. The coordinator writes the command word; the worker writes its
// state, its counters and its latency histogram (one writer each, so plain stores suffice for the
// counters: readers get a snapshot that may be a batch old).
import { BUCKETS } from './histogram.js';

// Int32 words
export const CMD = 0;
export const STATE = 1;
export const THREAD = 2;

// Commands
export const CMD_RUN = 0;
/** Finish the batch in hand, acknowledge it, release the channel roles and return (hand-over). */
export const CMD_PAUSE = 1;
/** A standby worker may claim its channels and run. */
export const CMD_GO = 2;
/** A standby worker is not needed: return at once. */
export const CMD_ABANDON = 3;

// States
export const STATE_STARTING = 0;
export const STATE_STANDBY = 1;
export const STATE_RUNNING = 2;
/** The task threw (its thread lives on) after giving its channel roles back. */
export const STATE_EXITED = 3;

// Float64 counters, from byte 64
const F64_AT = 64;
export const C_IN = 0;
export const C_OUT = 1;
export const C_ERRORS = 2;
export const C_SKIPPED = 3;
export const C_DEAD = 4;
export const C_MAX_NS = 5;
/** Sum of the latencies counted in the histogram (for Prometheus' `_sum`). */
export const C_SUM_NS = 6;
export const COUNTERS = 7;

const HIST_AT = 128;
const BYTES = HIST_AT + BUCKETS * 8;

export class ControlBlock {
  readonly sab: SharedArrayBuffer;
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  /** Float64 counts: exact to 2^53, where 32-bit ones would wrap within hours on a busy stage. */
  readonly hist: Float64Array;

  constructor(sab = new SharedArrayBuffer(BYTES)) {
    this.sab = sab;
    this.i32 = new Int32Array(sab, 0, 16);
    this.f64 = new Float64Array(sab, F64_AT, COUNTERS);
    this.hist = new Float64Array(sab, HIST_AT, BUCKETS);
  }

  command(cmd: number): void {
    Atomics.store(this.i32, CMD, cmd);
    Atomics.notify(this.i32, CMD);
  }

  get cmd(): number {
    return Atomics.load(this.i32, CMD);
  }
  get state(): number {
    return Atomics.load(this.i32, STATE);
  }
  set state(s: number) {
    Atomics.store(this.i32, STATE, s);
  }
  get thread(): number {
    return Atomics.load(this.i32, THREAD);
  }
  set thread(id: number) {
    Atomics.store(this.i32, THREAD, id);
  }

  counters(): { in: number; out: number; errors: number; skipped: number; deadLettered: number; maxNs: number; sumNs: number } {
    const f = this.f64;
    return { in: f[C_IN]!, out: f[C_OUT]!, errors: f[C_ERRORS]!, skipped: f[C_SKIPPED]!, deadLettered: f[C_DEAD]!, maxNs: f[C_MAX_NS]!, sumNs: f[C_SUM_NS]! };
  }
}
