// Waiting across processes: a parked async call costs (almost) no CPU and leaves the event loop
// free (the futex sleep is on a native thread); a channel file opened by worker threads, each
// with its own mapping, survives a thread terminated while parked.
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Channel } from '../../lib/index.js';
import * as L from '../../lib/core/layout.js';
import { roleHolderDead } from '../../lib/core/roles.js';
import { waitFor } from '../helpers/workers.js';
import { fixture, run, uniqueName } from './helpers.js';

describe('parked async waits', () => {
  for (const side of ['rx', 'tx'] as const) {
    it(`${side === 'rx' ? 'recv()' : 'send()'} parked for 1.5 s: little CPU, event loop running, then ERR_TIMEOUT`, async () => {
      const name = uniqueName(`idle-${side}`);
      const ch = Channel.open(name, { create: true, capacity: 4096, codec: 'json' });
      const peer = side === 'rx' ? ch.sender() : ch.receiver(); // a live peer: no ERR_PEER_DEAD
      try {
        const r = await run('idle.mjs', { name, side, ms: 1500 }, 60_000);
        expect(r.outcome).toBe('ERR_TIMEOUT');
        // Generous bounds (a busy machine delays timers): the loop kept ticking, the CPU stayed idle.
        expect(r.ticks).toBeGreaterThan(20);
        expect(r.cpuMs).toBeLessThan(r.wallMs * 0.25);
      } finally {
        peer.release();
        await ch.close();
        Channel.unlink(name);
      }
    });
  }
});

describe('worker threads', () => {
  it('each thread opens the channel itself; terminating a parked thread leaves the others working', async () => {
    const name = uniqueName('threads');
    const ch = Channel.open(name, { create: true, capacity: 4096, codec: 'json' });
    const s = ch.sender();
    for (let round = 0; round < 3; round++) {
      const worker = new Worker(fixture('thread.mjs'), { workerData: { name, count: 100 } });
      const done = new Promise<{ sum: number }>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      for (let i = 1; i <= 100; i++) await s.send(i);
      expect((await done).sum).toBe(5050);
      expect(await waitFor(() => Atomics.load(ch.mem.i32, L.RX_PARKED_OFFSET >> 2) !== 0)).toBe(true); // parked in its next recv()
      await worker.terminate();
      // A terminated thread cannot give its role back; its role is found dead (this process lives
      // on) and the next round's thread takes it over.
      expect(Atomics.load(ch.mem.i32, L.RECEIVER_OWNER_OFFSET >> 2)).not.toBe(0);
      expect(await waitFor(() => roleHolderDead(ch.mem.i32, 'receiver'), 10_000)).toBe(true);
    }
    s.trySend(1);
    expect(ch.receiver().tryRecv()).toBe(1);
    await ch.close();
    Channel.unlink(name);
  });
});
