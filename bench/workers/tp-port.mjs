// Throughput worker, worker_threads MessagePort: postMessage of one Uint8Array per message (a
// structured clone; a transfer list would cost more than it saves at these sizes), and the
// consumer counts 'message' events.
import { workerData } from 'node:worker_threads';
import { BATCH_LIMIT_MS, serve } from './serve.mjs';

const { role, port, size } = workerData;

if (role === 'producer') {
  const msg = new Uint8Array(size).fill(0x5a);
  let seq = 0;
  serve({
    batch(k) {
      for (let i = 0; i < k; i++) {
        msg[0] = seq++ & 255;
        port.postMessage(msg);
      }
      return k;
    },
  });
} else {
  // Counts are cumulative: messages may arrive before the batch request that announces them.
  let received = 0;
  let target = 0;
  let bad = 0;
  let waiting;
  port.on('message', (m) => {
    if (m[0] !== (received & 255) || m.length !== size) bad++;
    received++;
    if (waiting !== undefined && received >= target) {
      const w = waiting;
      waiting = undefined;
      w();
    }
  });
  serve({
    batch(k) {
      target += k;
      if (received >= target) return k;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`MessagePort consumer: ${received}/${target} after ${BATCH_LIMIT_MS} ms`)), BATCH_LIMIT_MS);
        waiting = () => {
          clearTimeout(timer);
          resolve(k);
        };
      });
    },
    report: () => ({ bad }),
  });
}
