// When a receiver hands ring space back: no earlier than its next receive call (or release() /
// close()), so the message in hand stays in the ring until the user asks for the next one; drain
// hands back after its callbacks returned; a fragmented message that fits the ring stays whole in
// it until it is complete, so a successor reads it again.
import { describe, expect, it } from 'vitest';
import { Channel } from '../../lib/index.js';
import * as L from '../../lib/core/layout.js';
import { headOf, tailOf, words } from '../helpers/ring.js';
import { Actor, waitFor } from '../helpers/workers.js';

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

describe('the message in hand stays in the ring until the next receive call', () => {
  const apis = {
    tryRecv: (rx: any) => rx.tryRecv(),
    recv: (rx: any) => rx.recv({ timeout: 5000 }),
    recvSync: (rx: any) => rx.recvSync({ timeout: 5000 }),
    iteration: async (rx: any) => (await rx[Symbol.asyncIterator]().next()).value,
  };
  for (const [api, receive] of Object.entries(apis)) {
    it(`${api}`, async () => {
      const ch = Channel.create<Uint8Array>({ capacity: 4096, codec: 'bytes' });
      const tx = ch.sender();
      const rx = ch.receiver();
      for (let k = 0; k < 3; k++) expect(tx.trySend(bytes(100, k))).toBe(true);
      const before = headOf(ch);
      for (let k = 0; k < 3; k++) {
        expect(await receive(rx)).toEqual(bytes(100, k));
        // The consumer has caught up with the last one; still nothing handed back.
        expect(headOf(ch)).toBe(before);
      }
      expect(rx.tryRecv()).toBeUndefined(); // the next call: everything read goes back
      expect(headOf(ch)).toBe(tailOf(ch));
    });
  }

  it('release() and close() hand back the message in hand', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 4096, codec: 'bytes' });
    const tx = ch.sender();
    let rx = ch.receiver();
    tx.trySend(bytes(10, 1));
    tx.trySend(bytes(10, 2));
    expect(rx.tryRecv()).toEqual(bytes(10, 1));
    rx.release();
    rx = ch.receiver();
    expect(rx.tryRecv()).toEqual(bytes(10, 2)); // the first was not delivered again
    rx.close();
    expect(headOf(ch)).toBe(tailOf(ch));
  });

  it('drain hands back after the callbacks returned, not during them', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 4096, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    for (let k = 0; k < 5; k++) tx.trySend(bytes(50, k));
    const before = headOf(ch);
    const heads: number[] = [];
    expect(rx.drain(() => void heads.push(headOf(ch)))).toBe(5);
    expect(heads).toEqual(Array(5).fill(before));
    expect(headOf(ch)).toBe(tailOf(ch));
  });
});

describe('a fragmented message partly received', () => {
  it('stays whole in the ring when the receiver gives up mid-message: the next receiver gets all of it', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 4096, codec: 'bytes' });
    const tx = ch.sender();
    let rx = ch.receiver();
    expect(tx.trySend(bytes(1500, 1))).toBe(true);
    // 3000 bytes: fragmented, fits an empty 4 KiB ring whole, but not beside the 1500 above, so
    // send() writes its first fragments now and the rest once space comes back.
    const first = tailOf(ch);
    const sent = tx.send(bytes(3000, 2), { timeout: 10_000 });
    for (let k = 0; k < 1000 && tailOf(ch) === first; k++) await new Promise((r) => setImmediate(r));
    expect(tailOf(ch)).toBeGreaterThan(first); // its first fragments are in the ring
    expect(rx.tryRecv()).toEqual(bytes(1500, 1));
    expect(rx.tryRecv()).toBeUndefined(); // reads those fragments, hands back only the 1500
    expect(headOf(ch)).toBe(first);
    rx.release(); // gives up mid-message: the fragments it read stay in the ring
    expect(headOf(ch)).toBe(first);
    await sent;
    rx = ch.receiver();
    expect(await rx.recv({ timeout: 5000 })).toEqual(bytes(3000, 2));
    expect(ch.stats().received.dropped).toBe(0);
  });

  it('is not kept once its sender gave it up: the next sender finds room (no deadlock)', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 4096, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    expect(tx.trySend(bytes(1500, 1))).toBe(true);
    // Its first fragments fit beside the 1500; the rest never comes (nobody receives meanwhile).
    expect(() => tx.sendSync(bytes(3000, 2), { timeout: 30 })).toThrow(expect.objectContaining({ code: 'ERR_TIMEOUT' }));
    expect(rx.tryRecv()).toEqual(bytes(1500, 1));
    expect(rx.tryRecv()).toBeUndefined(); // reads the abandoned fragments: not kept
    expect(headOf(ch)).toBe(tailOf(ch));
    // A one-record message that needs most of the ring: it would never fit beside a kept partial.
    expect(tx.trySend(bytes(2000, 3))).toBe(true);
    expect(rx.tryRecv()).toEqual(bytes(2000, 3));
    expect(ch.stats().received.dropped).toBe(1);
  });

  it('is let go by a receiver parked while keeping it once its sender gives it up (close, then a new sender): no deadlock', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes', spinMicros: 0 });
    const first = Channel.attach<Uint8Array>(ch.handle, { spinMicros: 0 }); // the first sender's thread, say
    const rx = ch.receiver();
    const tx = first.sender();
    expect(tx.trySend(bytes(400, 1))).toBe(true); // 408 bytes, unread
    // 600 bytes: fragmented, fits the ring whole but not beside the 400: FIRST + MIDDLE now, LAST later.
    const abandoned = tx.send(bytes(600, 2), { timeout: 10_000 }).catch((e) => e);
    expect(await waitFor(() => Atomics.load(words(ch), L.TX_PARKED_OFFSET >> 2) === 1, 5000)).toBe(true);
    expect(await rx.recv({ timeout: 1000 })).toEqual(bytes(400, 1));
    // Hands the 400 back, reads FIRST + MIDDLE, keeps them, parks.
    const next = rx.recv({ timeout: 10_000 });
    await first.close(); // gives the message up while the receiver sleeps
    expect((await abandoned).code).toBe('ERR_CHANNEL_CLOSED');
    const tx2 = ch.sender();
    expect(await waitFor(() => Atomics.load(words(ch), L.RX_PARKED_OFFSET >> 2) === 1, 5000)).toBe(true);
    // 500 bytes need 512: only the abandoned fragments stand in the way.
    const t0 = performance.now();
    await tx2.send(bytes(500, 3), { timeout: 10_000 });
    expect(performance.now() - t0).toBeLessThan(1000); // woken, not a timeout
    expect(await next).toEqual(bytes(500, 3));
  });

  it('the same when the sending thread dies mid-message and another takes the role over', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes', spinMicros: 0 });
    const rx = ch.receiver();
    const actor = new Actor(ch.handle, { spinMicros: 0 });
    try {
      await actor.call('claim', ['sender']);
      expect(await actor.call('trySend', [bytes(400, 1)])).toBe(true);
      void actor.call('sendPattern', [600, 2, 'sync']).catch(() => undefined); // FIRST + MIDDLE, then parks
      expect(await waitFor(() => Atomics.load(words(ch), L.TX_PARKED_OFFSET >> 2) === 1, 5000)).toBe(true);
      await actor.terminate(); // dies mid-message
      expect(await rx.recv({ timeout: 5000 })).toEqual(bytes(400, 1));
      await expect(rx.recv({ timeout: 5000 })).rejects.toMatchObject({ code: 'ERR_PEER_DEAD' });
      const next = rx.recv({ timeout: 10_000 }); // parks, keeping the dead sender's fragments
      expect(await waitFor(() => Atomics.load(words(ch), L.RX_PARKED_OFFSET >> 2) === 1, 5000)).toBe(true);
      const tx = ch.sender(); // takeover
      const t0 = performance.now();
      await tx.send(bytes(500, 3), { timeout: 10_000 });
      expect(performance.now() - t0).toBeLessThan(1000);
      expect(await next).toEqual(bytes(500, 3));
    } finally {
      await actor.terminate();
    }
  });

  it('a message too large to fit the ring whole is handed back as it is read (it cannot wait in the ring)', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 4096, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    const big = new Uint8Array(64 * 1024);
    for (let k = 0; k < big.length; k++) big[k] = k & 0xff;
    const [, got] = await Promise.all([tx.send(big, { timeout: 10_000 }), rx.recv({ timeout: 10_000 })]);
    expect(Buffer.compare(Buffer.from(got), Buffer.from(big))).toBe(0);
  });
});
