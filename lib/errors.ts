// Error classes with stable `code`s, and the one set of validation helpers (checkInteger,
// checkCapacity, checkOptions) every module uses. Misuse throws; "full" / "empty" are return values.
// Every error ringwire throws has a code: RingwireError (RingwireErrorCode), RingwireTypeError
// (ERR_INVALID_ARG), RingwireRangeError (ERR_OUT_OF_RANGE, ERR_MESSAGE_TOO_LARGE), PipelineError
// (PipelineErrorCode, lib/pipeline/errors.ts), LogCorruptError (ERR_CORRUPT).
import { MAX_CAPACITY, MIN_CAPACITY } from './core/layout.js';

export type RingwireErrorCode =
  | 'ERR_ROLE_TAKEN'
  | 'ERR_CHANNEL_CLOSED'
  | 'ERR_TIMEOUT'
  | 'ERR_ABORTED'
  | 'ERR_NOT_A_CHANNEL'
  | 'ERR_CORRUPT'
  | 'ERR_SEQUENCE'
  | 'ERR_SEND_PENDING'
  | 'ERR_TOO_LARGE_FOR_TRY_SEND'
  | 'ERR_CODEC'
  | 'ERR_RESERVE'
  | 'ERR_PEER_DEAD'
  | 'ERR_NO_SUCH_CHANNEL'
  | 'ERR_CHANNEL_MISMATCH'
  | 'ERR_NOT_SHAREABLE'
  | 'ERR_SYSTEM'
  | 'ERR_NATIVE'
  | 'ERR_MISSING_DEPENDENCY' // an optional peer dependency a call needs is not installed (prom-client for metrics)
  // The persistent log (lib/log):
  | 'ERR_NOT_A_LOG' // the directory holds no log, the path (or a parent) is a file, or a file is not ours
  | 'ERR_LOCKED' // another process is the log's writer
  | 'ERR_NO_SPACE' // preallocating a segment failed: the disk is full
  | 'ERR_LOG_CLOSED'
  | 'ERR_LOG_FAILED' // a roll failed once the next segment existed (an msync's EIO, a thread that cannot start): the writer appends no more
  | 'ERR_TOO_MANY_READERS' // READER_SLOTS follow() are in progress on the log already
  | 'ERR_NOT_FOUND' // a segment file vanished (retention) while it was being opened
  | 'ERR_IO'
  // ringwire/nats (lib/nats):
  | 'ERR_NATS_FOREIGN' // the stream's last message on the subject comes from another source
  | 'ERR_NATS_STREAM' // the stream is missing or does not carry the subject
  | 'ERR_NATS_ORDER'; // a consumer delivered out of order beyond repair

export class RingwireError extends Error {
  readonly code: RingwireErrorCode;
  constructor(code: RingwireErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RingwireError';
    this.code = code;
  }
}

/** A bad option or argument value (out of range, not a power of two, message over the limit). */
export class RingwireRangeError extends RangeError {
  readonly code: 'ERR_OUT_OF_RANGE' | 'ERR_MESSAGE_TOO_LARGE';
  constructor(code: 'ERR_OUT_OF_RANGE' | 'ERR_MESSAGE_TOO_LARGE', message: string) {
    super(message);
    this.name = 'RingwireRangeError';
    this.code = code;
  }
}

/** An option or argument of the wrong type, or an unknown name (codec). */
export class RingwireTypeError extends TypeError {
  readonly code = 'ERR_INVALID_ARG' as const;
  constructor(message: string) {
    super(message);
    this.name = 'RingwireTypeError';
  }
}

export const closedError = (what: string) => new RingwireError('ERR_CHANNEL_CLOSED', `${what}: the channel is closed`);
export const timeoutError = (what: string, ms: number) =>
  new RingwireError('ERR_TIMEOUT', `${what} timed out after ${ms} ms`);
export const abortedError = (what: string, reason: unknown) =>
  new RingwireError('ERR_ABORTED', `${what} was aborted`, { cause: reason });
export const corruptError = (detail: string) =>
  new RingwireError('ERR_CORRUPT', `shared memory is corrupt: ${detail}`);
/** The thread (or process) holding the other role ended without closing the channel. */
export const peerDeadError = (what: string, peer: 'sender' | 'receiver') =>
  new RingwireError('ERR_PEER_DEAD', `${what}: the ${peer}'s thread ended (or its process died) without closing the channel`);

/** `name` must be a power of two from MIN_CAPACITY to MAX_CAPACITY (a ring's capacity); returns it. */
export function checkCapacity(capacity: unknown, name = 'options.capacity'): number {
  const c = checkInteger(name, capacity, -Infinity, Infinity);
  if (c < MIN_CAPACITY || c > MAX_CAPACITY || (c & (c - 1)) !== 0) {
    throw new RingwireRangeError('ERR_OUT_OF_RANGE', `${name} must be a power of two from ${MIN_CAPACITY} to ${MAX_CAPACITY}, got ${c}`);
  }
  return c;
}

/** `name` must be an integer in [min, max]; returns it. */
export function checkInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new RingwireTypeError(`${name} must be an integer, got ${describe(value)}`);
  }
  if (value < min || value > max) {
    throw new RingwireRangeError('ERR_OUT_OF_RANGE', `${name} must be from ${min} to ${max}, got ${value}`);
  }
  return value;
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'object' && value !== null) return value.constructor?.name ?? 'object';
  return String(value);
}

/** An options object (or undefined); unknown keys are an error, since a misspelling is a bug. */
export function checkOptions(options: unknown, known: Set<string>, what: string): Record<string, unknown> {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null) {
    throw new RingwireTypeError(`${what} options must be an object, got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw new RingwireTypeError(`${what}: unknown option '${key}'`);
  }
  return options as Record<string, unknown>;
}
