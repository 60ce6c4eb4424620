// cork() / uncork(): messages written while corked become visible together; a full ring, close()
// and release() publish them too, so corking can delay messages but never strand them.
import { afterEach, describe, expect, it } from 'vitest';
import { Channel } from '../../lib/index.js';
import { tailOf } from '../helpers/ring.js';
import * as seq from '../helpers/sequence.js';
import { Actor } from '../helpers/workers.js';

let actor: Actor | undefined;
afterEach(async () => {
  await actor?.terminate();
  actor = undefined;
});

describe('cork / uncork', () => {
  it('messages sent while corked are invisible until uncork(), then all arrive in order', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 4096, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    tx.cork();
    expect(tx.corked).toBe(true);
    for (let i = 0; i < 10; i++) expect(tx.trySend(seq.message(i, 0, 0, 40))).toBe(true);
    const view = tx.reserve(16)!;
    seq.fill(view, 16, 10);
    tx.commit(16);
    expect(tailOf(ch)).toBe(0); // nothing published
    expect(rx.tryRecv()).toBeUndefined();
    tx.uncork();
    expect(tx.corked).toBe(false);
    for (let i = 0; i < 10; i++) {
      const m = rx.tryRecv()!;
      expect(seq.check(m, m.length, i, 0, 0, 40)).toBe(true);
    }
    expect(seq.checkBytes(rx.tryRecv()!, 16, 10)).toBe(true);
    expect(rx.tryRecv()).toBeUndefined();
    // Uncorked again: every message is published at once.
    expect(tx.trySend(new Uint8Array([7]))).toBe(true);
    expect(rx.tryRecv()).toEqual(new Uint8Array([7]));
  });

  it('abort() of a reservation while corked drops only that reservation', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    tx.cork();
    tx.trySend(new Uint8Array([1]));
    tx.reserve(500)!.fill(9); // rolled back by abort(), the message before it is kept
    tx.abort();
    tx.trySend(new Uint8Array([2]));
    tx.uncork();
    expect([rx.tryRecv(), rx.tryRecv(), rx.tryRecv()]).toEqual([new Uint8Array([1]), new Uint8Array([2]), undefined]);
  });

  it('a full ring publishes what is corked, so a blocked send completes once a worker drains', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    tx.cork();
    let n = 0;
    while (tx.trySend(seq.message(n, 0, 100, 100))) n++;
    // trySend returned false: the corked messages were published when the ring was found full.
    expect(tailOf(ch)).toBeGreaterThan(0);
    actor = new Actor(ch.handle);
    await actor.call('claim', ['receiver']);
    const sent = tx.send(seq.message(n, 0, 100, 100), { timeout: 10_000 });
    const got = actor.call('recvSequence', [0, n + 1, 0, 100, 100]);
    await sent; // written once the worker made room, but still corked...
    tx.uncork(); // ...until now
    expect(await got).toBe(n + 1);
  });

  it('close() and release() publish what is corked', async () => {
    const ch = Channel.create<string>({ capacity: 1024, codec: 'string' });
    const tx = ch.sender();
    tx.cork();
    tx.trySend('a');
    tx.trySend('b');
    await tx.close();
    const rx = ch.receiver();
    const got: string[] = [];
    for await (const m of rx) got.push(m);
    expect(got).toEqual(['a', 'b']);

    const ch2 = Channel.create<string>({ capacity: 1024, codec: 'string' });
    const tx2 = ch2.sender();
    tx2.cork();
    tx2.trySend('c');
    tx2.release();
    expect(ch2.receiver().tryRecv()).toBe('c');
  });
});
