// A pino destination that appends each log line to a ringwire log:
//
//   import pino from 'pino';
//   import { pinoDestination } from 'ringwire/pino';
//   const logger = pino(pinoDestination('/var/log/app'));
//
// Each write() (one JSON line) becomes one record (without the newline), written straight into
// the mapped segment before write() returns: a line whose write returned survives the process
// exiting or being killed, with nothing to flush at exit. The log's codec is 'json' by default,
// so LogReader returns the lines as objects. logger.flush() msyncs (durability against a machine
// crash, on demand).
import { EventEmitter } from 'node:events';
import { describe, RingwireTypeError } from '../errors.js';
import { LogWriter, type LogWriterOptions } from './writer.js';

export class LogDestination extends EventEmitter {
  readonly writer: LogWriter<unknown>;
  /** pino(destination) recognises a stream by this (or by being a SonicBoom). */
  readonly writable = true;
  readonly #owned: boolean;

  constructor(writer: LogWriter<unknown>, owned: boolean) {
    super();
    this.writer = writer;
    this.#owned = owned;
  }

  /** pino calls this with one serialized line (ending in '\n'). */
  write(chunk: string | Uint8Array): boolean {
    if (typeof chunk === 'string') {
      const end = chunk.length > 0 && chunk.charCodeAt(chunk.length - 1) === 10 ? chunk.length - 1 : chunk.length;
      this.writer.appendEncoded(end === chunk.length ? chunk : chunk.slice(0, end));
    } else {
      const end = chunk.length > 0 && chunk[chunk.length - 1] === 10 ? chunk.length - 1 : chunk.length;
      this.writer.appendEncoded(chunk.subarray(0, end));
    }
    return true;
  }

  /** logger.flush(cb): msyncs the log, then calls back. */
  flush(cb?: (err?: Error | null) => void): void {
    try {
      this.writer.flush();
    } catch (err) {
      if (cb) return cb(err as Error);
      throw err;
    }
    cb?.(null);
  }

  flushSync(): void {
    this.writer.flush();
  }

  /** Closes the log if this destination opened it. */
  end(): void {
    if (this.#owned) this.writer.close();
    this.emit('close');
  }
}

/** A destination over the log in `dir` (opened with `options`, codec 'json' by default), or over
 * an open LogWriter. */
export function pinoDestination(target: string | LogWriter<unknown>, options?: LogWriterOptions): LogDestination {
  if (target instanceof LogWriter) return new LogDestination(target, false);
  if (typeof target !== 'string') {
    throw new RingwireTypeError(`pinoDestination takes a directory or a LogWriter, got ${describe(target)}`);
  }
  return new LogDestination(LogWriter.open(target, options), true);
}

export default pinoDestination;
