// Named (and worker) channels carry one stream after another (issue #8, item 4): once a stream has
// ended, the next claims start a new one on the same channel, never losing or replaying an unread
// message and never racing two starters into two streams.
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { Channel } from '../../lib/index.js';
import * as L from '../../lib/core/layout.js';
import { words } from '../helpers/ring.js';
import { fixture } from '../helpers/workers.js';

const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.terminate()));
});

const epoch = (ch: Channel<unknown>) => (words(ch)[L.CLOSED_OFFSET >> 2]! >>> L.EPOCH_SHIFT);

describe('streams one after another', () => {
  it('a receiver claimed on an ended stream waits for the next one and iterates it', async () => {
    const ch = Channel.create<number>({ capacity: 1024, codec: 'json' });
    const tx = ch.sender();
    tx.trySend(1);
    await tx.close();
    const first: number[] = [];
    for await (const m of ch.receiver()) first.push(m);
    expect(first).toEqual([1]);
    const before = epoch(ch);
    const rx = ch.receiver(); // the stream has ended: this starts the next one
    expect(epoch(ch)).toBe(before + 1);
    const worker = new Worker(fixture('dying-peer.mjs'), { workerData: { handle: ch.handle, role: 'sender', from: 10, count: 5, how: 'close' } });
    workers.push(worker);
    const second: number[] = [];
    for await (const m of rx) second.push(m);
    expect(second).toEqual([10, 11, 12, 13, 14]);
  });

  it('a sender and a receiver racing to start the next stream (200 trials): one stream, nothing lost, replayed or left over', async () => {
    const TRIALS = 200;
    const COUNT = 20;
    const ch = Channel.create<number>({ capacity: 1024, codec: 'json' });
    const gate = new Int32Array(new SharedArrayBuffer(4));
    const results = new Map<string, any[]>();
    const waiters = new Map<string, () => void>();
    const start = (role: string) => {
      const worker = new Worker(fixture('starter.mjs'), { workerData: { handle: ch.handle, role, trials: TRIALS, count: COUNT, gate } });
      workers.push(worker);
      results.set(role, []);
      worker.on('message', (m) => {
        results.get(role)!.push(m);
        waiters.get(role)?.();
      });
      worker.on('error', (err) => results.get(role)!.push({ error: String(err) }));
    };
    start('sender');
    start('receiver');
    const answered = (role: string, n: number) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${role}: no answer to trial ${n - 1} within 10 s`)), 10_000);
        const check = () => {
          if (results.get(role)!.length >= n) {
            clearTimeout(timer);
            waiters.delete(role);
            resolve();
          }
        };
        waiters.set(role, check);
        check();
      });
    for (let t = 0; t < TRIALS; t++) {
      if (t % 2 === 1) {
        // Half the trials start from a stream its receiver closed with messages unread: they must
        // be discarded, whichever side starts the next stream.
        const junk = ch.sender();
        junk.trySend(-1);
        junk.trySend(-2);
        junk.release();
        ch.receiver().close();
      }
      const before = epoch(ch);
      Atomics.store(gate, 0, t + 1);
      Atomics.notify(gate, 0);
      await Promise.all([answered('sender', t + 1), answered('receiver', t + 1)]);
      const rx = results.get('receiver')![t];
      expect(results.get('sender')![t]).toEqual({ trial: t, got: [] });
      expect(rx).toEqual({ trial: t, got: Array.from({ length: COUNT }, (_, i) => t * 1000 + i) });
      // Exactly one new stream per trial (the first one joins the channel's first stream).
      expect(epoch(ch)).toBe(t === 0 ? before : before + 1);
    }
  }, 120_000);
});
