// Ping-pong round trips at 32 B between two worker threads: ringwire spinning (default spinMicros,
// both sides in recvSync), ringwire parked (spinMicros 0: every wait parks in Atomics.wait) and
// MessagePort. Each round trip is timed on the ping side with performance.now() into a
// preallocated Float64Array, after a warm-up.
//
// Not benny: benchmark.js reports a mean and a margin of error over samples of many ops, and its
// sample sizes hide the per-round-trip distribution; the p50/p99 need every round trip's time.
import { MessageChannel } from 'node:worker_threads';
import { Channel, DEFAULT_SPIN_MICROS } from '../../dist/index.js';
import { latencySummary, Peer, QUICK } from './common.mjs';

const SIZE = 32;

export const MODES = [
  {
    key: 'ringwire-spin',
    label: `ringwire, spinning (spinMicros ${DEFAULT_SPIN_MICROS}, recvSync)`,
    n: QUICK ? 20_000 : 200_000,
    spinMicros: DEFAULT_SPIN_MICROS,
  },
  { key: 'ringwire-park', label: 'ringwire, parked (spinMicros 0, recvSync)', n: QUICK ? 5_000 : 50_000, spinMicros: 0 },
  { key: 'messageport', label: 'MessagePort (postMessage / message event)', n: QUICK ? 5_000 : 50_000 },
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
  const data = { there, back, spinMicros: mode.spinMicros };
  return [
    new Peer(`${mode.key} ping`, 'rt-ringwire.mjs', { role: 'ping', ...data }),
    new Peer(`${mode.key} pong`, 'rt-ringwire.mjs', { role: 'pong', ...data }),
  ];
}

export async function roundtrip() {
  const results = [];
  for (const mode of MODES) {
    const [ping, pong] = spawn(mode);
    try {
      await Promise.all([ping.ready(), pong.ready()]);
      const warmup = Math.round(mode.n / 10);
      const budgetMs = QUICK ? 1500 : 6000;
      const echo = pong.request({ cmd: 'run', maxMessages: warmup + mode.n + 10 }, budgetMs + 60_000);
      const t0 = performance.now();
      const [{ result: samples }] = await Promise.all([
        ping.request({ cmd: 'run', warmup, n: mode.n, budgetMs, size: SIZE }, budgetMs + 60_000),
        echo,
      ]);
      const seconds = (performance.now() - t0) / 1000;
      const summary = latencySummary(samples);
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
