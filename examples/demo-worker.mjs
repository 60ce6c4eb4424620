// The worker side of examples/demo.mjs. Each worker runs one task (workerData.task), posts one
// result to the main thread and exits.
import { parentPort, workerData } from 'node:worker_threads';
import { Channel } from '../dist/index.js';

const TIMEOUT = 20_000; // ms: no single wait may take longer than this
const { task } = workerData;

/** An order, as the JSON part of the demo sends it. */
const makeOrder = (i) => ({
  id: i,
  customer: `customer-${i % 1000}`,
  items: [{ sku: `sku-${i % 97}`, qty: 1 + (i % 5) }],
  total: Math.round(i * 1.37) / 100,
  express: i % 3 === 0,
});

const tasks = {
  // ---- ringwire -------------------------------------------------------------------------------

  /** Sends `count` small byte messages: trySend, and sendSync (waits) only when the ring is full. */
  async 'ringwire-send-bytes'({ handle, count, size }) {
    const tx = Channel.attach(handle).sender();
    const msg = new Uint8Array(size);
    for (let i = 0; i < count; i++) {
      msg[0] = i & 255;
      if (!tx.trySend(msg)) tx.sendSync(msg, { timeout: TIMEOUT });
    }
    await tx.close();
    return { sent: count };
  },

  /** Receives with drain(): no decoding, no copies, no allocation per message. */
  'ringwire-recv-bytes'({ handle, count }) {
    const rx = Channel.attach(handle).receiver();
    let received = 0;
    let checksum = 0;
    const onMessage = (view, offset) => {
      checksum = (checksum + view[offset]) | 0;
      received++;
    };
    while (received < count) {
      if (rx.drain(onMessage, count - received) === 0) {
        // Nothing there: block (spin briefly, then park) for the next message.
        const m = rx.recvSync({ timeout: TIMEOUT });
        checksum = (checksum + m[0]) | 0;
        received++;
      }
    }
    return { received, checksum };
  },

  /** Sends `count` plain objects with the 'json' codec, then closes (the receiver sees the end). */
  async 'ringwire-send-json'({ handle, count }) {
    const tx = Channel.attach(handle).sender();
    for (let i = 0; i < count; i++) {
      const order = makeOrder(i);
      if (!tx.trySend(order)) tx.sendSync(order, { timeout: TIMEOUT });
    }
    await tx.close();
    return { sent: count };
  },

  /** Receives objects until the sender closes. */
  'ringwire-recv-json'({ handle }) {
    const rx = Channel.attach(handle).receiver();
    let received = 0;
    let total = 0;
    for (;;) {
      let order;
      try {
        order = rx.recvSync({ timeout: TIMEOUT });
      } catch (err) {
        if (err?.code === 'ERR_CHANNEL_CLOSED') break; // the sender closed and we have read everything
        throw err;
      }
      total += order.total;
      received++;
    }
    return { received, checksum: Math.round(total) };
  },

  /** Ping: send 32 bytes, wait for the echo; `count` timed round trips after a warm-up. */
  async 'ringwire-ping'({ there, back, count, warmup, size }) {
    const tx = Channel.attach(there).sender();
    const rx = Channel.attach(back).receiver();
    const msg = new Uint8Array(size);
    const times = new Float64Array(count);
    for (let i = -warmup; i < count; i++) {
      const t0 = performance.now();
      tx.sendSync(msg, { timeout: TIMEOUT });
      rx.recvSync({ timeout: TIMEOUT });
      if (i >= 0) times[i] = (performance.now() - t0) * 1000;
    }
    await tx.close();
    return { times };
  },

  /** Pong: echo every message until the ping side closes. */
  async 'ringwire-pong'({ there, back }) {
    const rx = Channel.attach(there).receiver();
    const tx = Channel.attach(back).sender();
    let echoed = 0;
    for (;;) {
      try {
        tx.sendSync(rx.recvSync({ timeout: TIMEOUT }), { timeout: TIMEOUT });
        echoed++;
      } catch (err) {
        if (err?.code === 'ERR_CHANNEL_CLOSED') break;
        throw err;
      }
    }
    await tx.close();
    return { echoed };
  },

  // ---- MessagePort, for comparison ------------------------------------------------------------
  // postMessage has no back-pressure, so the sender keeps at most WINDOW messages unacknowledged
  // (otherwise millions of queued messages would pile up in memory). It stops early, telling the
  // receiver how many it sent, if the exchange runs past `budgetMs`.

  'port-send'({ port, count, size, json, budgetMs }) {
    const WINDOW = 65_536;
    const msg = new Uint8Array(size);
    let sent = 0;
    let acked = 0;
    let wake;
    port.on('message', (m) => {
      acked = m.acked;
      wake?.();
    });
    const end = performance.now() + budgetMs;
    return new Promise((resolve) => {
      const pump = () => {
        wake = undefined;
        while (sent < count && sent - acked < WINDOW) {
          if (json) port.postMessage(makeOrder(sent));
          else {
            msg[0] = sent & 255;
            port.postMessage(msg);
          }
          sent++;
          if ((sent & 4095) === 0 && performance.now() > end) break;
        }
        if (sent === count || performance.now() > end) {
          port.postMessage({ end: sent });
          port.close();
          resolve({ sent, stoppedEarly: sent < count });
          return;
        }
        wake = pump; // wait for the receiver's next acknowledgement
      };
      pump();
    });
  },

  'port-recv'({ port }) {
    const ACK_EVERY = 16_384;
    let received = 0;
    let checksum = 0;
    return new Promise((resolve) => {
      port.on('message', (m) => {
        if (m instanceof Uint8Array) checksum = (checksum + m[0]) | 0;
        else if (m.end !== undefined) {
          port.close();
          resolve({ received, checksum });
          return;
        } else checksum = (checksum + Math.round(m.total)) | 0;
        if (++received % ACK_EVERY === 0) port.postMessage({ acked: received });
      });
    });
  },

  'port-ping'({ port, count, warmup, size }) {
    const msg = new Uint8Array(size);
    const times = new Float64Array(count);
    let i = -warmup;
    let t0 = 0;
    return new Promise((resolve) => {
      port.on('message', () => {
        if (i >= 0) times[i] = (performance.now() - t0) * 1000;
        if (++i === count) {
          port.close();
          resolve({ times });
          return;
        }
        t0 = performance.now();
        port.postMessage(msg);
      });
      t0 = performance.now();
      port.postMessage(msg);
    });
  },

  'port-pong'({ port }) {
    return new Promise((resolve) => {
      port.on('message', (m) => port.postMessage(m));
      port.on('close', () => resolve({}));
    });
  },
};

// Wait for "go" so that the clock in the main thread starts when both sides are ready.
parentPort.once('message', async () => {
  try {
    parentPort.postMessage({ ok: true, ...(await tasks[task](workerData)) });
  } catch (err) {
    parentPort.postMessage({ ok: false, error: String(err?.stack ?? err) });
  }
});
parentPort.postMessage({ ready: true });
