// One sender and one receiver per channel across all threads: claims, release (hand-off without
// closing) and close (the end; a closed side does not reopen).
import { afterEach, describe, expect, it } from 'vitest';
import { Channel } from '../../lib/index.js';
import * as L from '../../lib/core/layout.js';
import { words } from '../helpers/ring.js';
import * as seq from '../helpers/sequence.js';
import { Actor } from '../helpers/workers.js';

const code = (c: string) => expect.objectContaining({ code: c });

let actor: Actor | undefined;
afterEach(async () => {
  await actor?.terminate();
  actor = undefined;
});

describe('claims in one thread', () => {
  it('a second sender or receiver throws ERR_ROLE_TAKEN, from the same channel object or another attach', () => {
    const ch = Channel.create({ capacity: 1024 });
    const other = Channel.attach(ch.handle);
    ch.sender();
    ch.receiver();
    expect(() => ch.sender()).toThrow(expect.objectContaining({ name: 'RingwireError', code: 'ERR_ROLE_TAKEN', message: expect.stringMatching(/sender/) }));
    expect(() => other.sender()).toThrow(code('ERR_ROLE_TAKEN'));
    expect(() => ch.receiver()).toThrow(expect.objectContaining({ code: 'ERR_ROLE_TAKEN', message: expect.stringMatching(/receiver/) }));
    expect(() => other.receiver()).toThrow(code('ERR_ROLE_TAKEN'));
  });

  it('the owner words hold a token while a role is held and 0 once it is released or closed', async () => {
    const ch = Channel.create({ capacity: 1024 });
    const w = words(ch);
    const tx = ch.sender();
    const rx = ch.receiver();
    expect(w[L.SENDER_OWNER_OFFSET >> 2]).not.toBe(0);
    expect(w[L.RECEIVER_OWNER_OFFSET >> 2]).not.toBe(0);
    tx.release();
    rx.close();
    expect(w[L.SENDER_OWNER_OFFSET >> 2]).toBe(0);
    expect(w[L.RECEIVER_OWNER_OFFSET >> 2]).toBe(0);
  });

  it('release() lets another claim, and the stream continues where it stopped', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    let tx = ch.sender();
    let rx = ch.receiver();
    let sent = 0;
    let got = 0;
    let bad = 0;
    const verify = (view: Uint8Array, offset: number, length: number) => {
      if (!seq.check(view, length, got, 3, 0, 100, offset)) bad++;
      got++;
    };
    for (let handoff = 0; handoff < 20; handoff++) {
      for (let k = 0; k < 7 && tx.trySend(seq.message(sent, 3, 0, 100)); k++) sent++;
      rx.drain(verify, 3);
      tx.release();
      rx.release();
      expect(tx.closed).toBe(true);
      expect(() => tx.trySend(new Uint8Array(1))).toThrow(code('ERR_CHANNEL_CLOSED'));
      expect(() => rx.tryRecv()).toThrow(code('ERR_CHANNEL_CLOSED'));
      tx = Channel.attach<Uint8Array>(ch.handle).sender();
      rx = Channel.attach<Uint8Array>(ch.handle).receiver();
    }
    rx.drain(verify);
    expect(got).toBe(sent);
    expect(bad).toBe(0);
    expect(ch.senderClosed).toBe(false);
  });

  it('release() with async sends pending is ERR_SEND_PENDING; release after close is a no-op', async () => {
    const ch = Channel.create<number>({ capacity: 1024 });
    const tx = ch.sender();
    const rx = ch.receiver();
    while (tx.trySend(1));
    const pending = tx.send(2, { timeout: 5000 });
    expect(() => tx.release()).toThrow(code('ERR_SEND_PENDING'));
    rx.drain(() => undefined);
    await pending;
    tx.release();
    tx.release();
    await tx.close(); // already released: nothing more happens
    expect(ch.senderClosed).toBe(false);
    expect(rx.tryRecv()).toBe(2);
    const rxPending = rx.recv({ timeout: 5000 });
    expect(() => rx.release()).toThrow(code('ERR_SEND_PENDING'));
    ch.sender().trySend(3);
    expect(await rxPending).toBe(3);
  });

  it('a receiver taking over in the middle of a fragmented message skips its rest (counted as dropped) and gets the next one', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    const rx1 = ch.receiver();
    const big = tx.send(seq.message(1, 0, 5000, 5000), { timeout: 5000 });
    await new Promise((r) => setImmediate(r)); // the send writes FIRST and MIDDLE, then waits for room
    expect(rx1.tryRecv()).toBeUndefined(); // reads them; the rest is not there yet
    expect(ch.stats().received.messages).toBe(0);
    rx1.release();
    const rx2 = ch.receiver();
    const next = tx.send(seq.message(2, 0, 30, 30), { timeout: 5000 });
    expect(await rx2.recv({ timeout: 5000 })).toEqual(seq.message(2, 0, 30, 30));
    await Promise.all([big, next]);
    expect(ch.stats().received.dropped).toBe(1);
  });

  it('a stream whose sender closed is not joined by a new sender until a receiver has received its end; then a new stream starts', async () => {
    const ch = Channel.create<number>({ capacity: 1024 });
    await ch.sender().close();
    expect(() => ch.sender()).toThrow(expect.objectContaining({ code: 'ERR_CHANNEL_CLOSED', message: expect.stringMatching(/has not received its end/) }));
    expect(() => Channel.attach(ch.handle).sender()).toThrow(code('ERR_CHANNEL_CLOSED'));
    const w = words(ch);
    expect(w[L.SENDER_OWNER_OFFSET >> 2]).toBe(0); // the failed claims did not keep the role
    const rx = ch.receiver();
    await expect(rx.recv({ timeout: 5000 })).rejects.toMatchObject({ code: 'ERR_CHANNEL_CLOSED' });
    expect(w[L.RECEIVER_OWNER_OFFSET >> 2]).toBe(0); // the end gives the role back
    expect(w[L.CLOSED_OFFSET >> 2]).toBe(L.SENDER_CLOSED | L.END_SEEN);
    const tx = ch.sender(); // the next stream
    expect(ch.senderClosed).toBe(false);
    expect(tx.trySend(7)).toBe(true);
    await tx.close();
    expect(await rx.recv().catch((e) => e.code)).toBe('ERR_CHANNEL_CLOSED'); // the old receiver stays at its end
    const rx2 = ch.receiver();
    expect(await rx2.recv({ timeout: 5000 })).toBe(7);
    await expect(rx2.recv({ timeout: 5000 })).rejects.toMatchObject({ code: 'ERR_CHANNEL_CLOSED' });
  });

  it("a receiver's close() ends the stream: the next sender starts a new one and the next receiver gets only its messages", () => {
    const ch = Channel.create<number>({ capacity: 1024 });
    const tx = ch.sender();
    for (let i = 1; i <= 3; i++) expect(tx.trySend(i)).toBe(true);
    const rx = ch.receiver();
    expect(rx.tryRecv()).toBe(1);
    rx.close(); // 2 and 3 are discarded
    expect(() => tx.trySend(4)).toThrow(expect.objectContaining({ code: 'ERR_CHANNEL_CLOSED', message: expect.stringMatching(/receiver closed/) }));
    // While that sender is attached, the closed stream cannot be restarted by a receiver.
    expect(() => ch.receiver()).toThrow(expect.objectContaining({ code: 'ERR_CHANNEL_CLOSED', message: expect.stringMatching(/still attached/) }));
    tx.release();
    const tx2 = ch.sender();
    expect(tx2.trySend(5)).toBe(true);
    const rx2 = ch.receiver();
    expect(rx2.tryRecv()).toBe(5);
    expect(rx2.tryRecv()).toBeUndefined();
    // And with the receiver first: it discards what is unread and waits for the next stream.
    tx2.trySend(6);
    rx2.close();
    tx2.release();
    const rx3 = ch.receiver();
    expect(rx3.tryRecv()).toBeUndefined();
    const tx3 = ch.sender();
    tx3.trySend(8);
    expect(rx3.tryRecv()).toBe(8);
  });
});

describe('claims across a worker', () => {
  it('a role held by a worker cannot be claimed here, and the other way round', async () => {
    const ch = Channel.create({ capacity: 1024 });
    actor = new Actor(ch.handle);
    expect(await actor.call('claim', ['sender'])).toBe('sender');
    expect(() => ch.sender()).toThrow(code('ERR_ROLE_TAKEN'));
    ch.receiver();
    await expect(actor.call('claim', ['receiver'])).rejects.toMatchObject({ code: 'ERR_ROLE_TAKEN' });
    await expect(actor.call('claim', ['sender'])).rejects.toMatchObject({ code: 'ERR_ROLE_TAKEN' });
  });

  it('two workers race for the sender role: exactly one wins', async () => {
    const ch = Channel.create({ capacity: 1024 });
    const actors = [new Actor(ch.handle), new Actor(ch.handle), new Actor(ch.handle)];
    try {
      await Promise.all(actors.map((a) => a.call('sleep', [0])));
      const results = await Promise.allSettled(actors.map((a) => a.call('claim', ['sender'])));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'ERR_ROLE_TAKEN' });
    } finally {
      await Promise.all(actors.map((a) => a.terminate()));
    }
  });

  it('release() hands the sender role to a worker, which continues the stream in order', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 4096, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    for (let i = 0; i < 50; i++) expect(tx.trySend(seq.message(i, 5, 0, 60))).toBe(true);
    tx.release();
    actor = new Actor(ch.handle);
    await actor.call('claim', ['sender']);
    expect(await actor.call('sendSequence', [50, 50, 5, 0, 60, 'try'])).toBe(50);
    await actor.call('close', ['sender']);
    let i = 0;
    for await (const m of rx) {
      expect(seq.check(m, m.length, i, 5, 0, 60)).toBe(true);
      i++;
    }
    expect(i).toBe(100);
  });

  it('release() hands the receiver role to a worker, which gets the rest', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 4096, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    for (let i = 0; i < 60; i++) expect(tx.trySend(seq.message(i, 6, 0, 40))).toBe(true);
    for (let i = 0; i < 25; i++) {
      const m = rx.tryRecv()!;
      expect(seq.check(m, m.length, i, 6, 0, 40)).toBe(true);
    }
    rx.release();
    actor = new Actor(ch.handle);
    await actor.call('claim', ['receiver']);
    expect(await actor.call('recvSequence', [25, 35, 6, 0, 40])).toBe(35);
  });

  it('a worker closing its sender makes a claim here throw ERR_CHANNEL_CLOSED until the end was received', async () => {
    const ch = Channel.create({ capacity: 1024 });
    actor = new Actor(ch.handle);
    await actor.call('claim', ['sender']);
    await actor.call('close', ['sender']);
    expect(ch.senderClosed).toBe(true);
    expect(() => ch.sender()).toThrow(code('ERR_CHANNEL_CLOSED'));
    await expect(ch.receiver().recv({ timeout: 5000 })).rejects.toMatchObject({ code: 'ERR_CHANNEL_CLOSED' });
    ch.sender().release();
  });
});
