// Throughput peer (bench/xproc-throughput.mjs), ringwire over a channel file. Producer: trySend,
// sendSync (spin, then futex) when full. Consumer: drain() (zero-copy); when the ring is empty,
// wait 'nap' polls drain 2048 times then naps 20 µs (as bench/workers/tp-ringwire.mjs does, so the
// figures compare with the worker-thread ones), wait 'park' blocks in recvSync (spin, then futex).
// Checks a sequence tag in each message's first byte; times first → last message.
// argv[2] = JSON { role, name, size, count, wait }.
import { Channel } from '../../dist/index.js';

const { role, name, size, count, wait = 'nap' } = JSON.parse(process.argv[2]);
const ch = Channel.open(name, { codec: 'bytes' });
if (role === 'producer') {
  const tx = ch.sender();
  const msg = new Uint8Array(size).fill(0x5a);
  for (let i = 0; i < count; i++) {
    msg[0] = i & 255;
    if (!tx.trySend(msg)) tx.sendSync(msg, { timeout: 60_000 });
  }
  await tx.close();
  process.send({ type: 'result' });
} else {
  const rx = ch.receiver();
  process.send({ type: 'ready' });
  let got = 0;
  let bad = 0;
  let t0 = 0;
  const onMessage = (view, offset, length) => {
    if (view[offset] !== (got & 255) || length !== size) bad++;
    got++;
  };
  const nap = new Int32Array(new SharedArrayBuffer(4));
  let idle = 0;
  while (got < count) {
    const n = rx.drain(onMessage, 65536);
    if (n > 0) {
      if (t0 === 0) t0 = performance.now();
      idle = 0;
      continue;
    }
    if (wait === 'park') {
      const m = rx.recvSync({ timeout: 60_000 });
      if (t0 === 0) t0 = performance.now();
      onMessage(m, 0, m.length);
    } else if (++idle >= 2048) {
      Atomics.wait(nap, 0, 0, 0.02);
      idle = 0;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  process.send({ type: 'result', messages: got - 1, seconds, bad, parks: ch.stats().received.parks });
}
await ch.close();
process.disconnect?.();
