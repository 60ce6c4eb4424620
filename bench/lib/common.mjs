// Shared by the bench scenarios and the runner: machine description, worker control (one request
// at a time per worker, each bounded by a timeout), statistics and formatting.
import os from 'node:os';
import { Worker } from 'node:worker_threads';

export const BENCH_DIR = new URL('..', import.meta.url);
export const workerUrl = (name) => new URL(`../workers/${name}`, import.meta.url);

/** The machine, printed at the top of the output and stored in the JSON. */
export function machine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model?.trim() ?? 'unknown',
    cores: cpus.length,
    node: process.version,
    v8: process.versions.v8,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

export const describeMachine = (m) =>
  `${m.cpu}, ${m.cores} cores, Node ${m.node} (V8 ${m.v8}), ${m.platform}, load average ${m.loadavg.join(' ')}`;

// Two threads take turns: each spins until the other has written its word (a[0] and a[16], a cache
// line apart, so a round trip moves two lines between the cores). Atomics are seq_cst: each store
// is seen by the other thread's next load of that word, which is all a turn needs.
const PING_PONG = `const { workerData: { sab, side, n } } = require('node:worker_threads');
const a = new Int32Array(sab);
const f = new Float64Array(sab);
Atomics.add(a, 24, 1);
while (Atomics.load(a, 24) < 2);
const t = performance.now();
for (let i = 1; i <= n; i++) {
  if (side === 0) {
    Atomics.store(a, 0, i);
    while (Atomics.load(a, 16) !== i);
  } else {
    while (Atomics.load(a, 0) !== i);
    Atomics.store(a, 16, i);
  }
}
if (side === 0) f[14] = ((performance.now() - t) * 1e6) / n;`;

/**
 * Nanoseconds per round trip between two worker threads that spin on each other's word (timed
 * inside one of them; the median of `runs`). On the project's 2-vCPU VM this reads about 120 ns or
 * about 550 ns, changing from one minute to the next (most likely the host running the two vCPUs
 * on cores that share a cache, or not). The pipeline benchmark follows it (a 3-stage 32 B pipeline
 * ran 2.47–2.78 M msg/s in the first state, 1.88–2.18 M in the second), so the benchmarks record
 * it next to their numbers.
 */
export async function cacheLineRoundTrip({ n = 100_000, runs = 3 } = {}) {
  const out = [];
  for (let r = 0; r < runs; r++) {
    const sab = new SharedArrayBuffer(128);
    const ws = [0, 1].map((side) => new Worker(PING_PONG, { eval: true, workerData: { sab, side, n } }));
    await Promise.all(ws.map((w) => new Promise((resolve, reject) => w.on('exit', resolve).on('error', reject))));
    out.push(new Float64Array(sab)[14]);
  }
  return out.sort((a, b) => a - b)[out.length >> 1];
}

/** Settings shared by every scenario; BENCH_QUICK=1 shortens everything for a smoke run. */
export const QUICK = process.env.BENCH_QUICK === '1';
export const SETTINGS = {
  /** benchmark.js: sample for at most this many seconds per case (after at least minSamples). */
  maxTime: Number(process.env.BENCH_MAX_TIME ?? (QUICK ? 1 : 10)),
  minSamples: QUICK ? 2 : 5,
  /** benchmark.js: one sample lasts at least this long (several batches). */
  minTime: QUICK ? 0.05 : 0.2,
  /** Target duration of one benny "op" (one batch of K messages), used to size K. */
  batchMs: 25,
  /** Warm-up per throughput case before benny starts. */
  warmupMs: QUICK ? 150 : 600,
};

/**
 * A worker driven by requests: request(msg) posts { ...msg, id } and resolves with the worker's
 * reply { id, ok: true, ... }, or rejects on { ok: false, error }, on a worker error or exit, or
 * after timeoutMs. The worker side is bench/workers/serve.mjs.
 */
export class Peer {
  #worker;
  #nextId = 1;
  #pending = new Map();
  #ready;
  #failed;
  name;

  constructor(name, file, workerData, transferList = []) {
    this.name = name;
    this.#worker = new Worker(workerUrl(file), { workerData, transferList });
    let readyResolve;
    this.#ready = new Promise((resolve, reject) => {
      readyResolve = resolve;
      this.#failReady = reject;
    });
    this.#worker.on('message', (m) => {
      if (m?.type === 'ready') return readyResolve();
      const p = this.#pending.get(m?.id);
      if (p === undefined) return;
      this.#pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.ok) p.resolve(m);
      else p.reject(new Error(`${this.name}: ${m.error}`));
    });
    this.#worker.on('error', (err) => this.#fail(new Error(`${this.name} failed: ${err?.stack ?? err}`)));
    this.#worker.on('exit', (code) => this.#fail(new Error(`${this.name} exited (code ${code})`)));
  }

  #failReady;

  #fail(err) {
    this.#failed ??= err;
    this.#failReady?.(err);
    for (const [id, p] of this.#pending) {
      this.#pending.delete(id);
      clearTimeout(p.timer);
      p.reject(err);
    }
  }

  /** Resolves once the worker has set up and is listening. */
  ready(timeoutMs = 20_000) {
    return withTimeout(this.#ready, timeoutMs, `${this.name}: not ready after ${timeoutMs} ms`);
  }

  request(msg, timeoutMs = 60_000) {
    if (this.#failed) return Promise.reject(this.#failed);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${this.name}: no answer to '${msg.cmd}' within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.#worker.postMessage({ ...msg, id });
    });
  }

  async terminate() {
    this.#failed ??= new Error(`${this.name} terminated`);
    this.#worker.removeAllListeners('exit');
    this.#worker.removeAllListeners('error');
    this.#worker.on('error', () => {});
    await this.#worker.terminate();
  }
}

export function withTimeout(promise, ms, message) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Nearest-rank percentile of an ascending Float64Array. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil(p * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** Summary of latency samples in microseconds. */
export function latencySummary(samples) {
  const s = Float64Array.from(samples).sort();
  let sum = 0;
  for (let i = 0; i < s.length; i++) sum += s[i];
  return {
    n: s.length,
    minUs: s[0],
    p50Us: percentile(s, 0.5),
    p90Us: percentile(s, 0.9),
    p99Us: percentile(s, 0.99),
    p999Us: percentile(s, 0.999),
    maxUs: s[s.length - 1],
    meanUs: sum / s.length,
  };
}

/** 12_345_678 → "12.35 M"; 1234 → "1.23 k". */
export function si(x, digits = 2) {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 1e9) return `${(x / 1e9).toFixed(digits)} G`;
  if (a >= 1e6) return `${(x / 1e6).toFixed(digits)} M`;
  if (a >= 1e3) return `${(x / 1e3).toFixed(digits)} k`;
  return x.toFixed(digits);
}

export const fixed = (x, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : '—');

/** "40.1x" when a is faster; "0.52x" when slower. */
export function ratio(a, b) {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return '—';
  const r = a / b;
  return `${r >= 10 ? r.toFixed(0) : r >= 1 ? r.toFixed(1) : r.toFixed(2)}x`;
}

/** A markdown table from a header row and body rows (cells already strings). */
export function markdownTable(header, rows, align) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const pad = (s, i) => (align?.[i] === 'r' ? String(s).padStart(widths[i]) : String(s).padEnd(widths[i]));
  const line = (cells) => `| ${cells.map(pad).join(' | ')} |`;
  const sep = `|${widths.map((w, i) => (align?.[i] === 'r' ? `${'-'.repeat(w + 1)}:` : `${'-'.repeat(w + 2)}`)).join('|')}|`;
  return [line(header), sep, ...rows.map(line)].join('\n');
}
