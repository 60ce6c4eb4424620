// Waiting across processes: the peer's publish wakes a parked call in another process at once
// (the futex wake: well within a slice, so a lost wake cannot hide behind the slice's end); a
// parked async call costs (almost) no CPU and leaves the event loop free (the futex sleep is on a
// native thread); a channel file opened by worker threads, each with its own mapping, survives a
// thread terminated while parked.
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Channel } from '../../lib/index.js';
import * as L from '../../lib/core/layout.js';
import { roleHolderDead } from '../../lib/core/roles.js';
import { DEADLINE_MS, expectWoken, now, RX_PARKED, TX_PARKED, untilParked } from '../helpers/waits.js';
import { waitFor } from '../helpers/workers.js';
import { fixture, run, start, uniqueName } from './helpers.js';

describe('wakes across processes', () => {
  const ROUNDS = 5;
  for (const side of ['rx', 'tx'] as const) {
    for (const wait of ['sync', 'async'] as const) {
      const call = side === 'rx' ? (wait === 'sync' ? 'recvSync' : 'recv()') : wait === 'sync' ? 'sendSync' : 'send()';
      it(`${call} parked in another process resumes within WAKE_MS of this process's ${side === 'rx' ? 'send' : 'drain'} (${ROUNDS} rounds)`, async () => {
        const name = uniqueName(`wake-${side}-${wait}`);
        const ch = Channel.open(name, { create: true, capacity: 4096, codec: 'bytes' });
        const tx = side === 'rx' ? ch.sender() : undefined;
        const rx = side === 'tx' ? ch.receiver() : undefined;
        const child = start('wake.mjs', { name, side, wait, rounds: ROUNDS, timeout: DEADLINE_MS }, 60_000);
        try {
          for (let round = 0; round < ROUNDS; round++) {
            // The child parks afresh each round (it cleared its park word before reporting the last).
            await untilParked(ch.mem.i32, side === 'rx' ? RX_PARKED : TX_PARKED);
            const at = now();
            if (tx !== undefined) expect(tx.trySend(new Uint8Array(8))).toBe(true);
            else expect(rx!.drain(() => undefined)).toBeGreaterThan(0);
            const { resumed } = await child.waitFor((m) => m.round === round, 30_000);
            expectWoken(at, resumed, `${call} in process ${child.pid}, round ${round}`);
          }
          expect((await child.exit).code).toBe(0);
        } finally {
          child.kill();
          (tx ?? rx)!.release();
          await ch.close();
          Channel.unlink(name);
        }
      });
    }
  }
});

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
      await untilParked(ch.mem.i32, RX_PARKED); // parked in its next recv()
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
