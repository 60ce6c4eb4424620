// The C++ ring (cpp/ring/ring.h, through the addon's NativeProducer / NativeConsumer) and the TS ring
// (lib/core/ring.ts, through the channel API) read and write the same bytes: either side can produce
// for the other over one SharedArrayBuffer, checked with the shared message sequence.
//
// The addon's producer and consumer do not wake a parked JS peer by themselves (C++ cannot
// Atomics.notify): whoever drives them does, as test/fixtures/actor.mjs does across threads and
// `wakeSender` does here in one thread. The TS side's waits are timed (SlowCalls): a wake the C++
// side's driver fails to send holds a call until its deadline, which fails the test within seconds.
import { afterEach, describe, expect, it } from 'vitest';
import { Channel, type CodecName } from '../../lib/index.js';
import * as L from '../../lib/core/layout.js';
import { native } from '../../lib/native.js';
import { headOf, setPositions, tailOf, words } from '../helpers/ring.js';
import * as seq from '../helpers/sequence.js';
import { DEADLINE_MS, SlowCalls } from '../helpers/waits.js';
import { Actor, outcome } from '../helpers/workers.js';
import { testing } from '../helpers/testing-addon.js';

const memOf = (ch: Channel<any>) => new Uint8Array(ch.handle.buffer, ch.handle.byteOffset);

/** What the C++ side would do after consuming: wake a TS sender parked for room. */
function wakeSender(ch: Channel<any>): void {
  const w = words(ch);
  if (Atomics.load(w, L.TX_PARKED_OFFSET >> 2) !== 0) Atomics.notify(w, L.HEAD_OFFSET >> 2);
}

let actor: Actor | undefined;
afterEach(async () => {
  await actor?.terminate();
  actor = undefined;
});

describe('C++ producer -> TS consumer (one thread)', () => {
  for (const [capacity, min, max] of [[1024, 0, 504], [4096, 0, 64], [4096, 1500, 2040], [1 << 16, 0, 32760]] as const) {
    it(`capacity ${capacity}, sizes ${min}..${max}: every message checked, through drain and tryRecv, over many wraps`, () => {
      const ch = Channel.create<Uint8Array>({ capacity, codec: 'bytes' });
      const producer = new (testing().NativeProducer)(memOf(ch));
      const rx = ch.receiver();
      const seed = capacity + max;
      const count = 3000;
      let produced = 0;
      let got = 0;
      let bad = 0;
      for (let round = 0; round < 100_000 && got < count; round++) {
        produced += producer.produce(produced, Math.min(count - produced, 1 + (round % 17)), seed, min, max);
        if (round % 2 === 0) {
          rx.drain((view, offset, length) => {
            if (!seq.check(view, length, got, seed, min, max, offset)) bad++;
            got++;
          });
        } else {
          for (let m = rx.tryRecv(); m !== undefined; m = rx.tryRecv()) {
            if (!seq.check(m, m.length, got, seed, min, max)) bad++;
            got++;
          }
        }
      }
      expect(got).toBe(count);
      expect(bad).toBe(0);
      expect(tailOf(ch) / capacity).toBeGreaterThan(10);
    });
  }

  it('across the 2^32 wrap of the positions', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    setPositions(ch, 0xfffff000);
    const producer = new (testing().NativeProducer)(memOf(ch));
    const rx = ch.receiver();
    let produced = 0;
    let got = 0;
    let bad = 0;
    for (let round = 0; round < 10_000 && got < 500; round++) {
      produced += producer.produce(produced, 500 - produced, 21, 0, 200);
      rx.drain((view, offset, length) => {
        if (!seq.check(view, length, got, 21, 0, 200, offset)) bad++;
        got++;
      });
    }
    expect([got, bad]).toEqual([500, 0]);
    expect(tailOf(ch)).toBeLessThan(0xfffff000);
  });

  it('the C++ producer writes a fragmented message at once when it fits (like trySend), TOO_LARGE when it never can', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const n = native();
    const producer = new (testing().NativeProducer)(memOf(ch));
    const rx = ch.receiver();
    expect(producer.tryWrite(new Uint8Array(504).fill(1))).toBe(n.status.OK);
    expect(rx.tryRecv()).toEqual(new Uint8Array(504).fill(1));
    expect(rx.tryRecv()).toBeUndefined(); // the next receive call hands the message's space back
    expect(producer.tryWrite(new Uint8Array(505).fill(2))).toBe(n.status.OK);
    expect(rx.tryRecv()).toEqual(new Uint8Array(505).fill(2));
    expect(rx.tryRecv()).toBeUndefined();
    expect(producer.produce(0, 1, 0, 600, 600)).toBe(1);
    expect(seq.checkBytes(rx.tryRecv()!, 600, 0)).toBe(true);
    expect(producer.tryWrite(new Uint8Array(1024))).toBe(n.status.TOO_LARGE);
    expect(rx.tryRecv()).toBeUndefined();
  });

  it('both producers name the fragmented message they are writing, and a new producer clears it', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const frag = () => Atomics.load(words(ch), L.FRAG_IN_PROGRESS_OFFSET >> 2);
    const rx = ch.receiver();
    expect(new (testing().NativeProducer)(memOf(ch)).tryWrite(new Uint8Array(600))).toBe(native().status.OK);
    expect(frag()).toBe(0 | 1); // the C++ producer's message started at position 0
    expect(rx.tryRecv()).toEqual(new Uint8Array(600));
    expect(rx.tryRecv()).toBeUndefined(); // hands its space back
    const tx = ch.sender(); // a new producer: nothing of an earlier one will be continued
    expect(frag()).toBe(0);
    const at = tailOf(ch);
    expect(tx.trySend(new Uint8Array(600))).toBe(true);
    expect(frag()).toBe(at | 1);
  });

  it('C++ and TS producers take turns on one ring; the TS receiver sees one ordered stream', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 2048, codec: 'bytes' });
    const rx = ch.receiver();
    let next = 0;
    let got = 0;
    let bad = 0;
    const verify = (view: Uint8Array, offset: number, length: number) => {
      if (!seq.check(view, length, got, 4, 0, 900, offset)) bad++;
      got++;
    };
    for (let turn = 0; turn < 40; turn++) {
      if (turn % 2 === 0) {
        // A new C++ producer picks up the tail where the last producer left it.
        const producer = new (testing().NativeProducer)(memOf(ch));
        next += producer.produce(next, 1 + (turn % 5), 4, 0, 900);
      } else {
        const tx = ch.sender();
        for (let k = 0; k < 1 + (turn % 4) && tx.trySend(seq.message(next, 4, 0, 900)); k++) next++;
        tx.release();
      }
      rx.drain(verify, 1 + (turn % 3));
    }
    rx.drain(verify);
    expect(got).toBe(next);
    expect(bad).toBe(0);
  });
});

describe('TS producer -> C++ consumer (one thread)', () => {
  for (const [capacity, min, max] of [[1024, 0, 504], [4096, 0, 100], [1024, 400, 3000], [4096, 0, 20_000]] as const) {
    it(`capacity ${capacity}, sizes ${min}..${max}${max > L.maxRecordPayload(capacity) ? ' (fragmented)' : ''}: the C++ check passes for every message`, async () => {
      const ch = Channel.create<Uint8Array>({ capacity, codec: 'bytes' });
      const tx = ch.sender();
      const consumer = new (testing().NativeConsumer)(memOf(ch));
      const seed = capacity ^ max;
      const count = max > 5000 ? 150 : 1500;
      let consumed = 0;
      const slow = new SlowCalls();
      for (let i = 0; i < count && !slow.tooMany; i++) {
        const m = seq.message(i, seed, min, max);
        if (m.length <= L.maxRecordPayload(capacity)) {
          while (!tx.trySend(m)) consumed += consumer.consume(consumed, i - consumed, seed, min, max);
          continue;
        }
        // Fragmented: send() streams it, parking for room, while the C++ consumer (this thread)
        // makes room and wakes it.
        const sending = outcome(slow.time(() => tx.send(m, { timeout: DEADLINE_MS })));
        let settled = false;
        void sending.then(() => (settled = true));
        for (let k = 0; k < 100_000 && !settled; k++) {
          consumed += consumer.consume(consumed, i - consumed + 1, seed, min, max);
          wakeSender(ch);
          await new Promise((r) => setImmediate(r));
        }
        expect((await sending).error).toBeUndefined();
      }
      slow.expectFew('fragmented sends');
      for (let k = 0; k < 1000 && consumed < count; k++) consumed += consumer.consume(consumed, count - consumed, seed, min, max);
      expect(consumed).toBe(count);
      expect(headOf(ch)).toBe(tailOf(ch));
    });
  }

  it('every codec writes bytes the C++ consumer reads back unchanged', () => {
    const cases: [string, unknown, Uint8Array][] = [
      ['bytes', new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 3])],
      ['string', 'héllo', new Uint8Array(Buffer.from('héllo'))],
      ['json', { a: [1] }, new Uint8Array(Buffer.from('{"a":[1]}'))],
    ];
    for (const [codec, value, wire] of cases) {
      const ch = Channel.create({ capacity: 1024, codec: codec as CodecName });
      ch.sender().trySend(value);
      expect(new (testing().NativeConsumer)(memOf(ch)).read()).toEqual(wire);
    }
  });

  it('a C++ consumer drops a fragmented message the TS sender abandoned, like the TS receiver', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    const tx = ch.sender();
    const consumer = new (testing().NativeConsumer)(memOf(ch));
    await expect(tx.send(new Uint8Array(3000), { timeout: 10 })).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    expect(consumer.read()).toBeNull(); // FIRST and MIDDLE buffered
    expect(tx.trySend(seq.message(0, 0, 10, 10))).toBe(true);
    expect(consumer.read()).toEqual(seq.message(0, 0, 10, 10));
  });
});

describe('across threads', () => {
  it('a worker runs the C++ producer while this thread receives with TS (recv, parking, and drain)', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1 << 16, codec: 'bytes' });
    const rx = ch.receiver();
    actor = new Actor(ch.handle);
    const count = 200_000;
    const producing = outcome(actor.call('nativeProduce', [0, count, 31, 0, 1000]));
    let got = 0;
    let bad = 0;
    const end = Date.now() + 60_000;
    const slow = new SlowCalls();
    while (got < count && Date.now() < end && !slow.tooMany) {
      const n = rx.drain((view, offset, length) => {
        if (!seq.check(view, length, got, 31, 0, 1000, offset)) bad++;
        got++;
      }, 1000);
      if (n === 0 && got < count) {
        const m = await slow.time(() => rx.recv({ timeout: DEADLINE_MS }));
        if (!seq.check(m, m.length, got, 31, 0, 1000)) bad++;
        got++;
      }
    }
    slow.expectFew('recv() calls');
    expect(slow.calls).toBeGreaterThan(0);
    expect(ch.stats().received.parks).toBeGreaterThan(0);
    expect((await producing).value).toBe(count);
    expect(got).toBe(count);
    expect(bad).toBe(0);
  });

  it('this thread sends with TS (sendSync, fragmented sizes included) while a worker runs the C++ consumer', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1 << 16, codec: 'bytes' });
    const tx = ch.sender();
    actor = new Actor(ch.handle);
    await actor.call('sleep', [0]); // started
    const count = 3000;
    const consuming = outcome(actor.call('nativeConsume', [0, count, 32, 0, 100_000]));
    const slow = new SlowCalls();
    for (let i = 0; i < count && !slow.tooMany; i++) await slow.time(() => tx.sendSync(seq.message(i, 32, 0, 100_000), { timeout: DEADLINE_MS }));
    slow.expectFew('sendSync calls');
    expect(ch.stats().sent.parks).toBeGreaterThan(0);
    expect(await consuming).toEqual({ value: count });
    expect(ch.stats().sent.messages).toBe(count);
  });
});
