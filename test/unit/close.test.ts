// Closing: the receiver gets everything sent before the sender's close, then the end; a closed
// receiver makes every send fail; waiters on either side wake when the peer closes.
import { afterEach, describe, expect, it } from 'vitest';
import { Channel } from '../../lib/index.js';
import * as L from '../../lib/core/layout.js';
import { words } from '../helpers/ring.js';
import { RX_PARKED, TX_PARKED, untilParked } from '../helpers/waits.js';
import { Actor, outcome, waitFor } from '../helpers/workers.js';

const code = (c: string) => expect.objectContaining({ code: c });

let actor: Actor | undefined;
afterEach(async () => {
  await actor?.terminate();
  actor = undefined;
});

describe('sender close', () => {
  it('the receiver gets every message sent before close, then iteration ends; recv/recvSync then fail with ERR_CHANNEL_CLOSED', async () => {
    const ch = Channel.create<number>({ capacity: 4096 });
    const tx = ch.sender();
    const rx = ch.receiver();
    for (let i = 0; i < 100; i++) expect(tx.trySend(i)).toBe(true);
    await tx.close();
    expect(ch.senderClosed).toBe(true);
    const got: number[] = [];
    for await (const m of rx) got.push(m);
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => i));
    await expect(rx.recv()).rejects.toMatchObject({ code: 'ERR_CHANNEL_CLOSED', message: expect.stringMatching(/sender closed/) });
    expect(() => rx.recvSync()).toThrow(code('ERR_CHANNEL_CLOSED'));
    expect(rx.tryRecv()).toBeUndefined();
    // A second iteration ends at once.
    for await (const m of rx) got.push(m);
    expect(got).toHaveLength(100);
  });

  it('close() waits for pending async sends: they are delivered before the end', async () => {
    const ch = Channel.create<number>({ capacity: 1024 });
    const tx = ch.sender();
    const rx = ch.receiver();
    let n = 0;
    while (tx.trySend(n)) n++;
    const pending = Array.from({ length: 50 }, (_, k) => tx.send(n + k, { timeout: 10_000 }));
    const closing = tx.close();
    expect(ch.senderClosed).toBe(false);
    const got: number[] = [];
    for await (const m of rx) got.push(m);
    await Promise.all([closing, ...pending]);
    expect(got).toEqual(Array.from({ length: n + 50 }, (_, i) => i));
  });

  it('a closed sender refuses everything with ERR_CHANNEL_CLOSED; close is idempotent', async () => {
    const ch = Channel.create<number>({ capacity: 1024 });
    const tx = ch.sender();
    await tx.close();
    await tx.close();
    expect(tx.closed).toBe(true);
    expect(() => tx.trySend(1)).toThrow(code('ERR_CHANNEL_CLOSED'));
    expect(() => tx.sendSync(1)).toThrow(code('ERR_CHANNEL_CLOSED'));
    await expect(tx.send(1)).rejects.toMatchObject({ code: 'ERR_CHANNEL_CLOSED' });
    expect(() => tx.reserve(1)).toThrow(code('ERR_CHANNEL_CLOSED'));
  });

  it('a recv() parked in this thread wakes when a worker closes the sender', async () => {
    const ch = Channel.create<number>({ capacity: 1024, spinMicros: 0 });
    const rx = ch.receiver();
    actor = new Actor(ch.handle);
    await actor.call('claim', ['sender']);
    const waiting = outcome(rx.recv({ timeout: 20_000 }));
    const w = words(ch);
    expect(await waitFor(() => Atomics.load(w, L.RX_PARKED_OFFSET >> 2) === 1)).toBe(true);
    await actor.call('close', ['sender']);
    expect((await waiting).error).toMatchObject({ code: 'ERR_CHANNEL_CLOSED' });
  });

  it('a recvSync() parked in a worker wakes when this thread closes the sender', async () => {
    const ch = Channel.create<number>({ capacity: 1024 });
    const tx = ch.sender();
    actor = new Actor(ch.handle);
    await actor.call('claim', ['receiver']);
    const all = actor.call('recvAll');
    tx.sendSync(1);
    const w = words(ch);
    expect(await waitFor(() => Atomics.load(w, L.RX_PARKED_OFFSET >> 2) === 1)).toBe(true);
    tx.sendSync(2);
    expect(await waitFor(() => Atomics.load(w, L.RX_PARKED_OFFSET >> 2) === 1)).toBe(true);
    await tx.close();
    expect(await all).toEqual([1, 2]);
  });
});

describe('receiver close', () => {
  it('the sender then fails with ERR_CHANNEL_CLOSED on every path', async () => {
    const ch = Channel.create<number>({ capacity: 1024 });
    const tx = ch.sender();
    const rx = ch.receiver();
    expect(tx.trySend(1)).toBe(true);
    rx.close();
    expect(ch.receiverClosed).toBe(true);
    const closed = expect.objectContaining({ code: 'ERR_CHANNEL_CLOSED', message: expect.stringMatching(/receiver closed/) });
    expect(() => tx.trySend(2)).toThrow(closed);
    expect(() => tx.sendSync(2)).toThrow(closed);
    await expect(tx.send(2)).rejects.toMatchObject({ code: 'ERR_CHANNEL_CLOSED' });
    expect(() => tx.reserve(4)).toThrow(closed);
    // The sender can still close (and so release its role).
    await tx.close();
    expect(ch.senderClosed).toBe(true);
  });

  it('a closed receiver refuses its own calls; its own pending recv() rejects', async () => {
    const ch = Channel.create<number>({ capacity: 1024, spinMicros: 0 });
    const rx = ch.receiver();
    const pending = outcome(rx.recv({ timeout: 10_000 }));
    await untilParked(words(ch), RX_PARKED);
    rx.close();
    rx.close();
    expect((await pending).error).toMatchObject({ code: 'ERR_CHANNEL_CLOSED' });
    expect(() => rx.tryRecv()).toThrow(code('ERR_CHANNEL_CLOSED'));
    expect(() => rx.recvSync()).toThrow(code('ERR_CHANNEL_CLOSED'));
    await expect(rx.recv()).rejects.toMatchObject({ code: 'ERR_CHANNEL_CLOSED' });
  });

  it('async sends waiting for room reject with ERR_CHANNEL_CLOSED when the receiver closes', async () => {
    const ch = Channel.create<number>({ capacity: 1024, spinMicros: 0 });
    const tx = ch.sender();
    const rx = ch.receiver();
    while (tx.trySend(0));
    const pending = [tx.send(1, { timeout: 10_000 }), tx.send(2, { timeout: 10_000 })].map(outcome);
    await untilParked(words(ch), TX_PARKED);
    rx.close();
    for (const p of pending) expect((await p).error).toMatchObject({ code: 'ERR_CHANNEL_CLOSED' });
  });

  it('a sendSync() parked in a worker on a full ring wakes when this thread closes the receiver', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const rx = ch.receiver();
    actor = new Actor(ch.handle);
    await actor.call('claim', ['sender']);
    const filled = await actor.call('fill', [new Uint8Array(100)]);
    expect(filled).toBeGreaterThan(0);
    const blocked = outcome(actor.call('sendSync', [[new Uint8Array(100)], { timeout: 30_000 }]));
    const w = words(ch);
    expect(await waitFor(() => Atomics.load(w, L.TX_PARKED_OFFSET >> 2) === 1)).toBe(true);
    rx.close();
    expect((await blocked).error).toMatchObject({ code: 'ERR_CHANNEL_CLOSED' });
    expect(Atomics.load(w, L.TX_PARKED_OFFSET >> 2)).toBe(0);
  });
});
