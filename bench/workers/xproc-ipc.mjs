// Throughput peer (bench/xproc-throughput.mjs), child_process IPC: the producer forks the consumer
// (IPC only exists between a parent and its child) with 'advanced' (V8) serialization, so a
// Uint8Array travels as such; at most 1000 sends are in flight. The consumer checks the sequence
// tag and times first → last message; the producer relays its result. argv[2] = { role, size, count }.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const { role, size, count } = JSON.parse(process.argv[2]);
const WINDOW = 1000;
if (role === 'producer') {
  const child = fork(fileURLToPath(import.meta.url), [JSON.stringify({ role: 'consumer', size, count })], {
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const result = new Promise((resolve) => child.on('message', (m) => m?.type === 'result' && resolve(m)));
  await new Promise((resolve) => child.once('message', resolve)); // ready
  const msg = new Uint8Array(size).fill(0x5a);
  for (let i = 0; i < count; i++) {
    msg[0] = i & 255;
    if (i % WINDOW === WINDOW - 1) await new Promise((resolve) => child.send(msg, resolve));
    else child.send(msg);
  }
  process.send(await result);
  child.disconnect();
  process.disconnect();
} else {
  let got = 0;
  let bad = 0;
  let t0 = 0;
  process.on('message', (m) => {
    if (got === 0) t0 = performance.now();
    if (!(m instanceof Uint8Array) || m.length !== size || m[0] !== (got & 255)) bad++;
    if (++got === count) {
      process.send({ type: 'result', messages: got - 1, seconds: (performance.now() - t0) / 1000, bad }, () => process.disconnect());
    }
  });
  process.send({ type: 'ready' });
}
