// Idle-CPU worker: one call that waits until the main thread releases it, so the main thread can
// read the process's CPU time meanwhile. ringwire: side 'recv' blocks in recvSync on an empty
// channel, 'send' in sendSync on a full one (with workerData.wait); 'port': a MessagePort listener.
import { workerData } from 'node:worker_threads';
import { Channel } from '../../dist/index.js';
import { serve } from './serve.mjs';

const { side, handle, wait, port } = workerData;
const TIMEOUT = 60_000; // ms: the main thread releases us within seconds

if (side === 'port') {
  serve({ run: () => new Promise((resolve) => port.once('message', () => resolve(1))) });
} else {
  const channel = Channel.attach(handle, { wait });
  const rx = side === 'recv' ? channel.receiver() : undefined;
  const tx = side === 'send' ? channel.sender() : undefined;
  serve({
    run() {
      if (rx !== undefined) return rx.recvSync({ timeout: TIMEOUT }).length;
      const msg = new Uint8Array(64);
      let n = 0;
      while (n < 1_000_000 && tx.trySend(msg)) n++;
      tx.sendSync(msg, { timeout: TIMEOUT });
      return n + 1;
    },
  });
}
