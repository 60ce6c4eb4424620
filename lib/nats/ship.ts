// shipLog: follows a local ringwire log and publishes every record to a JetStream stream, in
// order, exactly once within the stream's duplicate window (lib/nats/window.ts says how). Where to
// start is read back from the stream itself (the last message on the subject carries the record's
// sequence), never from a local file, so a shipper killed at any moment resumes where the stream
// really is.
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { checkInteger, checkOptions, describe, RingwireTypeError } from '../errors.js';
import * as F from '../log/format.js';
import { LogReader } from '../log/reader.js';
import { openControl } from '../log/segments.js';
import {
  checkConnect,
  checkName,
  checkSubject,
  ensureStream,
  H_CODEC,
  H_SEQ,
  H_SOURCE,
  H_TIME,
  lastOnSubject,
  keepRunning,
  openConnection,
  shippedSequence,
  type ConnectOptions,
} from './common.js';
import { OrderedWindow, type Outgoing } from './window.js';

export interface ShipOptions extends ConnectOptions {
  /** The JetStream stream (created with `replicas` if it does not exist). Give each log its own. */
  stream: string;
  /** Subject of the records (default `ringwire.log.<stream>`). */
  subject?: string;
  /** The log's identity in message ids (default: from the log's creation time, `log-<ms in hex>`).
   * A log deleted and created again is another log. */
  source?: string;
  /** Where to start when the stream holds nothing of this log: 'start' (default) or a sequence. */
  from?: 'start' | number;
  /** Publishes awaiting their ack at most (default 256). */
  maxInFlight?: number;
  /** Milliseconds to wait for one publish's ack before the run is restarted (default 5000). */
  ackTimeoutMs?: number;
  /** Replicas of a stream the shipper creates (default 1). */
  replicas?: number;
}

export interface ShipStats {
  /** Records acknowledged by the stream since this shipper started (duplicates included). */
  shipped: number;
  /** The next record's sequence: every record before it is in the stream. */
  nextSequence: number;
  inFlight: number;
  /** What the log holds beyond nextSequence: records, and their payload bytes. */
  lag: { records: number; bytes: number };
  /** Runs restarted after a failure (lost connection, timeout, refused expectation). */
  restarts: number;
  /** Records retention deleted from the log before they were shipped. */
  skipped: number;
  lastError: string | undefined;
}

const KNOWN = new Set(['servers', 'connection', 'stream', 'subject', 'source', 'from', 'maxInFlight', 'ackTimeoutMs', 'replicas']);

/** The log's identity: its creation time (ms) from the control file, in hex. */
function logSource(dir: string): string {
  const ctl = openControl(dir);
  try {
    return `log-${F.readU64(F.words(ctl.buffer), F.CTL_CREATED_OFFSET).toString(16)}`;
  } finally {
    ctl.close();
  }
}

export class LogShipper {
  readonly dir: string;
  readonly stream: string;
  readonly subject: string;
  readonly source: string;
  /** Resolves once stop() finished; rejects if shipping cannot go on (ERR_NATS_FOREIGN,
   * ERR_NATS_STREAM, a corrupt log). */
  readonly done: Promise<void>;
  readonly #o: { from: 'start' | number; maxInFlight: number; ackTimeoutMs: number; replicas: number };
  readonly #stop = new AbortController();
  #nc: NatsConnection | undefined;
  #owned = false;
  #reader: LogReader | undefined;
  #probe: LogReader | undefined;
  #window: OrderedWindow | undefined;
  #next = 0;
  #shipped = 0;
  #restarts = 0;
  #skipped = 0;
  /** Payload bytes acknowledged, and seen by the probe, since the run began. */
  #ackedBytes = 0;
  #probeBytes = 0;
  #lastError: string | undefined;

  /** @internal use shipLog(). */
  constructor(dir: string, options: ShipOptions) {
    const what = 'shipLog';
    if (typeof dir !== 'string' || dir === '') throw new RingwireTypeError(`${what}: dir must be a path, got ${describe(dir)}`);
    const o = checkOptions(options, KNOWN, what);
    checkConnect(o, what);
    this.dir = dir;
    this.stream = checkName(what, 'stream', o.stream);
    this.subject = o.subject === undefined ? `ringwire.log.${this.stream}` : checkSubject(what, o.subject);
    this.source = o.source === undefined ? logSource(dir) : checkName(what, 'source', o.source);
    const from = o.from ?? 'start';
    if (from !== 'start' && !(Number.isSafeInteger(from) && (from as number) >= 0)) {
      throw new RingwireTypeError(`${what}: options.from must be 'start' or a sequence number, got ${describe(from)}`);
    }
    this.#o = {
      from: from as 'start' | number,
      maxInFlight: o.maxInFlight === undefined ? 256 : checkInteger('maxInFlight', o.maxInFlight, 1, 65536),
      ackTimeoutMs: o.ackTimeoutMs === undefined ? 5000 : checkInteger('ackTimeoutMs', o.ackTimeoutMs, 1, 3_600_000),
      replicas: o.replicas === undefined ? 1 : checkInteger('replicas', o.replicas, 1, 5),
    };
    this.done = this.#run(o as unknown as ConnectOptions);
    this.done.catch(() => {}); // reported through `done` and stop()
  }

  stats(): ShipStats {
    let records = 0;
    let bytes = 0;
    const probe = this.#probe;
    if (probe !== undefined) {
      // Bounded by the records committed now.
      for (let e = probe.read(); e !== undefined; e = probe.read()) this.#probeBytes += (e.value as Uint8Array).length;
      records = Math.max(0, probe.nextSequence - this.#next);
      bytes = Math.max(0, this.#probeBytes - this.#ackedBytes);
    }
    return {
      shipped: this.#shipped,
      nextSequence: this.#next,
      inFlight: this.#window?.inFlight ?? 0,
      lag: { records, bytes },
      restarts: this.#restarts,
      skipped: this.#skipped,
      lastError: this.#lastError,
    };
  }

  /** Stops reading, waits for the publishes in flight (at most ackTimeoutMs) and disconnects. */
  async stop(): Promise<void> {
    this.#stop.abort();
    this.#reader?.close();
    await this.done;
  }

  async #run(co: ConnectOptions): Promise<void> {
    const stop = this.#stop.signal;
    try {
      const conn = await openConnection(co, `ringwire ship ${this.dir}`, stop);
      if (conn === undefined) return;
      const { nc } = conn;
      this.#nc = nc;
      this.#owned = conn.owned;
      const js = jetstream(nc, { timeout: this.#o.ackTimeoutMs });
      this.#window = new OrderedWindow(js, {
        subject: this.subject,
        source: this.source,
        window: this.#o.maxInFlight,
        timeout: this.#o.ackTimeoutMs,
        onAck: (item) => {
          this.#next = item.seq + 1;
          this.#shipped++;
          this.#ackedBytes += item.payload.length;
        },
      });
      let jsm: JetStreamManager | undefined;
      await keepRunning(
        stop,
        async () => {
          if (jsm === undefined) {
            // A cluster still electing its leaders answers nothing yet: this is retried too.
            const m = await jetstreamManager(nc, { timeout: this.#o.ackTimeoutMs });
            await ensureStream(m, this.stream, this.subject, this.#o.replicas);
            jsm = m;
          }
          await this.#ship(jsm);
          return false;
        },
        FATAL,
        (err) => {
          this.#lastError = String((err as Error)?.message ?? err);
          this.#restarts++;
        },
      );
    } finally {
      this.#probe?.close();
      this.#probe = undefined;
      if (this.#owned) await this.#nc?.close();
    }
  }

  /** One run: from the stream's last record of this log, follow the log until a failure or stop. */
  async #ship(jsm: JetStreamManager): Promise<void> {
    const window = this.#window!;
    const last = await lastOnSubject(jsm, this.stream, this.subject);
    const first = last === null ? (this.#o.from === 'start' ? 0 : this.#o.from) : shippedSequence(last, this.source, this.stream, this.subject) + 1;
    const reader = LogReader.open(this.dir, { from: first, raw: true });
    this.#reader = reader;
    this.#probe?.close();
    this.#probe = LogReader.open(this.dir, { from: first, raw: true, verify: false });
    this.#next = first;
    this.#ackedBytes = 0;
    this.#probeBytes = 0;
    window.begin(last?.seq ?? 0);
    const run = new AbortController();
    const stop = this.#stop.signal;
    const abort = () => run.abort();
    stop.addEventListener('abort', abort, { once: true });
    window.onBroken = abort;
    const codec = reader.codec;
    try {
      for await (const e of reader.follow({ signal: run.signal })) {
        const h: [string, string][] = [
          [H_SOURCE, this.source],
          [H_SEQ, String(e.sequence)],
          [H_TIME, String(e.timestamp)],
          [H_CODEC, codec],
        ];
        const item: Outgoing = { seq: e.sequence, payload: e.value as Uint8Array, headers: h };
        await window.send(item);
      }
    } catch (err) {
      if (window.broken === undefined && !((err as { code?: string }).code === 'ERR_ABORTED' && stop.aborted)) throw err;
    } finally {
      stop.removeEventListener('abort', abort);
      window.onBroken = undefined;
      this.#skipped += reader.skipped;
      await window.settle();
      reader.close();
      this.#reader = undefined;
    }
    if (window.broken !== undefined) throw window.broken;
  }
}

/** Failures that another run would only repeat. */
const FATAL = ['ERR_NATS_FOREIGN', 'ERR_NATS_STREAM', 'ERR_CORRUPT', 'ERR_NOT_A_LOG'];

/** Starts shipping the log in `dir` (see ShipOptions); returns at once. */
export function shipLog(dir: string, options: ShipOptions): LogShipper {
  return new LogShipper(dir, options);
}
