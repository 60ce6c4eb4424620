// Waiting: sync calls block the thread (Atomics.wait), async ones do not (Atomics.waitAsync plus a
// timer); both spin briefly, then park and are woken by the peer. Timeouts (ERR_TIMEOUT), abort
// signals (ERR_ABORTED), and the event loop staying alive while an async call waits.
//
// Every wake is timed: the peer publishes once the park word says the side sleeps, and the side
// must resume within WAKE_MS of that publish (test/helpers/waits.ts), far below its deadline, so a
// lost wake fails on that bound instead of passing slowly.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Channel } from '../../lib/index.js';
import { WORD } from '../../lib/core/ring.js';
import { holdsLoop, Liveness, parkAny, parkSync, Patience } from '../../lib/core/park.js';
import * as L from '../../lib/core/layout.js';
import { words } from '../helpers/ring.js';
import * as seq from '../helpers/sequence.js';
import { DEADLINE_MS, expectWoken, now, RX_PARKED, RX_PARKS, SlowCalls, TX_PARKED, TX_PARKS, untilParked, WAKE_MS } from '../helpers/waits.js';
import { Actor, outcome } from '../helpers/workers.js';

const code = (c: string) => expect.objectContaining({ code: c });

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
    // The worker sends once this thread is parked in recvSync.
    const later = outcome(actor.call('afterWord', [RX_PARKS, 'sendSync', [[{ hello: 'world' }, 2]]]));
    expect(rx.recvSync({ timeout: DEADLINE_MS })).toEqual({ hello: 'world' });
    expectWoken(actor.publishedAt(), now(), 'recvSync');
    expect(rx.recvSync({ timeout: DEADLINE_MS })).toBe(2);
    expect(await later).toEqual({ value: 2 });
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
    const received = outcome(actor.call('afterWord', [TX_PARKS, 'recvSequence', [0, sent + 20, 11, 0, 200]]));
    tx.sendSync(seq.message(sent, 11, 0, 200), { timeout: DEADLINE_MS });
    expectWoken(actor.publishedAt(), now(), 'sendSync');
    for (let k = 1; k < 20; k++) tx.sendSync(seq.message(sent + k, 11, 0, 200), { timeout: 30_000 });
    expect(await received).toEqual({ value: sent + 20 });
    expect(ch.stats().sent.parks).toBeGreaterThanOrEqual(1);
    expect(Atomics.load(words(ch), TX_PARKED)).toBe(0);
  });

  it('sendSync in a worker blocked on a full ring continues as this thread drains', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const rx = ch.receiver();
    actor = new Actor(ch.handle);
    await actor.call('claim', ['sender']);
    const w = words(ch);
    // Timed once: the ring full of sequence messages, the worker parks in sendSync for the next.
    let filled = 0;
    while (filled < 1000 && (await actor.call('trySend', [seq.message(filled, 12, 0, 300)]))) filled++;
    const first = outcome(actor.call('timed', ['sendSequence', [filled, 1, 12, 0, 300, 'sync', DEADLINE_MS]]));
    await untilParked(w, TX_PARKED);
    const at = now();
    let i = 0;
    // Empties the ring (room for any message): the worker must wake at once.
    expect(rx.drain((view, offset, length) => void expect(seq.check(view, length, i++, 12, 0, 300, offset)).toBe(true))).toBe(filled);
    const { end } = (await first).value;
    expectWoken(at, end, 'sendSync in the worker');
    // Then 500 more, the worker parking whenever this thread falls behind.
    const sending = actor.call('sendSequence', [filled + 1, 500, 12, 0, 300, 'sync']);
    for (; i < filled + 501; i++) {
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
    const got = rx.recv({ timeout: DEADLINE_MS });
    let resumed = 0;
    void got.then(() => (resumed = now()));
    // The worker sends only after a timer of this thread has run while recv is parked.
    const ticked = new Int32Array(new SharedArrayBuffer(4));
    const timer = setInterval(() => Atomics.store(ticked, 0, Atomics.load(words(ch), RX_PARKED)), 1);
    const sent = outcome(actor.call('afterWord', [0, 'sendSync', [['late']], ticked]));
    expect(await got).toBe('late');
    clearInterval(timer);
    expectWoken(actor.publishedAt(), resumed, 'recv()');
    expect(await sent).toEqual({ value: 1 });
  });

  it('send() on a full ring resolves once a worker drains; queued sends keep their order and trySend yields to them', async () => {
    const ch = Channel.create<number>({ capacity: 1024 });
    const tx = ch.sender();
    actor = new Actor(ch.handle);
    await actor.call('claim', ['receiver']);
    let n = 0;
    while (tx.trySend(n)) n++;
    const pending = Array.from({ length: 30 }, (_, k) => outcome(tx.send(n + k, { timeout: DEADLINE_MS })));
    let resumed = 0;
    void pending[0]!.then(() => (resumed = now()));
    expect(tx.trySend(-1)).toBe(false); // earlier async sends go first
    expect(() => tx.sendSync(-1)).toThrow(code('ERR_SEND_PENDING'));
    const all = outcome(actor.call('afterWord', [TX_PARKED, 'recvAll', []]));
    await pending[0];
    expectWoken(actor.publishedAt(), resumed, 'send()');
    expect(await Promise.all(pending)).toEqual(Array(30).fill({ value: undefined }));
    await tx.close();
    expect(await all).toEqual({ value: Array.from({ length: n + 30 }, (_, i) => i) });
  });

  it('recv() in this thread paired with send() in this thread: many messages through a small ring', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes', spinMicros: 0 });
    const tx = ch.sender();
    const rx = ch.receiver();
    // Each side parks whenever the other is behind, and only the other's publish wakes it.
    const slow = new SlowCalls();
    const producing = outcome(
      (async () => {
        for (let i = 0; i < 2000 && !slow.tooMany; i++) await slow.time(() => tx.send(seq.message(i, 13, 0, 700), { timeout: DEADLINE_MS }));
        await tx.close();
      })(),
    );
    let i = 0;
    let bad = 0;
    while (!slow.tooMany) {
      const { value, error } = await outcome(slow.time(() => rx.recv({ timeout: DEADLINE_MS })));
      if (error?.code === 'ERR_CHANNEL_CLOSED' || slow.tooMany) break;
      if (error !== undefined) throw error;
      const m = value!;
      if (!seq.check(m, m.length, i, 13, 0, 700)) bad++;
      i++;
    }
    const { sent, received } = ch.stats();
    slow.expectFew('sends and recvs');
    expect((await producing).error).toBeUndefined();
    expect(i).toBe(2000);
    expect(bad).toBe(0);
    expect(sent.parks + received.parks).toBeGreaterThan(100);
  });

  it('recvSync while an async recv is pending is ERR_SEND_PENDING', async () => {
    const ch = Channel.create<number>({ capacity: 1024 });
    const tx = ch.sender();
    const rx = ch.receiver();
    const pending = rx.recv({ timeout: DEADLINE_MS });
    let resumed = 0;
    void pending.then(() => (resumed = now()));
    expect(() => rx.recvSync({ timeout: 10 })).toThrow(code('ERR_SEND_PENDING'));
    await untilParked(words(ch), RX_PARKED);
    const at = now();
    tx.trySend(5);
    expect(await pending).toBe(5);
    expectWoken(at, resumed, 'recv()');
  });
});

describe('empty messages that must wait for room', () => {
  // Regression: the sender used 0 both for "message complete" and for "needs room for a 0-byte
  // record", so an empty message that found the ring full was silently dropped.
  it("send(): an empty message (bytes) and an empty string ('string') are delivered after the ring drains", async () => {
    for (const [codec, empty, filler] of [['bytes', new Uint8Array(0), new Uint8Array(40)], ['string', '', 'x'.repeat(40)]] as const) {
      const ch = Channel.create({ capacity: 1024, codec });
      const tx = ch.sender();
      const rx = ch.receiver();
      let n = 0;
      while (tx.trySend(filler)) n++;
      while (tx.trySend(empty)) n++; // full even for an empty record
      const sending = tx.send(empty, { timeout: DEADLINE_MS });
      let resumed = 0;
      void sending.then(() => (resumed = now()));
      await untilParked(words(ch), TX_PARKED);
      const at = now();
      expect(rx.drain(() => undefined, n)).toBe(n);
      await sending;
      expectWoken(at, resumed, `send() of an empty ${codec} message`);
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
    const all = outcome(actor.call<Uint8Array[]>('afterWord', [TX_PARKED, 'recvAll', []]));
    tx.sendSync(new Uint8Array(0), { timeout: DEADLINE_MS });
    expectWoken(actor.publishedAt(), now(), 'sendSync');
    await tx.close();
    expect((await all).value!.map((m) => m.length)).toEqual([...Array(n).fill(100), ...Array(empties + 1).fill(0)]);
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
    await untilParked(words(ch), RX_PARKED);
    const at = now();
    ac.abort(reason);
    expect((await waiting).error).toMatchObject({ code: 'ERR_ABORTED', name: 'RingwireError', cause: reason });
    expectWoken(at, now(), 'recv() on abort');
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
    await untilParked(words(ch), TX_PARKED);
    const at = now();
    ac.abort();
    expect((await waiting).error).toMatchObject({ code: 'ERR_ABORTED' });
    expectWoken(at, now(), 'send() on abort');
    await expect(tx.send(-2, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    await tx.close();
    const got: number[] = [];
    for await (const m of rx) got.push(m);
    expect(got).toEqual(Array.from({ length: n }, (_, i) => i));
  });

  it('a signal and a timeout together: whichever comes first', async () => {
    const ch = Channel.create({ capacity: 1024 });
    const rx = ch.receiver();
    const ac = new AbortController();
    await expect(rx.recv({ signal: ac.signal, timeout: 20 })).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    const waiting = outcome(rx.recv({ signal: ac.signal, timeout: DEADLINE_MS }));
    await untilParked(words(ch), RX_PARKED);
    const at = now();
    ac.abort();
    expect((await waiting).error).toMatchObject({ code: 'ERR_ABORTED' });
    expectWoken(at, now(), 'recv() on abort');
  });
});

describe('parkAny (stage inputs, the sink)', () => {
  // A park word (index 0) and a watched word (index 16) per site, a cache line apart.
  const site = () => {
    const i32 = new Int32Array(new SharedArrayBuffer(128));
    return { i32, parked: 0, watch: 16, value: 0, onPark: () => {} };
  };
  const park = (s: ReturnType<typeof site>) =>
    parkAny([s], { ready: () => Atomics.load(s.i32, 16) !== 0, patience: new Patience({ wait: 'park', spinMicros: 0 }), sliceMs: DEADLINE_MS });
  const publish = (s: ReturnType<typeof site>) => {
    Atomics.store(s.i32, 16, 1);
    Atomics.notify(s.i32, 16);
  };

  it('holds the event loop while any sleeper sleeps, and wakes each when its word changes', async () => {
    const a = site();
    const b = site();
    expect(holdsLoop()).toBe(false);
    const first = park(a);
    const second = park(b);
    await untilParked(a.i32, 0);
    await untilParked(b.i32, 0);
    expect(holdsLoop()).toBe(true);
    let at = now();
    publish(a);
    await first;
    expectWoken(at, now(), 'parkAny, first sleeper');
    expect(Atomics.load(a.i32, 0)).toBe(0); // its park word is cleared
    expect(holdsLoop()).toBe(true); // the other still sleeps
    at = now();
    publish(b);
    await second;
    expectWoken(at, now(), 'parkAny, second sleeper');
    expect(holdsLoop()).toBe(false);
  });

  it("a channel side's unref() and ref() move the hold of a recv() that sleeps", async () => {
    const ch = Channel.create<number>({ capacity: 1024 });
    const rx = ch.receiver();
    const tx = ch.sender();
    const got = rx.recv({ timeout: DEADLINE_MS });
    await untilParked(words(ch), RX_PARKED);
    expect(holdsLoop()).toBe(true);
    rx.unref();
    expect(holdsLoop()).toBe(false);
    rx.ref();
    expect(holdsLoop()).toBe(true);
    tx.trySend(7);
    expect(await got).toBe(7);
    expect(holdsLoop()).toBe(false);
  });

  it('lets go of the event loop when a sleep ends by its abort signal', async () => {
    const s = site();
    const ac = new AbortController();
    const sleeping = parkAny([s], { ready: () => ac.signal.aborted, patience: new Patience({ wait: 'park', spinMicros: 0 }), sliceMs: DEADLINE_MS, signal: ac.signal });
    await untilParked(s.i32, 0);
    expect(holdsLoop()).toBe(true);
    const at = now();
    ac.abort();
    await sleeping;
    expectWoken(at, now(), 'parkAny on abort');
    expect(holdsLoop()).toBe(false);
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
  /** Starts the late peer (unref()'d: it does not keep the process alive, only a pending call can). */
  const startPeer = (role: string, extra = '') => `
      const at = new Float64Array(new SharedArrayBuffer(8));
      const woke = () => (performance.timeOrigin + performance.now() - at[0]).toFixed(1);
      new Worker(new URL(${JSON.stringify(peer)}), { execArgv: [], workerData: { handle: ch.handle, role: '${role}', parkWord: ${role === 'sender' ? RX_PARKED : TX_PARKED}, at${extra} } }).unref();`;

  // The peer, a worker, starts (tens of ms) after the script has run to its end: without the
  // pending call the process would have exited by then.
  it('recv(): the process waits for a message a worker sends once recv is parked', async () => {
    const r = await runNode(`
      import { Worker } from 'node:worker_threads';
      import { Channel } from ${JSON.stringify(dist)};
      const ch = Channel.create({ codec: 'string', capacity: 1024 });
      const rx = ch.receiver();
      ${startPeer('sender', ", message: 'delivered later'")}
      rx.recv({ timeout: ${DEADLINE_MS} }).then((m) => console.log('got:' + m + '\\nwoke:' + woke()), (e) => console.log('error:' + e.code));
    `);
    expect(r.stderr).toBe('');
    const [got, woke] = r.stdout.trim().split('\n');
    expect(got).toBe('got:delivered later');
    expect(Number(woke!.slice('woke:'.length)), `recv() woke ${woke} ms after the publish`).toBeLessThan(WAKE_MS);
    expect(r.code).toBe(0);
  });

  it('send(): the process waits for room a worker makes once send is parked', async () => {
    const r = await runNode(`
      import { Worker } from 'node:worker_threads';
      import { Channel } from ${JSON.stringify(dist)};
      const ch = Channel.create({ codec: 'bytes', capacity: 1024 });
      const tx = ch.sender();
      let n = 0;
      while (tx.trySend(new Uint8Array(100))) n++;
      ${startPeer('receiver')}
      tx.send(new Uint8Array(100), { timeout: ${DEADLINE_MS} }).then(() => console.log('sent after ' + n + '\\nwoke:' + woke()), (e) => console.log('error:' + e.code));
    `);
    expect(r.stderr).toBe('');
    const [sent, woke] = r.stdout.trim().split('\n');
    expect(sent).toMatch(/^sent after \d+$/);
    expect(Number(woke!.slice('woke:'.length)), `send() woke ${woke} ms after the publish`).toBeLessThan(WAKE_MS);
    expect(r.code).toBe(0);
  });

  it('control: without a pending call the same process exits at once', async () => {
    const r = await runNode(`
      import { Worker } from 'node:worker_threads';
      import { Channel } from ${JSON.stringify(dist)};
      const ch = Channel.create({ codec: 'string', capacity: 1024 });
      const rx = ch.receiver();
      ${startPeer('sender', ", message: 'late'")}
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
    const waiting = rx.recv({ timeout: DEADLINE_MS });
    let resumed = 0;
    void waiting.then(() => (resumed = now()));
    await untilParked(w, RX_PARKED);
    const at = now();
    tx.trySend(42);
    expect(await waiting).toBe(42);
    expectWoken(at, resumed, 'recv()');
    expect(Atomics.load(w, RX_PARKED)).toBe(0);
    expect(ch.stats().received.parks).toBeGreaterThanOrEqual(1);
  });
  // Litmus for the park protocol (lib/core/park.ts + lib/core/ring.ts), white-box: the peer's whole publish
  // (store of its position, check of our park word, wake) runs inside our re-check window, after
  // our park store and before we sleep, and frees too little. We then sleep; the peer's next
  // publish must still find our park word set and wake us. A waker that clears the park word
  // (one wake per park) loses that second wake: we would sleep until a slice ends or the deadline.
  it('litmus: a peer publish racing with the re-check does not leave the sleeper unparked', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const w = words(ch);
    const tx = ch.sender();
    const rx = ch.receiver();
    let filled = 0;
    while (tx.trySend(new Uint8Array(100))) filled++;
    actor = new Actor(ch.handle);
    await actor.call('sleep', [0]);
    // Set by onPark, right before we sleep. Posted now (this thread blocks below) and run in order
    // by the worker: once we are about to sleep, look at our park word, then take the receiver role
    // and drain (the publish that must wake us).
    const sleeping = new Int32Array(new SharedArrayBuffer(4));
    const peeked = outcome(actor.call('afterWord', [0, 'peek', [TX_PARKED], sleeping]));
    const claimed = outcome(actor.call('claim', ['receiver']));
    const drained = outcome(actor.call('afterWord', [0, 'drain', [1000], sleeping]));
    let calls = 0;
    const site = { i32: w, waiter: ch.mem.waiter, live: new Liveness(), parked: WORD.TX_PARKED, watch: WORD.HEAD };
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
    const onPark = () => Atomics.store(sleeping, 0, 1);
    parkSync(site, {
      ready, value: () => Atomics.load(w, L.HEAD_OFFSET >> 2), patience: new Patience({ wait: 'park', spinMicros: 0 }), deadline: performance.now() + DEADLINE_MS, what: 'litmus', timeoutMs: DEADLINE_MS, onPark,
    });
    expectWoken(actor.publishedAt(), now(), 'the litmus sleeper');
    expect(await claimed).toEqual({ value: 'receiver' });
    expect(await peeked).toEqual({ value: 1 }); // asleep with the park word set
    expect(await drained).toEqual({ value: filled - 1 });
    expect(Atomics.load(w, TX_PARKED)).toBe(0); // and it took it down on waking
  });
});
