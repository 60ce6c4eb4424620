// Mirror of cpp/log/format.h (the diagram and the ordering argument are there).
// test/log/format.test.ts checks every value against the constants the native addon exports.
// Byte offsets become Int32Array word indices here only (wordAt, REC_W, SEG_W, CTL_W, STAT_W,
// SLOT_W); no other module of the log computes an offset.
import { wordAt } from '../core/layout.js';

export const SEGMENT_MAGIC = 0x314c5752; // "RWL1"
export const VERSION = 1;
export const SEGMENT_HEADER_BYTES = 128;
export const SEG_MAGIC_OFFSET = 0;
export const SEG_VERSION_OFFSET = 4;
export const SEG_HEADER_BYTES_OFFSET = 8;
export const SEG_EPOCH_OFFSET = 12;
export const SEG_INDEX_OFFSET = 16;
export const SEG_BASE_SEQ_OFFSET = 24;
export const SEG_BYTES_OFFSET = 32;
export const SEG_CREATED_OFFSET = 40;
export const SEG_CODEC_OFFSET = 48;
export const SEG_HEADER_CRC_OFFSET = 56;

export const RECORD_HEADER_BYTES = 32;
export const RECORD_ALIGN = 8;
export const REC_LENGTH_OFFSET = 0;
export const REC_CRC_OFFSET = 4;
export const REC_TYPE_OFFSET = 8;
export const REC_EPOCH_OFFSET = 12;
export const REC_SEQ_OFFSET = 16;
export const REC_TIME_OFFSET = 24;
export const IN_PROGRESS = 0x80000000;
export const LENGTH_MASK = 0x7fffffff;
export const TYPE_DATA = 1;
export const TYPE_END_OF_SEGMENT = 2;
export const END_OF_SEGMENT_BYTES = RECORD_HEADER_BYTES;

export const PAGE_BYTES = 4096;
export const MIN_SEGMENT_BYTES = 64 * 1024;
export const MAX_SEGMENT_BYTES = 2 ** 30;
export const DEFAULT_SEGMENT_BYTES = 64 * 2 ** 20;

export const CONTROL_MAGIC = 0x434c5752; // "RWLC"
export const CONTROL_BYTES = 4096;
export const CONTROL_VERSION = 2;
export const CONTROL_VERSION_PARKED_COUNT = 1;
export const CTL_MAGIC_OFFSET = 0;
export const CTL_VERSION_OFFSET = 4;
export const CTL_SEGMENT_BYTES_OFFSET = 8;
export const CTL_CODEC_OFFSET = 12;
export const CTL_CREATED_OFFSET = 16;
export const CTL_NOTIFY_OFFSET = 128;
export const CTL_PARKED_OFFSET = 256;
export const PARKED_WORDS = 2;
export const CTL_WRITER_PID_OFFSET = 384;
export const CTL_WRITER_START_OFFSET = 392;
export const CTL_STATS_OFFSET = 512;
export const STAT_SEQ = 0;
export const STAT_NEXT_SEQUENCE = 8;
export const STAT_BYTES = 16;
export const STAT_ROLLS = 24;
export const STAT_FLUSHES = 32;
export const STAT_SEGMENT = 40;
export const STAT_WAKES = 48;
export const STATS_BYTES = 56;
export const CTL_READERS_OFFSET = 1024;
export const READER_SLOTS = 64;
export const READER_SLOT_BYTES = 32;
export const SLOT_OWNER_OFFSET = 0;
export const SLOT_PID_OFFSET = 4;
export const SLOT_START_OFFSET = 8;
export const SLOT_ECHO_OFFSET = 16;

/** The Int32Array index of the word at byte `offset` (4-aligned): one definition, the ring's. */
export { wordAt };

/** Word indices of a record's fields, relative to the record's first word (wordAt(p)). The u64
 * fields take two words, low first. */
export const REC_W = {
  LENGTH: wordAt(REC_LENGTH_OFFSET),
  CRC: wordAt(REC_CRC_OFFSET),
  TYPE: wordAt(REC_TYPE_OFFSET),
  EPOCH: wordAt(REC_EPOCH_OFFSET),
  SEQ: wordAt(REC_SEQ_OFFSET),
  TIME: wordAt(REC_TIME_OFFSET),
} as const;

/** Word indices of a segment header's 32-bit fields. */
export const SEG_W = {
  MAGIC: wordAt(SEG_MAGIC_OFFSET),
  VERSION: wordAt(SEG_VERSION_OFFSET),
  HEADER_BYTES: wordAt(SEG_HEADER_BYTES_OFFSET),
  EPOCH: wordAt(SEG_EPOCH_OFFSET),
  CODEC: wordAt(SEG_CODEC_OFFSET),
  HEADER_CRC: wordAt(SEG_HEADER_CRC_OFFSET),
} as const;

/** Word indices in the control file. */
export const CTL_W = {
  MAGIC: wordAt(CTL_MAGIC_OFFSET),
  VERSION: wordAt(CTL_VERSION_OFFSET),
  SEGMENT_BYTES: wordAt(CTL_SEGMENT_BYTES_OFFSET),
  CODEC: wordAt(CTL_CODEC_OFFSET),
  NOTIFY: wordAt(CTL_NOTIFY_OFFSET),
  PARKED: wordAt(CTL_PARKED_OFFSET),
  WRITER_PID: wordAt(CTL_WRITER_PID_OFFSET),
  STATS: wordAt(CTL_STATS_OFFSET),
  READERS: wordAt(CTL_READERS_OFFSET),
  /** One past the last reader slot's last word. */
  READERS_END: wordAt(CTL_READERS_OFFSET + READER_SLOTS * READER_SLOT_BYTES),
} as const;

/** Word indices of the stats block's fields, relative to CTL_W.STATS (the u64 ones: two words, low first). */
export const STAT_W = {
  SEQ: wordAt(STAT_SEQ),
  NEXT_SEQUENCE: wordAt(STAT_NEXT_SEQUENCE),
  BYTES: wordAt(STAT_BYTES),
  ROLLS: wordAt(STAT_ROLLS),
  FLUSHES: wordAt(STAT_FLUSHES),
  SEGMENT: wordAt(STAT_SEGMENT),
  WAKES: wordAt(STAT_WAKES),
} as const;

/** File names in a log directory. */
export const CONTROL_FILE = 'log.ctl';
export const SEGMENT_SUFFIX = '.rwlog';
export const segmentName = (index: number): string => String(index).padStart(20, '0') + SEGMENT_SUFFIX;
const SEGMENT_RE = /^(\d{20})\.rwlog$/;
/** The index in a segment file name, or -1. */
export function segmentIndexOf(name: string): number {
  const m = SEGMENT_RE.exec(name);
  if (m === null) return -1;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : -1;
}

export const alignRecord = (n: number): number => (n + RECORD_ALIGN - 1) & ~(RECORD_ALIGN - 1);
/** Bytes a DATA record with `n` payload bytes occupies. */
export const recordBytes = (n: number): number => alignRecord(RECORD_HEADER_BYTES + n);
/** Largest payload a segment of `segmentBytes` holds. */
export const maxPayload = (segmentBytes: number): number =>
  segmentBytes - SEGMENT_HEADER_BYTES - RECORD_HEADER_BYTES - END_OF_SEGMENT_BYTES;
export const validSegmentBytes = (n: number): boolean =>
  Number.isInteger(n) && n >= MIN_SEGMENT_BYTES && n <= MAX_SEGMENT_BYTES && n % PAGE_BYTES === 0;

const TWO_32 = 4294967296;
/** Reads the u64 at byte offset `off` (8-aligned) as a number; -1 if it is not a safe integer. */
export function readU64(i32: Int32Array, off: number): number {
  const w = wordAt(off);
  const hi = i32[w + 1]! >>> 0;
  if (hi >= 0x200000) return -1;
  return (i32[w]! >>> 0) + hi * TWO_32;
}
export function writeU64(i32: Int32Array, off: number, v: number): void {
  const w = wordAt(off);
  i32[w] = v % TWO_32 | 0;
  i32[w + 1] = Math.floor(v / TWO_32) | 0;
}

/** An Int32Array over the whole words of a mapping (a damaged file may end mid-word). */
export const words = (ab: ArrayBuffer): Int32Array => new Int32Array(ab, 0, wordAt(ab.byteLength & ~3));

/** The fields of a segment file's header. */
export interface SegmentHeader {
  epoch: number;
  index: number;
  baseSequence: number;
  segmentBytes: number;
  created: number;
  codec: number;
}
