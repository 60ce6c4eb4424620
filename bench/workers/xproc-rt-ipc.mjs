// Round-trip peer (bench/xproc-roundtrip.mjs), child_process IPC: ping forks pong (IPC is between a
// parent and its child) and sends a `size`-byte Uint8Array ('advanced' serialization); pong sends
// it back. argv[2] = JSON { role, size, n, warmup, budgetMs }. Ping reports the latency summary.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { latency } from '../lib/xproc.mjs';

const a = JSON.parse(process.argv[2]);
if (a.role === 'pong') {
  process.on('message', (m) => process.send(m));
} else {
  const child = fork(fileURLToPath(import.meta.url), [JSON.stringify({ role: 'pong' })], {
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let waiting;
  child.on('message', () => waiting?.());
  const msg = new Uint8Array(a.size);
  const once = () =>
    new Promise((resolve) => {
      waiting = resolve;
      child.send(msg);
    });
  for (let i = 0; i < a.warmup; i++) await once();
  const samples = new Float64Array(a.n);
  const end = performance.now() + a.budgetMs;
  let i = 0;
  while (i < a.n) {
    const t0 = performance.now();
    await once();
    samples[i] = (performance.now() - t0) * 1000;
    if ((++i & 1023) === 0 && performance.now() > end) break;
  }
  child.kill();
  process.send({ type: 'result', ...latency(samples.subarray(0, i)) }, () => process.disconnect());
}
