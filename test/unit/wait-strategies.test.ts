// The `wait` option: 'adaptive' (the default), 'spin', 'backoff' and 'park'. Every strategy's
// wake-up, sync and async, on channels, a log follower and a pipeline: the peer publishes once the
// side's park word says it sleeps, and the side must resume within WAKE_MS (test/helpers/waits.ts),
// so a lost wake fails fast instead of passing slowly. Adaptive's learning is tested on its state
// (budgetMicros, hitRate) and on whether a wait polls at all, never on timings.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Channel, LogReader, LogWriter, pipeline, RingwireRangeError, RingwireTypeError } from '../../lib/index.js';
import { Patience, PROBE_EVERY, type WaitStrategy } from '../../lib/core/park.js';
import * as F from '../../lib/log/format.js';
import { logNative } from '../../lib/log/native.js';
import { words } from '../helpers/ring.js';
import { DEADLINE_MS, expectWoken, now, RX_PARKED, RX_PARKS, TX_PARKED, untilParked, WAKE_MS } from '../helpers/waits.js';
import { Actor, outcome, waitFor } from '../helpers/workers.js';
import { cleanupDirs, tempDir } from '../log/helpers.js';

const STRATEGIES: WaitStrategy[] = ['adaptive', 'spin', 'backoff', 'park'];
/** A log follower's wake-up bound (see the follower test). */
const FOLLOW_WAKE_MS = 1000;
const inc = new URL('../pipeline/fixtures/inc.mjs', import.meta.url);

let actor: Actor | undefined;
afterEach(async () => {
  await actor?.terminate();
  actor = undefined;
});
afterAll(cleanupDirs);

describe.each(STRATEGIES)("wait: '%s'", (wait) => {
  it('recvSync parked in this thread is woken by a send from a worker', async () => {
    const ch = Channel.create<number>({ capacity: 1024, wait });
    const rx = ch.receiver();
    actor = new Actor(ch.handle);
    await actor.call('claim', ['sender']);
    const sent = outcome(actor.call('afterWord', [RX_PARKS, 'sendSync', [[7]]]));
    expect(rx.recvSync({ timeout: DEADLINE_MS })).toBe(7);
    expectWoken(actor.publishedAt(), now(), 'recvSync');
    expect(await sent).toEqual({ value: 1 });
    expect(ch.stats().received.parks).toBeGreaterThanOrEqual(1);
  });

  it('sendSync parked in a worker on a full ring is woken when this thread drains', async () => {
    const ch = Channel.create<number>({ capacity: 1024 });
    const rx = ch.receiver();
    actor = new Actor(ch.handle, { wait });
    await actor.call('claim', ['sender']);
    const filled = (await actor.call('fill', [1])) as number;
    const sending = outcome(actor.call('timed', ['sendSync', [[2], { timeout: DEADLINE_MS }]]));
    await untilParked(words(ch), TX_PARKED);
    const at = now();
    expect(rx.drain(() => undefined)).toBe(filled);
    const { value, error } = await sending;
    expect(error).toBeUndefined();
    expectWoken(at, (value as { end: number }).end, 'sendSync in the worker');
    expect(rx.recvSync({ timeout: DEADLINE_MS })).toBe(2);
  });

  it('recv() and send() parked in this thread are woken by the peer, without blocking the event loop', async () => {
    const ch = Channel.create<number>({ capacity: 1024, wait });
    const tx = ch.sender();
    const rx = ch.receiver();
    const w = words(ch);
    const receiving = rx.recv({ timeout: DEADLINE_MS });
    let resumed = 0;
    void receiving.then(() => (resumed = now()));
    await untilParked(w, RX_PARKED); // polled with timers: the loop runs while recv() waits
    let at = now();
    tx.trySend(42);
    expect(await receiving).toBe(42);
    expectWoken(at, resumed, 'recv()');

    let filled = 0;
    while (tx.trySend(filled)) filled++;
    const sending = tx.send(-1, { timeout: DEADLINE_MS });
    void sending.then(() => (resumed = now()));
    await untilParked(w, TX_PARKED);
    at = now();
    expect(rx.drain(() => undefined)).toBe(filled);
    await sending;
    expectWoken(at, resumed, 'send()');
    expect(rx.tryRecv()).toBe(-1);
  });

  it('a log follower is woken by the next append', async () => {
    const dir = tempDir(`follow-${wait}`);
    const w = LogWriter.open(dir, { codec: 'json', segmentBytes: 1 << 16 });
    const r = LogReader.open(dir);
    const ctl = new (logNative().LogFile)(join(dir, F.CONTROL_FILE), 0, 0);
    const parked = () => Atomics.load(new Int32Array(ctl.buffer), F.CTL_PARKED_OFFSET >> 2) !== 0;
    try {
      w.append({ n: 0 });
      const records = r.follow({ wait });
      expect((await records.next()).value).toMatchObject({ sequence: 0, value: { n: 0 } });
      const next = records.next();
      expect(await waitFor(parked, 10_000)).toBe(true);
      w.append({ n: 1 });
      // follow()'s native wait has no slices: a lost wake never ends. Its wake-up crosses a native
      // thread and the event loop, which a loaded machine delays by tens of ms (measured: 107 ms).
      const got = await Promise.race([next, new Promise<'not woken'>((r) => setTimeout(() => r('not woken'), FOLLOW_WAKE_MS).unref())]);
      expect(got, `follow() not woken within ${FOLLOW_WAKE_MS} ms of the append`).not.toBe('not woken');
      expect((got as IteratorResult<unknown>).value).toMatchObject({ sequence: 1, value: { n: 1 } });
      await records.return(undefined);
    } finally {
      r.close();
      w.close();
      ctl.close();
    }
  });

  it('a 3-stage pipeline delivers everything, and a message sent once it is idle is not held up by a lost wake', async () => {
    const input = Channel.create<number>({ capacity: 4096 });
    const tx = input.sender();
    const got: number[] = [];
    let arrived = 0;
    const p = pipeline<number, number>({
      source: input.receiver(),
      stages: [{ module: inc }, { module: inc }, { module: inc }],
      sink: (v) => {
        got.push(v);
        arrived = now();
      },
      wait,
    });
    await p.ready;
    for (let i = 0; i < 1000; i++) await tx.send(i);
    expect(await waitFor(() => got.length === 1000, DEADLINE_MS)).toBe(true);
    // Idle: the pipeline's source waits on our channel (its receiver parks there), the stages on theirs.
    await untilParked(words(input), RX_PARKED);
    const at = now();
    expect(tx.trySend(1000)).toBe(true);
    expect(await waitFor(() => got.length === 1001, DEADLINE_MS)).toBe(true);
    // Four hops (source → 3 stages → sink), each a wake at most: a lost one costs a parked input's
    // slice (1 s) at that hop.
    expect(arrived - at, 'source → sink after idling (lost wake?)').toBeLessThan(4 * WAKE_MS);
    await p.close();
    expect(got).toEqual(Array.from({ length: 1001 }, (_, i) => i + 3));
  });
});

/** How many times one wait of `p` polled a condition that stays false. */
const polls = (p: Patience): number => {
  let n = 0;
  p.hold(() => (n++, false));
  return n;
};

describe('what each strategy does before it parks', () => {
  it("'park' never polls; 'spin' and 'backoff' poll until their time is up and then leave it to the park", () => {
    expect(polls(new Patience({ wait: 'park', spinMicros: 20 }))).toBe(0);
    expect(polls(new Patience({ wait: 'spin', spinMicros: 20 }))).toBeGreaterThan(1);
    expect(polls(new Patience({ wait: 'spin', spinMicros: 0 }))).toBe(0);
    expect(polls(new Patience({ wait: 'backoff', spinMicros: 0 }))).toBeGreaterThan(1); // pauses and sleeps, no spin
    let n = 0;
    expect(new Patience({ wait: 'backoff', spinMicros: 20 }).hold(() => ++n === 5)).toBe(true);
    expect(n).toBe(5);
  });

  it("'backoff' in an async wait yields to the event loop before it parks", async () => {
    const p = new Patience({ wait: 'backoff', spinMicros: 5 });
    let ran = false;
    setImmediate(() => (ran = true));
    // Ready only once the event loop has run the callback: a wait that blocked the loop could not see it.
    expect(await p.holdAsync(() => ran)).toBe(true);
    // The other strategies do not yield: their spin is synchronous.
    ran = false;
    setImmediate(() => (ran = true));
    expect(await new Patience({ wait: 'spin', spinMicros: 5 }).holdAsync(() => ran)).toBe(false);
  });
});

describe("'adaptive'", () => {
  it('after a run of waits that ended while it spun, its budget is above 0 (and at most spinMicros)', () => {
    const p = new Patience({ wait: 'adaptive', spinMicros: 20 });
    for (let i = 0; i < 50; i++) {
      let n = 0;
      expect(p.hold(() => ++n === 3)).toBe(true);
    }
    expect(p.hitRate).toBeGreaterThan(0.99);
    expect(p.budgetMicros).toBeGreaterThan(0);
    expect(p.budgetMicros).toBeLessThanOrEqual(20);
  });

  it('after many waits whose spins failed, it parks without spinning, except for one probe in PROBE_EVERY waits', () => {
    const p = new Patience({ wait: 'adaptive', spinMicros: 5 });
    for (let i = 0; i < 40; i++) p.hold(() => false);
    expect(p.hitRate).toBeLessThan(0.2); // waiting would cost more than it saves
    expect(p.budgetMicros).toBe(0);
    let probes = 0;
    for (let i = 0; i < 4 * PROBE_EVERY; i++) if (polls(p) > 0) probes++;
    expect(probes).toBe(4);
  });

  it('notices traffic coming back: probes that pay off bring the spinning back', () => {
    const p = new Patience({ wait: 'adaptive', spinMicros: 5 });
    for (let i = 0; i < 40; i++) p.hold(() => false);
    expect(p.budgetMicros).toBe(0);
    let waits = 0;
    while (p.budgetMicros === 0 && waits < 20 * PROBE_EVERY) {
      p.hold(() => true);
      waits++;
    }
    expect(p.budgetMicros).toBeGreaterThan(0);
    let n = 0;
    expect(p.hold(() => ++n === 2)).toBe(true); // an ordinary wait spins again
  });

  it('after failed waits, comes back to spinning its whole window when waits end inside it, not only inside a shorter budget', () => {
    // The feedback loop this guards against: a budget cut in proportion to the hit rate made waits
    // that end 10 µs in (inside spinMicros) miss a 5 µs budget, which cut the rate and budget further.
    const p = new Patience({ wait: 'adaptive', spinMicros: 20 });
    for (let i = 0; i < 40; i++) p.hold(() => false);
    expect(p.budgetMicros).toBe(0);
    // Each wait is ready 10 µs after it starts (checked before the spin's clock, so never missed late).
    const tenMicros = () => {
      const at = performance.now() + 0.01;
      return () => performance.now() >= at;
    };
    for (let i = 0; i < 20 * PROBE_EVERY; i++) p.hold(tenMicros());
    expect(p.budgetMicros).toBeGreaterThanOrEqual(10);
    expect(p.hitRate).toBeGreaterThan(0.9);
  });

  it('with spinMicros 0 it parks at once, probes included', () => {
    const p = new Patience({ wait: 'adaptive', spinMicros: 0 });
    for (let i = 0; i < 2 * PROBE_EVERY; i++) expect(polls(p)).toBe(0);
  });
});

describe('options.wait is checked', () => {
  const named = (kind: typeof RingwireTypeError | typeof RingwireRangeError, re: RegExp) =>
    expect.objectContaining({ name: kind.name, message: expect.stringMatching(re) });

  it('on channels: RingwireTypeError for a non-string, RingwireRangeError for an unknown name; nothing is created', () => {
    expect(() => Channel.create({ wait: 'fast' as WaitStrategy })).toThrow(RingwireRangeError);
    expect(() => Channel.create({ wait: 'fast' as WaitStrategy })).toThrow(/options\.wait must be one of 'adaptive', 'spin', 'backoff', 'park', got 'fast'/);
    expect(() => Channel.create({ wait: 1 as unknown as WaitStrategy })).toThrow(RingwireTypeError);
    expect(() => Channel.create({ wait: 1 as unknown as WaitStrategy })).toThrow(/options\.wait.*got 1/);
    const ch = Channel.create({ capacity: 1024 });
    expect(() => Channel.attach(ch.handle, { wait: 'yield' as WaitStrategy })).toThrow(RingwireRangeError);
    const name = `wait-${process.pid}-${Math.random().toString(36).slice(2)}`;
    expect(() => Channel.open(name, { create: true, wait: 'sleepy' as WaitStrategy })).toThrow(/options\.wait.*'sleepy'/);
    expect(existsSync(`/dev/shm/ringwire-${name}`)).toBe(false);
  });

  it('on pipelines and log followers', async () => {
    expect(() => pipeline({ source: [], stages: [{ module: inc }], sink: () => undefined, wait: 'nap' as WaitStrategy })).toThrow(
      /pipeline: options\.wait must be one of .*got 'nap'/,
    );
    const dir = tempDir('follow-wait');
    const w = LogWriter.open(dir, { codec: 'json' });
    const r = LogReader.open(dir);
    try {
      await expect(r.follow({ wait: null as unknown as WaitStrategy }).next()).rejects.toThrow(RingwireTypeError);
      await expect(r.follow({ wait: 'busy' as WaitStrategy }).next()).rejects.toThrow(/options\.wait.*'busy'/);
    } finally {
      r.close();
      w.close();
    }
  });
});
