// What the swap and rollback tests share: a source that keeps flowing while a stage changes
// version, and the per-key check of what reached the sink.
import { expect } from 'vitest';

export const fixture = (name: string) => new URL(`./fixtures/${name}.mjs`, import.meta.url);
export type In = { k: number; i: number };
export type Out = In & { v: number; n?: number };
export const KEYS = 12;

/** Messages keep flowing until `until()` is true (bounded), then `tail` more. */
export async function* flowing(until: () => boolean, tail: number) {
  let i = 0;
  const next = () => ({ k: i % KEYS, i: i++ });
  for (let n = 0; n < 2000; n++) yield next();
  for (let round = 0; round < 20_000 && !until(); round++) {
    for (let n = 0; n < 40; n++) yield next();
    await new Promise((r) => setTimeout(r, 1));
  }
  for (let n = 0; n < tail; n++) yield next();
}

/** Per key: every message once, in order (i = k, k + KEYS, …). Returns each key's outputs. */
export function eachOnceInOrder(got: Out[], total: number): Map<number, Out[]> {
  expect(got.length).toBe(total);
  const byKey = new Map<number, Out[]>();
  for (const m of got) {
    const seen = byKey.get(m.k) ?? [];
    expect(m.i).toBe(seen.length === 0 ? m.k : seen.at(-1)!.i + KEYS);
    seen.push(m);
    byKey.set(m.k, seen);
  }
  return byKey;
}

/** The runs of versions in a key's outputs: [1, 1, 2, 1, 1] → [1, 2, 1]. */
export const versionRuns = (outs: Out[]): number[] => outs.map((m) => m.v).filter((v, j, vs) => j === 0 || v !== vs[j - 1]);
