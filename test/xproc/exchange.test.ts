// Producer and consumer in two unrelated processes (child_process.spawn) over a channel file:
// every message is checked for order, size and bytes, and both sides' checksums must agree.
import { describe, expect, it } from 'vitest';
import { Channel } from '../../lib/index.js';
import { MAX_SLOW_IN_LONG_RUNS, WAKE_MS } from '../helpers/waits.js';
import { run, uniqueName } from './helpers.js';

async function exchange(o: { count: number; min: number; max: number; capacity: number; wait: 'sync' | 'async'; rxWait?: 'sync' | 'async' }) {
  const name = uniqueName(`pump-${o.wait}`);
  const ch = Channel.open(name, { create: true, capacity: o.capacity, codec: 'bytes' });
  await ch.close();
  try {
    const common = { name, count: o.count, seed: 0x5eed, min: o.min, max: o.max, wakeMs: WAKE_MS, maxSlow: MAX_SLOW_IN_LONG_RUNS };
    const [rx, tx] = await Promise.all([
      run('pump.mjs', { ...common, role: 'rx', wait: o.rxWait ?? o.wait }, 170_000),
      run('pump.mjs', { ...common, role: 'tx', wait: o.wait }, 170_000),
    ]);
    expect(rx.bad).toBeUndefined();
    expect(rx.count).toBe(o.count);
    expect(tx.count).toBe(o.count);
    expect(rx.checksum).toBe(tx.checksum);
    expect(rx.stats.messages).toBe(o.count);
    expect(rx.stats.dropped).toBe(0);
    return { rx, tx };
  } finally {
    Channel.unlink(name);
  }
}

describe('process to process', () => {
  it('exchanges 10 M messages in order with matching checksums', async () => {
    await exchange({ count: 10_000_000, min: 4, max: 24, capacity: 1 << 20, wait: 'sync' });
  }, 180_000);

  it('waits across processes with sync calls (small ring: both sides park on the futex)', async () => {
    const { rx, tx } = await exchange({ count: 200_000, min: 1, max: 700, capacity: 4096, wait: 'sync' });
    expect(rx.stats.parks + tx.stats.parks).toBeGreaterThan(0);
    expect(tx.stats.full).toBeGreaterThan(0);
  });

  it('waits across processes with async calls, fragmented messages included', async () => {
    const { rx, tx } = await exchange({ count: 50_000, min: 0, max: 6000, capacity: 4096, wait: 'async' });
    expect(rx.stats.parks + tx.stats.parks).toBeGreaterThan(0);
  });

  it('mixes an async sender with a sync receiver', async () => {
    await exchange({ count: 100_000, min: 1, max: 3000, capacity: 8192, wait: 'async', rxWait: 'sync' });
  });
});
