// The park/wake protocol in TS (the C++ one: cpp/ring/park.h), used by channels, pipeline links
// and (through parkAny) stage inputs. A side first waits as its strategy says (Patience: spin,
// back off), then parks. A side announces it is parking by setting its park word, re-checks its
// condition, and only then sleeps on the peer's position word; the peer checks the park word after
// each publish and wakes it only then (no syscall per message); only the sleeper clears its park
// word. Both stores and both loads are seq_cst Atomics, so either the sleeper sees the new position
// or the peer sees the park word.
import { performance } from 'node:perf_hooks';
import { abortedError, describe, peerDeadError, RingwireRangeError, RingwireTypeError, timeoutError } from '../errors.js';
import type { Waiter } from './ring.js';

/** A side waiting for a peer that may die sleeps at most this long before checking it is alive. */
export const SLICE_MS = 250;

export interface WaitOptions {
  /** Milliseconds to wait at most (default: no limit). */
  timeout?: number;
  /** Aborts the wait (async calls only). */
  signal?: AbortSignal;
}

/**
 * Whether a side's pending async waits keep the event loop alive (ref(), the default) or not
 * (unref()), as a MessagePort's do: every timer of its waits is made through here, and its parks
 * hold the loop through here while they sleep.
 */
export class Liveness {
  #ref = true;
  readonly #timers = new Set<NodeJS.Timeout>();
  /** This side's parks sleeping now (parkAsync): while ref, they hold the thread's loop (holdLoop). */
  #sleeping = 0;

  get ref(): boolean {
    return this.#ref;
  }

  /** Applies to the timers and sleeps of waits pending now as well as to later ones. */
  set(ref: boolean): void {
    if (ref !== this.#ref && this.#sleeping > 0) holdLoop(ref);
    this.#ref = ref;
    for (const t of this.#timers) void (ref ? t.ref() : t.unref());
  }

  /** A park of this side starts sleeping (then ends: awake()). */
  asleep(): void {
    if (this.#sleeping++ === 0 && this.#ref) holdLoop(true);
  }

  awake(): void {
    if (--this.#sleeping === 0 && this.#ref) holdLoop(false);
  }

  timer(fn: () => void, ms: number): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, Math.min(Math.max(0, ms), 0x7fffffff));
    if (!this.#ref) t.unref();
    this.#timers.add(t);
    return t;
  }

  clear(t: NodeJS.Timeout | undefined): void {
    if (t === undefined) return;
    clearTimeout(t);
    this.#timers.delete(t);
  }
}

export interface ParkSite {
  i32: Int32Array;
  waiter: Waiter;
  /** Whether its async waits keep the event loop alive. */
  live: Liveness;
  /** Index of our park word. */
  parked: number;
  /** Index of the word we sleep on (the peer's position). */
  watch: number;
  /**
   * Whether the peer's thread (or process) ended without closing. The waiter then sleeps in slices
   * of SLICE_MS, and this is checked only after a slice that ended without our condition becoming true.
   */
  peer?: { role: 'sender' | 'receiver'; dead(): boolean };
}

/** After a sleep that did not make ready() true: throws ERR_PEER_DEAD if the peer died. */
function checkPeer(site: ParkSite, ready: () => boolean, what: string): void {
  // ready() again after dead(): anything the dead process published is visible by now.
  if (site.peer !== undefined && site.peer.dead() && !ready()) throw peerDeadError(what, site.peer.role);
}

const sliceOf = (site: ParkSite, remaining: number): number => (site.peer === undefined ? remaining : Math.min(remaining, SLICE_MS));

export const deadlineOf = (what: string, timeout: number | undefined): number => {
  if (timeout === undefined) return Infinity;
  if (typeof timeout !== 'number') {
    throw new RingwireTypeError(`${what}: options.timeout must be a number of milliseconds, got ${describe(timeout)}`);
  }
  if (!(timeout >= 0)) {
    throw new RingwireRangeError('ERR_OUT_OF_RANGE', `${what}: options.timeout must be a non-negative number of milliseconds, got ${String(timeout)}`);
  }
  return performance.now() + timeout;
};

/** Spins up to `micros` for ready(); true if it became ready. */
export function spin(ready: () => boolean, micros: number): boolean {
  if (micros <= 0) return false;
  const end = performance.now() + micros / 1000;
  for (let i = 1; ; i++) {
    if (ready()) return true;
    if ((i & 63) === 0 && performance.now() >= end) return false;
  }
}

/**
 * How a side waits before it parks. 'spin': spins `spinMicros`, then parks. 'park': parks at once.
 * 'backoff': spins `spinMicros`, then polls with CPU pause hints up to PAUSE_MICROS, then takes short
 * sleeps (sync calls) or yields to the event loop (async ones) up to BACKOFF_MICROS, then parks.
 * 'adaptive': learns from its recent waits how long waiting pays (Patience, at most `spinMicros`),
 * spins for half of that and polls with pause hints for the rest, then parks.
 */
export type WaitStrategy = 'adaptive' | 'spin' | 'backoff' | 'park';
export const WAIT_STRATEGIES: readonly WaitStrategy[] = ['adaptive', 'spin', 'backoff', 'park'];
export const DEFAULT_WAIT: WaitStrategy = 'adaptive';
export const DEFAULT_SPIN_MICROS = 20;

/** A side's waiting, as options give it (structured-clonable: it crosses to pipeline workers). */
export interface WaitSpec {
  wait: WaitStrategy;
  /** Bound on spinning, microseconds. */
  spinMicros: number;
}

/** options.wait, checked (undefined: the default). */
export function checkWait(value: unknown, name = 'options.wait'): WaitStrategy {
  if (value === undefined) return DEFAULT_WAIT;
  const list = WAIT_STRATEGIES.map((w) => `'${w}'`).join(', ');
  if (typeof value !== 'string') throw new RingwireTypeError(`${name} must be one of ${list}, got ${describe(value)}`);
  if (!(WAIT_STRATEGIES as readonly string[]).includes(value)) {
    throw new RingwireRangeError('ERR_OUT_OF_RANGE', `${name} must be one of ${list}, got '${value}'`);
  }
  return value as WaitStrategy;
}

/** 'backoff': polls with pause hints until this long into the wait, then sleeps or yields. */
export const PAUSE_MICROS = 100;
/** 'backoff': parks this long into the wait. */
export const BACKOFF_MICROS = 1000;
/** 'adaptive': when its budget is 0, every PROBE_EVERY-th wait still waits spinMicros, to notice traffic speeding up. */
export const PROBE_EVERY = 16;
/**
 * 'adaptive': what a park costs, in microseconds of latency (a futex wake-up and the thread getting
 * a core again: ~35 µs per hop measured on a 2-vCPU VM): what a wait that ends before parking saves.
 */
export const PARK_MICROS = 40;

/** Atomics.pause (Node 24+): a CPU hint that this thread is spin-waiting; undefined where the runtime lacks it. */
const pauseHint = (Atomics as typeof Atomics & { pause?: (n?: number) => void }).pause;
/** Never notified: a timed Atomics.wait on it is a plain sleep. */
const NAP = new Int32Array(new SharedArrayBuffer(4));

/** Polls ready() until performance.now() passes `end`, pausing between polls (longer each time, up to 64 hints). */
function pausePoll(ready: () => boolean, end: number): boolean {
  for (let round = 0; ; round++) {
    if (ready()) return true;
    if (performance.now() >= end) return false;
    if (pauseHint !== undefined) for (let k = 1 << Math.min(round, 6); k > 0; k--) pauseHint.call(Atomics, round);
  }
}

/**
 * One side's waiting (a sender, a receiver, a pipeline stage's inputs, a log follower): what it does
 * before it parks, and for 'adaptive' what it learned. Used only on the waiting path: a call that
 * does not wait never reaches it.
 *
 * Adaptive keeps two moving averages over the waits that tried waiting before parking: how long
 * they lasted (`gapMicros`; a wait that had to park counts as 2 x spinMicros, since it lasted at
 * least that long) and how often they ended before parking (`hitRate`). A wait lasts about twice
 * the recent gap (spinning for the first half, then polling with pause hints), at most spinMicros:
 * its window. It waits at all only while that is expected to save more than it wastes: hitRate x
 * PARK_MICROS (the park a hit avoids) at least (1 - hitRate) x the window (the spin a miss burns).
 * Otherwise it parks at once (traffic stopped, or the peer cannot run because the machine has more
 * runnable threads than cores), and every PROBE_EVERY-th wait still waits spinMicros, so it
 * notices when waiting pays again.
 *
 * The budget is all or nothing on purpose. A budget shortened in proportion to the hit rate fed
 * back on itself: waits a little longer than the shortened budget failed, which lowered the rate and
 * the budget further until it reached 0, although spinning the whole window would have paid (a
 * 32 B round trip at a 50 µs gap: the reply took ~20 µs, 2x 'spin' measured with the budget scaled).
 * Now a miss is measured against the window the wait was given, which only shrinks when the recent
 * waits were short, and a miss widens it again through gapMicros.
 */
export class Patience {
  readonly strategy: WaitStrategy;
  readonly spinMicros: number;
  /** adaptive: moving average (1/4) of how long recent waits lasted, microseconds. */
  gapMicros: number;
  /** adaptive: moving average (1/8) of how many waits ended before parking (0..1). */
  hitRate = 1;
  #waits = 0;

  constructor(spec: WaitSpec) {
    this.strategy = spec.wait;
    this.spinMicros = spec.spinMicros;
    this.gapMicros = spec.spinMicros / 2;
  }

  /** adaptive: how long, in microseconds, the next wait waits before it parks (unless it is a probe). */
  get budgetMicros(): number {
    const window = Math.min(this.spinMicros, 2 * this.gapMicros + 1);
    return window < 1 || this.hitRate * PARK_MICROS < (1 - this.hitRate) * window ? 0 : window;
  }

  /**
   * Waits as the strategy says, blocking the thread; true if ready() came true (no need to park).
   * 'backoff' polls and sleeps no later than `deadline` (performance.now()): the caller's timeout.
   */
  hold(ready: () => boolean, deadline = Infinity): boolean {
    switch (this.strategy) {
      case 'park':
        return false;
      case 'spin':
        return spin(ready, this.spinMicros);
      case 'adaptive':
        return this.#adaptive(ready);
      case 'backoff': {
        const t0 = performance.now();
        if (this.#spinAndPause(ready, t0, deadline)) return true;
        // Sleeps of 50 µs, doubling up to 400 µs: the peer does not wake them (no park word).
        for (let us = 50; ; us = Math.min(2 * us, 400)) {
          if (ready()) return true;
          const left = Math.min(t0 + BACKOFF_MICROS / 1000, deadline) - performance.now();
          if (left <= 0) return false;
          Atomics.wait(NAP, 0, 0, Math.min(us / 1000, left));
        }
      }
    }
  }

  /**
   * hold() for async waits: spinning still blocks the thread, but 'backoff' yields to the event loop
   * instead of sleeping, and stops (false) once `signal` aborts during its yields.
   */
  async holdAsync(ready: () => boolean, deadline = Infinity, signal?: AbortSignal): Promise<boolean> {
    if (this.strategy !== 'backoff') return this.hold(ready, deadline);
    const t0 = performance.now();
    if (this.#spinAndPause(ready, t0, deadline)) return true;
    const end = Math.min(t0 + BACKOFF_MICROS / 1000, deadline);
    if (performance.now() >= deadline) return false; // ready() was false just now, and no time is left
    // Yields at least once, even when a loaded machine took the whole 1 ms window from the spin.
    do {
      if (signal?.aborted) return false;
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (ready()) return true;
    } while (performance.now() < end);
    return false;
  }

  /** 'backoff': spinMicros of spinning, then pause-hinted polls up to PAUSE_MICROS into the wait (or the deadline). */
  #spinAndPause(ready: () => boolean, t0: number, deadline: number): boolean {
    return spin(ready, this.spinMicros) || pausePoll(ready, Math.min(t0 + PAUSE_MICROS / 1000, deadline));
  }

  #adaptive(ready: () => boolean): boolean {
    let budget = this.budgetMicros;
    if (budget === 0) {
      if (++this.#waits % PROBE_EVERY !== 0) return false;
      budget = this.spinMicros;
      if (budget === 0) return false;
    }
    const t0 = performance.now();
    const ok = spin(ready, budget / 2) || pausePoll(ready, t0 + budget / 1000);
    const us = ok ? (performance.now() - t0) * 1000 : 2 * this.spinMicros;
    this.gapMicros += (us - this.gapMicros) / 4;
    this.hitRate += ((ok ? 1 : 0) - this.hitRate) / 8;
    return ok;
  }
}

/** What a wait is, for its errors: when it gives up, and how the caller named it. */
export interface WaitFor {
  /** performance.now() at which it fails with ERR_TIMEOUT (Infinity: never). */
  deadline: number;
  /** The call waiting (for messages: 'recvSync', 'send', ...). */
  what: string;
  /** The caller's timeout option, for the message. */
  timeoutMs: number | undefined;
  /** Aborts the wait (async waits only). */
  signal?: AbortSignal;
  /** Whether a queued async call's deadline timer keeps the event loop alive (default: yes). */
  live?: Liveness;
}

/** One park: the condition, the watched word's value, and how the side waits first. */
export interface Park extends WaitFor {
  ready: () => boolean;
  /** The watched word's value that ready() last saw false. */
  value: () => number;
  /** The side's waiting before it parks. */
  patience: Patience;
  /** Called before each sleep (stats). */
  onPark: () => void;
}

/** Blocks the thread until p.ready() (after p.patience's waiting), or throws ERR_TIMEOUT at p.deadline. */
export function parkSync(site: ParkSite, p: Park): void {
  const { ready, value, deadline, what, timeoutMs, onPark } = p;
  if (ready() || p.patience.hold(ready, deadline)) return;
  for (;;) {
    const remaining = deadline - performance.now();
    if (remaining <= 0) throw timeoutError(what, timeoutMs ?? 0);
    Atomics.store(site.i32, site.parked, 1);
    try {
      if (ready()) return;
      onPark();
      site.waiter.waitSync(site.i32, site.watch, value(), sliceOf(site, remaining));
    } finally {
      Atomics.store(site.i32, site.parked, 0);
    }
    if (ready()) return;
    checkPeer(site, ready, what);
  }
}

/** The same as parkSync without blocking the event loop; keeps the loop alive while pending. */
export async function parkAsync(site: ParkSite, p: Park): Promise<void> {
  const { ready, value, deadline, what, timeoutMs, onPark, signal } = p;
  if (ready() || (await p.patience.holdAsync(ready, deadline, signal))) return;
  if (signal?.aborted) throw abortedError(what, signal.reason);
  // Atomics.waitAsync alone does not keep Node's event loop alive: the side's Liveness holds it
  // while we sleep (holdLoop). Each sleep times out by itself at the end of its slice.
  // An abort wakes us by notifying our own watched word (only we sleep on it).
  const wakeSelf = () => site.waiter.notify(site.i32, site.watch);
  signal?.addEventListener('abort', wakeSelf, { once: true });
  try {
    for (;;) {
      if (signal?.aborted) throw abortedError(what, signal.reason);
      const remaining = deadline - performance.now();
      if (remaining <= 0) throw timeoutError(what, timeoutMs ?? 0);
      Atomics.store(site.i32, site.parked, 1);
      try {
        if (ready()) return;
        onPark();
        const slice = sliceOf(site, remaining);
        site.live.asleep();
        try {
          await site.waiter.waitAsync(site.i32, site.watch, value(), slice);
        } finally {
          site.live.awake();
        }
      } finally {
        Atomics.store(site.i32, site.parked, 0);
      }
      if (ready()) return;
      checkPeer(site, ready, what);
    }
  } finally {
    signal?.removeEventListener('abort', wakeSelf);
  }
}

/**
 * Runs `run` once `queue` has settled, so queued async calls keep their call order, and makes the
 * returned promise reject with ERR_TIMEOUT / ERR_ABORTED when the deadline passes or `signal`
 * aborts while the call is still queued (behind a call that may wait forever); `run` is then
 * skipped and `skip` called instead. `chain` is what the next call queues behind.
 */
export function enqueue<R>(
  queue: Promise<unknown>,
  run: () => Promise<R>,
  skip: () => void,
  { deadline, what, timeoutMs, signal, live }: WaitFor,
): { result: Promise<R>; chain: Promise<unknown> } {
  let queued = true;
  let cancelled = false;
  let timer: NodeJS.Timeout | undefined;
  let cancel: (err: unknown) => void = () => {};
  const onAbort = () => cancel(abortedError(what, signal?.reason));
  const stopWatching = () => {
    if (live !== undefined) live.clear(timer);
    else clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  };
  const chain = queue.then(() => {
    queued = false;
    stopWatching();
    if (cancelled) return skip() as undefined;
    return run();
  });
  if (deadline === Infinity && signal === undefined) return { result: chain as Promise<R>, chain };
  const result = new Promise<R>((resolve, reject) => {
    chain.then(resolve as (v: unknown) => void, reject);
    cancel = (err) => {
      if (!queued || cancelled) return;
      cancelled = true;
      stopWatching();
      reject(err);
    };
  });
  if (deadline !== Infinity) {
    const expire = () => cancel(timeoutError(what, timeoutMs ?? 0));
    const ms = deadline - performance.now();
    timer = live !== undefined ? live.timer(expire, ms) : setTimeout(expire, Math.min(Math.max(0, ms), 0x7fffffff));
  }
  signal?.addEventListener('abort', onAbort, { once: true });
  return { result, chain };
}

/** A ring side parkAny sleeps on: its park word, the watched word and the value it holds now. */
export interface AnySite {
  i32: Int32Array;
  parked: number;
  watch: number;
  value: number;
  /** Called before the sleep (stats). */
  onPark(): void;
}

/** A word that ends a parkAny when it no longer holds `value` (a control word). */
export interface WakeWord {
  i32: Int32Array;
  index: number;
  value: number;
}

/**
 * Waits until ready(), `word` changes, `signal` aborts, or `sliceMs` passes, on several rings at
 * once: waits as `patience` says, then sets each site's park word, re-checks (the peers store their
 * position, then load the park word; we store the park word, then load the position: all seq_cst,
 * so one of us sees the other) and sleeps with Atomics.waitAsync on every watched word. The waits
 * left pending when one fires are ours alone (peers never wait on the words we watch), so we wake
 * them before returning. Each wait times out after `sliceMs` (the caller loops); while they sleep,
 * the thread's standing timer is ref()'d to keep its event loop alive (holdLoop).
 */
export async function parkAny(
  sites: AnySite[],
  p: { ready: () => boolean; word?: WakeWord; patience: Patience; sliceMs: number; signal?: AbortSignal },
): Promise<void> {
  const { ready, word, sliceMs, signal } = p;
  if (ready() || (await p.patience.holdAsync(ready))) return;
  for (const s of sites) Atomics.store(s.i32, s.parked, 1);
  let onAbort: (() => void) | undefined;
  let nap: NodeJS.Timeout | undefined;
  let held = false;
  const pending: Array<{ i32: Int32Array; index: number }> = [];
  try {
    if (ready()) return;
    const waits: Promise<unknown>[] = [];
    const sleepOn = (i32: Int32Array, index: number, value: number): boolean => {
      const w = Atomics.waitAsync(i32, index, value, sliceMs);
      if (!w.async) return false;
      pending.push({ i32, index });
      waits.push(w.value);
      return true;
    };
    for (const s of sites) {
      s.onPark();
      if (!sleepOn(s.i32, s.watch, s.value)) return;
    }
    if (word !== undefined && !sleepOn(word.i32, word.index, word.value)) return;
    if (waits.length === 0) waits.push(new Promise<void>((resolve) => (nap = setTimeout(resolve, sliceMs)))); // nothing to watch: a plain sleep
    if (signal !== undefined) {
      waits.push(new Promise<void>((resolve) => {
        onAbort = resolve;
        signal.addEventListener('abort', onAbort, { once: true });
      }));
    }
    holdLoop(true);
    held = true;
    await Promise.race(waits);
  } finally {
    if (held) holdLoop(false);
    clearTimeout(nap);
    if (onAbort !== undefined) signal!.removeEventListener('abort', onAbort);
    for (const s of sites) Atomics.store(s.i32, s.parked, 0);
    for (const w of pending) Atomics.notify(w.i32, w.index);
  }
}

// The standing timer of holdLoop: made once per thread when this module loads, outside any
// caller's async context (a timer keeps the AsyncLocalStorage context it was made in alive), and
// unref()'d until something sleeps. It never fires.
const loopHold = setInterval(() => {}, 0x7fffffff);
loopHold.unref();
let sleepers = 0;

/**
 * Keeps this thread's event loop alive while any parkAny, or any parkAsync of a ref()'d side, sleeps
 * (Atomics.waitAsync alone does not): the standing timer is ref()'d by the first sleeper and
 * unref()'d by the last. A timer made and cleared per sleep (a timer list created and removed each
 * time) cost a pipeline 2% of its throughput and of its CPU (32 B, 3 stages, Node 24: 1.020x
 * (1.005–1.029) steady over 20 rounds in one cache state); toggling a standing one's ref is a flag
 * and a count.
 */
function holdLoop(on: boolean): void {
  if (on) {
    if (sleepers++ === 0) loopHold.ref();
  } else if (--sleepers === 0) {
    loopHold.unref();
  }
}

/** @internal exported for tests: whether a sleep holds the event loop now. */
export const holdsLoop = (): boolean => sleepers > 0 && loopHold.hasRef();
