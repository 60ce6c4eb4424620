// Node streams over a channel: stream.pipeline from a Readable into toWritable(sender), and from
// toReadable(receiver) into a Writable, with the ring's backpressure (a ring much smaller than
// the data), the end of the stream carried over, and destroy() letting go of the role.
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { Channel, toReadable, toWritable } from '../../lib/index.js';

describe('streams', () => {
  it('stream.pipeline through a 1 KiB ring: every message, in order, then the end', async () => {
    const ch = Channel.create<{ i: number; pad: string }>({ capacity: 1024, codec: 'json' });
    const N = 5000;
    const got: number[] = [];
    await Promise.all([
      pipeline(Readable.from((function* () { for (let i = 0; i < N; i++) yield { i, pad: 'x'.repeat(i % 300) }; })()), toWritable(ch.sender())),
      pipeline(toReadable(ch.receiver()), new Writable({ objectMode: true, write(m, _e, cb) { got.push(m.i); cb(); } })),
    ]);
    expect(got).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(ch.senderClosed).toBe(true);
  });

  it('Readable.from(receiver) works too (a receiver is an async iterable)', async () => {
    const ch = Channel.create<number>({ capacity: 1024 });
    const tx = ch.sender();
    for (let i = 0; i < 10; i++) tx.trySend(i);
    await tx.close();
    const got: number[] = [];
    for await (const m of Readable.from(ch.receiver())) got.push(m);
    expect(got).toEqual([...Array(10).keys()]);
  });

  it('destroying the readable early closes the receiver; destroying the writable releases the sender role', async () => {
    const ch = Channel.create<number>({ capacity: 1024 });
    const w = toWritable(ch.sender());
    await new Promise<void>((resolve, reject) => w.write(1, (err) => (err ? reject(err) : resolve())));
    w.destroy();
    // The role is free again (not closed: the stream did not end), so another sender can take it.
    let tx2;
    for (let k = 0; k < 100 && tx2 === undefined; k++) {
      try {
        tx2 = ch.sender();
      } catch {
        await new Promise((r) => setImmediate(r));
      }
    }
    expect(tx2).toBeDefined();
    expect(ch.senderClosed).toBe(false);
    const rx = ch.receiver();
    const r = toReadable(rx);
    expect(await new Promise((resolve) => r.once('data', resolve))).toBe(1);
    r.destroy();
    expect(rx.closed).toBe(true);
    expect(ch.receiverClosed).toBe(true);
  });
});
