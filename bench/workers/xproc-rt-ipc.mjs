// Round-trip peer (bench/xproc-roundtrip.mjs), child_process IPC: ping forks pong (IPC is between a
// parent and its child) and sends a `size`-byte Uint8Array ('advanced' serialization); pong sends
// it back. argv[2] = JSON { role, size, n, warmup, budgetMs }. Ping reports the latency summary.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { timeRoundTrips } from '../lib/xproc.mjs';

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
  const summary = await timeRoundTrips(once, a);
  child.kill();
  process.send({ type: 'result', ...summary }, () => process.disconnect());
}
