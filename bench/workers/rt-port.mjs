// Round-trip worker, worker_threads MessagePort: ping posts a Uint8Array and waits for the echo
// ('message' event); pong posts every message straight back. Ping leaves `gapUs` between a reply and
// its next request (0: back to back).
import { workerData } from 'node:worker_threads';
import { gapFor, serve } from './serve.mjs';

const { role, port } = workerData;

if (role === 'ping') {
  serve({
    run({ warmup, n, budgetMs, size, gapUs = 0 }) {
      const msg = new Uint8Array(size);
      const samples = new Float64Array(n);
      return new Promise((resolve, reject) => {
        let i = -warmup; // negative: warm-up round trips, not recorded
        let t0 = 0;
        let end = warmup === 0 ? performance.now() + budgetMs : Infinity;
        const timer = setTimeout(() => {
          port.off('message', onReply);
          reject(new Error(`MessagePort ping: stuck at round trip ${i}`));
        }, budgetMs + 30_000);
        const send = () => {
          gapFor(gapUs);
          msg[0] = i & 255;
          t0 = performance.now();
          port.postMessage(msg);
        };
        const onReply = (reply) => {
          const t = performance.now();
          if (reply[0] !== (i & 255)) {
            clearTimeout(timer);
            port.off('message', onReply);
            reject(new Error(`round trip ${i}: wrong reply`));
            return;
          }
          if (i >= 0) samples[i] = (t - t0) * 1000; // µs
          i++;
          if (i === 0) end = performance.now() + budgetMs;
          if (i >= n || (i > 0 && (i & 1023) === 0 && t > end)) {
            clearTimeout(timer);
            port.off('message', onReply);
            resolve(samples.subarray(0, Math.max(0, i)));
            return;
          }
          send();
        };
        port.on('message', onReply);
        send();
      });
    },
  });
} else {
  port.on('message', (m) => port.postMessage(m));
  serve({ run: () => 0 });
}
