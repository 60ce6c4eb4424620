// Round-trip peer (bench/xproc-roundtrip.mjs), ringwire over two channel files: ping sends on
// `there` and waits on `back` with recvSync; pong echoes. argv[2] = JSON { role, there, back,
// wait, size, n, warmup, budgetMs }. Ping reports the latency summary.
import { Channel } from '../../dist/index.js';
import { latency } from '../lib/xproc.mjs';

const a = JSON.parse(process.argv[2]);
const TIMEOUT = { timeout: 10_000 };
const there = Channel.open(a.there, { codec: 'bytes', wait: a.wait });
const back = Channel.open(a.back, { codec: 'bytes', wait: a.wait });
if (a.role === 'ping') {
  const tx = there.sender();
  const rx = back.receiver();
  const msg = new Uint8Array(a.size);
  for (let i = 0; i < a.warmup; i++) {
    tx.sendSync(msg, TIMEOUT);
    rx.recvSync(TIMEOUT);
  }
  const samples = new Float64Array(a.n);
  const end = performance.now() + a.budgetMs;
  let i = 0;
  while (i < a.n) {
    msg[0] = i & 255;
    const t0 = performance.now();
    tx.sendSync(msg, TIMEOUT);
    const reply = rx.recvSync(TIMEOUT);
    samples[i] = (performance.now() - t0) * 1000;
    if (reply[0] !== (i & 255) || reply.length !== a.size) throw new Error(`round trip ${i}: wrong reply`);
    if ((++i & 1023) === 0 && performance.now() > end) break;
  }
  await tx.close();
  process.send({ type: 'result', ...latency(samples.subarray(0, i)) });
} else {
  const rx = there.receiver();
  const tx = back.sender();
  process.send({ type: 'ready' });
  for (;;) {
    let m;
    try {
      m = rx.recvSync({ timeout: 60_000 });
    } catch (err) {
      if (err.code === 'ERR_CHANNEL_CLOSED') break;
      throw err;
    }
    tx.sendSync(m, TIMEOUT);
  }
  process.send({ type: 'result' });
}
await there.close();
await back.close();
process.disconnect();
