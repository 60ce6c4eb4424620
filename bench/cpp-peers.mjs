// Scenario: C++ ↔ Node throughput over a channel file, next to Node → Node in the same run:
// C++ → Node, Node → C++, Node → Node (and C++ → C++ for reference) at 32 B and 1 KiB. Each run is
// two fresh processes on a 4 MiB ring, bytes codec; producers trySend and block when full (Node
// sendSync, C++ Send), consumers drain and block when empty (the Node consumer is
// bench/workers/xproc-ringwire.mjs with wait 'park', the C++ one test/cpp/peer.cc bench-consumer:
// Drain, then Recv). The consumer times its first message to its last; each case is the median of
// RUNS runs. The C++ peer is built by scripts/build-cpp-peers.mjs (cmake).
//
// export run() → rows { scenario: 'cpp-peers', impl, label, size, sizeLabel, messages, seconds,
// msgsPerSec, mbPerSec }. Directly: `node bench/cpp-peers.mjs` (BENCH_QUICK=1 for a smoke run).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Channel } from '../dist/index.js';
import { buildCppPeers } from '../scripts/build-cpp-peers.mjs';
import { channelName, isMain, main, QUICK, runPeer } from './lib/xproc.mjs';

const RUNS = QUICK ? 1 : 3;
const SIZES = [
  { size: 32, sizeLabel: '32 B', count: QUICK ? 200_000 : 3_000_000 },
  { size: 1024, sizeLabel: '1 KiB', count: QUICK ? 100_000 : 1_000_000 },
];

/** Runs the C++ peer in `mode`; `ready` resolves on its "ready" line, `result` with its JSON line (or on exit 0). */
function runCpp(peer, mode, name, size, count, limitMs = 120_000) {
  const child = spawn(peer, [mode, name, String(size), String(count)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let onReady;
  const ready = new Promise((resolve) => (onReady = resolve));
  let got;
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line === 'ready') onReady();
    else if (line.startsWith('{')) got = JSON.parse(line);
  });
  const result = new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(got ?? {});
      else reject(new Error(`C++ ${mode} exited with ${signal ?? `code ${code}`}`));
    });
  });
  result.catch(() => {});
  return { ready, result };
}

const node = {
  consumer: (name, size, count) => runPeer('xproc-ringwire.mjs', { role: 'consumer', name, size, count, wait: 'park' }),
  producer: (name, size, count) => runPeer('xproc-ringwire.mjs', { role: 'producer', name, size, count }),
};

async function once(peer, from, to, size, count) {
  const name = channelName('cpp');
  const ch = Channel.open(name, { create: true, capacity: 1 << 22, codec: 'bytes' });
  await ch.close();
  try {
    const rx = to === 'cpp' ? runCpp(peer, 'bench-consumer', name, size, count) : node.consumer(name, size, count);
    await rx.ready;
    const tx = from === 'cpp' ? runCpp(peer, 'bench-producer', name, size, count) : node.producer(name, size, count);
    const [r] = await Promise.all([rx.result, tx.result]);
    if (r.bad !== 0) throw new Error(`${r.bad} messages arrived wrong`);
    return r;
  } finally {
    Channel.unlink(name);
  }
}

const CASES = [
  { impl: 'cpp-node', label: 'C++ → Node', from: 'cpp', to: 'node' },
  { impl: 'node-cpp', label: 'Node → C++', from: 'node', to: 'cpp' },
  { impl: 'node-node', label: 'Node → Node', from: 'node', to: 'node' },
  { impl: 'cpp-cpp', label: 'C++ → C++', from: 'cpp', to: 'cpp' },
];

export async function run() {
  const { peer } = await buildCppPeers();
  const rows = [];
  for (const s of SIZES) {
    for (const c of CASES) {
      const base = { scenario: 'cpp-peers', impl: c.impl, label: c.label, size: s.size, sizeLabel: s.sizeLabel };
      try {
        const runs = [];
        for (let k = 0; k < RUNS; k++) runs.push(await once(peer, c.from, c.to, s.size, s.count));
        runs.sort((a, b) => a.messages / a.seconds - b.messages / b.seconds);
        const r = runs[runs.length >> 1];
        const msgsPerSec = r.messages / r.seconds;
        rows.push({ ...base, messages: r.messages, seconds: r.seconds, msgsPerSec, mbPerSec: (msgsPerSec * s.size) / 1e6 });
      } catch (err) {
        rows.push({ ...base, error: String(err?.message ?? err) });
      }
    }
  }
  return rows;
}

if (isMain(import.meta.url)) await main('C++ peers', run);
