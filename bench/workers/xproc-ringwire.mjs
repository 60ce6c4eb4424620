// Throughput peer (bench/xproc-throughput.mjs), ringwire over a channel file. Producer: trySend (or
// trySendMany of `many`), sendSync (spin, then futex) when full. Consumer: drain() (zero-copy); when
// the ring is empty, wait 'nap' polls drain 2048 times then naps 20 µs (as bench/workers/
// tp-ringwire.mjs does, so the figures compare with the worker-thread ones), wait 'park' blocks in
// recvSync (spin, then futex).
// Checks a sequence tag in each message's first byte; sends warmup + count messages and times the
// last count. argv[2] = JSON { role, name, size, count, warmup, wait, many }.
import { Channel } from '../../dist/index.js';

const { role, name, size, count, warmup = 0, wait = 'nap', many = 0 } = JSON.parse(process.argv[2]);
const total = warmup + count;
const ch = Channel.open(name, { codec: 'bytes' });
if (role === 'producer') {
  const tx = ch.sender();
  const msg = new Uint8Array(size).fill(0x5a);
  if (many) {
    // trySendMany of `many` reused messages, re-tagged per batch (as bench/workers/tp-ringwire.mjs).
    const msgs = Array.from({ length: many }, () => new Uint8Array(size).fill(0x5a));
    for (let i = 0; i < total; i += many) {
      const n = Math.min(many, total - i);
      for (let j = 0; j < n; j++) msgs[j][0] = (i + j) & 255;
      for (let j = tx.trySendMany(msgs, 0, n); j < n; j += tx.trySendMany(msgs, j, n)) tx.sendSync(msgs[j++], { timeout: 60_000 });
    }
  } else {
    for (let i = 0; i < total; i++) {
      msg[0] = i & 255;
      if (!tx.trySend(msg)) tx.sendSync(msg, { timeout: 60_000 });
    }
  }
  await tx.close();
  process.send({ type: 'result' });
} else {
  const rx = ch.receiver();
  process.send({ type: 'ready' });
  let got = 0;
  let bad = 0;
  // The clock starts once `warmup` messages are in (JIT tiers, page faults), as the worker-thread
  // scenario's warm-up does; `from` is where it started.
  let t0 = 0;
  let from = 0;
  const onMessage = (view, offset, length) => {
    if (view[offset] !== (got & 255) || length !== size) bad++;
    got++;
  };
  const nap = new Int32Array(new SharedArrayBuffer(4));
  let idle = 0;
  while (got < total) {
    const n = rx.drain(onMessage, total - got);
    if (n === 0 && wait === 'park') {
      const m = rx.recvSync({ timeout: 60_000 });
      onMessage(m, 0, m.length);
    } else if (n === 0) {
      if (++idle >= 2048) {
        Atomics.wait(nap, 0, 0, 0.02);
        idle = 0;
      }
      continue;
    }
    idle = 0;
    if (t0 === 0 && got >= warmup) {
      t0 = performance.now();
      from = got;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  process.send({ type: 'result', messages: got - from, seconds, bad, parks: ch.stats().received.parks });
}
await ch.close();
process.disconnect?.();
