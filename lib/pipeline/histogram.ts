// Latency histogram: log-linear buckets (8 per power of two, so ~12% resolution) over nanoseconds,
// counted in a Float64Array (exact to 2^53 samples) that may live in shared memory (one writer: the
// worker that times).

export const BUCKETS = 256;
const MAX_NS = 0x7fffffff; // ~2.1 s; longer latencies land in the top bucket (the max is kept apart)

export function bucketOf(ns: number): number {
  const v = ns >= MAX_NS ? MAX_NS : ns <= 0 ? 0 : ns | 0;
  if (v < 8) return v;
  const octave = 31 - Math.clz32(v); // >= 3
  return ((octave - 2) << 3) | ((v >>> (octave - 3)) & 7);
}

/** The middle of a bucket, in nanoseconds. */
export function valueOf(bucket: number): number {
  if (bucket < 8) return bucket;
  const octave = (bucket >> 3) + 2;
  const low = (8 + (bucket & 7)) * 2 ** (octave - 3);
  return low + 2 ** (octave - 3) / 2;
}

export function record(counts: Float64Array, ns: number): void {
  counts[bucketOf(ns)]!++;
}

export function merge(into: Float64Array | number[], from: ArrayLike<number>): void {
  for (let i = 0; i < BUCKETS; i++) into[i] = (into[i] ?? 0) + (from[i] ?? 0);
}

export interface LatencySummary {
  /** Samples counted. */
  count: number;
  /** Milliseconds. */
  p50: number;
  p99: number;
  max: number;
}

/** p50/p99 (bucket midpoints, capped at the observed max) in milliseconds. */
export function summarize(counts: ArrayLike<number>, maxNs: number): LatencySummary {
  let total = 0;
  for (let i = 0; i < BUCKETS; i++) total += counts[i] ?? 0;
  const at = (q: number): number => {
    if (total === 0) return 0;
    const rank = Math.ceil(q * total);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += counts[i] ?? 0;
      if (seen >= rank) return Math.min(valueOf(i), maxNs) / 1e6;
    }
    return maxNs / 1e6;
  };
  return { count: total, p50: at(0.5), p99: at(0.99), max: maxNs / 1e6 };
}

/**
 * How many samples are below 2^k ns, for each k from `from` to `to`: every power of two is a bucket
 * edge (an octave starts there), so these counts are exact (Prometheus' cumulative buckets).
 */
export function countsBelowPowersOfTwo(counts: ArrayLike<number>, from: number, to: number): number[] {
  const out: number[] = [];
  let seen = 0;
  let i = 0;
  for (let k = from; k <= to; k++) {
    const end = k <= 3 ? 2 ** k : (k - 2) << 3; // the first bucket at or above 2^k ns
    for (; i < end; i++) seen += counts[i] ?? 0;
    out.push(seen);
  }
  return out;
}
