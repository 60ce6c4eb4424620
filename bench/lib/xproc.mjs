// Shared by the cross-process scenarios (bench/xproc-*.mjs): spawning peer processes that report
// one JSON result over IPC, percentiles, and printing a small table when run directly.
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { runScenario } from './scenario.mjs';

export const QUICK = process.env.BENCH_QUICK === '1';
export const peerFile = (name) => fileURLToPath(new URL(`../workers/${name}`, import.meta.url));
export const channelName = (what) => `bench-${what}-${process.pid}-${randomBytes(3).toString('hex')}`;
export const socketPath = (what) => `/tmp/ringwire-bench-${what}-${process.pid}-${randomBytes(3).toString('hex')}.sock`;

/**
 * Forks bench/workers/<name> with `args` (argv[2], JSON). Resolves with its { type: 'result' }
 * message; rejects if it exits without one or runs past limitMs (then it is killed).
 */
export function runPeer(name, args, limitMs = 120_000) {
  const child = fork(peerFile(name), [JSON.stringify(args)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ready = new Promise((resolve) => child.on('message', (m) => m?.type === 'ready' && resolve()));
  const result = new Promise((resolve, reject) => {
    let got;
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.on('message', (m) => {
      if (m?.type === 'result') got = m;
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (got !== undefined) resolve(got);
      else reject(new Error(`${name} (${args.role ?? ''}) exited with ${signal ?? `code ${code}`} before reporting`));
    });
  });
  result.catch(() => {});
  return { child, ready, result };
}

/** p50 / p99 / mean of round-trip samples in µs. */
export function latency(samples) {
  const s = Float64Array.from(samples).sort();
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  let sum = 0;
  for (const x of s) sum += x;
  return { n: s.length, p50Us: at(0.5), p99Us: at(0.99), meanUs: sum / s.length };
}

/**
 * Times round trips of the async `once()`: `warmup` untimed, then up to `n` timed, stopping early
 * once `budgetMs` has passed. Returns the latency summary. (The ringwire peer times its loop
 * inline: its round trip is synchronous, and an await per trip would be part of what it measures.)
 */
export async function timeRoundTrips(once, { n, warmup, budgetMs }) {
  for (let i = 0; i < warmup; i++) await once();
  const samples = new Float64Array(n);
  const end = performance.now() + budgetMs;
  let i = 0;
  while (i < n) {
    const t0 = performance.now();
    await once();
    samples[i] = (performance.now() - t0) * 1000;
    if ((++i & 1023) === 0 && performance.now() > end) break;
  }
  return latency(samples.subarray(0, i));
}

/** For `node bench/xproc-*.mjs`: prints the rows. */
export function printRows(rows) {
  for (const r of rows) {
    if (r.error) console.log(`${r.scenario}  ${r.label}: FAILED ${r.error}`);
    else if (r.msgsPerSec !== undefined) {
      console.log(`${r.scenario}  ${r.sizeLabel.padStart(6)}  ${r.label.padEnd(44)} ${(r.msgsPerSec / 1e6).toFixed(3).padStart(8)} M msg/s  ${r.mbPerSec.toFixed(0).padStart(6)} MB/s`);
    } else {
      console.log(`${r.scenario}  ${String(r.size).padStart(4)} B  ${r.label.padEnd(44)} p50 ${r.p50Us.toFixed(1)} µs  p99 ${r.p99Us.toFixed(1)} µs  (${r.n})`);
    }
  }
}

export const isMain = (url) => process.argv[1] !== undefined && fileURLToPath(url) === process.argv[1];

/** Entry point of an xproc scenario file (bench/lib/scenario.mjs); run by hand, it prints the rows. */
export const main = (name, run) => runScenario(name, run, printRows);
