// What a pipeline does with the targets it was given when it ends: ringwire Senders and LogWriters
// (sink, dead-letter) are closed, like stream.pipeline ends its destination, unless closeTargets is
// false; functions are left alone.
import { afterEach, describe, expect, it } from 'vitest';
import { Channel, LogReader, LogWriter, pipeline, type DeadLetter } from '../../lib/index.js';
import { cleanupDirs, tempDir } from '../log/helpers.js';
import { waitFor } from '../helpers/workers.js';

const fixture = (name: string) => new URL(`./fixtures/${name}.mjs`, import.meta.url);

afterEach(cleanupDirs);

/** Reads `rx` until its sender ends the stream; resolves with what it got. */
async function readToEnd<T>(rx: AsyncIterable<T>): Promise<T[]> {
  const got: T[] = [];
  for await (const v of rx) got.push(v);
  return got;
}

describe('pipeline targets', () => {
  it('a Sender sink and a LogWriter dead-letter target are closed when the pipeline is done: the reader ends', async () => {
    const out = Channel.create<{ i: number; bad?: boolean }>({ capacity: 1 << 14 });
    const reading = readToEnd(out.receiver());
    const log = LogWriter.open(tempDir('dlq'), { segmentBytes: 65536 });
    const source = Array.from({ length: 50 }, (_, i) => ({ i, bad: i % 10 === 3 }));
    const p = pipeline({
      source,
      stages: [{ module: fixture('faulty'), onError: 'dead-letter' }],
      sink: out.sender(),
      deadLetter: log,
      codec: 'json',
    });
    await p.done;
    // The reader's iteration ends by itself (a lost close would hang it until the test's timeout).
    const got = await reading;
    expect(got.map((m) => m.i)).toEqual(source.filter((m) => !m.bad).map((m) => m.i));
    expect(log.closed).toBe(true);
    const r = LogReader.open(log.dir);
    const dead: number[] = [];
    for await (const e of r) dead.push((e.value as DeadLetter<{ i: number }>).message.i);
    r.close();
    expect(dead).toEqual([3, 13, 23, 33, 43]);
  });

  it('close() ends the sink\'s stream after what was delivered', async () => {
    const out = Channel.create<number>({ capacity: 1 << 14 });
    const tx = out.sender();
    const reading = readToEnd(out.receiver());
    async function* forever() {
      for (let i = 0; ; i++) {
        yield i;
        await new Promise((r) => setImmediate(r));
      }
    }
    const p = pipeline({ source: forever(), stages: [{ module: fixture('identity') }], sink: tx, codec: 'json' });
    expect(await waitFor(() => p.stats().consumed >= 10, 10_000)).toBe(true);
    const summary = await p.close();
    expect(tx.closed).toBe(true);
    const got = await reading;
    expect(got.length).toBe(summary.consumed);
    expect(got).toEqual(Array.from({ length: got.length }, (_, i) => i));
  });

  it('abort() closes the targets too', async () => {
    const out = Channel.create<number>({ capacity: 1 << 14 });
    const tx = out.sender();
    const dlq = Channel.create<unknown>({ capacity: 1 << 14 });
    const dtx = dlq.sender();
    const p = pipeline({ source: [1, 2, 3], stages: [{ module: fixture('spin-forever') }], sink: tx, deadLetter: dtx, codec: 'json' });
    await p.abort();
    expect([tx.closed, dtx.closed]).toEqual([true, true]);
    await expect(readToEnd(out.receiver())).resolves.toEqual([]);
  });

  it('closeTargets: false leaves them open; a function sink is never touched', async () => {
    const out = Channel.create<number>({ capacity: 1 << 14 });
    const tx = out.sender();
    const log = LogWriter.open(tempDir('keep'), { segmentBytes: 65536 });
    const p = pipeline({ source: [1, 2, 3], stages: [{ module: fixture('identity') }], sink: tx, deadLetter: log, closeTargets: false, codec: 'json' });
    await p.done;
    expect([tx.closed, log.closed]).toEqual([false, false]);
    tx.trySend(4); // still usable
    const rx = out.receiver();
    expect([rx.tryRecv(), rx.tryRecv(), rx.tryRecv(), rx.tryRecv()]).toEqual([1, 2, 3, 4]);
    log.close();
    const got: number[] = [];
    await pipeline({ source: [5], stages: [{ module: fixture('identity') }], sink: (v: number) => void got.push(v), codec: 'json' }).done;
    expect(got).toEqual([5]);
  });

  it('closeTargets must be a boolean', () => {
    expect(() => pipeline({ source: [], stages: [{ module: fixture('identity') }], sink: () => {}, closeTargets: 'no' as never })).toThrow(/options\.closeTargets must be a boolean/);
  });
});
