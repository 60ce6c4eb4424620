// Throughput worker, ringwire 'bytes' codec. Producer: trySend in a loop, sendSync (spin, then park)
// when the ring is full; with `cork: n`, it publishes once per n messages (cork/uncork); with
// `many: n`, it sends n messages per trySendMany (one publish each; the n Uint8Arrays are reused,
// their first byte re-tagged per message, so nothing is allocated). Consumer: drain() only (zero-copy, no allocation per message); when the
// ring stays empty it naps 20 µs in Atomics.wait on a private word rather than blocking in
// recvSync, whose decode would allocate and blur the GC count (naps are reported).
import { workerData } from 'node:worker_threads';
import { Channel } from '../../dist/index.js';
import { BATCH_LIMIT_MS, overdue, serve } from './serve.mjs';

const { role, handle, size, cork = 0, many = 0 } = workerData;
const channel = Channel.attach(handle);
const SPIN_POLLS = 2048; // empty drain() polls before a nap
const NAP_MS = 0.02;
const WAIT = { timeout: BATCH_LIMIT_MS }; // one options object, not one per wait

if (role === 'producer') {
  const tx = channel.sender();
  const msg = new Uint8Array(size).fill(0x5a);
  let seq = 0;
  let fullWaits = 0;
  const msgs = Array.from({ length: many }, () => new Uint8Array(size).fill(0x5a));
  /** trySendMany of msgs[0..n), each tagged with its sequence number; sendSync when full. */
  const sendMany = (n) => {
    for (let j = 0; j < n; j++) msgs[j][0] = (seq + j) & 255;
    seq += n;
    for (let j = tx.trySendMany(msgs, 0, n); j < n; j += tx.trySendMany(msgs, j, n)) {
      fullWaits++;
      tx.sendSync(msgs[j++], WAIT);
    }
  };
  serve({
    batch(k) {
      if (many) {
        for (let i = 0; i < k; i += many) sendMany(Math.min(many, k - i));
        return k;
      }
      if (cork) tx.cork();
      for (let i = 0; i < k; i++) {
        msg[0] = seq++ & 255; // sequence tag the consumer checks
        if (!tx.trySend(msg)) {
          fullWaits++;
          tx.sendSync(msg, WAIT);
        }
        if (cork && i % cork === cork - 1) {
          tx.uncork();
          tx.cork();
        }
      }
      if (cork) tx.uncork();
      return k;
    },
    report: () => ({ fullWaits, stats: channel.stats().sent }),
  });
} else {
  const rx = channel.receiver();
  const nap = new Int32Array(new SharedArrayBuffer(4));
  let expected = 0;
  let bad = 0;
  let naps = 0;
  const onMessage = (view, offset, length) => {
    if (view[offset] !== (expected & 255) || length !== size) bad++;
    expected++;
  };
  serve({
    batch(k) {
      const deadline = performance.now() + BATCH_LIMIT_MS;
      let got = 0;
      let idle = 0;
      while (got < k) {
        const n = rx.drain(onMessage, k - got);
        if (n !== 0) {
          got += n;
          idle = 0;
          continue;
        }
        if (++idle < SPIN_POLLS) continue;
        naps++;
        overdue(deadline, 'ringwire consumer');
        Atomics.wait(nap, 0, 0, NAP_MS);
        idle = 0;
      }
      return k;
    },
    report: () => ({ bad, naps, stats: channel.stats().received }),
  });
}
