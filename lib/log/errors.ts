// Errors of the persistent log: RingwireError with a stable code; corruption names the segment
// file and the byte offset.
import { RingwireError, type RingwireErrorCode } from '../errors.js';

/** The codes the log throws (documented in RingwireErrorCode, lib/errors.ts). */
export type LogErrorCode = Extract<
  RingwireErrorCode,
  'ERR_NOT_A_LOG' | 'ERR_LOCKED' | 'ERR_CORRUPT' | 'ERR_NO_SPACE' | 'ERR_LOG_CLOSED' | 'ERR_LOG_FAILED' | 'ERR_TOO_MANY_READERS' | 'ERR_CODEC' | 'ERR_IO'
>;

export class LogCorruptError extends RingwireError {
  /** The segment file (full path) and the byte offset of the first bad byte. */
  readonly segment: string;
  readonly offset: number;
  readonly problem: string;
  constructor(segment: string, offset: number, problem: string) {
    super('ERR_CORRUPT', `log segment ${segment} is corrupt at offset ${offset}: ${problem}`);
    this.name = 'LogCorruptError';
    this.segment = segment;
    this.offset = offset;
    this.problem = problem;
  }
}

export const logError = (code: LogErrorCode, message: string, cause?: unknown): RingwireError =>
  new RingwireError(code, message, cause === undefined ? undefined : { cause });

export const closedLogError = (what: string): RingwireError => logError('ERR_LOG_CLOSED', `${what}: the log is closed`);
