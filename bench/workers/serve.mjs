// Worker side of bench/lib/common.mjs's Peer: answers { cmd, id } requests one at a time and counts
// this thread's garbage collections with a PerformanceObserver.
//
//   batch  { k }   move k more messages (handlers.batch(k) → number moved, maybe a promise)
//   measure        start the measured phase: zero the message and GC counters
//   report         { messages, gc: { count, minor, major, ms }, ...handlers.report?.() } since measure
//   run  { ... }   handlers.run(msg) → result (used by the round-trip workers)
import { parentPort } from 'node:worker_threads';
import { constants, PerformanceObserver } from 'node:perf_hooks';

const gc = { count: 0, minor: 0, major: 0, ms: 0 };
const observer = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gc.count++;
    gc.ms += e.duration;
    const kind = e.detail?.kind;
    if (kind === constants.NODE_PERFORMANCE_GC_MINOR) gc.minor++;
    else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) gc.major++;
  }
});
observer.observe({ entryTypes: ['gc'] });

// GC entries are delivered on a later turn of the event loop: give them a moment before reading.
const flushGc = () => new Promise((resolve) => setTimeout(resolve, 20));

export function serve(handlers) {
  let messages = 0;
  let base = { ...gc };
  let queue = Promise.resolve();

  const handle = async (m) => {
    switch (m.cmd) {
      case 'batch': {
        messages += await handlers.batch(m.k);
        return {};
      }
      case 'measure':
        await flushGc();
        messages = 0;
        base = { ...gc };
        return {};
      case 'report': {
        await flushGc();
        const d = {
          count: gc.count - base.count,
          minor: gc.minor - base.minor,
          major: gc.major - base.major,
          ms: Math.round((gc.ms - base.ms) * 100) / 100,
        };
        return { messages, gc: d, ...(handlers.report?.() ?? {}) };
      }
      case 'run':
        return { result: await handlers.run(m) };
      default:
        throw new Error(`unknown command ${m.cmd}`);
    }
  };

  parentPort.on('message', (m) => {
    // One request at a time, in order.
    queue = queue.then(async () => {
      try {
        const reply = await handle(m);
        parentPort.postMessage({ id: m.id, ok: true, ...reply });
      } catch (err) {
        parentPort.postMessage({ id: m.id, ok: false, error: String(err?.stack ?? err) });
      }
    });
  });
  parentPort.postMessage({ type: 'ready' });
}

/** Throws if a bounded loop ran past its deadline (a stuck peer must not hang the bench). */
export function overdue(deadline, what) {
  if (performance.now() > deadline) throw new Error(`${what}: not finished within the time limit`);
}

export const BATCH_LIMIT_MS = 30_000;

const nap = new Int32Array(new SharedArrayBuffer(4));
/**
 * The gap before a request (latency-vs-gap runs): `us` microseconds, busy-waited when short (a
 * sleep that short overshoots), slept (Atomics.wait) when 200 µs or longer.
 */
export function gapFor(us) {
  if (us <= 0) return;
  if (us >= 200) {
    Atomics.wait(nap, 0, 0, us / 1000);
    return;
  }
  const end = performance.now() + us / 1000;
  while (performance.now() < end) {}
}
