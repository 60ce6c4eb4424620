// TypeScript port of test/native/sequence.h: the deterministic message sequence shared by the C++ tests,
// the addon (NativeProducer.produce / NativeConsumer.consume) and these tests, so any producer can
// be checked by any consumer. Message i has a size and bytes that depend only on (i, seed, min, max).
//
// uint32 arithmetic: Math.imul gives the low 32 bits of a product, `>>> 0` reads a result as
// unsigned; test/unit/sequence.test.ts checks this port against the C++ one byte for byte.
// test/fixtures/sequence.mjs is the same code for worker threads (plain JS); the same test checks
// the two agree.

export function mix(i: number, seed: number): number {
  let x = (Math.imul(i, 2654435761) ^ seed) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 2246822519) >>> 0;
  x = (x ^ (x >>> 13)) >>> 0;
  return x;
}

export function size(i: number, seed: number, min: number, max: number): number {
  return min + (mix(i, seed) % (((max - min) >>> 0) + 1));
}

export function byte(i: number, k: number): number {
  return (Math.imul(i, 31) + k) & 0xff;
}

/** Writes message i into out[offset, offset + n) (the first four bytes carry i, little-endian, when there is room). */
export function fill(out: Uint8Array, n: number, i: number, offset = 0): void {
  let k = 0;
  if (n >= 4) {
    out[offset] = i & 0xff;
    out[offset + 1] = (i >>> 8) & 0xff;
    out[offset + 2] = (i >>> 16) & 0xff;
    out[offset + 3] = (i >>> 24) & 0xff;
    k = 4;
  }
  let b = Math.imul(i, 31) + k;
  for (; k < n; ++k, ++b) out[offset + k] = b & 0xff;
}

/** Whether data[offset, offset + n) holds the bytes of message i (its size is not checked). */
export function checkBytes(data: Uint8Array, n: number, i: number, offset = 0): boolean {
  let k = 0;
  if (n >= 4) {
    const got = (data[offset]! | (data[offset + 1]! << 8) | (data[offset + 2]! << 16) | (data[offset + 3]! << 24)) >>> 0;
    if (got !== i >>> 0) return false;
    k = 4;
  }
  let b = Math.imul(i, 31) + k;
  for (; k < n; ++k, ++b) if (data[offset + k] !== (b & 0xff)) return false;
  return true;
}

/** Whether data[offset, offset + n) is message i of the sequence (seed, min, max): cpp Check. */
export function check(data: Uint8Array, n: number, i: number, seed: number, min: number, max: number, offset = 0): boolean {
  return n === size(i, seed, min, max) && checkBytes(data, n, i, offset);
}

/** Message i as a new array. */
export function message(i: number, seed: number, min: number, max: number): Uint8Array {
  const n = size(i, seed, min, max);
  const out = new Uint8Array(n);
  fill(out, n, i);
  return out;
}

/** A small seeded PRNG (mulberry32) for sizes and choices that must be reproducible. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [min, max] from `rand`. */
export const between = (rand: () => number, min: number, max: number): number => min + Math.floor(rand() * (max - min + 1));
