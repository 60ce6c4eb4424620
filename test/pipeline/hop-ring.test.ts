// A worker's hop ring (lib/pipeline/trace.ts HopTracer.hop): a full ring drops the report instead
// of overwriting entries the main thread has not read, also when the counters have run past 2^31
// (a long-lived slot) and the writer is a successor that has not read the head yet.
import { describe, expect, it } from 'vitest';
import { newMeta } from '../../lib/pipeline/envelope.js';
import { HopTracer, HOP_OK, newHopRing } from '../../lib/pipeline/trace.js';

const TAIL = 0;
const HEAD = 16;
const ENTRIES = (newHopRing().byteLength - 128) / 48;

function ring(tail: number, head: number) {
  const sab = newHopRing();
  const i32 = new Int32Array(sab);
  Atomics.store(i32, TAIL, tail | 0);
  Atomics.store(i32, HEAD, head | 0);
  const meta = newMeta();
  meta.seq = 7;
  meta.sent = 1;
  return { i32, hop: () => new HopTracer(sab, meta, undefined).hop(meta, 1, HOP_OK, 2, 3) };
}

describe('hop ring', () => {
  for (const base of [0, 2 ** 31 - 2, 2 ** 31 + 5, 2 ** 32 - 3]) {
    it(`counters from ${base}: a full ring drops the report, one with room takes it`, () => {
      const full = ring(base + ENTRIES, base);
      full.hop();
      expect(Atomics.load(full.i32, TAIL)).toBe((base + ENTRIES) | 0);
      const room = ring(base + ENTRIES - 1, base);
      room.hop();
      expect(Atomics.load(room.i32, TAIL)).toBe((base + ENTRIES) | 0);
    });
  }
});
