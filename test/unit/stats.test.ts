// channel.stats(): { sent: { messages, bytes, full, parks }, received: { messages, bytes, parks,
// dropped } }. The side in the calling thread is exact; the other side's counters are as of its
// last flush (every 1024 messages, when it parks, finds the ring full, or closes).
import { afterEach, describe, expect, it } from 'vitest';
import { Channel } from '../../lib/index.js';
import * as L from '../../lib/core/layout.js';
import { words } from '../helpers/ring.js';
import { RX_PARKED, untilParked } from '../helpers/waits.js';
import * as seq from '../helpers/sequence.js';
import { Actor, waitFor } from '../helpers/workers.js';

let actor: Actor | undefined;
afterEach(async () => {
  await actor?.terminate();
  actor = undefined;
});

describe('stats', () => {
  it('a fresh channel counts nothing', () => {
    expect(Channel.create({ capacity: 1024 }).stats()).toEqual({
      sent: { messages: 0, bytes: 0, full: 0, parks: 0 },
      received: { messages: 0, bytes: 0, parks: 0, dropped: 0 },
    });
  });

  it('messages and encoded bytes on both sides, and every trySend that found the ring full', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    let bytes = 0;
    let messages = 0;
    let full = 0;
    for (let i = 0; i < 500; i++) {
      const m = seq.message(i, 1, 0, 300);
      if (tx.trySend(m)) {
        messages++;
        bytes += m.length;
      } else {
        full++;
        rx.drain(() => undefined, 2);
      }
    }
    let received = 0;
    const receivedBefore = ch.stats().received.messages;
    while (rx.tryRecv() !== undefined) received++;
    expect(full).toBeGreaterThan(10);
    expect(receivedBefore + received).toBe(messages);
    expect(ch.stats()).toEqual({
      sent: { messages, bytes, full, parks: 0 },
      received: { messages, bytes, parks: 0, dropped: 0 },
    });
  });

  it('strings count their UTF-8 bytes; json its text; fragmented messages count once with their full size', async () => {
    const s = Channel.create<string>({ capacity: 1024, codec: 'string' });
    s.sender().trySend('héllo'); // 6 bytes
    s.receiver().tryRecv();
    expect(s.stats().sent).toMatchObject({ messages: 1, bytes: 6 });
    expect(s.stats().received).toMatchObject({ messages: 1, bytes: 6 });

    const b = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = b.sender();
    const rx = b.receiver();
    await Promise.all([tx.send(new Uint8Array(5000), { timeout: 5000 }), rx.recv({ timeout: 5000 })]);
    expect(b.stats().sent).toMatchObject({ messages: 1, bytes: 5000 });
    expect(b.stats().received).toMatchObject({ messages: 1, bytes: 5000 });
  });

  it('reserve/commit counts the committed length; abort counts nothing; drain counts what it delivers', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    tx.reserve(100);
    tx.commit(30);
    tx.reserve(100);
    tx.abort();
    expect(rx.drain(() => undefined)).toBe(1);
    expect(ch.stats()).toMatchObject({ sent: { messages: 1, bytes: 30 }, received: { messages: 1, bytes: 30 } });
  });

  it('the peer in a worker: counters as of its last flush, exact once it closes', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1 << 16, codec: 'bytes' });
    const rx = ch.receiver();
    actor = new Actor(ch.handle);
    await actor.call('claim', ['sender']);
    // 2000 messages of 0..20 bytes fit the ring: the worker never parks or finds it full.
    await actor.call('sendSequence', [0, 2000, 2, 0, 20, 'try']);
    let bytes = 0;
    for (let i = 0; i < 2000; i++) bytes += seq.size(i, 2, 0, 20);
    const before = ch.stats().sent;
    expect(before.messages).toBe(1024); // flushed at the 1024th message
    expect(before.bytes).toBeLessThan(bytes);
    await actor.call('close', ['sender']);
    expect(ch.stats().sent).toEqual({ messages: 2000, bytes, full: 0, parks: 0 });
    expect(rx.drain(() => undefined)).toBe(2000);
    expect(ch.stats().received).toEqual({ messages: 2000, bytes, parks: 0, dropped: 0 });
  });

  it('parks: a sendSync in a worker that blocks on a full ring is counted (and flushed when it parks)', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const rx = ch.receiver();
    actor = new Actor(ch.handle);
    await actor.call('claim', ['sender']);
    const filled = await actor.call('fill', [new Uint8Array(50)]);
    const sending = actor.call('sendSync', [[new Uint8Array(50)], { timeout: 30_000 }]);
    // The park word is set before the stats are flushed (then the re-check, then the sleep): wait for both.
    expect(await waitFor(() => Atomics.load(words(ch), L.TX_PARKED_OFFSET >> 2) === 1 && ch.stats().sent.parks >= 1)).toBe(true);
    const parked = ch.stats().sent;
    expect(parked.parks).toBeGreaterThanOrEqual(1);
    expect(parked.full).toBeGreaterThanOrEqual(1);
    expect(parked.messages).toBe(filled);
    expect(rx.drain(() => undefined)).toBe(filled);
    await sending;
    expect(rx.drain(() => undefined)).toBe(1);
    expect(ch.stats().received).toMatchObject({ messages: filled + 1, parks: 0 });
  });

  it('received.parks counts the receiver going to sleep; received.dropped counts abandoned fragmented messages', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes', spinMicros: 0 });
    const tx = ch.sender();
    const rx = ch.receiver();
    const waiting = rx.recv({ timeout: 5000 });
    await untilParked(words(ch), RX_PARKED);
    tx.trySend(new Uint8Array(3));
    await waiting;
    expect(ch.stats().received.parks).toBeGreaterThanOrEqual(1);
    for (let k = 0; k < 3; k++) {
      await expect(tx.send(new Uint8Array(3000), { timeout: 10 })).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
      rx.tryRecv(); // reads the fragments that made it (FIRST, MIDDLE)
    }
    tx.trySend(new Uint8Array(1));
    expect(rx.tryRecv()).toEqual(new Uint8Array(1));
    expect(ch.stats().received.dropped).toBe(3);
    expect(ch.stats().received.messages).toBe(2);
  });
});
