// Waiting: sync calls block the thread (Atomics.wait), async ones do not (Atomics.waitAsync plus a
// timer); both spin briefly, then park and are woken by the peer. Timeouts (ERR_TIMEOUT), abort
// signals (ERR_ABORTED), and the event loop staying alive while an async call waits.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Channel } from '../../lib/index.js';
import { WORD } from '../../lib/core/ring.js';
import { parkSync } from '../../lib/core/park.js';
import * as L from '../../lib/core/layout.js';
import { words } from '../helpers/ring.js';
import * as seq from '../helpers/sequence.js';
import { Actor, outcome, waitFor } from '../helpers/workers.js';

const code = (c: string) => expect.objectContaining({ code: c });
const TX_PARKED = L.TX_PARKED_OFFSET >> 2;
const RX_PARKED = L.RX_PARKED_OFFSET >> 2;

let actor: Actor | undefined;
afterEach(async () => {
  await actor?.terminate();
  actor = undefined;
});

describe('sync waits across a worker', () => {
  it('recvSync in this thread returns the message a worker sends later', async () => {
    const ch = Channel.create<unknown>({ capacity: 1024 });
    const rx = ch.receiver();
    actor = new Actor(ch.handle);
    await actor.call('claim', ['sender']);
    const later = actor.call('sendLater', [200, [{ hello: 'world' }, 2]]);
    expect(rx.recvSync({ timeout: 30_000 })).toEqual({ hello: 'world' });
    expect(rx.recvSync({ timeout: 30_000 })).toBe(2);
    expect(await later).toBe(2);
    expect(ch.stats().received.parks).toBeGreaterThanOrEqual(1);
  });

  it('sendSync blocked on a full ring returns once the worker drains, and the worker gets everything in order', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    actor = new Actor(ch.handle);
    await actor.call('claim', ['receiver']);
    let sent = 0;
    while (tx.trySend(seq.message(sent, 11, 0, 200))) sent++;
    // The worker waits until this thread is parked, then receives everything.
    const parked = actor.call('waitWord', [TX_PARKED, 1, 20_000]);
    const received = actor.call('recvSequence', [0, sent + 20, 11, 0, 200]);
    for (let k = 0; k < 20; k++) tx.sendSync(seq.message(sent + k, 11, 0, 200), { timeout: 30_000 });
    expect(await parked).toBe(true);
    expect(await received).toBe(sent + 20);
    expect(ch.stats().sent.parks).toBeGreaterThanOrEqual(1);
    expect(Atomics.load(words(ch), TX_PARKED)).toBe(0);
  });

  it('sendSync in a worker blocked on a full ring continues as this thread drains', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const rx = ch.receiver();
    actor = new Actor(ch.handle);
    await actor.call('claim', ['sender']);
    const sending = actor.call('sendSequence', [0, 500, 12, 0, 300, 'sync']);
    const w = words(ch);
    expect(await waitFor(() => Atomics.load(w, TX_PARKED) === 1)).toBe(true);
    for (let i = 0; i < 500; i++) {
      const m = rx.recvSync({ timeout: 30_000 });
      expect(seq.check(m, m.length, i, 12, 0, 300)).toBe(true);
    }
    expect(await sending).toBe(500);
  });
});

describe('async waits', () => {
  it('recv() resolves when a worker sends later, without blocking this thread', async () => {
    const ch = Channel.create<string>({ capacity: 1024, codec: 'string' });
    const rx = ch.receiver();
    actor = new Actor(ch.handle);
    await actor.call('claim', ['sender']);
    const got = rx.recv({ timeout: 30_000 });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    await actor.call('sendLater', [150, ['late']]);
    expect(await got).toBe('late');
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0); // the event loop ran while recv waited
  });

  it('send() on a full ring resolves once a worker drains; queued sends keep their order and trySend yields to them', async () => {
    const ch = Channel.create<number>({ capacity: 1024 });
    const tx = ch.sender();
    actor = new Actor(ch.handle);
    await actor.call('claim', ['receiver']);
    let n = 0;
    while (tx.trySend(n)) n++;
    const pending = Array.from({ length: 30 }, (_, k) => tx.send(n + k, { timeout: 30_000 }));
    expect(tx.trySend(-1)).toBe(false); // earlier async sends go first
    expect(() => tx.sendSync(-1)).toThrow(code('ERR_SEND_PENDING'));
    const all = actor.call('recvAll');
    await Promise.all(pending);
    await tx.close();
    expect(await all).toEqual(Array.from({ length: n + 30 }, (_, i) => i));
  });

  it('recv() in this thread paired with send() in this thread: many messages through a small ring', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes', spinMicros: 0 });
    const tx = ch.sender();
    const rx = ch.receiver();
    const end = Date.now() + 60_000;
    const producing = (async () => {
      for (let i = 0; i < 2000 && Date.now() < end; i++) await tx.send(seq.message(i, 13, 0, 700), { timeout: 10_000 });
      await tx.close();
    })();
    let i = 0;
    let bad = 0;
    for await (const m of rx) {
      if (!seq.check(m, m.length, i, 13, 0, 700)) bad++;
      i++;
    }
    await producing;
    expect(i).toBe(2000);
    expect(bad).toBe(0);
  });

  it('recvSync while an async recv is pending is ERR_SEND_PENDING', async () => {
    const ch = Channel.create<number>({ capacity: 1024 });
    const tx = ch.sender();
    const rx = ch.receiver();
    const pending = rx.recv({ timeout: 5000 });
    expect(() => rx.recvSync({ timeout: 10 })).toThrow(code('ERR_SEND_PENDING'));
    tx.trySend(5);
    expect(await pending).toBe(5);
  });
});

describe('empty messages that must wait for room', () => {
  // Regression: the sender used 0 both for "message complete" and for "needs room for a 0-byte
  // record", so an empty message that found the ring full was silently dropped.
  it("send(): an empty message (bytes) and an empty string ('string') are delivered after the ring drains", async () => {
    for (const [codec, empty, filler] of [['bytes', new Uint8Array(0), new Uint8Array(40)], ['string', '', 'x'.repeat(40)]] as const) {
      const ch = Channel.create<unknown>({ capacity: 1024, codec });
      const tx = ch.sender();
      const rx = ch.receiver();
      let n = 0;
      while (tx.trySend(filler)) n++;
      while (tx.trySend(empty)) n++; // full even for an empty record
      const sending = tx.send(empty, { timeout: 5000 });
      setTimeout(() => rx.drain(() => undefined, n), 20);
      await sending;
      expect(rx.tryRecv()).toEqual(empty);
      expect(rx.tryRecv()).toBeUndefined();
      expect(ch.stats().sent.messages).toBe(n + 1);
      expect(ch.stats().received.messages).toBe(n + 1);
    }
  });

  it('sendSync(): an empty message on a full ring is delivered once a worker drains', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    actor = new Actor(ch.handle);
    await actor.call('claim', ['receiver']);
    let n = 0;
    while (tx.trySend(new Uint8Array(100))) n++;
    let empties = 0;
    while (tx.trySend(new Uint8Array(0))) empties++; // full even for an empty record
    const all = actor.call('recvAll');
    tx.sendSync(new Uint8Array(0), { timeout: 30_000 });
    await tx.close();
    const got = (await all) as Uint8Array[];
    expect(got.map((m) => m.length)).toEqual([...Array(n).fill(100), ...Array(empties + 1).fill(0)]);
  });
});

describe('timeouts -> ERR_TIMEOUT', () => {
  it('recv and recvSync on an empty ring', async () => {
    const rx = Channel.create({ capacity: 1024 }).receiver();
    await expect(rx.recv({ timeout: 30 })).rejects.toMatchObject({ code: 'ERR_TIMEOUT', name: 'RingwireError', message: expect.stringMatching(/30 ms/) });
    await expect(rx.recv({ timeout: 0 })).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    expect(() => rx.recvSync({ timeout: 20 })).toThrow(code('ERR_TIMEOUT'));
    expect(() => rx.recvSync({ timeout: 0 })).toThrow(code('ERR_TIMEOUT'));
  });

  it('a message that is there is returned even with timeout 0', async () => {
    const ch = Channel.create<number>({ capacity: 1024 });
    const tx = ch.sender();
    const rx = ch.receiver();
    tx.trySend(1);
    tx.trySend(2);
    expect(rx.recvSync({ timeout: 0 })).toBe(1);
    expect(await rx.recv({ timeout: 0 })).toBe(2);
  });

  it('send and sendSync on a full ring; the timed-out message is not delivered', async () => {
    const ch = Channel.create<number>({ capacity: 1024 });
    const tx = ch.sender();
    const rx = ch.receiver();
    let n = 0;
    while (tx.trySend(n)) n++;
    await expect(tx.send(-1, { timeout: 30 })).rejects.toMatchObject({ code: 'ERR_TIMEOUT', message: expect.stringMatching(/send timed out after 30 ms/) });
    expect(() => tx.sendSync(-2, { timeout: 20 })).toThrow(code('ERR_TIMEOUT'));
    expect(() => tx.sendSync(-3, { timeout: 0 })).toThrow(code('ERR_TIMEOUT'));
    await tx.close();
    const got: number[] = [];
    for await (const m of rx) got.push(m);
    expect(got).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(ch.stats().sent.messages).toBe(n);
  });

  it('a timed-out recv leaves the receiver usable', async () => {
    const ch = Channel.create<number>({ capacity: 1024 });
    const tx = ch.sender();
    const rx = ch.receiver();
    await expect(rx.recv({ timeout: 10 })).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    tx.trySend(7);
    expect(await rx.recv({ timeout: 1000 })).toBe(7);
  });
});

describe('abort signals -> ERR_ABORTED', () => {
  it('recv aborted while waiting, with the reason as cause; already-aborted signals', async () => {
    const ch = Channel.create<number>({ capacity: 1024 });
    const tx = ch.sender();
    const rx = ch.receiver();
    const ac = new AbortController();
    const reason = new Error('user gave up');
    const waiting = outcome(rx.recv({ signal: ac.signal }));
    setTimeout(() => ac.abort(reason), 20);
    expect((await waiting).error).toMatchObject({ code: 'ERR_ABORTED', name: 'RingwireError', cause: reason });
    await expect(rx.recv({ signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    // Still usable, and a message that is there wins over an aborted signal.
    tx.trySend(3);
    expect(await rx.recv({ signal: AbortSignal.abort() })).toBe(3);
  });

  it('send aborted while waiting for room: the message is not delivered', async () => {
    const ch = Channel.create<number>({ capacity: 1024 });
    const tx = ch.sender();
    const rx = ch.receiver();
    let n = 0;
    while (tx.trySend(n)) n++;
    const ac = new AbortController();
    const waiting = outcome(tx.send(-1, { signal: ac.signal }));
    setTimeout(() => ac.abort(), 20);
    expect((await waiting).error).toMatchObject({ code: 'ERR_ABORTED' });
    await expect(tx.send(-2, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    await tx.close();
    const got: number[] = [];
    for await (const m of rx) got.push(m);
    expect(got).toEqual(Array.from({ length: n }, (_, i) => i));
  });

  it('a signal and a timeout together: whichever comes first', async () => {
    const rx = Channel.create({ capacity: 1024 }).receiver();
    const ac = new AbortController();
    await expect(rx.recv({ signal: ac.signal, timeout: 20 })).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    const waiting = outcome(rx.recv({ signal: ac.signal, timeout: 10_000 }));
    setTimeout(() => ac.abort(), 10);
    expect((await waiting).error).toMatchObject({ code: 'ERR_ABORTED' });
  });
});

describe('a pending async call keeps the process alive', () => {
  const dist = new URL('../../dist/index.js', import.meta.url).href;
  /** Runs an ES module in a fresh node process; resolves with its exit code and output. */
  function runNode(source: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, ['--input-type=module', '-e', source], { timeout: 30_000, cwd: fileURLToPath(new URL('../..', import.meta.url)) }, (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
      });
    });
  }

  const peer = new URL('../fixtures/late-peer.mjs', import.meta.url).href;
  // The worker is unref()'d: it does not keep the process alive, so only the pending call can.
  it('recv(): the process waits for a message a worker sends after 200 ms', async () => {
    const r = await runNode(`
      import { Worker } from 'node:worker_threads';
      import { Channel } from ${JSON.stringify(dist)};
      const ch = Channel.create({ codec: 'string', capacity: 1024 });
      const rx = ch.receiver();
      const message = 'delivered after 200 ms';
      new Worker(new URL(${JSON.stringify(peer)}), { execArgv: [], workerData: { handle: ch.handle, role: 'sender', delayMs: 200, message } }).unref();
      rx.recv({ timeout: 20000 }).then((m) => console.log('got:' + m), (e) => console.log('error:' + e.code));
    `);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('got:delivered after 200 ms');
    expect(r.code).toBe(0);
  });

  it('send(): the process waits for room a worker makes after 200 ms', async () => {
    const r = await runNode(`
      import { Worker } from 'node:worker_threads';
      import { Channel } from ${JSON.stringify(dist)};
      const ch = Channel.create({ codec: 'bytes', capacity: 1024 });
      const tx = ch.sender();
      let n = 0;
      while (tx.trySend(new Uint8Array(100))) n++;
      new Worker(new URL(${JSON.stringify(peer)}), { execArgv: [], workerData: { handle: ch.handle, role: 'receiver', delayMs: 200 } }).unref();
      tx.send(new Uint8Array(100), { timeout: 20000 }).then(() => console.log('sent after ' + n), (e) => console.log('error:' + e.code));
    `);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toMatch(/^sent after \d+$/);
    expect(r.code).toBe(0);
  });

  it('control: without a pending call the same process exits at once', async () => {
    const r = await runNode(`
      import { Worker } from 'node:worker_threads';
      import { Channel } from ${JSON.stringify(dist)};
      const ch = Channel.create({ codec: 'string', capacity: 1024 });
      const rx = ch.receiver();
      new Worker(new URL(${JSON.stringify(peer)}), { execArgv: [], workerData: { handle: ch.handle, role: 'sender', delayMs: 200, message: 'late' } }).unref();
      rx.recv({ timeout: 0 }).then((m) => console.log('got:' + m), (e) => console.log('error:' + e.code));
      console.log('done:' + ch.capacity);
    `);
    // The recv with timeout 0 fails at once; the unref()'d worker does not hold the process.
    expect(r.stdout.trim().split('\n')).toEqual(['done:1024', 'error:ERR_TIMEOUT']);
    expect(r.code).toBe(0);
  });
});

describe('parking', () => {
  it('spinMicros 0 parks at once and the peer wakes it (counted in parks)', async () => {
    const ch = Channel.create<number>({ capacity: 1024, spinMicros: 0 });
    const tx = ch.sender();
    const rx = ch.receiver();
    const w = words(ch);
    const waiting = rx.recv({ timeout: 10_000 });
    expect(await waitFor(() => Atomics.load(w, RX_PARKED) === 1)).toBe(true);
    tx.trySend(42);
    expect(await waiting).toBe(42);
    expect(Atomics.load(w, RX_PARKED)).toBe(0);
    expect(ch.stats().received.parks).toBeGreaterThanOrEqual(1);
  });
  // Litmus for the park protocol (lib/core/park.ts + lib/core/ring.ts), white-box: the peer's whole publish
  // (store of its position, check of our park word, wake) runs inside our re-check window, after
  // our park store and before we sleep, and frees too little. We then sleep; the peer's next
  // publish must still find our park word set and wake us. A waker that clears the park word
  // (one wake per park) loses that second wake: we would sleep until the deadline.
  it('litmus: a peer publish racing with the re-check does not leave the sleeper unparked', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const w = words(ch);
    const tx = ch.sender();
    const rx = ch.receiver();
    let filled = 0;
    while (tx.trySend(new Uint8Array(100))) filled++;
    actor = new Actor(ch.handle);
    await actor.call('sleep', [0]);
    // Posted now (this thread blocks below), run in order by the worker while this thread sleeps:
    // look at our park word, then take the receiver role and drain.
    const slept = actor.call('sleep', [300]);
    const peeked = actor.call('peek', [TX_PARKED]);
    const claimed = actor.call('claim', ['receiver']);
    const drained = actor.call('drain', [1000]);
    let calls = 0;
    const site = { i32: w, waiter: ch.mem.waiter, parked: WORD.TX_PARKED, watch: WORD.HEAD };
    const ready = () => {
      calls++;
      if (calls === 2) {
        // Our park word is set: the peer consumes one record and publishes head, then goes away.
        expect(Atomics.load(w, TX_PARKED)).toBe(1);
        expect(rx.drain(() => undefined, 1)).toBe(1);
        rx.release();
      }
      return Atomics.load(w, L.HEAD_OFFSET >> 2) >= 600;
    };
    parkSync(site, {
      ready, value: () => Atomics.load(w, L.HEAD_OFFSET >> 2), spinMicros: 0, deadline: performance.now() + 10_000, what: 'litmus', timeoutMs: 10_000, onPark: () => undefined,
    });
    await Promise.all([slept, claimed]);
    expect(await peeked).toBe(1); // asleep with the park word set
    expect(await drained).toBe(filled - 1);
    expect(Atomics.load(w, TX_PARKED)).toBe(0); // and it took it down on waking
  });
});
