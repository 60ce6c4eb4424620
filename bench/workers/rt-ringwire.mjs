// Round-trip worker, ringwire: two 'bytes' channels, ping → pong and pong → ping, both sides
// blocking in recvSync, with workerData's `wait` strategy (undefined: the default); ping leaves
// `gapUs` between a reply and its next request (0: back to back).
import { workerData } from 'node:worker_threads';
import { Channel } from '../../dist/index.js';
import { gapFor, serve } from './serve.mjs';

const { role, there, back, wait } = workerData;
const options = wait === undefined ? {} : { wait };
const TIMEOUT = 10_000; // ms: no single wait may take longer (a stuck peer fails the run)

if (role === 'ping') {
  const tx = Channel.attach(there, options).sender();
  const rx = Channel.attach(back, options).receiver();
  serve({
    async run({ warmup, n, budgetMs, size, gapUs = 0 }) {
      const msg = new Uint8Array(size);
      for (let i = 0; i < warmup; i++) {
        gapFor(gapUs);
        tx.sendSync(msg, { timeout: TIMEOUT });
        rx.recvSync({ timeout: TIMEOUT });
      }
      const samples = new Float64Array(n); // preallocated: nothing is allocated per sample but the reply
      const end = performance.now() + budgetMs;
      let i = 0;
      while (i < n) {
        msg[0] = i & 255;
        gapFor(gapUs);
        const t0 = performance.now();
        tx.sendSync(msg, { timeout: TIMEOUT });
        const reply = rx.recvSync({ timeout: TIMEOUT });
        samples[i] = (performance.now() - t0) * 1000; // µs
        if (reply[0] !== (i & 255) || reply.length !== size) throw new Error(`round trip ${i}: wrong reply`);
        i++;
        if ((i & 1023) === 0 && performance.now() > end) break;
      }
      await tx.close(); // pong sees the end and returns
      return samples.subarray(0, i);
    },
  });
} else {
  const rx = Channel.attach(there, options).receiver();
  const tx = Channel.attach(back, options).sender();
  serve({
    run({ maxMessages }) {
      let echoed = 0;
      while (echoed < maxMessages) {
        let m;
        try {
          m = rx.recvSync({ timeout: TIMEOUT });
        } catch (err) {
          if (err?.code === 'ERR_CHANNEL_CLOSED') break; // ping is done
          throw err;
        }
        tx.sendSync(m, { timeout: TIMEOUT });
        echoed++;
      }
      return echoed;
    },
  });
}
