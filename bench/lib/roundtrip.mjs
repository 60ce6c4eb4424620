// Ping-pong round trips at 32 B between two worker threads, timed one by one on the ping side
// with performance.now() into a preallocated Float64Array, after a warm-up:
//   - back to back: ringwire by wait strategy ('adaptive', the default; 'spin' with the default
//     spinMicros; 'park': every wait parks in Atomics.wait), both sides in recvSync, and MessagePort;
//   - latency vs gap: the same with ping leaving 5 µs, 50 µs, 500 µs or 5 ms between a reply and
//     its next request, for every strategy and MessagePort;
//   - CPU while idle: the process's CPU time while one thread waits in recvSync on an empty channel
//     and another in sendSync on a full one, for IDLE_MS (2 s: short, for the bench's run time).
//
// Not benny: benchmark.js reports a mean and a margin of error over samples of many ops, and its
// sample sizes hide the per-round-trip distribution; the p50/p99 need every round trip's time.
import { MessageChannel } from 'node:worker_threads';
import { Channel, DEFAULT_SPIN_MICROS } from '../../dist/index.js';
import { latencySummary, Peer, QUICK, sleep } from './common.mjs';

const SIZE = 32;
const STRATEGIES = ['adaptive', 'spin', 'backoff', 'park'];
export const GAPS_US = [5, 50, 500, 5000];
export const IDLE_MS = QUICK ? 300 : 2000;

export const MODES = [
  { key: 'ringwire-adaptive', label: "ringwire, default (wait 'adaptive', recvSync)", n: QUICK ? 20_000 : 200_000 },
  {
    key: 'ringwire-spin',
    label: `ringwire, spinning (wait 'spin', spinMicros ${DEFAULT_SPIN_MICROS}, recvSync)`,
    n: QUICK ? 20_000 : 200_000,
    wait: 'spin',
  },
  { key: 'ringwire-park', label: "ringwire, parked (wait 'park', recvSync)", n: QUICK ? 5_000 : 50_000, wait: 'park' },
  { key: 'messageport', label: 'MessagePort (postMessage / message event)', n: QUICK ? 5_000 : 50_000 },
];

const GAP_MODES = [
  ...STRATEGIES.map((wait) => ({ key: `ringwire-${wait}`, label: `ringwire, wait '${wait}'${wait === 'adaptive' ? ' (default)' : ''}`, wait })),
  { key: 'messageport', label: 'MessagePort' },
];

function spawn(mode) {
  if (mode.key === 'messageport') {
    const { port1, port2 } = new MessageChannel();
    return [
      new Peer('MessagePort ping', 'rt-port.mjs', { role: 'ping', port: port1 }, [port1]),
      new Peer('MessagePort pong', 'rt-port.mjs', { role: 'pong', port: port2 }, [port2]),
    ];
  }
  const there = Channel.create({ codec: 'bytes', capacity: 1 << 16 }).handle;
  const back = Channel.create({ codec: 'bytes', capacity: 1 << 16 }).handle;
  const data = { there, back, wait: mode.wait };
  return [
    new Peer(`${mode.key} ping`, 'rt-ringwire.mjs', { role: 'ping', ...data }),
    new Peer(`${mode.key} pong`, 'rt-ringwire.mjs', { role: 'pong', ...data }),
  ];
}

/** Sends one request to the pair and summarises its samples. */
async function measure([ping, pong], { warmup, n, budgetMs, gapUs = 0 }) {
  const echo = pong.request({ cmd: 'run', maxMessages: warmup + n + 10 }, budgetMs + 60_000);
  const t0 = performance.now();
  const [{ result: samples }] = await Promise.all([ping.request({ cmd: 'run', warmup, n, budgetMs, size: SIZE, gapUs }, budgetMs + 60_000), echo]);
  return { seconds: (performance.now() - t0) / 1000, summary: latencySummary(samples) };
}

export async function roundtrip() {
  const results = [];
  for (const mode of MODES) {
    const [ping, pong] = spawn(mode);
    try {
      await Promise.all([ping.ready(), pong.ready()]);
      const warmup = Math.round(mode.n / 10);
      const { seconds, summary } = await measure([ping, pong], { warmup, n: mode.n, budgetMs: QUICK ? 1500 : 6000 });
      console.log(
        `  ${mode.label}: p50 ${summary.p50Us.toFixed(2)} µs, p99 ${summary.p99Us.toFixed(2)} µs (${summary.n} round trips, ${seconds.toFixed(1)} s)`,
      );
      results.push({ scenario: 'roundtrip', impl: mode.key, label: mode.label, size: SIZE, warmup, ...summary });
    } catch (err) {
      console.error(`  ${mode.label}: FAILED: ${err?.message ?? err}`);
      results.push({ scenario: 'roundtrip', impl: mode.key, label: mode.label, size: SIZE, error: String(err?.message ?? err) });
    } finally {
      await Promise.all([ping.terminate(), pong.terminate()]);
    }
  }
  return results;
}

/**
 * Request/response with a gap before each request: the pong side's wait lasts about the gap, the
 * ping side's the pong's turnaround. A fresh pair per strategy and gap (ping ends a run by closing
 * its channel), a warm-up at that gap (adaptive learns it), then about 0.8 s of round trips.
 */
export async function gaps() {
  const budgetMs = QUICK ? 150 : 800;
  const results = [];
  for (const mode of GAP_MODES) {
    for (const gapUs of GAPS_US) {
      const n = Math.min(20_000, Math.ceil((budgetMs * 1000) / (gapUs + 20)));
      const warmup = Math.max(20, Math.min(500, Math.round(n / 10)));
      const pair = spawn(mode);
      try {
        await Promise.all(pair.map((p) => p.ready()));
        const { summary } = await measure(pair, { warmup, n, budgetMs, gapUs });
        console.log(`  ${mode.label}, gap ${gapUs} µs: p50 ${summary.p50Us.toFixed(2)} µs, p99 ${summary.p99Us.toFixed(2)} µs (${summary.n})`);
        results.push({ scenario: 'roundtrip-gap', impl: mode.key, label: mode.label, gapUs, size: SIZE, warmup, ...summary });
      } catch (err) {
        console.error(`  ${mode.label}, gap ${gapUs} µs: FAILED: ${err?.message ?? err}`);
        results.push({ scenario: 'roundtrip-gap', impl: mode.key, label: mode.label, gapUs, error: String(err?.message ?? err) });
      } finally {
        await Promise.all(pair.map((p) => p.terminate()));
      }
    }
  }
  return results;
}

/** The process's CPU time over `ms` of wall time, as % of one core. */
async function cpuPercentOver(ms) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(ms);
  const c = process.cpuUsage(c0);
  return ((c.user + c.system) / ((performance.now() - t0) * 1000)) * 100;
}

/** Polls (bounded) until cond(). */
async function until(cond, what, limitMs = 10_000) {
  const end = performance.now() + limitMs;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`${what}: not within ${limitMs} ms`);
    await sleep(1);
  }
}

/**
 * CPU while idle, per strategy: a receiver parked on an empty channel and a sender parked on a full
 * one (two worker threads), for IDLE_MS; the row is this whole process's CPU time (every thread),
 * next to a process with nothing waiting and to a worker waiting on a MessagePort.
 */
export async function idleCpu() {
  const results = [];
  const row = (impl, label, cpuPercent) => {
    console.log(`  idle ${IDLE_MS} ms, ${label}: ${cpuPercent.toFixed(2)}% of a core`);
    results.push({ scenario: 'idle-cpu', impl, label, idleMs: IDLE_MS, cpuPercent });
  };
  row('none', 'nothing waiting (this process alone)', await cpuPercentOver(IDLE_MS));
  for (const wait of STRATEGIES) {
    const empty = Channel.create({ codec: 'bytes', capacity: 1 << 16 });
    const full = Channel.create({ codec: 'bytes', capacity: 1 << 16 });
    const peers = [
      new Peer(`idle recv ${wait}`, 'idle.mjs', { side: 'recv', handle: empty.handle, wait }),
      new Peer(`idle send ${wait}`, 'idle.mjs', { side: 'send', handle: full.handle, wait }),
    ];
    try {
      await Promise.all(peers.map((p) => p.ready()));
      const tx = empty.sender();
      const rx = full.receiver();
      const waiting = peers.map((p) => p.request({ cmd: 'run' }, IDLE_MS + 60_000));
      // Both asleep (each counts its parks when it parks), then measure.
      await until(() => empty.stats().received.parks > 0 && full.stats().sent.parks > 0, `idle ${wait}: both sides parked`);
      row(`ringwire-${wait}`, `ringwire, wait '${wait}': recvSync on an empty channel + sendSync on a full one`, await cpuPercentOver(IDLE_MS));
      tx.trySend(new Uint8Array(1));
      rx.drain(() => undefined);
      await Promise.all(waiting);
    } catch (err) {
      console.error(`  idle ${wait}: FAILED: ${err?.message ?? err}`);
      results.push({ scenario: 'idle-cpu', impl: `ringwire-${wait}`, label: `ringwire, wait '${wait}'`, error: String(err?.message ?? err) });
    } finally {
      await Promise.all(peers.map((p) => p.terminate()));
    }
  }
  const { port1, port2 } = new MessageChannel();
  const peer = new Peer('idle port', 'idle.mjs', { side: 'port', port: port2 }, [port2]);
  try {
    await peer.ready();
    const waiting = peer.request({ cmd: 'run' }, IDLE_MS + 60_000);
    row('messageport', 'MessagePort: a worker waiting for a message', await cpuPercentOver(IDLE_MS));
    port1.postMessage(1);
    await waiting;
  } finally {
    port1.close();
    await peer.terminate();
  }
  return results;
}
