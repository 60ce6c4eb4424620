// Errors of the persistent log: RingwireError with a stable code; corruption names the segment
// file and the byte offset.
import { RingwireError, type RingwireErrorCode } from '../errors.js';

export type LogErrorCode =
  | 'ERR_NOT_A_LOG' // the directory holds no log (or a file is not ours)
  | 'ERR_LOCKED' // another process is the log's writer
  | 'ERR_CORRUPT' // a segment holds something the writer never writes
  | 'ERR_NO_SPACE' // preallocating a segment failed: the disk is full
  | 'ERR_LOG_CLOSED'
  | 'ERR_TOO_MANY_READERS' // READER_SLOTS follow() are in progress on the log already
  | 'ERR_CODEC'
  | 'ERR_IO';

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

// These codes are not (yet) in RingwireErrorCode; they are stable strings all the same.
export const logError = (code: LogErrorCode, message: string, cause?: unknown): RingwireError =>
  new RingwireError(code as RingwireErrorCode, message, cause === undefined ? undefined : { cause });

export const closedLogError = (what: string): RingwireError => logError('ERR_LOG_CLOSED', `${what}: the log is closed`);
