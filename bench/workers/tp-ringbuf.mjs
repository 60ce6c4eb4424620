// Throughput worker, ringbuf.js RingBuffer<Uint8Array> over a SharedArrayBuffer with length
// framing: a 4-byte little-endian length, then the payload, each written with push() and read
// with pop(). ringbuf.js has no blocking wait: both sides spin (with a short nap after a long spin).
import { workerData } from 'node:worker_threads';
import { RingBuffer } from 'ringbuf.js';
import { BATCH_LIMIT_MS, serve } from './serve.mjs';

const { role, sab, size } = workerData;
const rb = new RingBuffer(sab, Uint8Array);
const header = new Uint8Array(4);
const nap = new Int32Array(new SharedArrayBuffer(4));
let naps = 0;

/** Called while spinning: enforces the deadline, and naps 20 µs once the spin has been long. */
function backoff(spins, deadline, what) {
  if ((spins & 1023) !== 0) return;
  if (performance.now() > deadline) throw new Error(`ringbuf.js ${what}: not finished within ${BATCH_LIMIT_MS} ms`);
  if (spins >= 1 << 16) {
    naps++;
    Atomics.wait(nap, 0, 0, 0.02);
  }
}

if (role === 'producer') {
  const msg = new Uint8Array(size).fill(0x5a);
  const need = 4 + size;
  let seq = 0;
  header[0] = size & 255;
  header[1] = (size >>> 8) & 255;
  header[2] = (size >>> 16) & 255;
  header[3] = (size >>> 24) & 255;
  serve({
    batch(k) {
      const deadline = performance.now() + BATCH_LIMIT_MS;
      for (let i = 0; i < k; i++) {
        msg[0] = seq++ & 255;
        for (let spins = 1; rb.availableWrite() < need; spins++) backoff(spins, deadline, 'producer');
        rb.push(header, 4);
        rb.push(msg, size);
      }
      return k;
    },
    report: () => ({ naps }),
  });
} else {
  const payload = new Uint8Array(size);
  let expected = 0;
  let bad = 0;
  serve({
    batch(k) {
      const deadline = performance.now() + BATCH_LIMIT_MS;
      for (let i = 0; i < k; i++) {
        for (let spins = 1; rb.availableRead() < 4; spins++) backoff(spins, deadline, 'consumer');
        rb.pop(header, 4);
        const len = header[0] | (header[1] << 8) | (header[2] << 16) | (header[3] << 24);
        if (len !== size) throw new Error(`ringbuf.js consumer: length ${len}, expected ${size}`);
        for (let spins = 1; rb.availableRead() < len; spins++) backoff(spins, deadline, 'consumer');
        rb.pop(payload, len);
        if (payload[0] !== (expected & 255)) bad++;
        expected++;
      }
      return k;
    },
    report: () => ({ bad, naps }),
  });
}
