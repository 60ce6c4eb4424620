// LogWriter's options and their validation, and the codec a log is read and written with.
import { codecNameOf, resolveCodec, type CodecSpec, type WireCodec } from '../channel/codecs.js';
import { checkInteger, checkOptions, describe, RingwireRangeError, RingwireTypeError } from '../errors.js';
import { logError } from './errors.js';
import * as F from './format.js';
import { checkRetention, type RetentionOptions } from './retention.js';
import { DEFAULT_FILE_MODE } from './segments.js';

export type Durability = 'process' | 'interval' | 'sync';

export interface LogWriterOptions {
  /** Size of each new segment file: a multiple of 4096 from 64 KiB to 1 GiB (default 64 MiB). */
  segmentBytes?: number;
  /**
   * 'process' (default): an append is in the page cache when it returns; survives the process
   * crashing or being killed, not the machine. 'interval': also msync'd every `syncIntervalMs` by a
   * background thread; a machine crash loses at most that window. 'sync': msync'd before append /
   * appendBatch returns; survives a machine crash (as far as the disk honours the flush).
   */
  durability?: Durability;
  /** Milliseconds between background msyncs in 'interval' mode (default 1000). */
  syncIntervalMs?: number;
  /** 'json' (default for a new log), 'string', 'bytes', 'v8' or { encode, decode }. An existing
   * log keeps the codec it was created with; naming another one is an error. */
  codec?: CodecSpec;
  /** Deletes old segments (at open and after each roll; never the one being written). */
  retention?: RetentionOptions;
  /**
   * Permission bits of the files this writer creates (segments, the control file), exactly,
   * whatever the umask (default 0o600: the owner only). Directories it creates get the same bits
   * plus search wherever read is granted (0o600 → 0o700, 0o640 → 0o750). A reader opens the control
   * file read-write (follow() takes a reader slot in it): for readers in another account, grant
   * them read and write, e.g. 0o660 with a shared group. Existing files and directories keep theirs.
   */
  mode?: number;
}

/** LogWriter's options, checked, with their defaults. */
export interface WriterSettings {
  durability: Durability;
  syncIntervalMs: number;
  retention: RetentionOptions | undefined;
  /** undefined: the log's own (or the default for a new log). */
  segmentBytes: number | undefined;
  codec: WireCodec | undefined;
  /** The codec option as given, for messages. */
  codecSpec: unknown;
  /** Permission bits of created files. */
  mode: number;
}

const KNOWN = new Set(['segmentBytes', 'durability', 'syncIntervalMs', 'codec', 'retention', 'mode']);

export function writerSettings(options: unknown): WriterSettings {
  const o = checkOptions(options, KNOWN, 'LogWriter.open');
  return {
    durability: checkDurability(o.durability),
    syncIntervalMs: o.syncIntervalMs === undefined ? 1000 : checkInteger('options.syncIntervalMs', o.syncIntervalMs, 1, 3_600_000),
    retention: checkRetention(o.retention),
    segmentBytes: o.segmentBytes === undefined ? undefined : checkSegmentBytes(o.segmentBytes),
    codec: o.codec === undefined ? undefined : resolveCodec(o.codec),
    codecSpec: o.codec,
    mode: o.mode === undefined ? DEFAULT_FILE_MODE : checkInteger('options.mode', o.mode, 0, 0o777),
  };
}

function checkDurability(v: unknown): Durability {
  if (v === undefined) return 'process';
  if (v === 'process' || v === 'interval' || v === 'sync') return v;
  throw new RingwireTypeError(`options.durability must be 'process', 'interval' or 'sync', got ${describe(v)}`);
}

function checkSegmentBytes(v: unknown): number {
  checkInteger('options.segmentBytes', v, F.MIN_SEGMENT_BYTES, F.MAX_SEGMENT_BYTES);
  if ((v as number) % F.PAGE_BYTES !== 0) {
    throw new RingwireRangeError('ERR_OUT_OF_RANGE', `options.segmentBytes must be a multiple of ${F.PAGE_BYTES}, got ${v as number}`);
  }
  return v as number;
}

/** The codec of a log whose control file says `id`; `requested` must agree with it. */
export function logCodec(id: number, requested: WireCodec | undefined, spec: unknown, dir: string): WireCodec {
  const name = codecNameOf(id);
  if (name === undefined) throw logError('ERR_NOT_A_LOG', `the log in ${dir} has an unknown codec id ${id}`);
  if (requested !== undefined) {
    if (requested.id !== id) {
      throw new RingwireTypeError(`options.codec is ${describe(spec)} but the log in ${dir} was created with codec '${name}'`);
    }
    return requested;
  }
  if (name === 'custom') {
    throw new RingwireTypeError(`the log in ${dir} uses a custom codec: pass it as options.codec`);
  }
  return resolveCodec(name);
}
