// The receiving end of a channel: decodes messages straight from ring memory, reassembles
// fragmented ones, and hands space back to the sender in batches.
import { Buffer } from 'node:buffer';
import type { Endpoint } from './endpoint.js';
import type { WireCodec } from './codecs.js';
import { closedError, corruptError, RingwireError, RingwireTypeError } from '../errors.js';
import * as L from '../core/layout.js';
import { Reassembly } from '../core/fragments.js';
import { RingReader, WORD } from '../core/ring.js';
import { claimRole, epochOf, livenessSupported, markClosed, markStream, releaseRole, roleHolderDead } from '../core/roles.js';
import { writeStats } from '../core/stats.js';
import { deadlineOf, enqueue, Liveness, parkAsync, parkSync, Patience, type ParkSite, type WaitOptions } from '../core/park.js';

const EMPTY = Symbol('empty');
const END = Symbol('end');
const STATS_EVERY = 1023;
const CLOSED = L.W.CLOSED;

/**
 * Receives one message's bytes: view[offset, offset + length). The view is ring memory (or the
 * reassembly buffer of a fragmented message): valid only during the call, never kept.
 */
export type DrainCallback = (view: Buffer, offset: number, length: number) => void;

export class Receiver<T = unknown> implements AsyncIterable<T> {
  readonly #channel: Endpoint;
  readonly #r: RingReader;
  readonly #codec: WireCodec;
  readonly #i32: Int32Array;
  readonly #buf: Buffer;
  /** The same memory as #buf, as a plain Uint8Array (WireCodec.decode's `view`). */
  readonly #u8: Uint8Array;
  readonly #site: ParkSite;
  readonly #patience: Patience;
  readonly #token: number;
  /** The stream word we claimed under. */
  readonly #open: number;
  #closed = false;
  /** The end was returned: the role is given back and nothing more is read. */
  #ended = false;
  #pending = 0;
  #queue: Promise<unknown> = Promise.resolve();
  /** Fragmented messages (its `dropped` counts the ones given up). */
  readonly #frag: Reassembly;
  #messages = 0;
  #bytes = 0;
  #parks = 0;

  /** @internal use channel.receiver(). */
  constructor(channel: Endpoint) {
    this.#channel = channel;
    const mem = channel.mem;
    const claim = claimRole(mem.i32, 'receiver');
    this.#token = claim.token;
    this.#open = claim.open;
    // The claim may have moved head (a new stream skips what the ended one left): a sender
    // parked for room must see it.
    if (Atomics.load(mem.i32, WORD.TX_PARKED) !== 0) mem.waiter.notify(mem.i32, WORD.HEAD);
    this.#r = new RingReader(mem);
    this.#codec = channel.codecImpl;
    this.#i32 = mem.i32;
    this.#buf = mem.buf;
    this.#u8 = mem.u8;
    this.#frag = new Reassembly(this.#r, channel.maxMessageBytes);
    this.#site = { i32: mem.i32, waiter: mem.waiter, live: new Liveness(), parked: WORD.RX_PARKED, watch: WORD.TAIL };
    this.#patience = new Patience(channel.wait);
    if (livenessSupported()) {
      // ERR_PEER_DEAD once the ring is empty and the sender's thread is gone; a new sender may
      // take over, after which receiving goes on.
      this.#site.peer = { role: 'sender', dead: () => roleHolderDead(mem.i32, 'sender') };
    }
    channel.localReceiver = this;
  }

  /**
   * The next message, or undefined if none is complete now (a message that is itself `undefined`
   * looks the same: use recv() for such channels).
   */
  tryRecv(): T | undefined {
    this.#checkOpen('tryRecv');
    if (this.#pending !== 0 || this.#ended) return undefined; // earlier recv() calls go first
    const v = this.#poll();
    return v === EMPTY ? undefined : (v as T);
  }

  /** The next message, blocking the thread until one arrives; ERR_CHANNEL_CLOSED after the end. */
  recvSync(options?: { timeout?: number }): T {
    this.#checkOpen('recvSync');
    if (this.#pending !== 0) {
      throw new RingwireError('ERR_SEND_PENDING', 'recvSync: async recv() calls are still pending on this receiver');
    }
    let deadline: number | undefined;
    for (;;) {
      const v = this.#pollOrEnd();
      if (v === END) throw closedError('recvSync: the sender closed and every message was received; the channel');
      if (v !== EMPTY) return v as T;
      deadline ??= deadlineOf('recvSync', options?.timeout);
      parkSync(this.#site, {
        ready: this.#ready, value: this.#tailWord, patience: this.#patience, deadline, what: 'recvSync', timeoutMs: options?.timeout, onPark: this.#onPark,
      });
    }
  }

  /** The next message; rejects with ERR_CHANNEL_CLOSED once the sender closed and all was read. */
  recv(options?: WaitOptions): Promise<T> {
    return this.#recv(options, 'recv').then((v) => {
      if (v === END) throw closedError('recv: the sender closed and every message was received; the channel');
      return v as T;
    });
  }

  /** Iterates until the sender closes and everything is received. */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const v = await this.#recv(undefined, 'iteration');
      if (v === END) return;
      yield v as T;
    }
  }

  /**
   * Calls fn(view, offset, length) for each message available now (at most `max`), with no
   * decoding and no allocation, then hands their space back at once. Returns how many.
   */
  drain(fn: DrainCallback, max = Infinity): number {
    this.#checkOpen('drain');
    if (typeof fn !== 'function') throw new RingwireTypeError(`drain: fn must be a function, got ${typeof fn}`);
    if (this.#pending !== 0 || this.#ended) return 0; // earlier recv() calls go first
    const r = this.#r;
    let n = 0;
    try {
      while (n < max) {
        // Runs of whole messages in drainMessages' loop; fragments (and errors) through next().
        let k: number;
        try {
          k = r.drainMessages(fn, max - n);
        } finally {
          // Also when fn threw: the messages passed to it, that one included, were received.
          if (r.drained !== 0) {
            this.#frag.onMessage();
            this.#countMany(r.drained, r.drainedBytes);
          }
        }
        n += k;
        if (n >= max || this.#closed || this.#ended) break;
        const type = r.next();
        if (type === 0) break;
        if (type === L.TYPE_MESSAGE) {
          this.#frag.onMessage();
          this.#count(r.length);
          n++;
          fn(this.#buf, r.start, r.length);
        } else if (this.#frag.add(type)) {
          const whole = this.#takeWhole();
          n++;
          fn(whole, 0, whole.length);
        }
        if (this.#closed || this.#ended) break; // fn closed or released this receiver (or received the end)
      }
    } finally {
      // After a close() or release() in fn the role is given back: head is no longer ours to move.
      if (!this.#closed && !this.#ended) r.release();
    }
    return n;
  }

  /** Stops receiving: unread messages are discarded and the sender's next send fails. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#r.halted = true;
    if (this.#ended) return; // the role is given back already
    this.#r.release();
    this.flushStats();
    markClosed(this.#i32, 'receiver', this.#open);
    this.#site.waiter.notify(this.#i32, WORD.HEAD); // a sender parked for room must see it
    this.#site.waiter.notify(this.#i32, WORD.TAIL); // and our own pending recv() calls
    releaseRole(this.#i32, 'receiver', this.#token);
    if (this.#channel.localReceiver === this) this.#channel.localReceiver = undefined;
  }

  /**
   * Gives up the role without closing: another thread may take over where this one stopped. The
   * message in hand goes back (it was received); a fragmented message partly received stays in the
   * ring for the next receiver if it fits the ring whole.
   */
  release(): void {
    if (this.#closed) return;
    if (this.#pending !== 0) throw new RingwireError('ERR_SEND_PENDING', 'release: async recv() calls are still pending');
    this.#closed = true;
    this.#r.halted = true;
    if (this.#ended) return;
    this.#r.release();
    this.flushStats();
    releaseRole(this.#i32, 'receiver', this.#token);
    if (this.#channel.localReceiver === this) this.#channel.localReceiver = undefined;
  }

  /**
   * Pending recv()/send() calls and iterations no longer keep the process alive (like a
   * MessagePort's unref()): Node may exit while they wait. Returns this.
   */
  unref(): this {
    this.#site.live.set(false);
    return this;
  }

  /** Undoes unref(): pending waits keep the process alive again (the default). Returns this. */
  ref(): this {
    this.#site.live.set(true);
    return this;
  }

  /** `using rx = channel.receiver()`: close() at the end of the scope. */
  [Symbol.dispose](): void {
    this.close();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * @internal Channel.close(): hands back the space of what was read, gives the role back (like
   * release(), even with calls pending) and makes pending calls reject with ERR_CHANNEL_CLOSED;
   * resolves once they have.
   */
  abandon(): Promise<unknown> | undefined {
    if (!this.#closed && this.#ended) this.#closed = true;
    if (!this.#closed) {
      this.#closed = true;
      this.#r.halted = true;
      this.#r.release();
      this.flushStats();
      if (this.#channel.localReceiver === this) this.#channel.localReceiver = undefined;
      const giveBack = () => releaseRole(this.#i32, 'receiver', this.#token);
      if (this.#pending === 0) giveBack();
      else {
        this.#site.waiter.notify(this.#i32, WORD.TAIL); // our own parked recv
        // The role goes back once our parked calls are gone: one still asleep would clear the next
        // holder's park word when it wakes (a lost wake for that holder).
        void this.#queue.then(giveBack);
      }
    }
    return this.#pending === 0 ? undefined : this.#queue;
  }

  /** @internal */
  flushStats(): void {
    writeStats(this.#i32, L.RX_STATS_OFFSET, { messages: this.#messages, bytes: this.#bytes, full: this.#frag.dropped, parks: this.#parks });
  }

  #checkOpen(what: string): void {
    if (this.#closed) throw closedError(`${what}: this receiver`);
  }

  #countMany(messages: number, bytes: number): void {
    const before = this.#messages;
    this.#messages += messages;
    this.#bytes += bytes;
    // Not once the role is given back (a close() in a drain callback): the stats are the next holder's.
    if ((before & ~STATS_EVERY) !== (this.#messages & ~STATS_EVERY) && !this.#closed && !this.#ended) this.flushStats();
  }

  #count(n: number): void {
    this.#bytes += n;
    if ((++this.#messages & STATS_EVERY) === 0) this.flushStats();
  }

  /**
   * The next decoded message, or EMPTY. At-least-once: the space of what earlier calls returned is
   * handed back here, at the start of the next call, never that of the message this call returns,
   * so a receiver that dies while handling a message leaves it in the ring for its successor.
   */
  #poll(): unknown {
    const r = this.#r;
    r.releaseLazily();
    for (;;) {
      const type = r.next();
      if (type === 0) {
        r.releaseLazily();
        return EMPTY;
      }
      if (type === L.TYPE_MESSAGE) {
        this.#frag.onMessage();
        this.#count(r.length);
        try {
          return this.#codec.decode(this.#buf, r.start, r.start + r.length, false, this.#u8);
        } catch (err) {
          throw new RingwireError('ERR_CODEC', `the '${this.#codec.name}' codec could not decode a ${r.length}-byte message`, { cause: err });
        }
      }
      if (this.#frag.add(type)) {
        const whole = this.#takeWhole();
        try {
          return this.#codec.decode(whole, 0, whole.length, true);
        } catch (err) {
          throw new RingwireError('ERR_CODEC', `the '${this.#codec.name}' codec could not decode a ${whole.length}-byte message`, { cause: err });
        }
      }
    }
  }

  /** Like #poll, but END once the sender closed and nothing is left. */
  #pollOrEnd(): unknown {
    if (this.#ended) return END;
    const v = this.#poll();
    if (v !== EMPTY) return v;
    const word = Atomics.load(this.#i32, CLOSED);
    // Another stream while we hold the role (only if we were found dead): ours is over.
    if (epochOf(word) !== epochOf(this.#open)) return this.#end();
    if ((word & L.SENDER_CLOSED) === 0) return EMPTY;
    // The close was stored after the last publish: a poll after seeing it sees every message.
    const last = this.#poll();
    if (last !== EMPTY) return last;
    this.#frag.onEnd();
    return this.#end();
  }

  /**
   * The end of the stream, returned to the user: hands back all ring space, marks the end seen and
   * gives the role back, so that the next claim on this channel starts a new stream.
   */
  #end(): typeof END {
    this.#ended = true;
    this.#r.halted = true;
    this.#r.release();
    this.flushStats();
    markStream(this.#i32, L.END_SEEN, this.#open);
    releaseRole(this.#i32, 'receiver', this.#token);
    if (this.#channel.localReceiver === this) this.#channel.localReceiver = undefined;
    return END;
  }

  #recv(options: WaitOptions | undefined, what: string): Promise<unknown> {
    try {
      this.#checkOpen(what);
      if (this.#pending === 0) {
        const v = this.#pollOrEnd();
        if (v !== EMPTY) return Promise.resolve(v);
      }
    } catch (err) {
      return Promise.reject(err);
    }
    let deadline: number;
    try {
      deadline = deadlineOf(what, options?.timeout);
    } catch (err) {
      return Promise.reject(err);
    }
    this.#pending++;
    const run = async () => {
      try {
        for (;;) {
          this.#checkOpen(what);
          const v = this.#pollOrEnd();
          if (v !== EMPTY) return v;
          await parkAsync(this.#site, {
            ready: this.#ready, value: this.#tailWord, patience: this.#patience, deadline, what,
            timeoutMs: options?.timeout, onPark: this.#onPark, signal: options?.signal,
          });
        }
      } finally {
        this.#pending--;
      }
    };
    const { result, chain } = enqueue(this.#queue, run, () => void this.#pending--, { deadline, what, timeoutMs: options?.timeout, signal: options?.signal, live: this.#site.live });
    this.#queue = chain.catch(() => undefined);
    return result;
  }

  #takeWhole(): Buffer {
    const whole = this.#frag.take();
    this.#count(whole.length);
    return whole;
  }

  readonly #ready = (): boolean => this.#closed || this.#r.available() || this.#r.heldAbandoned() || Atomics.load(this.#i32, CLOSED) !== this.#open;
  readonly #tailWord = (): number => this.#r.tailWord();
  readonly #onPark = (): void => {
    this.#parks++;
    this.flushStats();
  };
}
