// Scenario: process ↔ process round trip (ping → pong → ping) at 32 B: ringwire over two channel
// files (the default, wait 'adaptive'; wait 'spin' with the default spinMicros; wait 'park': every
// wait a futex sleep), a Unix domain socket (node:net) and child_process IPC (process.send). Every
// round trip is timed on the ping side with performance.now(), after a warm-up.
//
// export run() → rows { scenario: 'xproc-roundtrip', impl, label, size, n, p50Us, p99Us, meanUs }
// (or { ..., error }). Directly: `node bench/xproc-roundtrip.mjs`.
import { Channel, DEFAULT_SPIN_MICROS } from '../dist/index.js';
import { channelName, isMain, main, QUICK, runPeer, socketPath } from './lib/xproc.mjs';

const SIZE = 32;
const BUDGET_MS = QUICK ? 1500 : 5000; // per mode, after the warm-up

async function ringwire(wait, n) {
  const there = channelName('rt-there');
  const back = channelName('rt-back');
  for (const name of [there, back]) await Channel.open(name, { create: true, capacity: 1 << 16, codec: 'bytes' }).close();
  try {
    const common = { there, back, wait, size: SIZE, n, warmup: Math.round(n / 10), budgetMs: BUDGET_MS };
    const pong = runPeer('xproc-rt-ringwire.mjs', { role: 'pong', ...common });
    await pong.ready;
    const ping = runPeer('xproc-rt-ringwire.mjs', { role: 'ping', ...common });
    const [r] = await Promise.all([ping.result, pong.result]);
    return r;
  } finally {
    Channel.unlink(there);
    Channel.unlink(back);
  }
}

const MODES = [
  { impl: 'ringwire-xproc-adaptive', label: "ringwire, default (wait 'adaptive', recvSync)", n: QUICK ? 20_000 : 200_000, measure: (n) => ringwire(undefined, n) },
  { impl: 'ringwire-xproc-spin', label: `ringwire, spinning (wait 'spin', spinMicros ${DEFAULT_SPIN_MICROS}, recvSync)`, n: QUICK ? 20_000 : 200_000, measure: (n) => ringwire('spin', n) },
  { impl: 'ringwire-xproc-park', label: "ringwire, parked (wait 'park', futex)", n: QUICK ? 5_000 : 50_000, measure: (n) => ringwire('park', n) },
  {
    impl: 'uds',
    label: 'Unix domain socket (node:net)',
    n: QUICK ? 5_000 : 50_000,
    async measure(n) {
      const path = socketPath('rt');
      const pong = runPeer('xproc-rt-uds.mjs', { role: 'pong', path, size: SIZE });
      await pong.ready;
      const ping = runPeer('xproc-rt-uds.mjs', { role: 'ping', path, size: SIZE, n, warmup: Math.round(n / 10), budgetMs: BUDGET_MS });
      const [r] = await Promise.all([ping.result, pong.result]);
      return r;
    },
  },
  {
    impl: 'ipc',
    label: 'child_process IPC (process.send)',
    n: QUICK ? 5_000 : 50_000,
    measure: (n) => runPeer('xproc-rt-ipc.mjs', { role: 'ping', size: SIZE, n, warmup: Math.round(n / 10), budgetMs: BUDGET_MS }).result,
  },
];

export async function run() {
  const rows = [];
  for (const mode of MODES) {
    const base = { scenario: 'xproc-roundtrip', impl: mode.impl, label: mode.label, size: SIZE };
    try {
      const r = await mode.measure(mode.n);
      rows.push({ ...base, n: r.n, p50Us: r.p50Us, p99Us: r.p99Us, meanUs: r.meanUs });
    } catch (err) {
      rows.push({ ...base, error: String(err?.message ?? err) });
    }
  }
  return rows;
}

if (isMain(import.meta.url)) await main('xproc round trip', run);
