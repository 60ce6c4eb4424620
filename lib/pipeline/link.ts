// One hop of a pipeline: the two ends of a ringwire channel created with the 'bytes' codec, carrying
// envelope records (envelope.ts). The writing end is a plain Sender (zero-copy reserve/commit, and
// send() when it must wait). The reading end reads the ring directly so that it can *acknowledge*
// late: the consumer position (head) is published only by ack(), after the messages' outputs are
// committed downstream. A worker that dies before ack() leaves those records in the ring, and the
// next reader to claim the role reads them again (at-least-once).
import { Buffer } from 'node:buffer';
import { Channel, type ChannelHandle } from '../channel/channel.js';
import { closedError, corruptError, RingwireRangeError } from '../errors.js';
import * as L from '../core/layout.js';
import { FULL, RingReader, RingWriter, WORD } from '../core/ring.js';
import { claimRole, isClosed, markClosed, releaseRole, type Claim } from '../core/roles.js';
import { writeStats } from '../core/stats.js';
import { Liveness, parkAny, parkAsync, Patience, type ParkSite, type WaitSpec, type WakeWord } from '../core/park.js';
import { FLAGS, HEADER_BYTES, IDS_BYTES, IDS_WORDS, KEY_INT, KEY_NUMBER, KEY_STRING, keyBytesOf, keyFieldBytes, keyOffset, TRACE_BYTES, TRACED, type Meta } from './envelope.js';
import { clock } from './trace.js';

const STATS_EVERY = 1024;
/** Records an OutputLink appends before it publishes them (unless flushed earlier). */
const PUBLISH_EVERY = 32;

export class InputLink {
  readonly channel: Channel<Uint8Array>;
  readonly i32: Int32Array;
  readonly buf: Buffer;
  /** The same memory as buf, as a plain Uint8Array (WireCodec.decode's `view`). */
  readonly u8: Uint8Array;
  readonly #f64: Float64Array;
  readonly #r: RingReader;
  readonly #claim: Claim;
  /** The payload of the record next() returned: buf[payloadStart, payloadEnd). */
  payloadStart = 0;
  payloadEnd = 0;
  /** Set once the sender closed and every record was read. */
  ended = false;
  #released = false;
  #messages = 0;
  #bytes = 0;
  #parks = 0;
  #flushedAt = 0;
  #ackedBytes = 0;
  /** A quarter of the ring: acknowledge at least this often, so a small ring never stalls its producer. */
  readonly ackBytes: number;

  constructor(handle: ChannelHandle, wait: WaitSpec) {
    this.channel = Channel.attach<Uint8Array>(handle, wait);
    const mem = this.channel.mem;
    this.#claim = claimRole(mem.i32, 'receiver');
    this.#r = new RingReader(mem);
    this.ackBytes = mem.capacity >>> 2;
    this.i32 = mem.i32;
    this.buf = mem.buf;
    this.u8 = mem.u8;
    this.#f64 = new Float64Array(mem.i32.buffer, mem.i32.byteOffset, mem.i32.length >> 1);
  }

  /** Reads the next record's metadata into `meta`; false if none is published now. */
  next(meta: Meta): boolean {
    const r = this.#r;
    const type = r.next();
    if (type === 0) return false;
    const s = r.start;
    const len = r.length;
    if (type !== L.TYPE_MESSAGE || len < HEADER_BYTES) {
      throw corruptError(`pipeline hop: record of type ${type} and ${len} bytes is not an envelope`);
    }
    const f = s >> 3;
    const w = L.wordAt(s);
    meta.seq = this.#f64[f]!;
    meta.t0 = this.#f64[f + 1]!;
    meta.hash = this.i32[w + 4]!;
    const word = this.i32[w + 5]!;
    const klen = word & 0xffff;
    meta.kind = (word >>> 16) & 0xff;
    const flags = (meta.flags = word >>> 24);
    const k = s + keyOffset(flags);
    if (flags !== 0) {
      // A traced message: its trace block, read here and not in a method of its own. A call on a
      // path only traced messages take is too rare for V8 to inline, yet stays a call in this hot
      // function's optimized code: with one here and in tryWrite, a pipeline ran ~2 points slower
      // for good once it had traced anything (README, Benchmarks, tracing).
      if ((flags & TRACED) === 0 || (flags & ~FLAGS) !== 0) throw corruptError(`pipeline hop: unknown envelope flags ${flags}`);
      if (HEADER_BYTES + TRACE_BYTES > len) throw corruptError(`pipeline hop: a trace block overruns a ${len}-byte record`);
      const ids = meta.idWords;
      for (let i = 0, from = (s + HEADER_BYTES) >> 2; i < IDS_WORDS; i++) ids[i] = this.i32[from + i]!;
      meta.sent = this.#f64[(s + HEADER_BYTES + IDS_BYTES) >> 3]!;
    }
    if (k - s + klen > len) throw corruptError(`pipeline hop: key of ${klen} bytes overruns a ${len}-byte record`);
    if (keyFieldBytes(meta.kind, klen) !== klen) throw corruptError(`pipeline hop: a key of kind ${meta.kind} cannot be ${klen} bytes`);
    if (meta.kind === KEY_INT) {
      meta.keyNum = this.i32[k >> 2]!;
      meta.keyBytes = undefined;
    } else if (meta.kind === KEY_NUMBER) {
      meta.keyNum = this.#f64[k >> 3]!;
      meta.keyBytes = undefined;
    } else if (meta.kind === KEY_STRING) {
      meta.keyBytes = this.buf.subarray(k, k + klen).slice();
    } else {
      meta.keyBytes = undefined;
    }
    this.payloadStart = k + klen;
    this.payloadEnd = s + len;
    this.#messages++;
    this.#bytes += len;
    return true;
  }

  /** Something to read, or the end to notice. */
  ready(): boolean {
    return this.#r.available() || isClosed(this.i32, 'sender');
  }

  /** Whether the stream is over (sets `ended`). Checks closed before emptiness: close follows the last publish. */
  checkEnded(): boolean {
    if (!this.ended && isClosed(this.i32, 'sender') && !this.#r.available()) this.ended = true;
    return this.ended;
  }

  /** Hands the space of every record read so far back to the sender: they are done. */
  ack(): void {
    this.#ackedBytes = this.#bytes;
    this.#r.release();
    if (this.#messages - this.#flushedAt >= STATS_EVERY) this.flushStats();
  }

  /** Bytes read and not yet acknowledged; acknowledge by ackBytes (a quarter of the ring) at the latest. */
  unackedBytes(): number {
    return this.#bytes - this.#ackedBytes;
  }

  /** Bytes published and not yet acknowledged (queue depth). */
  static queuedBytes(i32: Int32Array): number {
    return (Atomics.load(i32, WORD.TAIL) - Atomics.load(i32, WORD.HEAD)) >>> 0;
  }

  flushStats(): void {
    this.#flushedAt = this.#messages;
    writeStats(this.i32, L.RX_STATS_OFFSET, { messages: this.#messages, bytes: this.#bytes, full: 0, parks: this.#parks });
  }

  onPark(): void {
    this.#parks++;
  }

  get tailWord(): number {
    return this.#r.tailWord();
  }

  /** Gives the role up without closing, after acknowledging what was read (hand-over). */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#r.release();
    this.flushStats();
    releaseRole(this.i32, 'receiver', this.#claim.token);
  }

  /** Stops reading: the sender's next send fails (abort). */
  close(): void {
    if (this.#released) return;
    this.#released = true;
    this.flushStats();
    markClosed(this.i32, 'receiver', this.#claim.open);
    this.channel.mem.waiter.notify(this.i32, WORD.HEAD);
    releaseRole(this.i32, 'receiver', this.#claim.token);
  }
}

/**
 * The writing end of a hop. It runs the ring's writer itself (like InputLink its reader) so that it
 * can *batch publishes*: records are appended unpublished and made visible by flush(), at most
 * PUBLISH_EVERY records later. One publish per batch means one store of tail and, when the consumer
 * sleeps, one wake-up per batch rather than one per message. The owner flushes before it
 * acknowledges its inputs and before it waits for anything.
 */
export class OutputLink {
  readonly i32: Int32Array;
  readonly maxPayload: number;
  readonly #w: RingWriter;
  readonly #claim: Claim;
  readonly #site: ParkSite;
  readonly #f64: Float64Array;
  readonly #u8: Uint8Array;
  readonly #buf: Buffer;
  readonly #patience: Patience;
  #unpublished = 0;
  #done = false;
  #messages = 0;
  #bytes = 0;
  #full = 0;
  #parks = 0;

  constructor(handle: ChannelHandle, wait: WaitSpec) {
    const channel = Channel.attach<Uint8Array>(handle, wait);
    const mem = channel.mem;
    this.#claim = claimRole(mem.i32, 'sender');
    this.#w = new RingWriter(mem);
    this.i32 = mem.i32;
    this.#u8 = mem.u8;
    this.#buf = mem.buf;
    this.#f64 = new Float64Array(mem.i32.buffer, mem.i32.byteOffset, mem.i32.length >> 1);
    this.#site = { i32: mem.i32, waiter: mem.waiter, live: new Liveness(), parked: WORD.TX_PARKED, watch: WORD.HEAD };
    this.#patience = new Patience(wait);
    this.maxPayload = Math.min(this.#w.maxPayload, channel.maxMessageBytes);
  }

  /** Appends the envelope now (published by a later flush): false if the ring is full. */
  tryWrite(meta: Meta, wire: string | Uint8Array): boolean {
    const claim = this.#claimSize(meta, wire);
    const w = this.#w;
    const at = w.claim(claim);
    if (at === FULL) {
      this.flush(); // what we have must become visible, or the consumer could never make room
      this.#full++;
      if (isClosed(this.i32, 'receiver')) throw closedError('pipeline: the next stage');
      return false;
    }
    const flags = meta.flags;
    const k = at + keyOffset(flags);
    const klen = keyBytesOf(meta);
    const off = k - at + klen;
    const f = at >> 3;
    const x = L.wordAt(at);
    this.#f64[f] = meta.seq;
    this.#f64[f + 1] = meta.t0;
    this.i32[x + 4] = meta.hash;
    this.i32[x + 5] = klen | (meta.kind << 16) | (flags << 24);
    if (meta.kind === KEY_INT) this.i32[k >> 2] = meta.keyNum;
    else if (meta.kind === KEY_NUMBER) this.#f64[k >> 3] = meta.keyNum;
    else if (meta.kind === KEY_STRING) this.#u8.set(meta.keyBytes!, k);
    let len: number;
    if (typeof wire === 'string') len = off + this.#buf.write(wire, at + off, claim - off, 'utf8');
    else {
      this.#u8.set(wire, at + off);
      len = claim;
    }
    if (flags !== 0) {
      // The trace block (inline, for the reason next() reads it inline): the ids, and when it was
      // written, which the writer stamped in meta (a clock reading is a call).
      const ids = meta.idWords;
      for (let i = 0, to = (at + HEADER_BYTES) >> 2; i < IDS_WORDS; i++) this.i32[to + i] = ids[i]!;
      this.#f64[(at + HEADER_BYTES + IDS_BYTES) >> 3] = meta.stamp;
    }
    w.append(len, L.TYPE_MESSAGE);
    this.#messages++;
    this.#bytes += len;
    if (++this.#unpublished >= PUBLISH_EVERY) this.flush();
    return true;
  }

  /** Writes the envelope, waiting for room (without blocking the event loop) while the ring is full. */
  async write(meta: Meta, wire: string | Uint8Array, signal?: AbortSignal): Promise<void> {
    while (!this.tryWrite(meta, wire)) {
      const need = this.#claimSize(meta, wire);
      const room = () => this.#w.fits(need) || isClosed(this.i32, 'receiver');
      await parkAsync(this.#site, {
        ready: room, value: this.#headWord, patience: this.#patience, deadline: Infinity, what: 'pipeline send', timeoutMs: undefined, onPark: this.#onPark, signal,
      });
      if (meta.flags !== 0) meta.stamp = clock(); // written now, not when the wait began
    }
  }

  /** Publishes the records appended so far. */
  flush(): void {
    if (this.#unpublished === 0) return;
    this.#unpublished = 0;
    this.#w.publish();
  }

  /** Ends the stream: the consumer sees every record, then the end. */
  close(): void {
    if (this.#done) return;
    this.flush();
    this.#done = true;
    this.#flushStats();
    markClosed(this.i32, 'sender', this.#claim.open);
    this.#site.waiter.notify(this.i32, WORD.TAIL); // a parked consumer must see the end
    releaseRole(this.i32, 'sender', this.#claim.token);
  }

  /** Gives the role up without ending the stream (hand-over to a successor). */
  release(): void {
    if (this.#done) return;
    this.flush();
    this.#done = true;
    this.#flushStats();
    releaseRole(this.i32, 'sender', this.#claim.token);
  }

  #claimSize(meta: Meta, wire: string | Uint8Array): number {
    const off = keyOffset(meta.flags) + keyBytesOf(meta);
    let claim: number;
    if (typeof wire === 'string') {
      claim = off + wire.length * 3; // UTF-8 takes at most 3 bytes per UTF-16 unit
      if (claim > this.maxPayload) claim = off + Buffer.byteLength(wire, 'utf8');
    } else {
      claim = off + wire.byteLength;
    }
    if (claim > this.maxPayload) {
      throw new RingwireRangeError(
        'ERR_MESSAGE_TOO_LARGE',
        `pipeline: a ${claim}-byte message (envelope included) does not fit one ring record (at most ${this.maxPayload} bytes, half the ring); raise the pipeline's capacity`,
      );
    }
    return claim;
  }

  #flushStats(): void {
    writeStats(this.i32, L.TX_STATS_OFFSET, { messages: this.#messages, bytes: this.#bytes, full: this.#full, parks: this.#parks });
  }

  readonly #headWord = (): number => this.#w.headWord();
  readonly #onPark = (): void => {
    this.#parks++;
    this.#flushStats();
  };
}

/** Inputs sleep in slices this long (a stage also wakes on its control word). */
const PARK_MS = 1000;

/**
 * Waits (parkAny) until one of `links` is ready (a record, or the end), `word` changes, or `signal`
 * aborts; `patience` is the reading side's (one per stage worker or fan-in, kept across waits).
 */
export async function waitAny(links: InputLink[], word: WakeWord | undefined, patience: Patience, signal?: AbortSignal): Promise<void> {
  const ready = (): boolean => {
    if (signal?.aborted) return true;
    if (word !== undefined && Atomics.load(word.i32, word.index) !== word.value) return true;
    for (let i = 0; i < links.length; i++) if (!links[i]!.ended && links[i]!.ready()) return true;
    return false;
  };
  const sites = links
    .filter((l) => !l.ended)
    .map((l) => ({ i32: l.i32, parked: WORD.RX_PARKED, watch: WORD.TAIL, value: l.tailWord, onPark: () => (l.onPark(), l.flushStats()) }));
  await parkAny(sites, { ready, word, patience, sliceMs: PARK_MS, signal });
}
