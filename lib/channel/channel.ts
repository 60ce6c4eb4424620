// Channel: one SPSC ring in shared memory, with one Sender and one Receiver across all threads
// (a SharedArrayBuffer) or all processes (a mapped channel file: Channel.open, lib/channel/shm.ts).
import { codecNameOf, resolveCodec, type Codec, type CodecSpec, type WireCodec } from './codecs.js';
import {
  checkCapacity,
  checkInteger,
  checkOptions,
  closedError,
  describe,
  RingwireError,
  RingwireRangeError,
  RingwireTypeError,
} from '../errors.js';
import * as L from '../core/layout.js';
import { RingMemory } from '../core/ring.js';
import { channelName, DEFAULT_MODE, locateChannel, mapChannel, unlinkChannel, type MappedChannel } from './shm.js';
import { depthBytes, readChannelStats, type ChannelStats } from '../core/stats.js';
import { channelSource, metricsOf, type MetricsOptions, type MetricsSource } from '../metrics.js';
import { checkWait, DEFAULT_SPIN_MICROS, type WaitSpec, type WaitStrategy } from '../core/park.js';

export type { ChannelStats } from '../core/stats.js';
import { Receiver } from './receiver.js';
import { Sender } from './sender.js';

export const DEFAULT_CAPACITY = 1 << 20;
export const DEFAULT_MAX_MESSAGE_BYTES = 256 << 20;
export const MAX_MESSAGE_BYTES = 1 << 30;
export { DEFAULT_SPIN_MICROS } from '../core/park.js';

export interface ChannelOptions {
  /** Bytes of ring data, a power of two from 1 KiB to 1 GiB (default 1 MiB). */
  capacity?: number;
  /** 'bytes' | 'string' | 'json' | 'v8' (default) | { encode, decode }. */
  codec?: CodecSpec;
  /** Largest message accepted, in encoded bytes (default 256 MiB, at most 1 GiB). */
  maxMessageBytes?: number;
  /** How a waiting call waits before it parks: 'adaptive' (default), 'spin', 'backoff' or 'park'. */
  wait?: WaitStrategy;
  /** Microseconds a waiting call spins at most (default 20; 0: no spinning); 'backoff' then polls and sleeps up to 1 ms before it parks. */
  spinMicros?: number;
}

export interface AttachOptions {
  /** Required when the channel was created with a custom codec object. */
  codec?: CodecSpec;
  wait?: WaitStrategy;
  spinMicros?: number;
}

/** Structured-clonable description of a channel: pass it in workerData or postMessage. */
export interface ChannelHandle {
  readonly kind: 'ringwire.channel';
  readonly buffer: SharedArrayBuffer;
  readonly byteOffset: number;
}

const KNOWN_OPTIONS = new Set(['capacity', 'codec', 'maxMessageBytes', 'wait', 'spinMicros']);
const OPEN_OPTIONS = new Set(['create', 'mode', 'capacity', 'codec', 'maxMessageBytes', 'wait', 'spinMicros']);

export interface OpenOptions extends ChannelOptions {
  /** Create the channel if it does not exist (default false). Race-free: concurrent creators share one. */
  create?: boolean;
  /** Permission bits of a created file (default 0o600), applied exactly (the umask does not apply). */
  mode?: number;
}

const waitOptions = (o: Record<string, unknown>): WaitSpec => ({
  wait: checkWait(o.wait),
  spinMicros: o.spinMicros === undefined ? DEFAULT_SPIN_MICROS : checkInteger('options.spinMicros', o.spinMicros, 0, 1e6),
});
const maxMessageOption = (v: unknown): number =>
  v === undefined ? DEFAULT_MAX_MESSAGE_BYTES : checkInteger('options.maxMessageBytes', v, 1, MAX_MESSAGE_BYTES);

export class Channel<T = unknown> {
  /**
   * @internal A Channel does not cross threads (its handle does). Structured clone (workerData,
   * postMessage) stops at the first value it cannot copy and names it: this one, first, says what to do.
   */
  readonly cloneHint = Symbol('ringwire: a Channel cannot be sent to another thread; pass channel.handle and Channel.attach() it there');
  /** @internal */ readonly mem: RingMemory;
  /** @internal */ readonly codecImpl: WireCodec;
  /** @internal How its senders and receivers wait before they park. */ readonly wait: WaitSpec;
  /** @internal */ readonly maxMessageBytes: number;
  readonly #handle: ChannelHandle | undefined;
  readonly #mapped: MappedChannel | undefined;
  #closing: Promise<void> | undefined;
  /** @internal */ localSender: Sender<T> | undefined;
  /** @internal */ localReceiver: Receiver<T> | undefined;

  /** @internal use Channel.create / Channel.attach. */
  constructor(
    handle: ChannelHandle | undefined,
    mem: RingMemory,
    codec: WireCodec,
    maxMessageBytes: number,
    wait: WaitSpec,
    mapped?: MappedChannel,
  ) {
    this.#handle = handle;
    this.#mapped = mapped;
    this.mem = mem;
    this.codecImpl = codec;
    this.maxMessageBytes = maxMessageBytes;
    this.wait = wait;
  }

  /** A new channel in a new SharedArrayBuffer. The codec bounds the message type: bytes, strings, or any. */
  static create<T extends Uint8Array = Uint8Array>(options: ChannelOptions & { codec: 'bytes' }): Channel<T>;
  static create<T extends string = string>(options: ChannelOptions & { codec: 'string' }): Channel<T>;
  static create<T = unknown>(options?: ChannelOptions & { codec?: 'json' | 'v8' | Codec<T> }): Channel<T>;
  /** A codec chosen at run time: the message type is yours to assert. */
  static create(options?: ChannelOptions): Channel<unknown>;
  static create<T = unknown>(options?: ChannelOptions): Channel<T> {
    const o = checkOptions(options, KNOWN_OPTIONS, 'Channel.create');
    const capacity = o.capacity === undefined ? DEFAULT_CAPACITY : checkCapacity(o.capacity);
    const codec = resolveCodec(o.codec);
    const maxMessageBytes = maxMessageOption(o.maxMessageBytes);
    const wait = waitOptions(o);
    const buffer = new SharedArrayBuffer(L.totalBytes(capacity));
    initControlBlock(new Int32Array(buffer, 0, L.W.DATA), capacity, maxMessageBytes, codec.id);
    const handle: ChannelHandle = { kind: 'ringwire.channel', buffer, byteOffset: 0 };
    return new Channel<T>(handle, new RingMemory(buffer, 0, capacity), codec, maxMessageBytes, wait);
  }

  /** Re-opens a channel from its handle (in another thread, or the same one). */
  static attach<T = unknown>(handle: ChannelHandle, options?: AttachOptions): Channel<T> {
    const o = checkOptions(options, new Set(['codec', 'wait', 'spinMicros']), 'Channel.attach');
    if (
      typeof handle !== 'object' ||
      handle === null ||
      handle.kind !== 'ringwire.channel' ||
      !(handle.buffer instanceof SharedArrayBuffer) ||
      !Number.isInteger(handle.byteOffset) ||
      handle.byteOffset < 0 ||
      handle.byteOffset % 8 !== 0
    ) {
      throw new RingwireError('ERR_NOT_A_CHANNEL', `Channel.attach needs a channel.handle, got ${describe(handle)}`);
    }
    const wait = waitOptions(o);
    const info = validateControlBlock(handle.buffer, handle.byteOffset);
    const codec = attachCodec(info.codecId, o.codec as CodecSpec | undefined);
    return new Channel<T>(handle, new RingMemory(handle.buffer, handle.byteOffset, info.capacity), codec, info.maxMessageBytes, wait);
  }

  /**
   * Opens the channel `nameOrPath`, shared with other processes: a plain name (letters, digits,
   * '.', '_', '-') is a file in /dev/shm (ringwire-<name>); a string with a '/' is a path (tmpfs or
   * disk). With `create: true` it is created when absent (capacity, codec and maxMessageBytes
   * apply then); when it exists they must match it. Each thread opens the channel itself.
   */
  static open<T extends Uint8Array = Uint8Array>(nameOrPath: string, options: OpenOptions & { codec: 'bytes' }): Channel<T>;
  static open<T extends string = string>(nameOrPath: string, options: OpenOptions & { codec: 'string' }): Channel<T>;
  static open<T = unknown>(nameOrPath: string, options?: OpenOptions & { codec?: 'json' | 'v8' | Codec<T> }): Channel<T>;
  static open(nameOrPath: string, options?: OpenOptions): Channel<unknown>;
  static open<T = unknown>(nameOrPath: string, options?: OpenOptions): Channel<T> {
    const o = checkOptions(options, OPEN_OPTIONS, 'Channel.open');
    const where = locateChannel(nameOrPath, 'Channel.open');
    if (o.create !== undefined && typeof o.create !== 'boolean') {
      throw new RingwireTypeError(`Channel.open: options.create must be a boolean, got ${describe(o.create)}`);
    }
    const capacity = o.capacity === undefined ? DEFAULT_CAPACITY : checkCapacity(o.capacity);
    const maxMessageBytes = maxMessageOption(o.maxMessageBytes);
    const wait = waitOptions(o);
    const mode = o.mode === undefined ? DEFAULT_MODE : checkInteger('options.mode', o.mode, 0, 0o777);
    const codecId = resolveCodec(o.codec).id;
    const mapped = mapChannel(where, { create: o.create === true, capacity, maxMessageBytes, codecId, mode });
    try {
      // The C++ side checked the header before mapping; check it here too (the one TS reader).
      const info = validateControlBlock(mapped.buffer, 0);
      const mismatch = (what: string, mine: number, theirs: number) =>
        new RingwireError('ERR_CHANNEL_MISMATCH', `Channel.open: ${where.path} exists with ${what} ${theirs}, options.${what} is ${mine}`);
      if (o.capacity !== undefined && info.capacity !== capacity) throw mismatch('capacity', capacity, info.capacity);
      if (o.maxMessageBytes !== undefined && info.maxMessageBytes !== maxMessageBytes) {
        throw mismatch('maxMessageBytes', maxMessageBytes, info.maxMessageBytes);
      }
      const codec = attachCodec(info.codecId, o.codec as CodecSpec | undefined);
      const mem = new RingMemory(mapped.buffer, 0, info.capacity, mapped.waiter);
      return new Channel<T>(undefined, mem, codec, info.maxMessageBytes, wait, mapped);
    } catch (err) {
      mapped.close();
      throw err;
    }
  }

  /**
   * Removes the channel file `nameOrPath` (processes that have it open keep using it). Returns
   * false if there was none. A path is removed only if the file is a ringwire channel.
   */
  static unlink(nameOrPath: string): boolean {
    return unlinkChannel(locateChannel(nameOrPath, 'Channel.unlink'));
  }

  /** Only for channels made by Channel.create; for a channel file, open it again in the other thread. */
  get handle(): ChannelHandle {
    if (this.#handle === undefined) {
      throw new RingwireError('ERR_NOT_SHAREABLE', `this channel is the file ${this.#mapped?.path}: call Channel.open() with its path in the other thread`);
    }
    return this.#handle;
  }
  /** The channel file (Channel.open), else undefined. */
  get path(): string | undefined {
    return this.#mapped?.path;
  }
  /** Whether Channel.open created the file (false: it existed). */
  get created(): boolean {
    return this.#mapped?.created ?? true;
  }

  /**
   * Done with this channel object: a sender or receiver made from it that is still open gives its
   * role back (the stream is not ended: call sender.close() first for that), its pending calls
   * reject with ERR_CHANNEL_CLOSED, and a channel file is unmapped from this thread (views of its
   * memory become empty). Resolves when that is complete.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    const pending = [this.localSender?.abandon(), this.localReceiver?.abandon()].filter((p) => p !== undefined);
    const unmap = () => this.#mapped?.close();
    if (pending.length === 0) {
      unmap();
      this.#closing = Promise.resolve();
    } else {
      this.#closing = Promise.allSettled(pending).then(unmap);
    }
    return this.#closing;
  }
  /** `await using channel = Channel.open(...)`: close() at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  get capacity(): number {
    return this.mem.capacity;
  }
  get codec(): string {
    return this.codecImpl.name;
  }

  /** Claims the sending role (one per channel across all threads). */
  sender(): Sender<T> {
    if (this.#closing !== undefined) throw closedError('sender(): this channel object');
    return new Sender<T>(this);
  }

  /** Claims the receiving role (one per channel across all threads). */
  receiver(): Receiver<T> {
    if (this.#closing !== undefined) throw closedError('receiver(): this channel object');
    return new Receiver<T>(this);
  }

  /** Whether the sender has closed (no more messages will be published). */
  get senderClosed(): boolean {
    return (Atomics.load(this.mem.i32, L.W.CLOSED) & L.SENDER_CLOSED) !== 0;
  }
  get receiverClosed(): boolean {
    return (Atomics.load(this.mem.i32, L.W.CLOSED) & L.RECEIVER_CLOSED) !== 0;
  }

  /**
   * Counters of both sides. A side in this thread is exact; the other side's counters are as of its
   * last flush (every 1024 messages, and whenever it parks, finds the ring full or closes).
   */
  stats(): ChannelStats {
    this.localSender?.flushStats();
    this.localReceiver?.flushStats();
    return readChannelStats(this.mem.i32);
  }

  /** The same counters, with the ring's depth and capacity, in Prometheus text format (lib/metrics.ts; needs prom-client). */
  metrics(options?: MetricsOptions): Promise<string> {
    return metricsOf(this, options);
  }

  /** @internal What registerMetrics() and metrics() read at each scrape; nothing once this object is closed (its memory may be unmapped). */
  metricsSource(name?: string): MetricsSource {
    const capacity = this.capacity;
    return channelSource(name ?? (this.path === undefined ? '' : channelName(this.path)), () =>
      this.#closing === undefined ? { stats: this.stats(), depthBytes: depthBytes(this.mem.i32, capacity), capacity } : undefined,
    );
  }
}

/** Writes a fresh control block; the magic goes last, so an attacher never sees a half-made header. */
export function initControlBlock(i32: Int32Array, capacity: number, maxMessageBytes: number, codecId: number): void {
  i32[L.W.VERSION] = L.VERSION;
  i32[L.W.CAPACITY] = capacity;
  i32[L.W.DATA_OFFSET] = L.CONTROL_BYTES;
  i32[L.W.MAX_MESSAGE] = maxMessageBytes;
  i32[L.W.CODEC] = codecId;
  // Publish point: the header words above are visible to whoever Atomics.loads a valid magic.
  Atomics.store(i32, L.W.MAGIC, L.MAGIC);
}

export interface ControlInfo {
  capacity: number;
  maxMessageBytes: number;
  codecId: number;
}

/** Checks that `buffer` at `byteOffset` holds a ringwire ring; every field is validated. */
export function validateControlBlock(buffer: ArrayBufferLike, byteOffset: number): ControlInfo {
  const bad = (why: string) => new RingwireError('ERR_NOT_A_CHANNEL', `not a ringwire channel: ${why}`);
  if (buffer.byteLength - byteOffset < L.CONTROL_BYTES) throw bad(`${buffer.byteLength - byteOffset} bytes is smaller than a control block`);
  const i32 = new Int32Array(buffer, byteOffset, L.W.DATA);
  // Consume point: pairs with initControlBlock's store of the magic.
  const magic = Atomics.load(i32, L.W.MAGIC) >>> 0;
  if (magic !== L.MAGIC) throw bad(`magic is 0x${magic.toString(16)}, expected 0x${L.MAGIC.toString(16)}`);
  const version = i32[L.W.VERSION] >>> 0;
  if (version !== L.VERSION) throw bad(`layout version ${version}, this build reads version ${L.VERSION}`);
  const capacity = i32[L.W.CAPACITY] >>> 0;
  if (capacity < L.MIN_CAPACITY || capacity > L.MAX_CAPACITY || (capacity & (capacity - 1)) !== 0) {
    throw bad(`capacity ${capacity} is not a power of two from ${L.MIN_CAPACITY} to ${L.MAX_CAPACITY}`);
  }
  const dataOffset = i32[L.W.DATA_OFFSET] >>> 0;
  if (dataOffset !== L.CONTROL_BYTES) throw bad(`data offset ${dataOffset}, expected ${L.CONTROL_BYTES}`);
  if (buffer.byteLength - byteOffset < L.totalBytes(capacity)) {
    throw bad(`capacity ${capacity} needs ${L.totalBytes(capacity)} bytes, only ${buffer.byteLength - byteOffset} are there`);
  }
  const maxMessageBytes = i32[L.W.MAX_MESSAGE] >>> 0;
  if (maxMessageBytes < 1 || maxMessageBytes > MAX_MESSAGE_BYTES) throw bad(`max message bytes ${maxMessageBytes} out of range`);
  const codecId = i32[L.W.CODEC] >>> 0;
  if (codecNameOf(codecId) === undefined) throw bad(`unknown codec id ${codecId}`);
  return { capacity, maxMessageBytes, codecId };
}

/** The codec an attacher uses: the channel's built-in one, or the custom one it must pass. */
export function attachCodec(codecId: number, spec: CodecSpec | undefined): WireCodec {
  const name = codecNameOf(codecId);
  if (name === 'custom') {
    if (spec === undefined || typeof spec === 'string') {
      throw new RingwireTypeError('this channel uses a custom codec: pass the same { encode, decode } as options.codec');
    }
    return resolveCodec(spec);
  }
  if (spec !== undefined) {
    const c = resolveCodec(spec);
    if (c.id !== codecId) throw new RingwireTypeError(`options.codec is ${c.name} but the channel was created with '${name}'`);
    return c;
  }
  return resolveCodec(name);
}
