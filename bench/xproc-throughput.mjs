// Scenario: process → process throughput at 32 B, 1 KiB and 64 KiB: ringwire over a channel file
// (Channel.open, a 1 MiB ring as in the worker-thread scenario; bytes codec, trySend or trySendMany
// of 64 → drain; the consumer polls and naps when empty like the worker-thread scenario, and
// another row has it park on the futex in recvSync), a Unix domain socket
// (node:net, one length-prefixed write per message, honouring backpressure) and child_process IPC
// (process.send with 'advanced' serialization, bounded in flight). Each run is two fresh processes;
// the ringwire consumer times the second half of its messages (the first half warms up), the
// others from the first message to the last.
//
// export run() → rows { scenario: 'xproc-throughput', impl, label, size, sizeLabel, messages,
// seconds, msgsPerSec, mbPerSec } (or { ..., error }). Directly: `node bench/xproc-throughput.mjs`.
import { Channel } from '../dist/index.js';
import { channelName, isMain, main, QUICK, runPeer, socketPath } from './lib/xproc.mjs';

const SIZES = [
  { size: 32, sizeLabel: '32 B', count: QUICK ? 300_000 : 5_000_000, slowCount: QUICK ? 50_000 : 500_000 },
  { size: 1024, sizeLabel: '1 KiB', count: QUICK ? 100_000 : 1_000_000, slowCount: QUICK ? 30_000 : 200_000 },
  { size: 65536, sizeLabel: '64 KiB', count: QUICK ? 3_000 : 40_000, slowCount: QUICK ? 2_000 : 20_000 },
];

// The worker-thread scenario's ring size (bench/lib/throughput.mjs), so the two compare.
const RING_BYTES = 1 << 20;

const ringwire = (wait, many = 0) => async (size, count) => {
  const name = channelName('tp');
  const ch = Channel.open(name, { create: true, capacity: RING_BYTES, codec: 'bytes' });
  await ch.close();
  try {
    // As many messages again before the clock starts (the worker-thread cases warm up too).
    const warmup = count;
    const rx = runPeer('xproc-ringwire.mjs', { role: 'consumer', name, size, count, warmup, wait });
    await rx.ready;
    const tx = runPeer('xproc-ringwire.mjs', { role: 'producer', name, size, count, warmup, many });
    const [r] = await Promise.all([rx.result, tx.result]);
    return r;
  } finally {
    Channel.unlink(name);
  }
};

const IMPLS = [
  { impl: 'ringwire-xproc', label: 'ringwire (channel file, trySend → drain)', measure: ringwire('nap') },
  { impl: 'ringwire-xproc-batch', label: 'ringwire (channel file, trySendMany 64 → drain)', measure: ringwire('nap', 64) },
  { impl: 'ringwire-xproc-park', label: 'ringwire, consumer parks (recvSync, futex)', measure: ringwire('park') },
  {
    impl: 'uds',
    label: 'Unix domain socket (node:net)',
    slow: true,
    async measure(size, count) {
      const path = socketPath('tp');
      const rx = runPeer('xproc-uds.mjs', { role: 'consumer', path, size, count });
      await rx.ready;
      const tx = runPeer('xproc-uds.mjs', { role: 'producer', path, size, count });
      const [r] = await Promise.all([rx.result, tx.result]);
      return r;
    },
  },
  {
    impl: 'ipc',
    label: "child_process IPC (process.send, 'advanced')",
    slow: true,
    async measure(size, count) {
      // The producer forks the consumer: IPC exists only between a parent and its child.
      return runPeer('xproc-ipc.mjs', { role: 'producer', size, count }).result;
    },
  },
];

export async function run() {
  const rows = [];
  for (const s of SIZES) {
    for (const impl of IMPLS) {
      const count = impl.slow ? s.slowCount : s.count;
      const base = { scenario: 'xproc-throughput', impl: impl.impl, label: impl.label, size: s.size, sizeLabel: s.sizeLabel };
      try {
        const r = await impl.measure(s.size, count);
        if (r.bad !== 0) throw new Error(`${r.bad} messages arrived wrong`);
        const msgsPerSec = r.messages / r.seconds;
        rows.push({ ...base, messages: r.messages, seconds: r.seconds, msgsPerSec, mbPerSec: (msgsPerSec * s.size) / 1e6 });
      } catch (err) {
        rows.push({ ...base, error: String(err?.message ?? err) });
      }
    }
  }
  return rows;
}

if (isMain(import.meta.url)) await main('xproc throughput', run);
