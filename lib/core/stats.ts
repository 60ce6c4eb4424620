// Per-side counters in shared memory. Each side counts in plain JS numbers (free on the hot path)
// and flushes them into its own stats region under a sequence lock, so the peer can read a
// consistent snapshot without tearing the 64-bit counters (stored as u32 lo/hi pairs).
import * as L from './layout.js';

export interface SideStats {
  messages: number;
  bytes: number;
  parks: number;
}

export interface Counters extends SideStats {
  full: number;
}

const FIELDS = [L.STAT_MESSAGES, L.STAT_BYTES, L.STAT_FULL, L.STAT_PARKS] as const;

export function writeStats(i32: Int32Array, region: number, c: Counters): void {
  const base = L.wordAt(region);
  const seq = Atomics.load(i32, base + L.STAT_W.SEQ);
  // Odd while writing: a reader that sees an odd or changed sequence retries.
  Atomics.store(i32, base, (seq + 1) | 1);
  storeCounter(i32, base + L.STAT_W.MESSAGES, c.messages);
  storeCounter(i32, base + L.STAT_W.BYTES, c.bytes);
  storeCounter(i32, base + L.STAT_W.FULL, c.full);
  storeCounter(i32, base + L.STAT_W.PARKS, c.parks);
  // Publish point: the counters above are complete once the sequence is even again.
  Atomics.store(i32, base, ((seq + 1) | 1) + 1);
}

/** A counter as a u32 lo/hi pair (counters stay far below 2^53). */
function storeCounter(i32: Int32Array, at: number, v: number): void {
  Atomics.store(i32, at, v % 0x100000000 | 0);
  Atomics.store(i32, at + 1, Math.floor(v / 0x100000000) | 0);
}

/** Both sides' counters, as channel.stats() and `ringwire stat` show them. */
export interface ChannelStats {
  sent: SideStats & { full: number };
  /** `dropped`: fragmented messages the sender abandoned part-way (timeout, abort). */
  received: SideStats & { dropped: number };
}

export function readChannelStats(i32: Int32Array): ChannelStats {
  const tx = readStats(i32, L.TX_STATS_OFFSET);
  const rx = readStats(i32, L.RX_STATS_OFFSET);
  return {
    sent: { messages: tx.messages, bytes: tx.bytes, full: tx.full, parks: tx.parks },
    received: { messages: rx.messages, bytes: rx.bytes, parks: rx.parks, dropped: rx.full },
  };
}

export function readStats(i32: Int32Array, region: number): Counters {
  const base = L.wordAt(region);
  const out: Counters = { messages: 0, bytes: 0, full: 0, parks: 0 };
  // Bounded: a writer holds the lock for a few stores; a dead writer mid-flush leaves it odd, and
  // after the bound we return the (possibly torn) values rather than hang.
  for (let attempt = 0; attempt < 10_000; attempt++) {
    const s1 = Atomics.load(i32, base);
    const v: number[] = [];
    for (const f of FIELDS) {
      const at = base + L.wordAt(f);
      v.push((Atomics.load(i32, at) >>> 0) + (Atomics.load(i32, at + 1) >>> 0) * 0x100000000);
    }
    [out.messages, out.bytes, out.full, out.parks] = v as [number, number, number, number];
    if ((s1 & 1) === 0 && Atomics.load(i32, base) === s1) break;
  }
  return out;
}

/** Bytes published and not yet handed back by the receiver (`tail - head`, at most the capacity). */
export function depthBytes(i32: Int32Array, capacity: number): number {
  // Two loads, each side's latest publish as seen now: a gauge, so a value one publish old is fine;
  // the clamp keeps a position read mid-update (or a damaged one) within the ring.
  return Math.min((Atomics.load(i32, L.W.TAIL) - Atomics.load(i32, L.W.HEAD)) >>> 0, capacity);
}
