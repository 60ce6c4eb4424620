// Values a pipeline hands to handlers, sinks and dead-letter targets own their memory (v8 codec:
// Buffers inside messages used to be views of the ring): kept values never change.
import { describe, expect, it } from 'vitest';
import { pipeline, type DeadLetter } from '../../lib/index.js';
// @ts-expect-error a plain-JS fixture
import { intact } from './fixtures/keep.mjs';

const fixture = (name: string) => new URL(`./fixtures/${name}.mjs`, import.meta.url);
const N = 3000;
const message = (i: number) => {
  const buf = Buffer.alloc(16 + (i % 200));
  for (let k = 0; k < buf.length; k++) buf[k] = (i * 31 + k) & 0xff;
  return { i, buf };
};

describe('pipeline values own their memory', () => {
  it('handler inputs, sink values and dead letters kept by the user stay intact', async () => {
    const sunk: ReturnType<typeof message>[] = [];
    const dead: DeadLetter[] = [];
    const p = pipeline({
      source: Array.from({ length: N }, (_, i) => message(i)),
      stages: [{ module: fixture('identity') }, { module: fixture('keep'), onError: 'dead-letter' }],
      sink: (m: ReturnType<typeof message>) => void sunk.push(m),
      deadLetter: (d: DeadLetter) => void dead.push(d),
      capacity: 4096, // a small ring: its space is reused many times over
    });
    const summary = await p.done;
    expect(summary.stages[1]!.errors).toBe(N / 10); // only the deliberate dead letters
    expect(sunk.length).toBe(N - N / 10);
    expect(dead.length).toBe(N / 10);
    for (const m of sunk) expect(intact(m), `sink value ${m.i}`).toBe(true);
    for (const d of dead) expect(intact(d.message), `dead letter ${(d.message as { i: number }).i}`).toBe(true);
  });
});
