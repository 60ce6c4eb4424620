// What a user receives is theirs: every value a receive path returns owns its memory. Keeping it,
// mutating it, or using it after later messages reused the ring space (or after the channel
// closed) never changes it. The v8 codec used to hand back Buffers and typed arrays that were
// views of the ring (v8.deserialize returns views of its input): later messages overwrote them.
import { describe, expect, it } from 'vitest';
import { Channel, type Codec } from '../../lib/index.js';
import { Actor } from '../helpers/workers.js';

const pattern = (n: number, tag: number): Buffer => {
  const b = Buffer.alloc(n);
  for (let k = 0; k < n; k++) b[k] = (tag * 31 + k) & 0xff;
  return b;
};

/** A message with binary parts of every kind v8 can carry. */
const message = (i: number, size: number) => ({
  i,
  buf: pattern(size, i),
  u8: new Uint8Array(pattern(size, i + 1)),
  f64: new Float64Array([i, i + 0.5]),
  view: new DataView(new Uint8Array(pattern(16, i + 2)).buffer),
  nested: [{ bytes: new Uint16Array([i, i + 1, i + 2]) }],
});

function expectIntact(got: ReturnType<typeof message>, i: number, size: number): void {
  expect(got.i).toBe(i);
  expect(Buffer.compare(Buffer.from(got.buf), pattern(size, i))).toBe(0);
  expect(Buffer.compare(Buffer.from(got.u8), pattern(size, i + 1))).toBe(0);
  expect([...got.f64]).toEqual([i, i + 0.5]);
  expect(Buffer.compare(Buffer.from(got.view.buffer, got.view.byteOffset, got.view.byteLength), pattern(16, i + 2))).toBe(0);
  expect([...got.nested[0]!.bytes]).toEqual([i, i + 1, i + 2]);
}

/** No part of a received value is a view of shared memory. */
function expectPrivate(got: ReturnType<typeof message>): void {
  for (const part of [got.buf, got.u8, got.f64, got.view, got.nested[0]!.bytes]) {
    expect(part.buffer).not.toBeInstanceOf(SharedArrayBuffer);
  }
}

describe('received values own their memory', () => {
  for (const size of [32, 3000]) {
    it(`v8: 500 kept ${size}-byte messages stay intact while the ring is reused${size > 1000 ? ' (fragmented)' : ''}`, () => {
      const ch = Channel.create<ReturnType<typeof message>>({ capacity: 8192 });
      const tx = ch.sender();
      const rx = ch.receiver();
      const kept: ReturnType<typeof message>[] = [];
      for (let i = 0; i < 500; i++) {
        expect(tx.trySend(message(i, size))).toBe(true);
        const got = rx.tryRecv()!;
        expect(rx.tryRecv()).toBeUndefined(); // hands its space back: the next message reuses it
        expectPrivate(got);
        kept.push(got);
      }
      kept.forEach((got, i) => expectIntact(got, i, size));
      // Mutating a kept value changes nothing else.
      kept[0]!.buf.fill(0xee);
      kept.slice(1).forEach((got, i) => expectIntact(got, i + 1, size));
    });
  }

  it('every codec and every receive path: kept values survive later traffic and channel.close()', async () => {
    const custom: Codec<Uint8Array> = { encode: (b) => b, decode: (b) => b };
    for (const codec of ['bytes', 'v8', custom] as const) {
      const ch = Channel.create({ capacity: 4096, codec }) as Channel<Uint8Array>;
      const tx = ch.sender();
      const rx = ch.receiver();
      const kept: Uint8Array[] = [];
      let i = 0;
      const send = (n: number) => expect(tx.trySend(pattern(n, i++))).toBe(true);
      send(100);
      kept.push(rx.tryRecv()!);
      send(3000); // fragmented
      kept.push(await rx.recv());
      send(100);
      kept.push(rx.recvSync());
      send(100);
      const it = rx[Symbol.asyncIterator]();
      kept.push((await it.next()).value as Uint8Array);
      for (let k = 0; k < 200; k++) {
        send(k % 2 ? 100 : 1500);
        rx.tryRecv();
      }
      await ch.close();
      const sizes = [100, 3000, 100, 100];
      kept.forEach((got, k) => {
        expect(got.buffer, `${typeof codec === 'string' ? codec : 'custom'} #${k}`).not.toBeInstanceOf(SharedArrayBuffer);
        expect(Buffer.compare(Buffer.from(got), pattern(sizes[k]!, k)), `${typeof codec === 'string' ? codec : 'custom'} #${k}`).toBe(0);
      });
    }
  });

  it('bytes from channels received in turn: each value is its own channel’s message', async () => {
    // The bytes codec copies from a plain view of the memory that each receiver passes; receiving
    // from several channels in turn, and a message reassembled from fragments between (no view: a
    // private buffer), must each give that message's bytes.
    const chans = [0, 1, 2].map(() => Channel.create({ capacity: 4096, codec: 'bytes' }) as Channel<Uint8Array>);
    const txs = chans.map((c) => c.sender());
    const rxs = chans.map((c) => c.receiver());
    for (let round = 0; round < 50; round++) {
      for (let c = 0; c < 3; c++) {
        const size = round === 7 && c === 1 ? 3000 : 16 + c; // one fragmented message, reassembled
        expect(txs[c]!.trySend(pattern(size, round * 3 + c))).toBe(true);
      }
      for (let c = 0; c < 3; c++) {
        const got = rxs[c]!.tryRecv()!;
        const size = round === 7 && c === 1 ? 3000 : 16 + c;
        expect(got.buffer).not.toBeInstanceOf(SharedArrayBuffer);
        expect(Buffer.compare(Buffer.from(got), pattern(size, round * 3 + c)), `round ${round}, channel ${c}`).toBe(0);
      }
    }
    await Promise.all(chans.map((c) => c.close()));
  });

  it('between worker threads: values received from a worker are not views of the ring', async () => {
    const ch = Channel.create<ReturnType<typeof message>>({ capacity: 8192 });
    const rx = ch.receiver();
    const actor = new Actor(ch.handle);
    try {
      await actor.call('claim', ['sender']);
      const kept: ReturnType<typeof message>[] = [];
      for (let i = 0; i < 200; i++) {
        await actor.call('send', [[message(i, i % 3 === 0 ? 3000 : 64)]]);
        kept.push(await rx.recv({ timeout: 10_000 }));
      }
      kept.forEach((got, i) => {
        expectPrivate(got);
        expectIntact(got, i, i % 3 === 0 ? 3000 : 64);
      });
    } finally {
      await actor.terminate();
    }
  });
});
