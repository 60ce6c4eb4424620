// Explicit resource management: `using` closes log writers and readers at the end of the scope,
// `await using` closes pipelines (close(): deliver what was taken, then end). vitest transpiles the
// declarations (Node 20 has the symbols, not the syntax).
import { afterEach, describe, expect, it } from 'vitest';
import { Channel, LogReader, LogWriter, pipeline, type Pipeline, type PipelineSummary } from '../../lib/index.js';
import { cleanupDirs, tempDir } from '../log/helpers.js';

afterEach(cleanupDirs);

const fixture = (name: string) => new URL(`../pipeline/fixtures/${name}.mjs`, import.meta.url);

describe('using', () => {
  it('closes a LogWriter and a LogReader at the end of their scope, also when it throws', () => {
    const dir = tempDir('dispose');
    let w: LogWriter | undefined;
    let r: LogReader | undefined;
    {
      using writer = LogWriter.open(dir, { segmentBytes: 65536 });
      w = writer;
      writer.append('a');
      expect(writer.closed).toBe(false);
    }
    expect(w.closed).toBe(true);
    // The lock is released: another writer opens at once (ERR_LOCKED otherwise).
    LogWriter.open(dir).close();
    expect(() => {
      using reader = LogReader.open(dir);
      r = reader;
      expect(reader.read()?.value).toBe('a');
      throw new Error('boom');
    }).toThrow('boom');
    expect(() => r!.read()).toThrow(expect.objectContaining({ code: 'ERR_LOG_CLOSED' }));
  });

  it('await using a pipeline closes it at the end of the scope: every message taken is delivered', async () => {
    const out = Channel.create<number>({ capacity: 1 << 14 });
    const tx = out.sender();
    // Read while the pipeline runs (the sink's ring is small), until the sender ends the stream.
    const got: number[] = [];
    const reading = (async () => {
      for await (const v of out.receiver()) got.push(v);
    })();
    let p: Pipeline<number, number> | undefined;
    async function* slow() {
      for (let i = 0; i < 1_000_000; i++) {
        yield i;
        await new Promise((res) => setImmediate(res));
      }
    }
    {
      await using running = pipeline<number, number>({ source: slow(), stages: [{ module: fixture('identity') }], sink: tx, codec: 'json' });
      p = running;
      await running.ready;
    }
    // The scope's end awaited close(): done is settled, the sink's stream ended (closeTargets).
    const summary: PipelineSummary = await p.done;
    expect(summary.state).toBe('done');
    expect(summary.produced).toBeLessThan(1_000_000);
    expect(tx.closed).toBe(true);
    await reading;
    expect(got).toEqual(Array.from({ length: summary.produced }, (_, i) => i));
  });
});
