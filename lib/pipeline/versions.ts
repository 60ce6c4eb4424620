// A stage's version history (every module it has run, with the state snapshot each left behind
// when it was swapped out), the record of its swaps and rollbacks, and the probation that watches
// a version swapped in with `rollbackOn` and asks for its rollback when it misbehaves.
import { performance } from 'node:perf_hooks';
import { RingwireRangeError } from '../errors.js';
import type { RollbackOn, StageVersion, VersionChange } from './types.js';

export interface VersionRecord {
  module: string;
  exportName: string | undefined;
  options: unknown;
  label: string | undefined;
  /** Date.now() of its latest activation. */
  activatedAt: number;
  /** The version that was current when swap() first activated this one (what rollback() returns to). */
  previous: number | undefined;
  /** Per partition, what the module's snapshot() returned when this version was last swapped out. */
  snapshot: unknown[] | undefined;
  /** The first snapshot() failure of that swap-out (those partitions restart without state). */
  snapshotError: string | undefined;
}

/** How many swaps and rollbacks stats() keeps per stage (the most recent). */
const MAX_CHANGES = 100;

export class VersionHistory {
  readonly records: VersionRecord[];
  current = 0;
  rollbacks = 0;
  readonly changes: VersionChange[] = [];

  constructor(initial: Pick<VersionRecord, 'module' | 'exportName' | 'options'>) {
    this.records = [{ ...initial, label: undefined, activatedAt: Date.now(), previous: undefined, snapshot: undefined, snapshotError: undefined }];
  }

  get active(): VersionRecord {
    return this.records[this.current]!;
  }

  /** The version `to` names (an index or a label), or the current one's predecessor; checked. */
  target(stage: string, to: string | number | undefined): number {
    let v: number | undefined;
    if (to === undefined) {
      v = this.active.previous;
      if (v === undefined) throw new RingwireRangeError('ERR_OUT_OF_RANGE', `rollback: stage '${stage}' has no previous version (it runs version ${this.current}, its first)`);
    } else if (typeof to === 'number') {
      if (!Number.isInteger(to) || to < 0 || to >= this.records.length) {
        throw new RingwireRangeError('ERR_OUT_OF_RANGE', `rollback: options.to must be a version of stage '${stage}' (0 to ${this.records.length - 1}) or its label, got ${to}`);
      }
      v = to;
    } else {
      v = this.records.findIndex((r) => r.label === to);
      if (v < 0) throw new RingwireRangeError('ERR_OUT_OF_RANGE', `rollback: options.to: stage '${stage}' has no version labelled ${JSON.stringify(to)}`);
    }
    if (v === this.current) throw new RingwireRangeError('ERR_OUT_OF_RANGE', `rollback: options.to names version ${v} of stage '${stage}', which is the current one`);
    return v;
  }

  record(change: VersionChange): void {
    if (change.type === 'rollback' && change.ok) this.rollbacks++;
    this.changes.push(change);
    if (this.changes.length > MAX_CHANGES) this.changes.shift();
  }

  list(): StageVersion[] {
    return this.records.map((r, version) => ({
      version,
      label: r.label,
      module: r.module,
      export: r.exportName,
      options: r.options,
      activatedAt: r.activatedAt,
      current: version === this.current,
      previous: r.previous,
      snapshot: r.snapshot !== undefined && r.snapshot.some((s) => s !== undefined),
      ...(r.snapshotError === undefined ? {} : { snapshotError: r.snapshotError }),
    }));
  }
}

/** Handler errors and messages of the version on probation, since it took over. */
export interface ProbationSample {
  in: number;
  errors: number;
}

/**
 * Watches a version for `rule.window` ms after it took over and calls `trigger(reason)` (once) when
 * its handler error rate or its worker deaths exceed the rule's thresholds. From then until the
 * rollback is over (end()), a worker of the version that dies is not restarted: it waits for its
 * successor (`parked`, restarted by the coordinator if the rollback fails).
 */
export class Probation {
  readonly version: number;
  /** Restarts of the workers that died after the trigger, to run if the rollback fails. */
  readonly parked: Array<() => void> = [];
  readonly #rule: RollbackOn;
  readonly #sample: () => ProbationSample;
  readonly #trigger: (reason: string) => void;
  readonly #timer: ReturnType<typeof setInterval>;
  readonly #until: number;
  #deaths = 0;
  #phase: 'watching' | 'triggered' | 'over' = 'watching';

  constructor(version: number, rule: RollbackOn, sample: () => ProbationSample, trigger: (reason: string) => void) {
    this.version = version;
    this.#rule = rule;
    this.#sample = sample;
    this.#trigger = trigger;
    this.#until = performance.now() + rule.window;
    // Error rates are sampled from the workers' counters (a batch behind at most) every 1/50 of the
    // window, 5 to 100 ms apart: a detection takes a small part of the window.
    this.#timer = setInterval(() => this.#check(), Math.min(100, Math.max(5, rule.window / 50)));
    this.#timer.unref();
  }

  /** A worker of the version died: true when it must wait for the rollback (asked for now, or before). */
  death(): boolean {
    if (this.#phase === 'triggered') return true;
    if (this.#phase === 'over' || this.#rule.maxRestarts === undefined) return false;
    if (++this.#deaths <= this.#rule.maxRestarts) return false;
    this.#fire(`${this.#deaths} worker death${this.#deaths === 1 ? '' : 's'} within its probation, more than rollbackOn.maxRestarts (${this.#rule.maxRestarts})`);
    return true;
  }

  /** A rollback was asked for and is not over: a worker of the version that dies waits for it. */
  get waiting(): boolean {
    return this.#phase === 'triggered';
  }

  /** Stops watching (the window passed, the version was replaced, or its rollback is over). */
  end(): void {
    this.#phase = 'over';
    clearInterval(this.#timer);
  }

  #check(): void {
    if (this.#phase !== 'watching') return;
    const { errorRate, minMessages = 20 } = this.#rule;
    if (errorRate !== undefined) {
      const s = this.#sample();
      if (s.in >= minMessages && s.errors / s.in > errorRate) {
        this.#fire(`handler error rate ${(s.errors / s.in).toFixed(3)} (${s.errors} errors in ${s.in} messages) within its probation, above rollbackOn.errorRate (${errorRate})`);
        return;
      }
    }
    if (performance.now() >= this.#until) this.end();
  }

  #fire(reason: string): void {
    this.#phase = 'triggered';
    clearInterval(this.#timer);
    this.#trigger(reason);
  }
}
