// SlotIndex (lib/pipeline/trace.ts), the open traces' slots by sequence number: checked against a
// Map, which keeps insertion order as the index must, under random sets, deletes and lookups.
import { describe, expect, it } from 'vitest';
import { SlotIndex } from '../../lib/pipeline/trace.js';
import { prng } from '../helpers/sequence.js';

function check(index: SlotIndex, model: Map<number, number>, probes: number[]): void {
  expect(index.size).toBe(model.size);
  for (const seq of probes) expect(index.get(seq)).toBe(model.get(seq));
  expect(index.slots()).toEqual([...model.values()]);
  if (model.size > 0) expect(index.oldest()).toBe(model.values().next().value);
}

describe('SlotIndex', () => {
  for (const [name, live, spread] of [
    ['a few entries, near seqs (long probe runs that wrap around the table)', 30, 1],
    ['thousands of entries (the table and the order grow)', 5000, 1],
    ['far-apart seqs above 2^32', 300, 2 ** 33 + 7],
  ] as const) {
    it(`agrees with a Map: ${name}`, () => {
      const rand = prng(live);
      const index = new SlotIndex();
      const model = new Map<number, number>();
      let next = 0;
      const seqOf = (k: number) => k * spread;
      for (let step = 0; step < 40_000; step++) {
        const r = rand();
        if (model.size < live && r < 0.55) {
          const seq = seqOf(next++);
          index.set(seq, step);
          model.set(seq, step);
        } else if (model.size > 0) {
          // Mostly the oldest few (traces complete roughly in order), sometimes any.
          const keys = [...model.keys()];
          const seq = r < 0.8 ? keys[Math.floor(rand() * Math.min(4, keys.length))]! : keys[Math.floor(rand() * keys.length)]!;
          index.delete(seq);
          model.delete(seq);
          index.delete(seq); // deleting what is not there changes nothing
        }
        if (step % 997 === 0) check(index, model, [seqOf(Math.floor(rand() * (next + 5))), seqOf(next), -5]);
      }
      check(index, model, Array.from({ length: next + 3 }, (_, k) => seqOf(k)).slice(-2000));
    });
  }

  it('a seq that cannot be one (read from shared memory: -1, the empty mark, NaN) finds nothing and deletes nothing', () => {
    const index = new SlotIndex();
    index.set(0, 5);
    index.set(3, 6);
    for (const bad of [-1, Number.NaN, -0.5]) {
      expect(index.get(bad)).toBeUndefined();
      index.delete(bad);
    }
    expect(index.size).toBe(2);
    expect(index.slots()).toEqual([5, 6]);
  });

  it('oldest() skips entries deleted since they were set, however many', () => {
    const index = new SlotIndex();
    index.set(1, 10);
    for (let seq = 2; seq < 10_000; seq++) {
      index.set(seq, seq);
      index.delete(seq);
    }
    expect(index.oldest()).toBe(10);
    index.set(20_000, 7);
    index.delete(1);
    expect(index.oldest()).toBe(7);
    expect(index.size).toBe(1);
  });
});
