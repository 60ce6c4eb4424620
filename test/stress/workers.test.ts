// Two worker threads, a producer and a consumer (neither is this thread), run a long stream of
// sequence messages of random sizes through one channel; the consumer checks order and every
// byte, and both keep an FNV-1a checksum of the stream, compared here.
//
// Sized for a small shared machine (two cores): the main run is 10 M messages of 0..64 bytes.
import { describe, expect, it } from 'vitest';
import { Channel } from '../../lib/index.js';
import { DEADLINE_MS, MAX_SLOW_IN_LONG_RUNS, WAKE_MS } from '../helpers/waits.js';
import { runWorker } from '../helpers/workers.js';

interface Run {
  capacity: number;
  count: number;
  min: number;
  max: number;
  seed: number;
  producer: 'mixed' | 'async' | 'sync';
  consumer: 'drain' | 'async' | 'sync';
}

const LIMIT_MS = 100_000;

async function stress(run: Run) {
  const ch = Channel.create<Uint8Array>({ capacity: run.capacity, codec: 'bytes' });
  // Each blocking call is timed by the workers (test/fixtures/slow-calls.mjs): lost wakes fail the run.
  const common = { handle: ch.handle, seed: run.seed, min: run.min, max: run.max, limitMs: LIMIT_MS, waitMs: DEADLINE_MS, wakeMs: WAKE_MS, maxSlow: MAX_SLOW_IN_LONG_RUNS };
  const [consumed, produced] = await Promise.all([
    runWorker('stress-consumer.mjs', { ...common, mode: run.consumer }, LIMIT_MS + 10_000),
    runWorker('stress-producer.mjs', { ...common, mode: run.producer, count: run.count }, LIMIT_MS + 10_000),
  ]);
  return { consumed, produced, stats: ch.stats() };
}

describe('stress: producer and consumer workers', () => {
  it('10 M messages of 0..64 bytes through a 64 KiB ring (trySend + reserve/commit + sendSync -> drain + recvSync)', async () => {
    const run: Run = { capacity: 1 << 16, count: 10_000_000, min: 0, max: 64, seed: 0x5eed, producer: 'mixed', consumer: 'drain' };
    const { consumed, produced, stats } = await stress(run);
    expect(consumed).toMatchObject({ received: run.count, bad: 0, firstBad: -1 });
    expect(produced.sent).toBe(run.count);
    expect(consumed.checksum).toBe(produced.checksum);
    expect(stats.sent.messages).toBe(run.count);
    expect(stats.received.messages).toBe(run.count);
    expect(stats.received.bytes).toBe(stats.sent.bytes);
    expect(stats.received.dropped).toBe(0);
  });

  it('async API: 60 k messages of 0..3000 bytes (fragmented ones included) with await send / await recv', async () => {
    const run: Run = { capacity: 1 << 12, count: 60_000, min: 0, max: 3000, seed: 0xa5, producer: 'async', consumer: 'async' };
    const { consumed, produced, stats } = await stress(run);
    expect(consumed).toMatchObject({ received: run.count, bad: 0 });
    expect(consumed.checksum).toBe(produced.checksum);
    expect(stats.sent.messages).toBe(run.count);
    expect(stats.received.messages).toBe(run.count);
    expect(stats.received.bytes).toBe(stats.sent.bytes);
    expect(stats.received.dropped).toBe(0);
  });

  it('sync API: 150 k messages of 0..1500 bytes through a 1 KiB ring (sendSync / recvSync), both sides parking', async () => {
    const run: Run = { capacity: 1 << 10, count: 150_000, min: 0, max: 1500, seed: 0x51, producer: 'sync', consumer: 'sync' };
    const { consumed, produced, stats } = await stress(run);
    expect(consumed).toMatchObject({ received: run.count, bad: 0 });
    expect(consumed.checksum).toBe(produced.checksum);
    expect(stats.sent.messages).toBe(run.count);
    expect(stats.received.bytes).toBe(stats.sent.bytes);
    expect(stats.sent.full).toBeGreaterThan(0);
    expect(stats.sent.parks + stats.received.parks).toBeGreaterThan(0);
    expect(stats.received.dropped).toBe(0);
  });
});
