// Node streams over a channel's ends: a Readable of what a Receiver gets and a Writable that sends
// through a Sender, for stream.pipeline and everything else that speaks streams. Backpressure is
// the ring's: the Writable's write() completes once the message is in the ring (send() waits for
// room), and the Readable reads the next message only when its consumer wants more.
import { Readable, Writable, type ReadableOptions, type WritableOptions } from 'node:stream';
import { checkOptions } from '../errors.js';
import type { Receiver } from './receiver.js';
import type { Sender } from './sender.js';

export interface ReceiverStreamOptions {
  /** Messages buffered ahead of the consumer (default 16). */
  highWaterMark?: number;
  /** Close the receiver when the stream is destroyed before the end (default true, like any stream's resource). */
  close?: boolean;
}

/**
 * A Readable (object mode) of the messages `receiver` gets; it ends when the sender closes the
 * stream. Destroying it early closes the receiver (or, with `close: false`, leaves it open).
 */
export function toReadable<T>(receiver: Receiver<T>, options?: ReceiverStreamOptions): Readable {
  const o = checkOptions(options, new Set(['highWaterMark', 'close']), 'toReadable');
  const opts: ReadableOptions = { objectMode: true, highWaterMark: (o.highWaterMark as number | undefined) ?? 16 };
  let ended = false;
  const stream = new Readable({
    ...opts,
    read() {
      receiver.recv().then(
        (m) => this.push(m),
        (err: { code?: string }) => {
          if (err?.code === 'ERR_CHANNEL_CLOSED' && !receiver.closed) {
            ended = true;
            this.push(null); // the sender closed: the end of the stream
          } else this.destroy(err as Error);
        },
      );
    },
    destroy(err, cb) {
      if (!ended && o.close !== false && !receiver.closed) receiver.close();
      cb(err);
    },
  });
  return stream;
}

export interface SenderStreamOptions {
  /** Writes queued before write() returns false (default 16). */
  highWaterMark?: number;
}

/**
 * A Writable (object mode) that sends every chunk through `sender`; end() closes the sender (the
 * receiver gets everything, then the end). Destroyed with an error, it releases the role instead:
 * the stream is not ended, and another thread may take the sender over.
 */
export function toWritable<T>(sender: Sender<T>, options?: SenderStreamOptions): Writable {
  const o = checkOptions(options, new Set(['highWaterMark']), 'toWritable');
  const opts: WritableOptions = { objectMode: true, highWaterMark: (o.highWaterMark as number | undefined) ?? 16 };
  let finished = false;
  let inflight: Promise<unknown> = Promise.resolve(); // a Writable has one write() at a time
  return new Writable({
    ...opts,
    write(chunk: T, _encoding, cb) {
      inflight = sender.send(chunk).then(() => cb(), cb);
    },
    final(cb) {
      finished = true;
      sender.close().then(() => cb(), cb);
    },
    destroy(err, cb) {
      // Let go of the role once the write in flight (if any) settled.
      if (!finished) void inflight.finally(() => sender.closed || sender.release());
      cb(err);
    },
  });
}
