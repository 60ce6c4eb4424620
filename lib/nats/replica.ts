// replicate: a durable JetStream pull consumer that appends a stream (or one subject of it) into a
// local ringwire log, each message's payload as one record, in stream order, exactly once.
//
// Where the local copy stands is kept by the log itself plus an intent file written *before* each
// batch is appended (`nats-replica.json` in the log directory: the stream sequences of the batch
// and the local sequence its first record gets). After a crash anywhere, the log's next sequence
// says how much of the last batch made it, hence the stream sequence to continue after; nothing
// is appended twice or skipped. Messages are acknowledged only after their append returned, i.e.
// as durable as the log's `durability` says ('sync': msync'd; the intent file is fsync'd too).
//
// Each run (re)creates the durable consumer to start right after the last appended message, and
// checks that deliveries come without gaps (consumer sequence + 1 each time); anything else ends
// the run and the next one starts from the log again.
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { checkInteger, checkOptions, describe, RingwireTypeError } from '../errors.js';
import { isLogDir } from '../log/verify.js';
import type { LogWriterOptions } from '../log/options.js';
import { LogWriter } from '../log/writer.js';
import { checkConnect, checkName, checkSubject, H_CODEC, natsError, keepRunning, openConnection, type ConnectOptions } from './common.js';

export interface ReplicaOptions extends ConnectOptions {
  stream: string;
  /** Only this subject of the stream (default: all of it). */
  subject?: string;
  /** The durable consumer's name (default: from this host and the log's path). */
  durable?: string;
  /** How the local log is opened (durability, segmentBytes, retention; its codec is the one the
   * first message names in its Ringwire-Codec header, else 'bytes', unless given here). */
  log?: LogWriterOptions;
  /** Messages per pull, and twice that the consumer's max_ack_pending (default 256). */
  batch?: number;
}

export interface ReplicaStats {
  /** Records appended by this replica since it started. */
  appended: number;
  /** The stream sequence of the last message in the local log (0: none). */
  streamSequence: number;
  /** Messages the stream holds beyond it (as of the last delivery). */
  pending: number;
  restarts: number;
  lastError: string | undefined;
}

interface Intent {
  /** Local sequence of the batch's first record. */
  next: number;
  /** Stream sequence of the message appended last before the batch (0: none). */
  after: number;
  /** Stream sequences of the batch, in order. */
  seqs: number[];
}

const KNOWN = new Set(['servers', 'connection', 'stream', 'subject', 'durable', 'log', 'batch']);
export const INTENT_FILE = 'nats-replica.json';

export class LogReplica {
  readonly dir: string;
  readonly stream: string;
  readonly durable: string;
  readonly done: Promise<void>;
  readonly #subject: string | undefined;
  readonly #logOptions: LogWriterOptions;
  readonly #batch: number;
  readonly #stop = new AbortController();
  #writer: LogWriter<unknown> | undefined;
  #last = 0;
  #appended = 0;
  #pending = 0;
  #restarts = 0;
  #lastError: string | undefined;

  /** @internal use replicate(). */
  constructor(dir: string, options: ReplicaOptions) {
    const what = 'replicate';
    if (typeof dir !== 'string' || dir === '') throw new RingwireTypeError(`${what}: dir must be a path, got ${describe(dir)}`);
    const o = checkOptions(options, KNOWN, what);
    checkConnect(o, what);
    this.dir = dir;
    this.stream = checkName(what, 'stream', o.stream);
    this.#subject = o.subject === undefined ? undefined : checkSubject(what, o.subject);
    this.durable =
      o.durable === undefined
        ? `ringwire-${createHash('sha256').update(`${hostname()}:${resolve(dir)}`).digest('hex').slice(0, 16)}`
        : checkName(what, 'durable', o.durable);
    if (o.log !== undefined && (typeof o.log !== 'object' || o.log === null)) throw new RingwireTypeError(`${what}: options.log must be LogWriter options, got ${describe(o.log)}`);
    this.#logOptions = (o.log ?? {}) as LogWriterOptions;
    this.#batch = o.batch === undefined ? 256 : checkInteger('batch', o.batch, 1, 10_000);
    this.done = this.#run(o as unknown as ConnectOptions);
    this.done.catch(() => {});
  }

  stats(): ReplicaStats {
    return { appended: this.#appended, streamSequence: this.#last, pending: this.#pending, restarts: this.#restarts, lastError: this.#lastError };
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await this.done;
  }

  async #run(co: ConnectOptions): Promise<void> {
    const stop = this.#stop.signal;
    const conn = await openConnection(co, `ringwire replica ${this.dir}`, stop);
    try {
      if (conn === undefined) return;
      if (isLogDir(this.dir)) this.#open(undefined);
      this.#last = this.#recover();
      await keepRunning(
        stop,
        async () => {
          await this.#session(conn.nc);
          return false;
        },
        ['ERR_NATS_ORDER', 'ERR_CORRUPT'],
        (err) => {
          this.#lastError = String((err as Error)?.message ?? err);
          this.#restarts++;
        },
      );
    } finally {
      this.#writer?.close();
      if (conn?.owned) await conn.nc.close();
    }
  }

  #open(codec: string | undefined): LogWriter<unknown> {
    if (this.#writer === undefined) {
      mkdirSync(this.dir, { recursive: true });
      const fresh = !isLogDir(this.dir);
      const o = { ...this.#logOptions };
      if (fresh && o.codec === undefined) o.codec = (['json', 'string', 'bytes', 'v8'].includes(codec ?? '') ? codec : 'bytes') as LogWriterOptions['codec'];
      this.#writer = LogWriter.open(this.dir, o);
    }
    return this.#writer;
  }

  /** The stream sequence of the last message in the local log, from the intent file and the log. */
  #recover(): number {
    const path = join(this.dir, INTENT_FILE);
    const next = this.#writer?.nextSequence ?? 0;
    if (!existsSync(path)) {
      if (next !== 0) throw natsError('ERR_NATS_ORDER', `replicate: ${this.dir} holds ${next} records but no ${INTENT_FILE}: it is not a replica (use an empty directory)`);
      return 0;
    }
    let intent: Intent;
    try {
      intent = JSON.parse(readFileSync(path, 'utf8')) as Intent;
    } catch (err) {
      throw natsError('ERR_NATS_ORDER', `replicate: ${path} is unreadable`, err);
    }
    const done = next - intent.next;
    if (!Number.isSafeInteger(done) || done < 0 || done > intent.seqs.length) {
      throw natsError('ERR_NATS_ORDER', `replicate: the log in ${this.dir} has ${next} records, but ${INTENT_FILE} says its last batch started at record ${intent.next} with ${intent.seqs.length} records (a log that lost records, or a replica file from elsewhere)`);
    }
    return done === 0 ? intent.after : intent.seqs[done - 1]!;
  }

  #writeIntent(intent: Intent): void {
    const path = join(this.dir, INTENT_FILE);
    const tmp = `${path}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(intent));
      if (this.#writer!.durability !== 'process') fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path); // atomic: a crash leaves the old intent or the new one
  }

  async #session(nc: import('@nats-io/transport-node').NatsConnection): Promise<void> {
    const stop = this.#stop.signal;
    const jsm = await jetstreamManager(nc, { timeout: 5000 });
    // A consumer of a previous run may have delivered beyond what we appended: start it afresh.
    await jsm.consumers.delete(this.stream, this.durable).catch(() => {});
    await jsm.consumers.add(this.stream, {
      durable_name: this.durable,
      ack_policy: AckPolicy.Explicit,
      max_ack_pending: 2 * this.#batch,
      ...(this.#last === 0 ? { deliver_policy: DeliverPolicy.All } : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.#last + 1 }),
      ...(this.#subject === undefined ? {} : { filter_subject: this.#subject }),
    });
    const consumer = await jetstream(nc).consumers.get(this.stream, this.durable);
    let delivered = 0;
    // Bounded by stop() or the first failure.
    while (!stop.aborted) {
      const batch: JsMsg[] = [];
      const msgs = await consumer.fetch({ max_messages: this.#batch, expires: 1000 });
      for await (const m of msgs) batch.push(m);
      const fresh: JsMsg[] = [];
      for (const m of batch) {
        if (m.info.deliverySequence !== delivered + 1) throw new Error(`consumer delivery ${m.info.deliverySequence} after ${delivered}: a delivery was lost`);
        delivered++;
        if (m.seq <= this.#last) m.ack(); // appended in an earlier run
        else fresh.push(m);
      }
      if (fresh.length === 0) continue;
      const w = this.#open(fresh[0]!.headers?.get(H_CODEC));
      this.#writeIntent({ next: w.nextSequence, after: this.#last, seqs: fresh.map((m) => m.seq) });
      for (const m of fresh) w.appendEncoded(m.data);
      this.#last = fresh[fresh.length - 1]!.seq;
      this.#appended += fresh.length;
      this.#pending = fresh[fresh.length - 1]!.info.pending;
      for (const m of fresh) m.ack(); // after the append: as durable as the log says
    }
  }
}

/** Starts appending `options.stream` into the log in `dir` (created if needed); returns at once. */
export function replicate(dir: string, options: ReplicaOptions): LogReplica {
  return new LogReplica(dir, options);
}
