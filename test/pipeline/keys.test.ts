// Partition keys keep the user's value through every hop: a number stays that number (int32 or
// not), a string that string; the handler (ctx.key), the sink ({ key }) and dead letters see it.
import { describe, expect, it } from 'vitest';
import { pipeline } from '../../lib/index.js';

const fixture = (name: string) => new URL(`./fixtures/${name}.mjs`, import.meta.url);

const KEYS: Array<string | number> = [
  7, -1, 2 ** 31 - 1, -(2 ** 31), // int32
  2 ** 31, -(2 ** 31) - 1, 2 ** 40, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, // integers beyond int32
  1.5, -0.25, 1e-300, Number.MAX_VALUE, Infinity, -Infinity, NaN, // other numbers
  '7', '2147483648', '', 'ключ', 'k'.repeat(5000), // strings, one that looks like a number
];

describe('pipeline keys', () => {
  it('come back as the key function returned them, in ctx.key and in the sink, through two stages', async () => {
    const source = KEYS.map((k, i) => ({ i, k }));
    const got: Array<{ i: number; key: unknown; type: string; seq: number; sinkKey: unknown; sinkSeq: number }> = [];
    const p = pipeline<{ i: number; k: string | number }, { i: number; key: unknown; type: string; seq: number }>({
      source,
      key: (m) => m.k,
      stages: [{ module: fixture('identity'), workers: 2 }, { module: fixture('ctx-key'), workers: 3 }],
      sink: (v, info) => void got.push({ ...v, sinkKey: info.key, sinkSeq: info.seq }),
    });
    await p.done;
    got.sort((a, b) => a.i - b.i);
    expect(got.length).toBe(KEYS.length);
    for (const g of got) {
      const want = KEYS[g.i];
      // Object.is: NaN is NaN, and a number never turns into its string form.
      expect({ i: g.i, handler: Object.is(g.key, want), sink: Object.is(g.sinkKey, want), type: g.type }).toEqual({ i: g.i, handler: true, sink: true, type: typeof want });
      // ctx.seq and the sink's seq: the message's place in the source.
      expect([g.seq, g.sinkSeq]).toEqual([g.i, g.i]);
    }
  });

  it('a number key and its string form are different keys, each kept as given', async () => {
    const got: unknown[] = [];
    await pipeline({ source: [1, 2], key: (m: number) => (m === 1 ? 2 ** 33 : String(2 ** 33)), stages: [{ module: fixture('identity') }], sink: (_v, info) => void got.push(info.key) }).done;
    expect(got.map((k) => `${typeof k}:${String(k)}`).sort()).toEqual(['number:8589934592', 'string:8589934592']);
  });

  it('-0 comes back as 0 (an int32 key)', async () => {
    const got: unknown[] = [];
    await pipeline({ source: [1], key: () => -0, stages: [{ module: fixture('identity') }], sink: (_v, info) => void got.push(info.key) }).done;
    expect(Object.is(got[0], 0)).toBe(true);
  });
});
