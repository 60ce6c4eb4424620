// Worker → worker throughput at one message size, for ringwire (bytes codec, trySend + drain),
// worker_threads MessagePort and ringbuf.js, in one benny suite.
//
// One benny "op" = the main thread asks the long-lived producer and consumer workers of a case to
// move a batch of K messages and awaits both; msgs/s = ops/s × K. K is sized per case during the
// warm-up so that one op takes about SETTINGS.batchMs. The workers count their own GCs during the
// measured phase (from just before the suite starts to just after it ends).
import { MessageChannel } from 'node:worker_threads';
import b from 'benny';
import { RingBuffer } from 'ringbuf.js';
import { Channel } from '../../dist/index.js';
import { Peer, SETTINGS, si, sleep } from './common.mjs';

const RING_BYTES = 1 << 20; // every ring gets 1 MiB of data space

/** A ringwire case: a producer (tp-ringwire.mjs with `producer` options: cork, many) and a drain consumer. */
const ringwireCase = (label, name, producer = {}) => ({
  label,
  spawn(size) {
    const channel = Channel.create({ capacity: RING_BYTES, codec: 'bytes' });
    return [
      new Peer(`ringwire ${name}`, 'tp-ringwire.mjs', { role: 'producer', handle: channel.handle, size, ...producer }),
      new Peer('ringwire consumer', 'tp-ringwire.mjs', { role: 'consumer', handle: channel.handle, size }),
    ];
  },
});

export const IMPLS = {
  ringwire: ringwireCase('ringwire (bytes, trySend → drain)', 'producer'),
  'ringwire-cork': ringwireCase('ringwire (bytes, cork 64 → drain)', 'corked producer', { cork: 64 }),
  'ringwire-batch': ringwireCase('ringwire (bytes, trySendMany 64 → drain)', 'batch producer', { many: 64 }),
  messageport: {
    label: 'MessagePort (postMessage Uint8Array)',
    spawn(size) {
      const { port1, port2 } = new MessageChannel();
      return [
        new Peer('MessagePort producer', 'tp-port.mjs', { role: 'producer', port: port1, size }, [port1]),
        new Peer('MessagePort consumer', 'tp-port.mjs', { role: 'consumer', port: port2, size }, [port2]),
      ];
    },
  },
  ringbuf: {
    label: 'ringbuf.js (u32 length + payload)',
    spawn(size) {
      const sab = RingBuffer.getStorageForCapacity(RING_BYTES, Uint8Array);
      return [
        new Peer('ringbuf.js producer', 'tp-ringbuf.mjs', { role: 'producer', sab, size }),
        new Peer('ringbuf.js consumer', 'tp-ringbuf.mjs', { role: 'consumer', sab, size }),
      ];
    },
  },
};

/** 1234 → 1200: two significant digits, so K reads well in the table. */
const nice = (k) => {
  const p = 10 ** Math.max(0, Math.floor(Math.log10(k)) - 1);
  return Math.max(1, Math.round(k / p) * p);
};

export async function throughput({ size, label }) {
  const cases = [];
  try {
    for (const [key, impl] of Object.entries(IMPLS)) {
      const [producer, consumer] = impl.spawn(size);
      cases.push({ key, label: impl.label, producer, consumer, k: 0, error: undefined, strayCalls: 0 });
    }
    await Promise.all(cases.flatMap((c) => [c.producer.ready(), c.consumer.ready()]));

    const batch = (c, k) => Promise.all([c.producer.request({ cmd: 'batch', k }), c.consumer.request({ cmd: 'batch', k })]);

    // Warm-up (JIT, page faults), and K so that one op takes about SETTINGS.batchMs.
    for (const c of cases) {
      let k = Math.max(1, Math.round((256 * 1024) / size));
      const end = performance.now() + SETTINGS.warmupMs;
      for (let round = 0; round < 50 && performance.now() < end; round++) {
        const t0 = performance.now();
        await batch(c, k);
        const ms = Math.max(performance.now() - t0, 0.05);
        k = Math.min(5_000_000, Math.max(16, Math.round((k / ms) * SETTINGS.batchMs)));
      }
      c.k = nice(k);
      console.log(`  warm-up ${c.label} @ ${label}: K = ${c.k} messages per op`);
    }

    await Promise.all(cases.flatMap((c) => [c.producer.request({ cmd: 'measure' }), c.consumer.request({ cmd: 'measure' })]));

    // benny calls each case function once while it prepares the suite (to learn whether it returns
    // a promise), before benchmark.js runs it: those calls are no-ops (`armed` is still false),
    // and every op is chained after the previous one so that two batches never overlap.
    let armed = false;
    const entries = cases.map((c) => {
      let chain = Promise.resolve();
      const op = () => {
        chain = chain.then(() => batch(c, c.k)).catch((err) => {
          c.error ??= err;
          return sleep(1); // resolve anyway: a rejected op would leave benchmark.js waiting forever
        });
        return chain;
      };
      const stray = () => {
        c.strayCalls++;
        return Promise.resolve();
      };
      return b.add(`${c.label} @ ${label}`, () => () => (armed ? op() : stray()));
    });
    const suite = b.suite(
      `throughput ${label}`,
      b.configure({
        minDisplayPrecision: 2,
        cases: { minSamples: SETTINGS.minSamples, maxTime: SETTINGS.maxTime, minTime: SETTINGS.minTime, delay: 0.05, initCount: 1 },
      }),
      ...entries,
      b.cycle((result) => {
        const c = cases.find((x) => result.name.startsWith(x.label));
        const msgs = (1 / result.details.mean) * c.k;
        console.log(
          `  ${result.name}: ${si(msgs)} msgs/s, ${((msgs * size) / 1e6).toFixed(1)} MB/s (±${result.margin}%, ${result.samples} samples)`,
        );
        return undefined;
      }),
      b.complete(() => undefined),
    );
    armed = true;
    const summary = await suite;

    const reports = await Promise.all(
      cases.map(async (c) => ({
        producer: await c.producer.request({ cmd: 'report' }),
        consumer: await c.consumer.request({ cmd: 'report' }),
      })),
    );

    return cases.map((c, i) => {
      const r = summary.results[i];
      const { producer, consumer } = reports[i];
      const opsPerSec = 1 / r.details.mean;
      const msgsPerSec = opsPerSec * c.k;
      const perM = (gc, messages) => (messages > 0 ? (gc.count * 1e6) / messages : NaN);
      return {
        scenario: 'throughput',
        impl: c.key,
        label: c.label,
        size,
        sizeLabel: label,
        k: c.k,
        opsPerSec,
        msgsPerSec,
        msgsPerSecMedian: (1 / r.details.median) * c.k,
        mbPerSec: (msgsPerSec * size) / 1e6,
        rmePercent: r.margin,
        samples: r.samples,
        gc: {
          producer: { ...producer.gc, messages: producer.messages, perMillion: perM(producer.gc, producer.messages) },
          consumer: { ...consumer.gc, messages: consumer.messages, perMillion: perM(consumer.gc, consumer.messages) },
        },
        checks: { badMessages: consumer.bad ?? 0, strayCallsIgnored: c.strayCalls },
        extra: {
          producer: { fullWaits: producer.fullWaits, naps: producer.naps, stats: producer.stats },
          consumer: { waits: consumer.waits, naps: consumer.naps, stats: consumer.stats },
        },
        error: c.error ? String(c.error.message ?? c.error) : (consumer.bad ?? 0) !== 0 ? `${consumer.bad} messages failed the sequence check` : undefined,
      };
    });
  } finally {
    await Promise.all(cases.flatMap((c) => [c.producer.terminate(), c.consumer.terminate()]));
  }
}
