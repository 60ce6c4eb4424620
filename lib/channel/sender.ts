// The sending end of a channel. Messages are encoded at call time (like postMessage), written
// straight into the ring, and published with one store each; a message over one record is
// fragmented. Async sends that must wait are queued, so messages keep their call order.
import { Buffer } from 'node:buffer';
import type { Endpoint } from './endpoint.js';
import type { WireCodec } from './codecs.js';
import {
  abortedError,
  closedError,
  RingwireError,
  RingwireRangeError,
} from '../errors.js';
import * as L from '../core/layout.js';
import { abandonFragments, DONE, type FragmentJob, noFragmentInProgress, writeFragments } from '../core/fragments.js';
import { FULL, RingWriter, WORD } from '../core/ring.js';
import { claimRole, epochOf, livenessSupported, markClosed, releaseRole, roleHolderDead } from '../core/roles.js';
import { writeStats } from '../core/stats.js';
import { deadlineOf, enqueue, Liveness, parkAsync, parkSync, Patience, type ParkSite, type WaitOptions } from '../core/park.js';

const STATS_EVERY = 1023;
/** A Uint8Array or Buffer itself, not a subclass (whose `length` may not be its size). */
const plainBytes = (ctor: unknown): boolean => ctor === Uint8Array || ctor === Buffer;
/** #advance: the message is completely written. */
const CLOSED = L.W.CLOSED;

export class Sender<T = unknown> {
  readonly #channel: Endpoint;
  readonly #w: RingWriter;
  readonly #codec: WireCodec;
  readonly #i32: Int32Array;
  readonly #buf: Buffer;
  readonly #u8: Uint8Array;
  readonly #capacity: number;
  readonly #maxMessage: number;
  /** The largest message written as one record: min(maxMessageBytes, one record's payload). */
  readonly #maxSimple: number;
  readonly #site: ParkSite;
  readonly #patience: Patience;
  readonly #token: number;
  /** The stream word we claimed under: any change means this stream is over for us. */
  readonly #open: number;
  #closed = false;
  #pending = 0;
  #queue: Promise<unknown> = Promise.resolve();
  #reserved = false;
  #reservedBytes = 0;
  #closeRequested = false;
  #messages = 0;
  #bytes = 0;
  #full = 0;
  #parks = 0;

  /** @internal use channel.sender(). */
  constructor(channel: Endpoint) {
    this.#channel = channel;
    const mem = channel.mem;
    const claim = claimRole(mem.i32, 'sender');
    this.#token = claim.token;
    this.#open = claim.open;
    this.#w = new RingWriter(mem);
    noFragmentInProgress(mem); // a fragmented message a previous sender left unfinished is not continued
    this.#codec = channel.codecImpl;
    this.#i32 = mem.i32;
    this.#buf = mem.buf;
    this.#u8 = mem.u8;
    this.#capacity = mem.capacity;
    this.#maxMessage = channel.maxMessageBytes;
    this.#maxSimple = Math.min(this.#maxMessage, this.#w.maxPayload);
    this.#site = { i32: mem.i32, waiter: mem.waiter, live: new Liveness(), parked: WORD.TX_PARKED, watch: WORD.HEAD };
    this.#patience = new Patience(channel.wait);
    if (livenessSupported()) this.#site.peer = { role: 'receiver', dead: () => roleHolderDead(mem.i32, 'receiver') };
    channel.localSender = this;
  }

  /** Sends now if there is room: true if sent, false if the ring is full. */
  trySend(message: T): boolean {
    // One guard for the rare cases (closed, queued async sends), then straight to the ring.
    if (this.#closed || this.#pending !== 0 || Atomics.load(this.#i32, CLOSED) !== this.#open) {
      this.#checkOpen('trySend');
      return false; // earlier async sends go first
    }
    return this.#write(this.#codec.toWire(message));
  }

  /** Sends, blocking the thread while the ring is full. */
  sendSync(message: T, options?: { timeout?: number }): void {
    this.#checkOpen('sendSync');
    if (this.#pending !== 0) {
      throw new RingwireError('ERR_SEND_PENDING', 'sendSync: async send() calls are still pending on this sender; await them first');
    }
    const wire = this.#codec.toWire(message);
    if (this.#write(wire, false)) return;
    const deadline = deadlineOf('sendSync', options?.timeout);
    const job = this.#job(wire);
    try {
      for (let need = this.#advance(job); need !== DONE; need = this.#advance(job)) {
        parkSync(this.#site, {
          ready: this.#room(need), value: this.#headWord, patience: this.#patience, deadline, what: 'sendSync', timeoutMs: options?.timeout, onPark: this.#onPark,
        });
      }
    } catch (err) {
      this.#dropJob(job);
      throw err;
    }
  }

  /** Sends, waiting (without blocking the event loop) while the ring is full. */
  send(message: T, options?: WaitOptions): Promise<void> {
    let wire: string | Uint8Array;
    let deadline: number;
    try {
      this.#checkOpen('send');
      wire = this.#codec.toWire(message);
      if (this.#pending === 0 && this.#write(wire, false)) return Promise.resolve();
      deadline = deadlineOf('send', options?.timeout);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#enqueue([this.#owned(wire)], 'send', deadline, options);
  }

  /**
   * Sends messages[start..end) now, in order, while they fit; returns how many were sent (it stops
   * at the first that does not fit). Each message is written whole or not at all, as by trySend,
   * and the batch is published with one store (unless corked: then at uncork()).
   */
  trySendMany(messages: ArrayLike<T>, start = 0, end = messages.length): number {
    if (this.#closed || this.#pending !== 0 || Atomics.load(this.#i32, CLOSED) !== this.#open) {
      this.#checkOpen('trySendMany');
      return 0; // earlier async sends go first
    }
    return this.#writeMany(messages, start, end, true) - start;
  }

  /**
   * Sends every message, in order, waiting (without blocking the event loop) while the ring is
   * full; keeps call order with send(). Each run of messages written without waiting is published
   * with one store. Encoded at call time, like send(): messages that must wait are copied.
   */
  sendMany(messages: ArrayLike<T>, options?: WaitOptions): Promise<void> {
    let wires: Array<string | Uint8Array>;
    let deadline: number;
    try {
      this.#checkOpen('sendMany');
      const from = this.#pending === 0 ? this.#writeMany(messages, 0, messages.length, false) : 0;
      if (from === messages.length) return Promise.resolve();
      deadline = deadlineOf('sendMany', options?.timeout);
      wires = new Array(messages.length - from);
      for (let i = from; i < messages.length; i++) wires[i - from] = this.#owned(this.#codec.toWire(messages[i]));
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#enqueue(wires, 'sendMany', deadline, options);
  }

  /** Queues encoded messages behind earlier async sends; each waits for room in turn. */
  #enqueue(wires: Array<string | Uint8Array>, what: string, deadline: number, options: WaitOptions | undefined): Promise<void> {
    this.#pending++;
    const run = async () => {
      try {
        for (let i = 0; i < wires.length; i++) {
          this.#checkOpen(what);
          if (options?.signal?.aborted) throw abortedError(what, options.signal.reason);
          // One publish for the run of messages that fit now; then the first that does not waits.
          i = this.#writeMany(wires, i, wires.length, false, false);
          if (i === wires.length) break;
          const job = this.#job(wires[i]!);
          try {
            for (let need = this.#advance(job); need !== DONE; need = this.#advance(job)) {
              await parkAsync(this.#site, {
                ready: this.#room(need), value: this.#headWord, patience: this.#patience, deadline, what,
                timeoutMs: options?.timeout, onPark: this.#onPark, signal: options?.signal,
              });
            }
          } catch (err) {
            this.#dropJob(job);
            throw err;
          }
        }
      } finally {
        this.#pending--;
      }
    };
    const { result, chain } = enqueue(this.#queue, run, () => void this.#pending--, { deadline, what, timeoutMs: options?.timeout, signal: options?.signal, live: this.#site.live });
    this.#queue = chain.catch(() => undefined);
    return result;
  }

  /**
   * Zero-copy write: a view of `n` bytes of ring memory to fill, then commit(len) or abort().
   * Returns undefined when the ring has no room now. n is at most one record (capacity / 2 - 8).
   */
  reserve(n: number): Uint8Array | undefined {
    const at = this.#claim('reserve', n);
    return at === FULL ? undefined : this.#u8.subarray(at, at + n);
  }

  /**
   * The expert form of reserve(): the offset in `sender.buffer` of `n` bytes to fill, or -1 when
   * the ring has no room now; then commit(len) or abort(). Nothing is allocated. Writes are not
   * bounds-checked: only [offset, offset + n) is the caller's (see the README's rules).
   */
  tryClaim(n: number): number {
    return this.#claim('tryClaim', n);
  }

  /**
   * The ring's memory (control words and data) as one Buffer, for tryClaim() offsets. Write only
   * inside an open claim.
   */
  get buffer(): Buffer {
    return this.#buf;
  }

  /** Publishes the first `len` bytes of the reservation as one message. */
  commit(len: number): void {
    if (!this.#reserved) throw new RingwireError('ERR_RESERVE', 'commit: nothing is reserved');
    if (!Number.isInteger(len) || len < 0 || len > this.#reservedBytes) {
      throw new RingwireRangeError('ERR_OUT_OF_RANGE', `commit: len must be an integer from 0 to the reserved size (${this.#reservedBytes}), got ${len}`);
    }
    this.#reserved = false;
    this.#w.commit(len, L.TYPE_MESSAGE);
    this.#count(len);
  }

  /** Drops the reservation; nothing is sent. */
  abort(): void {
    if (!this.#reserved) throw new RingwireError('ERR_RESERVE', 'abort: nothing is reserved');
    this.#reserved = false;
    this.#w.abort();
  }

  /**
   * Ends the stream: the receiver gets every message sent before this, then the end. Resolves once
   * pending async sends are written and the close is published. Releases the sender role.
   */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closeRequested = true;
    const finish = () => {
      if (this.#closed) return;
      this.#giveUp(this.#end);
    };
    if (this.#pending === 0) {
      finish();
      return Promise.resolve();
    }
    return this.#queue.then(finish);
  }

  /** Gives up the role without ending the stream (another thread may take it over). */
  release(): void {
    if (this.#closed) return;
    if (this.#pending !== 0) throw new RingwireError('ERR_SEND_PENDING', 'release: async sends are still pending');
    this.#giveUp();
  }

  /**
   * Batches publication: messages sent while corked are written to the ring but become visible
   * together at uncork() (one atomic store for the batch instead of one per message), or earlier
   * when the ring fills up, or at close(). Use it around bursts of small messages.
   */
  cork(): void {
    this.#checkOpen('cork');
    this.#w.corked = true;
  }

  /** Publishes everything sent since cork() and goes back to publishing every message. */
  uncork(): void {
    this.#w.corked = false;
    if (!this.#closed) this.#w.flush();
  }

  get corked(): boolean {
    return this.#w.corked;
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

  /** `await using tx = channel.sender()`: close() (the end of the stream) at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * @internal Channel.close(): gives the role back now (the stream is not ended) and makes pending
   * sends reject with ERR_CHANNEL_CLOSED; resolves once they have.
   */
  abandon(): Promise<unknown> | undefined {
    if (!this.#closed) {
      // A close() still waiting for pending sends ends the stream now (those sends reject).
      this.#giveUp(this.#closeRequested ? this.#end : undefined);
      if (this.#pending !== 0) this.#site.waiter.notify(this.#i32, WORD.HEAD); // our own parked send
    }
    return this.#pending === 0 ? undefined : this.#queue;
  }

  /** @internal */
  flushStats(): void {
    writeStats(this.#i32, L.TX_STATS_OFFSET, { messages: this.#messages, bytes: this.#bytes, full: this.#full, parks: this.#parks });
  }

  /** Ends this object's hold on the role: publishes what is corked, then `then()`, then releases. */
  #giveUp(then?: () => void): void {
    this.#closed = true;
    if (this.#reserved) this.abort();
    this.#w.corked = false;
    this.#w.flush();
    this.flushStats();
    then?.();
    if (this.#channel.localSender === this) this.#channel.localSender = undefined;
    const giveBack = () => releaseRole(this.#i32, 'sender', this.#token);
    // With sends still parked (Channel.close), the role goes back once they are gone: one still
    // asleep would clear the next holder's park word when it wakes (a lost wake for that holder).
    if (this.#pending === 0) giveBack();
    else void this.#queue.then(giveBack);
  }

  readonly #end = (): void => {
    markClosed(this.#i32, 'sender', this.#open);
    this.#site.waiter.notify(this.#i32, WORD.TAIL); // a parked receiver must see the end
  };

  #checkOpen(what: string): void {
    if (this.#closed) throw closedError(`${what}: this sender`);
    const word = Atomics.load(this.#i32, CLOSED);
    if (word === this.#open) return;
    // Only the receiver (closing) or a starter of a new stream (after ours ended) changes the word.
    throw closedError(epochOf(word) === epochOf(this.#open) ? `${what}: the receiver closed` : `${what}: a new stream started on this channel; this sender's stream`);
  }

  #count(n: number): void {
    this.#bytes += n;
    if ((++this.#messages & STATS_EVERY) === 0) this.flushStats();
  }

  #tooLarge(n: number): RingwireRangeError {
    return new RingwireRangeError('ERR_MESSAGE_TOO_LARGE', `message of ${n} bytes exceeds maxMessageBytes (${this.#maxMessage})`);
  }

  /**
   * Writes the whole message now or nothing; false when full. The common case, bytes that fit one
   * record, is kept small enough to inline (`.length`, not `.byteLength`: the same for a Uint8Array,
   * but byteLength is not inlined on Node 20); everything else goes to #tryWrite. Only a plain
   * Uint8Array or Buffer is sized by `.length`: a subclass may make it say anything, while set()
   * copies all its bytes (past the claim, over unread records).
   */
  #write(wire: string | Uint8Array, throwIfNeverFits = true): boolean {
    if (typeof wire === 'string' || !plainBytes(wire.constructor) || wire.length > this.#maxSimple || this.#reserved) {
      return this.#tryWrite(wire, throwIfNeverFits);
    }
    return this.#writeRecord(wire, wire.length);
  }

  /** Writes `wire`, n bytes, as one record now, or nothing (false) when full. */
  #writeRecord(wire: Uint8Array, n: number): boolean {
    const w = this.#w;
    const at = w.claim(n);
    if (at === FULL) return this.#onFull();
    this.#u8.set(wire, at);
    w.commit(n, L.TYPE_MESSAGE);
    this.#count(n);
    return true;
  }

  /** #write's general case: strings, subclasses of Uint8Array, fragmented messages, errors. */
  #tryWrite(wire: string | Uint8Array, throwIfNeverFits = true): boolean {
    if (this.#reserved) throw new RingwireError('ERR_RESERVE', 'send: a reservation is open; commit or abort it first');
    const w = this.#w;
    if (typeof wire === 'string') {
      // UTF-8 never takes more than 3 bytes per UTF-16 unit; when that bound does not fit, the
      // exact size (a scan of the string) may.
      let bound = wire.length * 3;
      if (bound <= w.maxPayload) {
        let at = w.claim(bound);
        if (at === FULL) {
          const exact = Buffer.byteLength(wire, 'utf8');
          if (exact === bound || (at = w.claim((bound = exact))) === FULL) return this.#onFull();
        }
        const n = this.#buf.write(wire, at, bound, 'utf8');
        if (n > this.#maxMessage) {
          w.abort();
          throw this.#tooLarge(n);
        }
        w.commit(n, L.TYPE_MESSAGE);
        this.#count(n);
        return true;
      }
      wire = Buffer.from(wire, 'utf8');
    }
    const n = wire.byteLength;
    if (n > this.#maxMessage) throw this.#tooLarge(n);
    if (n <= w.maxPayload) return this.#writeRecord(wire, n);
    if (!L.fitsAtOnce(this.#capacity, n)) {
      if (!throwIfNeverFits) return false; // the blocking paths stream it instead
      throw new RingwireError(
        'ERR_TOO_LARGE_FOR_TRY_SEND',
        `trySend: a message of ${n} bytes cannot be written at once into a ${this.#capacity}-byte ring; use send() or sendSync(), which stream it in fragments`,
      );
    }
    // All fragments now or nothing: with the bound free, every claim below succeeds.
    if (L.messageBytesBound(this.#capacity, n) > w.freeBytes()) {
      w.flush(); // as claim() does when full: corked records may be what fills the ring
      return this.#onFull();
    }
    const job = this.#job(wire);
    if (this.#advance(job) !== DONE) throw new Error('ringwire: internal error: fragments did not fit the free space');
    return true;
  }

  /** reserve()/tryClaim(): opens a claim of n bytes; its offset in the ring's Buffer, or FULL. */
  #claim(what: string, n: number): number {
    this.#checkOpen(what);
    if (!Number.isInteger(n) || n < 0 || n > this.#w.maxPayload || n > this.#maxMessage) {
      throw new RingwireRangeError(
        'ERR_OUT_OF_RANGE',
        `${what}: n must be an integer from 0 to ${Math.min(this.#w.maxPayload, this.#maxMessage)} (one record, within maxMessageBytes), got ${n}`,
      );
    }
    if (this.#reserved) throw new RingwireError('ERR_RESERVE', `${what}: the previous reservation is not committed or aborted`);
    if (this.#pending !== 0) return FULL;
    const at = this.#w.claim(n);
    if (at === FULL) return this.#full++, FULL;
    this.#reserved = true;
    this.#reservedBytes = n;
    return at;
  }

  /**
   * Writes messages[start..end) while each fits now, corked, then publishes them with one store
   * (unless the user corked). Returns the index of the first message not written. A message that
   * could never be written at once throws (throwIfNeverFits) or stops the batch. `encode` false:
   * the messages are wires already (a queued sendMany).
   */
  #writeMany(messages: ArrayLike<any>, start: number, end: number, throwIfNeverFits: boolean, encode = true): number {
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > messages.length || start > end) {
      throw new RingwireRangeError('ERR_OUT_OF_RANGE', `trySendMany: start and end must be integers with 0 <= start <= end <= ${messages.length}, got ${start} and ${end}`);
    }
    const w = this.#w;
    const corked = w.corked;
    w.corked = true;
    let i = start;
    try {
      if (encode) while (i < end && this.#write(this.#codec.toWire(messages[i]), throwIfNeverFits)) i++;
      else while (i < end && this.#write(messages[i], throwIfNeverFits)) i++;
    } finally {
      // The messages written before a throw (an encode error, a message too large) are sent too.
      w.corked = corked;
      if (!corked) w.flush();
    }
    return i;
  }

  /** An encoded message in memory the caller cannot change later (for a queued send). */
  #owned(wire: string | Uint8Array): string | Uint8Array {
    // The 'bytes' codec passes the message itself and a custom encode() may reuse a buffer.
    return typeof wire !== 'string' && this.#codec.name !== 'v8' ? new Uint8Array(wire) : wire;
  }

  #onFull(): boolean {
    this.#full++;
    return false;
  }

  #job(wire: string | Uint8Array): FragmentJob {
    const bytes = typeof wire === 'string' ? Buffer.from(wire, 'utf8') : wire;
    if (bytes.byteLength > this.#maxMessage) throw this.#tooLarge(bytes.byteLength);
    return { bytes, done: 0 };
  }

  /**
   * Writes as much of the job as fits without waiting. Returns DONE when the message is complete,
   * or the payload bytes (possibly 0) of the record it needs room for next. Fragments (FIRST, MIDDLE..., LAST) are
   * published one by one so the receiver can make room. A message abandoned after its first
   * fragment (timeout, abort) is dropped by the receiver when the next message or the end arrives.
   */
  #advance(job: FragmentJob): number {
    this.#checkOpen('send');
    const w = this.#w;
    const n = job.bytes.byteLength;
    // An empty message that finds the ring full returns 0 (room for an empty record), not DONE.
    if (n <= w.maxPayload) return this.#write(job.bytes) ? DONE : n;
    const need = writeFragments(w, job);
    if (need !== DONE) return this.#onFull(), need;
    this.#count(n);
    return DONE;
  }

  /** A fragmented message abandoned part-way (timeout, abort, close): the receiver need not keep it. */
  #dropJob(job: FragmentJob): void {
    abandonFragments(this.#w, job);
  }

  /** The wait condition for `need` payload bytes: room, or a receiver that will never make room. */
  #room(need: number): () => boolean {
    return () => this.#closed || this.#w.fits(need) || Atomics.load(this.#i32, CLOSED) !== this.#open;
  }

  readonly #headWord = (): number => this.#w.headWord();

  readonly #onPark = (): void => {
    this.#parks++;
    this.flushStats();
  };
}
