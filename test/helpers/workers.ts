// Worker-thread plumbing for the tests. Fixtures live in test/fixtures/*.mjs and import the built
// library (dist/); the handle of a channel made here with lib/ attaches there unchanged.
import { Worker } from 'node:worker_threads';
import type { ChannelHandle } from '../../lib/index.js';
import * as L from '../../lib/core/layout.js';

/** Control-block word indices the fixtures need (they cannot import lib/core/layout.ts). */
const WORDS = { TAIL: L.TAIL_OFFSET >> 2, HEAD: L.HEAD_OFFSET >> 2, RX_PARKED: L.RX_PARKED_OFFSET >> 2, TX_PARKED: L.TX_PARKED_OFFSET >> 2 };

export const fixture = (name: string): URL => new URL(`../fixtures/${name}`, import.meta.url);

/** An error a worker reported, with the code of the original (RingwireError) when it had one. */
export class WorkerError extends Error {
  code: string | undefined;
  constructor(message: string, code: string | undefined, name?: string) {
    super(message);
    this.code = code;
    if (name) this.name = name;
  }
}

/**
 * A worker running test/fixtures/actor.mjs: it attaches to a channel and runs the operations it
 * is sent, one at a time, replying with the result or the error (its code included).
 */
export class Actor {
  readonly worker: Worker;
  /** Where the worker writes when its last afterWord op started (the clock of test/helpers/waits.ts). */
  readonly #clock = new Float64Array(new SharedArrayBuffer(8));
  #next = 1;
  #calls = new Map<number, { resolve: (v: any) => void; reject: (e: unknown) => void; timer: NodeJS.Timeout }>();
  #dead: Error | undefined;

  constructor(handle: ChannelHandle, options?: Record<string, unknown>) {
    this.worker = new Worker(fixture('actor.mjs'), { workerData: { handle, options, words: WORDS, clock: this.#clock } });
    this.worker.on('message', (m: { id: number; ok: boolean; value?: unknown; code?: string; message?: string; name?: string }) => {
      const call = this.#calls.get(m.id);
      if (call === undefined) return;
      this.#calls.delete(m.id);
      clearTimeout(call.timer);
      if (m.ok) call.resolve(m.value);
      else call.reject(new WorkerError(m.message ?? 'worker error', m.code, m.name));
    });
    const fail = (err: Error) => {
      this.#dead = err;
      for (const call of this.#calls.values()) {
        clearTimeout(call.timer);
        call.reject(err);
      }
      this.#calls.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`actor worker exited with code ${code}`)));
  }

  /** Runs `op` in the worker; rejects with its error, or after `limitMs` (the test must not hang). */
  call<T = any>(op: string, args: unknown[] = [], limitMs = 60_000): Promise<T> {
    if (this.#dead) return Promise.reject(this.#dead);
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#calls.delete(id);
        reject(new Error(`actor op ${op} did not answer within ${limitMs} ms`));
      }, limitMs);
      this.#calls.set(id, { resolve, reject, timer });
      this.worker.postMessage({ id, op, args });
    });
  }

  /** When the worker's last afterWord op started: the publish that had to wake a parked side. */
  publishedAt(): number {
    return this.#clock[0]!;
  }

  async terminate(): Promise<void> {
    await this.worker.terminate();
  }
}

/**
 * Runs a fixture to completion: resolves with the last message it posted, rejects if it throws,
 * exits without posting, or runs past `limitMs` (then it is terminated).
 */
export function runWorker<T = any>(name: string, workerData: unknown, limitMs = 90_000): Promise<T> {
  const worker = new Worker(fixture(name), { workerData });
  return new Promise<T>((resolve, reject) => {
    let result: { value: T } | undefined;
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(new Error(`${name} did not finish within ${limitMs} ms`));
    }, limitMs);
    worker.on('message', (m: T) => {
      result = { value: m };
    });
    worker.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    worker.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0 && result !== undefined) resolve(result.value);
      else reject(new Error(`${name} exited with code ${code}${result === undefined ? ' without a result' : ''}`));
    });
  });
}

/** Polls `cond` every millisecond until it holds; false after `limitMs` (bounded, never hangs). */
export async function waitFor(cond: () => boolean, limitMs = 10_000): Promise<boolean> {
  const end = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 1));
  }
  return true;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A promise's outcome as a value, with its rejection handled at once (a rejection that happens
 * while the test awaits something else is then not an "unhandled rejection").
 */
export const outcome = <T>(p: Promise<T>): Promise<{ value?: T; error?: any }> =>
  p.then(
    (value) => ({ value }),
    (error) => ({ error }),
  );
