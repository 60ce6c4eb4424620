// The channel bridge: a local Receiver forwarded to a JetStream subject, and a subject fed into a
// local Sender, so that one machine's pipeline sink is another machine's source.
//
// forward(receiver, …) publishes each received message as one NATS message (encoded with
// `codec`, named in its Ringwire-Codec header), in order, through the same ordered window as the
// log shipper (lib/nats/window.ts), keeping the unacknowledged ones to send again after a failure.
// When the receiver's stream ends (its sender closed), it publishes an end marker.
//
// feed(sender, …) pulls from a durable consumer in batches of at most `batch`, sends each message
// into the Sender (waiting for ring room: a slow local consumer stops the pulling) and acks it
// once it is in the ring. The consumer's max_ack_pending bounds what the server has handed out;
// the batch bounds what this process holds. The end marker closes the Sender. Delivery into the
// channel is at least once, like the channel's own guarantee: a message in the ring whose ack was
// lost is delivered again to a later feed().
import { Buffer } from 'node:buffer';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { randomUUID } from 'node:crypto';
import { resolveCodec, type CodecSpec, type WireCodec } from '../channel/codecs.js';
import { checkInteger, checkOptions, describe, RingwireTypeError } from '../errors.js';
import type { Receiver } from '../channel/receiver.js';
import type { Sender } from '../channel/sender.js';
import {
  checkConnect,
  checkName,
  checkSubject,
  ensureStream,
  H_CODEC,
  H_END,
  H_SEQ,
  H_SOURCE,
  lastOnSubject,
  keepRunning,
  openConnection,
  type ConnectOptions,
} from './common.js';
import { OrderedWindow, type Outgoing } from './window.js';

export interface ForwardOptions extends ConnectOptions {
  /** The stream (created with `replicas` if missing). Give each forwarded subject its own. */
  stream: string;
  subject: string;
  /** How values travel: 'v8' (default: anything a channel carries), 'json', 'string', 'bytes',
   * or a codec object (then the feeding side needs the same one). */
  codec?: CodecSpec;
  /** Publishes awaiting their ack at most (default 256): what this side keeps in memory. */
  maxInFlight?: number;
  ackTimeoutMs?: number;
  replicas?: number;
}

export interface FeedOptions extends ConnectOptions {
  stream: string;
  subject: string;
  /** The durable consumer (default `ringwire-feed-<stream>-<subject, '.' as '_'>`): a later feed() continues after
   * what an earlier one acknowledged. */
  durable?: string;
  /** Needed only when the forwarding side used a codec object. */
  codec?: CodecSpec;
  /** Messages per pull, at most (default 64); the consumer's max_ack_pending is twice that. */
  batch?: number;
}

export interface BridgeStats {
  messages: number;
  /** Messages this process holds (forward: unacknowledged publishes; feed: pulled, not yet in
   * the ring), now and at most so far. */
  held: number;
  maxHeld: number;
  restarts: number;
  lastError: string | undefined;
}

const FORWARD_KNOWN = new Set(['servers', 'connection', 'stream', 'subject', 'codec', 'maxInFlight', 'ackTimeoutMs', 'replicas']);
const FEED_KNOWN = new Set(['servers', 'connection', 'stream', 'subject', 'durable', 'codec', 'batch']);
/** While a message waits for ring room, the server is told every this many ms that it is in
 * progress (its ack_wait is 30 s), so it is not delivered again meanwhile. */
const WORKING_MS = 5000;

abstract class Bridge {
  /** Resolves when the stream has gone through (forward: end marker stored; feed: Sender closed),
   * or after stop(). */
  readonly done: Promise<void>;
  protected readonly stop$ = new AbortController();
  protected messages = 0;
  protected held = 0;
  protected maxHeld = 0;
  #restarts = 0;
  #lastError: string | undefined;

  constructor(co: ConnectOptions, name: string) {
    this.done = this.#run(co, name);
    this.done.catch(() => {});
  }

  stats(): BridgeStats {
    return { messages: this.messages, held: this.held, maxHeld: this.maxHeld, restarts: this.#restarts, lastError: this.#lastError };
  }

  async stop(): Promise<void> {
    this.stop$.abort();
    await this.done;
  }

  protected hold(n: number): void {
    this.held = n;
    if (n > this.maxHeld) this.maxHeld = n;
  }

  /** One run; returns true when the stream has gone through. */
  protected abstract session(nc: NatsConnection): Promise<boolean>;

  async #run(co: ConnectOptions, name: string): Promise<void> {
    await Promise.resolve(); // subclass fields are set
    const stop = this.stop$.signal;
    const conn = await openConnection(co, name, stop);
    if (conn === undefined) return;
    try {
      await keepRunning(
        stop,
        () => this.session(conn.nc),
        FATAL,
        (err) => {
          this.#lastError = String((err as Error)?.message ?? err);
          this.#restarts++;
        },
      );
    } finally {
      if (conn.owned) await conn.nc.close();
    }
  }
}

/** Failures another run would only repeat; ERR_CHANNEL_CLOSED: the local receiver of a fed
 * channel closed it. */
const FATAL = ['ERR_NATS_STREAM', 'ERR_CODEC', 'ERR_INVALID_ARG', 'ERR_CHANNEL_CLOSED'];

const isEnd = (item: Outgoing): boolean => item.headers.some(([k]) => k === H_END);

export class Forwarder extends Bridge {
  readonly stream: string;
  readonly subject: string;
  /** This forwarder's identity in message ids. */
  readonly source = `bridge-${randomUUID()}`;
  readonly #receiver: Receiver<unknown>;
  readonly #codec: WireCodec;
  readonly #o: { maxInFlight: number; ackTimeoutMs: number; replicas: number };
  /** Read from the receiver, not yet acknowledged by the stream (at most maxInFlight). */
  readonly #unacked: Outgoing[] = [];
  #seq = 0;
  #ended = false;
  #jsm: JetStreamManager | undefined;
  #window: OrderedWindow | undefined;

  /** @internal use forward(). */
  constructor(receiver: Receiver<unknown>, options: ForwardOptions) {
    const what = 'forward';
    const o = checkOptions(options, FORWARD_KNOWN, what);
    checkConnect(o, what);
    const stream = checkName(what, 'stream', o.stream);
    const subject = checkSubject(what, o.subject);
    const codec = resolveCodec(o.codec ?? 'v8');
    const rest = {
      maxInFlight: o.maxInFlight === undefined ? 256 : checkInteger('maxInFlight', o.maxInFlight, 1, 65536),
      ackTimeoutMs: o.ackTimeoutMs === undefined ? 5000 : checkInteger('ackTimeoutMs', o.ackTimeoutMs, 1, 3_600_000),
      replicas: o.replicas === undefined ? 1 : checkInteger('replicas', o.replicas, 1, 5),
    };
    super(o as unknown as ConnectOptions, `ringwire forward ${subject}`);
    this.stream = stream;
    this.subject = subject;
    this.#receiver = receiver;
    this.#codec = codec;
    this.#o = rest;
  }

  #message(value: unknown, end: boolean): Outgoing {
    const h: [string, string][] = [
      [H_SOURCE, this.source],
      [H_SEQ, String(this.#seq)],
      [H_CODEC, this.#codec.name],
    ];
    if (end) h.push([H_END, '1']);
    const wire = end ? new Uint8Array(0) : this.#codec.toWire(value);
    return { seq: this.#seq++, payload: typeof wire === 'string' ? Buffer.from(wire) : wire, headers: h };
  }

  protected async session(nc: NatsConnection): Promise<boolean> {
    if (this.#jsm === undefined) {
      const jsm = await jetstreamManager(nc, { timeout: this.#o.ackTimeoutMs });
      await ensureStream(jsm, this.stream, this.subject, this.#o.replicas);
      this.#jsm = jsm;
      this.#window = new OrderedWindow(jetstream(nc, { timeout: this.#o.ackTimeoutMs }), {
        subject: this.subject,
        source: this.source,
        window: this.#o.maxInFlight,
        timeout: this.#o.ackTimeoutMs,
        onAck: (item) => {
          if (this.#unacked[0] === item) this.#unacked.shift();
          this.hold(this.#unacked.length);
          if (!isEnd(item)) this.messages++;
        },
      });
    }
    const window = this.#window!;
    const last = await lastOnSubject(this.#jsm, this.stream, this.subject);
    // What the stream already has of ours is acknowledged; the rest goes again, in order.
    const stored = last !== null && last.header.get(H_SOURCE) === this.source ? Number(last.header.get(H_SEQ)) : -1;
    while (this.#unacked.length > 0 && this.#unacked[0]!.seq <= stored) {
      if (!isEnd(this.#unacked.shift()!)) this.messages++;
    }
    window.begin(last?.seq ?? 0);
    const stop = this.stop$.signal;
    try {
      for (const item of [...this.#unacked]) await window.send(item);
      // Bounded by the receiver's stream: it ends when its sender closes.
      while (!this.#ended && !stop.aborted) {
        let value: unknown;
        let end = false;
        await window.room(); // receive only what can be published at once: at most maxInFlight held
        try {
          value = await this.#receiver.recv({ signal: stop });
        } catch (err) {
          if ((err as { code?: string }).code !== 'ERR_CHANNEL_CLOSED') throw err;
          end = true;
        }
        const item = this.#message(value, end);
        this.#ended = end;
        this.#unacked.push(item);
        this.hold(this.#unacked.length);
        await window.send(item);
      }
    } catch (err) {
      if (window.broken === undefined && !stop.aborted) throw err;
    } finally {
      await window.settle();
    }
    if (window.broken !== undefined) throw window.broken;
    return this.#ended && this.#unacked.length === 0;
  }
}

export class Feeder extends Bridge {
  readonly stream: string;
  readonly subject: string;
  readonly durable: string;
  readonly #sender: Sender<unknown>;
  readonly #codec: WireCodec | undefined;
  readonly #batch: number;
  /** Stream sequence of the last message sent into the ring. */
  #last = 0;

  /** @internal use feed(). */
  constructor(sender: Sender<unknown>, options: FeedOptions) {
    const what = 'feed';
    const o = checkOptions(options, FEED_KNOWN, what);
    checkConnect(o, what);
    const stream = checkName(what, 'stream', o.stream);
    const subject = checkSubject(what, o.subject);
    const durable = o.durable === undefined ? `ringwire-feed-${stream}-${subject.replaceAll('.', '_')}` : checkName(what, 'durable', o.durable);
    const codec = o.codec === undefined ? undefined : resolveCodec(o.codec);
    const batch = o.batch === undefined ? 64 : checkInteger('batch', o.batch, 1, 10_000);
    super(o as unknown as ConnectOptions, `ringwire feed ${subject}`);
    this.stream = stream;
    this.subject = subject;
    this.durable = durable;
    this.#sender = sender;
    this.#codec = codec;
    this.#batch = batch;
  }

  #decode(m: JsMsg): unknown {
    const name = m.headers?.get(H_CODEC) || 'bytes';
    const codec = name === 'custom' ? this.#codec : resolveCodec(name);
    if (codec === undefined) throw new RingwireTypeError(`feed: ${this.subject} carries a custom codec: pass options.codec`);
    const buf = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.length);
    return codec.decode(buf, 0, buf.length); // a copy: the client's buffer is not ours to keep
  }

  protected async session(nc: NatsConnection): Promise<boolean> {
    const jsm = await jetstreamManager(nc, { timeout: 5000 });
    // Start right after what is in the ring (or, at first, what an earlier feed acknowledged),
    // with a consumer created afresh: one that handed out messages we never got would deliver
    // them again only after its ack_wait, out of order.
    if (this.#last === 0) {
      this.#last = await jsm.consumers.info(this.stream, this.durable).then(
        (info) => info.ack_floor.stream_seq,
        () => 0,
      );
    }
    await jsm.consumers.delete(this.stream, this.durable).catch(() => {});
    await jsm.consumers.add(this.stream, {
      durable_name: this.durable,
      ack_policy: AckPolicy.Explicit,
      filter_subject: this.subject,
      max_ack_pending: 2 * this.#batch,
      ...(this.#last === 0 ? { deliver_policy: DeliverPolicy.All } : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.#last + 1 }),
    });
    const consumer = await jetstream(nc).consumers.get(this.stream, this.durable);
    const stop = this.stop$.signal;
    let delivered = 0;
    // Bounded by stop() or the end marker.
    while (!stop.aborted) {
      const batch: JsMsg[] = [];
      for await (const m of await consumer.fetch({ max_messages: this.#batch, expires: 1000 })) {
        if (m.info.deliverySequence !== ++delivered) throw new Error(`consumer delivery ${m.info.deliverySequence}, expected ${delivered}: a delivery was lost`);
        batch.push(m);
      }
      this.hold(batch.length);
      const working = setInterval(() => batch.forEach((m) => m.working()), WORKING_MS);
      try {
        for (let k = 0; k < batch.length; k++) {
          const m = batch[k]!;
          if (m.seq <= this.#last) {
            m.ack(); // in the ring already
          } else if (m.headers?.get(H_END) === '1') {
            await this.#sender.close();
            this.#last = m.seq;
            await m.ackAck();
            this.hold(0);
            return true;
          } else {
            await this.#sender.send(this.#decode(m), { signal: stop });
            this.#last = m.seq;
            this.messages++;
            m.ack(); // in the ring now
          }
          this.hold(batch.length - k - 1);
        }
      } finally {
        clearInterval(working);
      }
    }
    return false;
  }
}

/** Forwards what `receiver` receives to `options.subject`, ending with its stream. */
export function forward(receiver: Receiver<any>, options: ForwardOptions): Forwarder {
  if (receiver === null || typeof receiver !== 'object' || typeof (receiver as Receiver).recv !== 'function') {
    throw new RingwireTypeError(`forward: receiver must be a Receiver, got ${describe(receiver)}`);
  }
  return new Forwarder(receiver, options);
}

/** Sends what `options.subject` carries into `sender`, closing it at the end marker. */
export function feed(sender: Sender<any>, options: FeedOptions): Feeder {
  if (sender === null || typeof sender !== 'object' || typeof (sender as Sender).send !== 'function') {
    throw new RingwireTypeError(`feed: sender must be a Sender, got ${describe(sender)}`);
  }
  return new Feeder(sender, options);
}
