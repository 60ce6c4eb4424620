// Mirror of cpp/ring/layout.h (see the diagram there). test/unit/layout.test.ts checks every value
// against the constants the native addon exports. Byte offsets become Int32Array word indices
// here only (W, STAT_W, wordAt); no other module computes an offset.

export const MAGIC = 0x31525752; // "RWR1"
export const VERSION = 2;

export const REGION = 128;
export const HEADER_OFFSET = 0;
export const TX_STATS_OFFSET = 1 * REGION;
export const RX_STATS_OFFSET = 2 * REGION;
export const TAIL_OFFSET = 3 * REGION;
export const HEAD_OFFSET = 4 * REGION;
export const PARK_OFFSET = 5 * REGION;
export const CONTROL_BYTES = 1024;

export const MAGIC_OFFSET = 0;
export const VERSION_OFFSET = 4;
export const CAPACITY_OFFSET = 8;
export const DATA_OFFSET_OFFSET = 12;
export const MAX_MESSAGE_OFFSET = 16;
export const CODEC_OFFSET = 20;
export const CLOSED_OFFSET = 24;
export const SENDER_OWNER_OFFSET = 28;
export const RECEIVER_OWNER_OFFSET = 32;
export const SENDER_PID_OFFSET = 36;
export const RECEIVER_PID_OFFSET = 40;
export const SENDER_START_OFFSET = 48;
export const RECEIVER_START_OFFSET = 56;
export const STREAM_START_OFFSET = 44;
export const SENDER_ECHO_OFFSET = 64;
export const RECEIVER_ECHO_OFFSET = 68;
export const STREAM_START_EPOCH_OFFSET = 72;
export const RX_EPOCH_OFFSET = 76;

/** position | 1 of the fragmented message the producer is writing (0: none); cpp kFragInProgressOffset. */
export const FRAG_IN_PROGRESS_OFFSET = TAIL_OFFSET + 64;

// The stream word (CLOSED_OFFSET): closed bits, then the stream epoch.
export const SENDER_CLOSED = 1;
export const RECEIVER_CLOSED = 2;
export const END_SEEN = 4;
export const CLOSED_BITS = 7;
export const EPOCH_SHIFT = 3;

export const RX_PARKED_OFFSET = PARK_OFFSET + 0;
export const TX_PARKED_OFFSET = PARK_OFFSET + 4;

export const STAT_SEQ = 0;
export const STAT_MESSAGES = 8;
export const STAT_BYTES = 16;
export const STAT_FULL = 24;
export const STAT_PARKS = 32;
export const STATS_BYTES = 40;

export const RECORD_HEADER_BYTES = 8;
export const RECORD_ALIGN = 8;
export const TYPE_PAD = 1;
export const TYPE_MESSAGE = 2;
export const TYPE_FRAG_FIRST = 3;
export const TYPE_FRAG_MIDDLE = 4;
export const TYPE_FRAG_LAST = 5;
export const FRAG_PREFIX_BYTES = 8;

export const MIN_CAPACITY = 1 << 10;
export const MAX_CAPACITY = 1 << 30;

/** Bytes a record of `n` payload bytes occupies, header and alignment included. */
export const recordBytes = (n: number): number => (n + RECORD_HEADER_BYTES + RECORD_ALIGN - 1) & ~(RECORD_ALIGN - 1);
export const maxRecordBytes = (capacity: number): number => capacity / 2;
export const maxRecordPayload = (capacity: number): number => capacity / 2 - RECORD_HEADER_BYTES;
export const totalBytes = (capacity: number): number => CONTROL_BYTES + capacity;

/** A fragment is cut at the end of the data region if at least this many payload bytes fit there. */
export const MIN_FRAGMENT_ROOM = 64;

/** Payload bytes (prefix excluded) of the next fragment; cpp FragmentChunk. */
export function fragmentChunk(capacity: number, offset: number, remaining: number, first: boolean): number {
  const prefix = first ? FRAG_PREFIX_BYTES : 0;
  const full = maxRecordPayload(capacity) - prefix;
  const contiguous = capacity - offset;
  const room = contiguous >= RECORD_HEADER_BYTES + prefix + MIN_FRAGMENT_ROOM ? contiguous - RECORD_HEADER_BYTES - prefix : full;
  return Math.min(remaining, room, full);
}

/** Upper bound on the ring bytes a message of `n` bytes takes, written in one go; cpp MessageBytesBound. */
export function messageBytesBound(capacity: number, n: number): number {
  const maxPayload = maxRecordPayload(capacity);
  if (n <= maxPayload) return recordBytes(n) + maxPayload + RECORD_HEADER_BYTES;
  const per = maxPayload - FRAG_PREFIX_BYTES;
  const records = Math.ceil(n / per) + 1;
  const pad = RECORD_HEADER_BYTES + FRAG_PREFIX_BYTES + MIN_FRAGMENT_ROOM + RECORD_ALIGN;
  return n + FRAG_PREFIX_BYTES + records * (RECORD_HEADER_BYTES + RECORD_ALIGN - 1) + pad;
}

/** Whether a message can ever be written all at once; cpp FitsAtOnce. */
export const fitsAtOnce = (capacity: number, n: number): boolean =>
  n <= maxRecordPayload(capacity) || messageBytesBound(capacity, n) <= capacity;

/** The Int32Array index of the word at byte `offset` (4-aligned) of the ring's memory. */
export const wordAt = (offset: number): number => offset >> 2;

/** Word indices (Int32Array over the ring's memory) of the control block's words. */
export const W = {
  /** The data region's first word: also the control block's length in words. */
  DATA: wordAt(CONTROL_BYTES),
  TX_STATS: wordAt(TX_STATS_OFFSET),
  RX_STATS: wordAt(RX_STATS_OFFSET),
  TAIL: wordAt(TAIL_OFFSET),
  HEAD: wordAt(HEAD_OFFSET),
  MAGIC: wordAt(MAGIC_OFFSET),
  VERSION: wordAt(VERSION_OFFSET),
  CAPACITY: wordAt(CAPACITY_OFFSET),
  DATA_OFFSET: wordAt(DATA_OFFSET_OFFSET),
  MAX_MESSAGE: wordAt(MAX_MESSAGE_OFFSET),
  CODEC: wordAt(CODEC_OFFSET),
  CLOSED: wordAt(CLOSED_OFFSET),
  SENDER_OWNER: wordAt(SENDER_OWNER_OFFSET),
  RECEIVER_OWNER: wordAt(RECEIVER_OWNER_OFFSET),
  SENDER_PID: wordAt(SENDER_PID_OFFSET),
  RECEIVER_PID: wordAt(RECEIVER_PID_OFFSET),
  SENDER_START: wordAt(SENDER_START_OFFSET),
  RECEIVER_START: wordAt(RECEIVER_START_OFFSET),
  STREAM_START: wordAt(STREAM_START_OFFSET),
  SENDER_ECHO: wordAt(SENDER_ECHO_OFFSET),
  RECEIVER_ECHO: wordAt(RECEIVER_ECHO_OFFSET),
  STREAM_START_EPOCH: wordAt(STREAM_START_EPOCH_OFFSET),
  RX_EPOCH: wordAt(RX_EPOCH_OFFSET),
  FRAG_IN_PROGRESS: wordAt(FRAG_IN_PROGRESS_OFFSET),
  RX_PARKED: wordAt(RX_PARKED_OFFSET),
  TX_PARKED: wordAt(TX_PARKED_OFFSET),
} as const;

/** Word indices of a stats block's fields, relative to the block's first word (wordAt(TX/RX_STATS_OFFSET)). */
export const STAT_W = {
  SEQ: wordAt(STAT_SEQ),
  MESSAGES: wordAt(STAT_MESSAGES),
  BYTES: wordAt(STAT_BYTES),
  FULL: wordAt(STAT_FULL),
  PARKS: wordAt(STAT_PARKS),
} as const;
