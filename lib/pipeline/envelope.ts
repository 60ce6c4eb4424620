// The record a pipeline hop carries: a 24-byte header, a trace block when the message is traced,
// the routing key, then the payload encoded by the pipeline's codec. Records are 8-byte aligned in
// the ring, so the header's f64 fields are read and written through a Float64Array over the same memory.
//
//   0        8        16       20     22    23    24                 24 or 56
//   +--------+--------+--------+------+-----+-----+------------------+-----------+---------...
//   | seq    | t0     | hash   | klen | kind|flags| trace (flags ≠ 0) | key bytes | payload
//   | f64    | f64    | i32    | u16  | u8  | u8  | 32 bytes          | klen      | codec
//   +--------+--------+--------+------+-----+-----+------------------+-----------+---------...
//
// seq: the source's sequence number (outputs inherit their input's). t0: performance.now() in the
// main thread when the source produced it (end-to-end latency is measured there too). hash: the
// key's 32-bit hash, which routes every hop (so a key always takes the same path and keeps its
// order). kind: 0 no key, 1 an int32 key (4 bytes), 2 a UTF-8 string key, 3 any other number
// (an f64, 8 bytes: beyond int32, fractions, NaN, ±Infinity). A key comes back as the user's key
// function returned it: a number as that number (-0 as 0), a string as that string; anything else
// was converted with String() at the source.
//
// flags: 0 for a message that is not traced (it pays nothing else). TRACED (bit 0): a trace block
// follows the header (outputs inherit it, like seq):
//
//   24              40        48        56
//   | trace id      | span id | sent    |
//   | 16 bytes      | 8 bytes | f64     |
//
// the message's trace and span ids (W3C / OpenTelemetry), and when the writer of this hop wrote
// the record (trace.ts clock(): milliseconds on a clock every thread of the process shares).
// OTEL_SAMPLED (bit 1): the span context's sampled flag.
import { Buffer } from 'node:buffer';
import { RingwireRangeError } from '../errors.js';

export const HEADER_BYTES = 24;
export const KEY_NONE = 0;
export const KEY_INT = 1;
export const KEY_STRING = 2;
export const KEY_NUMBER = 3;
export const MAX_KEY_BYTES = 0xffff;
export const TRACED = 1;
export const OTEL_SAMPLED = 2;
/** The flags a record may carry. */
export const FLAGS = TRACED | OTEL_SAMPLED;
export const TRACE_BYTES = 32;
/** Trace id (16 bytes) then span id (8). */
export const TRACE_ID_BYTES = 16;
export const IDS_BYTES = 24;
/** The ids as int32 words: copied a word at a time (the trace block is 8-byte aligned in the ring). */
export const IDS_WORDS = IDS_BYTES / 4;

/** A message's routing metadata, carried from hop to hop. */
export interface Meta {
  seq: number;
  t0: number;
  hash: number;
  kind: number;
  /** KEY_INT, KEY_NUMBER: the key; otherwise unused. */
  keyNum: number;
  /** KEY_STRING: the UTF-8 bytes of the key. */
  keyBytes: Uint8Array | undefined;
  /** 0, or TRACED (| OTEL_SAMPLED): then `ids` and `sent` are the trace block's (read), and `ids`
   * and `stamp` go into the trace block of what is written. */
  flags: number;
  /** Trace id then span id (IDS_BYTES), overwritten in place for each traced record. */
  readonly ids: Uint8Array;
  /** The same memory as `ids`, as IDS_WORDS int32 words. */
  readonly idWords: Int32Array;
  /** The trace block's: when the record read was written (trace.ts clock()). */
  sent: number;
  /** When the records being written are written (trace.ts clock()): set for a traced message by
   * whoever writes them (the source, a stage's emit) just before each write, and again after a wait
   * for room (OutputLink.write); it becomes their trace blocks' `sent`. */
  stamp: number;
}

// seq, t0, sent and stamp start as NaN (not yet read): a double, like every value a reader stores in
// them (from a Float64Array). Started as 0, a small integer, a field changes representation at
// the first double, which deoptimizes every function compiled for the old one.
export const newMeta = (): Meta => {
  const idWords = new Int32Array(IDS_WORDS);
  return { seq: Number.NaN, t0: Number.NaN, hash: 0, kind: KEY_NONE, keyNum: 0, keyBytes: undefined, flags: 0, ids: new Uint8Array(idWords.buffer), idWords, sent: Number.NaN, stamp: Number.NaN };
};

/** Where the key starts, from the record's start: after the header and the trace block if any. */
export const keyOffset = (flags: number): number => (flags === 0 ? HEADER_BYTES : HEADER_BYTES + TRACE_BYTES);

/** The bytes of the key field of `kind` (KEY_STRING: the string's; -1 unknown kind). */
export const keyFieldBytes = (kind: number, stringBytes: number): number =>
  kind === KEY_INT ? 4 : kind === KEY_NUMBER ? 8 : kind === KEY_STRING ? stringBytes : kind === KEY_NONE ? 0 : -1;
export const keyBytesOf = (m: Meta): number => keyFieldBytes(m.kind, m.kind === KEY_STRING ? m.keyBytes!.byteLength : 0);

/** The key as the user's key function returned it (see the top). */
export function keyOf(m: Meta): string | number | undefined {
  if (m.kind === KEY_INT || m.kind === KEY_NUMBER) return m.keyNum;
  if (m.kind === KEY_STRING) return Buffer.from(m.keyBytes!.buffer, m.keyBytes!.byteOffset, m.keyBytes!.byteLength).toString('utf8');
  return undefined;
}

/** 32-bit mix of an integer key (murmur3's finalizer). */
export function hashInt(k: number): number {
  let h = k | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

/** FNV-1a over UTF-16 code units, then mixed. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return hashInt(h);
}

/** Fills `meta`'s key fields from a key function's result. */
export function setKey(meta: Meta, key: unknown): void {
  if (typeof key === 'number' && (key | 0) === key) {
    meta.kind = KEY_INT;
    meta.keyNum = key;
    meta.hash = hashInt(key);
    meta.keyBytes = undefined;
    return;
  }
  const s = typeof key === 'string' ? key : String(key);
  if (typeof key === 'number') {
    // Hashed by its string form, as before numbers kept their type: the same key, the same route.
    meta.kind = KEY_NUMBER;
    meta.keyNum = key;
    meta.hash = hashString(s);
    meta.keyBytes = undefined;
    return;
  }
  const bytes = Buffer.from(s, 'utf8');
  if (bytes.byteLength > MAX_KEY_BYTES) throw new RingwireRangeError('ERR_OUT_OF_RANGE', `pipeline: a key must be at most ${MAX_KEY_BYTES} bytes of UTF-8, got ${bytes.byteLength}`);
  meta.kind = KEY_STRING;
  meta.keyBytes = bytes;
  meta.hash = hashString(s);
  meta.keyNum = 0;
}
