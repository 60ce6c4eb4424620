// A pino destination that appends each log line to a ringwire log, directly:
//
//   import pino from 'pino';
//   import { pinoDestination } from 'ringwire/pino';
//   const logger = pino(pinoDestination('/var/log/app'));
//
// or as a pino transport (pino runs this module's default export in its worker thread, with the
// options object; lines arrive there in batches, possibly cut anywhere, and are split here):
//
//   const logger = pino(pino.transport({ target: 'ringwire/pino', options: { dir: '/var/log/app' } }));
//
// Each write() (one JSON line) becomes one record (without the newline), written straight into
// the mapped segment before write() returns: a line whose write returned survives the process
// exiting or being killed, with nothing to flush at exit. The log's codec is 'json' by default,
// so LogReader returns the lines as objects. logger.flush() msyncs (durability against a machine
// crash, on demand).
import { Buffer } from 'node:buffer';
import { EventEmitter } from 'node:events';
import { describe, RingwireTypeError } from '../errors.js';
import type { LogWriterOptions } from './options.js';
import { LogWriter } from './writer.js';

export class LogDestination extends EventEmitter {
  readonly writer: LogWriter<unknown>;
  /** pino(destination) recognises a stream by this (or by being a SonicBoom). */
  readonly writable = true;
  readonly #owned: boolean;
  /** Transport mode: chunks hold any number of lines, the last one possibly cut short. */
  readonly #batched: boolean;
  #partial = '';

  constructor(writer: LogWriter<unknown>, owned: boolean, batched = false) {
    super();
    this.writer = writer;
    this.#owned = owned;
    this.#batched = batched;
  }

  /** pino calls this with one serialized line (ending in '\n'); a transport with a batch of them. */
  write(chunk: string | Uint8Array): boolean {
    if (this.#batched) return this.#writeBatch(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
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

  /** Closes the log if this destination opened it (a line cut short at the end is written as it is). */
  end(): void {
    if (this.#partial !== '') this.writer.appendEncoded(this.#partial);
    this.#partial = '';
    if (this.#owned) this.writer.close();
    this.emit('close');
  }

  #writeBatch(text: string): boolean {
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      const line = text.slice(start, nl);
      if (this.#partial !== '') {
        this.writer.appendEncoded(this.#partial + line);
        this.#partial = '';
      } else if (line !== '') {
        this.writer.appendEncoded(line);
      }
      start = nl + 1;
    }
    this.#partial += text.slice(start);
    return true;
  }
}

/** The pino transport form: `pino.transport({ target: 'ringwire/pino', options })`. */
export interface PinoTransportOptions extends LogWriterOptions {
  /** The log directory. */
  dir: string;
}

/**
 * A destination over the log in `dir` (opened with `options`, codec 'json' by default), over an
 * open LogWriter, or — as pino's transports call it, in their worker thread — over `{ dir, ...options }`.
 */
export function pinoDestination(target: string | LogWriter<unknown> | PinoTransportOptions, options?: LogWriterOptions): LogDestination {
  if (target instanceof LogWriter) return new LogDestination(target, false);
  if (typeof target === 'string') return new LogDestination(LogWriter.open(target, options), true);
  if (typeof target === 'object' && target !== null && typeof (target as PinoTransportOptions).dir === 'string') {
    // pino and its thread-stream add keys of their own ($context, pinoWillSendConfig): not ours to check.
    const { dir, $context: _c, pinoWillSendConfig: _p, ...rest } = target as PinoTransportOptions & { $context?: unknown; pinoWillSendConfig?: unknown };
    return new LogDestination(LogWriter.open(dir, rest), true, true);
  }
  throw new RingwireTypeError(
    `pinoDestination takes a directory, a LogWriter, or (as a pino transport) { dir, ...options }, got ${describe(target)}`,
  );
}

export default pinoDestination;
