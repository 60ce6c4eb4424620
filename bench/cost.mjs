// Scenario: where the time of one 32 B message goes, in one thread (no peer, no cache-line
// transfers): ns per message for each send path and for drain, next to the primitives they are
// made of. Each step is timed over rounds of K messages (the ring never fills: K records fit in
// it); a round of sends is followed by a drain of the same K, timed separately. The figure is the
// median round. Two threads add what no single-thread loop shows: the transfer of tail's cache line
// to the consumer (see the worker-thread table).
import { Channel } from '../dist/index.js';
import { QUICK } from './lib/common.mjs';
import { runScenario } from './lib/scenario.mjs';

const SIZE = 32;
const K = 16384; // 16384 records of 40 B: 640 KiB of a 1 MiB ring
const ROUNDS = QUICK ? 15 : 101;
const WARMUP = QUICK ? 5 : 30;

function median(xs) {
  const s = Float64Array.from(xs).sort();
  return s[s.length >> 1];
}

/** ns per message of send(tx, k) and of draining what it sent. */
function measure(label, send) {
  const ch = Channel.create({ capacity: 1 << 20, codec: 'bytes' });
  const tx = ch.sender();
  const rx = ch.receiver();
  let sink = 0;
  const onMessage = (view, offset) => void (sink += view[offset]);
  const sends = [];
  const drains = [];
  for (let round = 0; round < WARMUP + ROUNDS; round++) {
    const t0 = process.hrtime.bigint();
    send(tx, K);
    const t1 = process.hrtime.bigint();
    let got = 0;
    while (got < K) got += rx.drain(onMessage, K - got);
    const t2 = process.hrtime.bigint();
    if (round >= WARMUP) {
      sends.push(Number(t1 - t0) / K);
      drains.push(Number(t2 - t1) / K);
    }
  }
  ch.close();
  return { send: median(sends), drain: median(drains), sink };
}

/** ns per iteration of a primitive, K per round. */
function primitive(fn) {
  const times = [];
  for (let round = 0; round < WARMUP + ROUNDS; round++) {
    const t0 = process.hrtime.bigint();
    fn(K);
    if (round >= WARMUP) times.push(Number(process.hrtime.bigint() - t0) / K);
  }
  return median(times);
}

function costs() {
  const msg = new Uint8Array(SIZE).fill(0x5a);
  const batch = Array.from({ length: 64 }, () => new Uint8Array(SIZE).fill(0x5a));
  const full = (n) => {
    throw new Error(`the ring filled after ${n} messages`);
  };
  const paths = [
    ['trySend (one publish per message)', (tx, k) => {
      for (let i = 0; i < k; i++) if (!tx.trySend(msg)) full(i);
    }],
    ['trySend while corked (one publish per 64)', (tx, k) => {
      for (let i = 0; i < k; i += 64) {
        tx.cork();
        for (let j = 0; j < 64; j++) if (!tx.trySend(msg)) full(i + j);
        tx.uncork();
      }
    }],
    ['trySendMany of 64 (one publish per 64)', (tx, k) => {
      for (let i = 0; i < k; i += 64) if (tx.trySendMany(batch) !== 64) full(i);
    }],
    ['tryClaim + 8 Int32 stores + commit, corked (zero-copy)', (tx, k) => {
      const buf = tx.buffer;
      const i32 = new Int32Array(buf.buffer, buf.byteOffset, buf.length >> 2);
      for (let i = 0; i < k; i += 64) {
        tx.cork();
        for (let j = 0; j < 64; j++) {
          const at = tx.tryClaim(SIZE);
          if (at < 0) full(i + j);
          for (let w = at >> 2, e = w + SIZE / 4; w < e; w++) i32[w] = i + j;
          tx.commit(SIZE);
        }
        tx.uncork();
      }
    }],
  ];
  const rows = [];
  let drain;
  for (const [label, send] of paths) {
    const r = measure(label, send);
    rows.push({ scenario: 'cost', impl: label, label, nsPerMsg: r.send });
    drain ??= r.drain; // the drain after plain trySend: every path writes the same records
  }
  rows.push({ scenario: 'cost', impl: 'drain', label: 'drain (per message, callback included)', nsPerMsg: drain });

  const sab = new SharedArrayBuffer(1 << 20);
  const words = new Int32Array(sab);
  const bytes = new Uint8Array(sab);
  let x = 0;
  const prims = [
    ['primitive: Atomics.store of a shared word (a publish)', (k) => {
      for (let i = 0; i < k; i++) Atomics.store(words, 96, i);
    }],
    ['primitive: Atomics.load of a shared word (park word, closed word)', (k) => {
      for (let i = 0; i < k; i++) x += Atomics.load(words, 6);
    }],
    ['primitive: plain read of a shared word', (k) => {
      for (let i = 0; i < k; i++) x += words[6];
    }],
    ['primitive: Uint8Array.set of 32 B into shared memory', (k) => {
      for (let i = 0, at = 0; i < k; i++, at = (at + 40) & 0xfffff) bytes.set(msg, at & ~7);
    }],
  ];
  for (const [label, fn] of prims) rows.push({ scenario: 'cost', impl: label, label, nsPerMsg: primitive(fn) });
  if (x === 0.5) console.log('(unreachable: keeps the loads above observable)');
  return rows;
}

await runScenario('cost 32 B', async () => costs(), (rows) => {
  for (const r of rows) console.log(`${r.nsPerMsg.toFixed(1).padStart(7)} ns  ${r.label}`);
});
