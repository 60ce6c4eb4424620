// LogReader: reads records straight from the mapped segments (read-only mappings), in sequence
// order, crossing segment rolls; follow() sleeps in a native futex wait (another thread, so the
// event loop keeps running) until the writer publishes. Any number of readers, in any processes;
// a reader writes nothing but, while in follow(), its reader slot and parked bit in the control
// file (lib/log/readers.ts; at most READER_SLOTS follow() at once per log).
//
// Every length and offset read from a segment is checked before use; a record that is committed
// but malformed throws LogCorruptError naming the segment file and the offset.
import { Buffer } from 'node:buffer';
import { basename } from 'node:path';
import { codecNameOf, resolveCodec, type WireCodec } from '../channel/codecs.js';
import { abortedError, checkInteger, checkOptions, describe, RingwireTypeError } from '../errors.js';
import { logReaderSource, metricsOf, type MetricsOptions, type MetricsSource } from '../metrics.js';
import { checkWait, DEFAULT_SPIN_MICROS, Patience, type WaitStrategy } from '../core/park.js';
import { recordCrc } from './crc32c.js';
import { closedLogError, logError, LogCorruptError } from './errors.js';
import * as F from './format.js';
import { logNative, MODE_READ, type LogFile } from './native.js';
import { claimSlot, markAwake, markParked, releaseSlot } from './readers.js';
import type { SegmentHeader } from './format.js';
import { listSegments, openControl, parseHeader, readHeaderFile } from './segments.js';
import { logCodec } from './options.js';

export interface LogEntry<T = unknown> {
  sequence: number;
  /** Milliseconds since the Unix epoch, when the writer appended the record. */
  timestamp: number;
  value: T;
}

export interface LogReaderOptions {
  /** Where to start: 'start' (default, the oldest record kept), 'end' (only records appended from
   * now on) or a sequence number (the first record at or after it). */
  from?: 'start' | 'end' | number;
  /** Needed when the log was written with a custom codec; otherwise the log's own codec. */
  codec?: import('../channel/codecs.js').CodecSpec;
  /** Check every record's CRC32C (default true). */
  verify?: boolean;
  /** Return each record's payload as bytes (a copy), whatever the codec (tools, custom codecs). */
  raw?: boolean;
}

export interface FollowOptions {
  /** Stops following: the iteration ends with an ERR_ABORTED error. */
  signal?: AbortSignal;
  /** How follow() waits for the next record before it parks: 'adaptive' (default), 'spin', 'backoff' or 'park'. */
  wait?: WaitStrategy;
  /** Microseconds it spins at most before it parks (default 20; 0: no spinning). */
  spinMicros?: number;
}

const KNOWN = new Set(['from', 'codec', 'verify', 'raw']);
const HDR = F.RECORD_HEADER_BYTES;
const TWO_32 = 4294967296;
/** Milliseconds between repeated wake-ups of our own parked follow() (see #kick). */
const KICK_MS = 1;
/** The length word of a record as 4 little-endian bytes, for the native CRC (no allocation per record). */
const LENGTH_WORD = new Uint32Array(1);
const LENGTH_BYTES = new Uint8Array(LENGTH_WORD.buffer);

export class LogReader<T = unknown> implements AsyncIterable<LogEntry<T>> {
  readonly dir: string;
  readonly #ctl: LogFile;
  readonly #ctlI32: Int32Array;
  readonly #decode: WireCodec['decode'];
  readonly #verify: boolean;
  readonly #logCodecId: number;
  #file: LogFile | undefined;
  #path = '';
  #u8!: Uint8Array;
  #i32!: Int32Array;
  #buf!: Buffer;
  #header!: SegmentHeader;
  #pos = 0;
  /** Sequence of the next record. */
  #seq = 0;
  /** Records with a lower sequence are skipped (from: sequence). */
  #skipUntil = 0;
  #skipped = 0;
  /** follow() calls of this reader asleep now: they share one slot and its parked bit. */
  #sleepers = 0;
  /** The reader slot held while a follow() is in progress (-1: none), and how many are. */
  #slot = -1;
  #follows = 0;
  #kickTimer: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(dir: string, o: Record<string, unknown>) {
    this.dir = dir;
    const requested = o.codec === undefined ? undefined : resolveCodec(o.codec);
    if (o.verify !== undefined && typeof o.verify !== 'boolean') {
      throw new RingwireTypeError(`options.verify must be a boolean, got ${describe(o.verify)}`);
    }
    this.#verify = o.verify !== false;
    if (o.raw !== undefined && typeof o.raw !== 'boolean') throw new RingwireTypeError(`options.raw must be a boolean, got ${describe(o.raw)}`);
    const from = o.from ?? 'start';
    if (from !== 'start' && from !== 'end' && !(Number.isSafeInteger(from) && (from as number) >= 0)) {
      throw new RingwireTypeError(`options.from must be 'start', 'end' or a sequence number, got ${describe(from)}`);
    }
    this.#ctl = openControl(dir);
    try {
      this.#ctlI32 = F.words(this.#ctl.buffer);
      this.#logCodecId = this.#ctlI32[F.CTL_W.CODEC]!;
      // Codecs decode into memory of the value's own (lib/channel/codecs.ts): never a view of the mapping.
      this.#decode = (o.raw === true ? resolveCodec('bytes') : logCodec(this.#logCodecId, requested, o.codec, dir)).decode;
      this.#start(from as 'start' | 'end' | number);
    } catch (err) {
      this.#file?.close();
      this.#ctl.close();
      throw err;
    }
  }

  /** Opens the log in `dir` for reading (synchronous). */
  static open<T = unknown>(dir: string, options?: LogReaderOptions): LogReader<T> {
    if (typeof dir !== 'string' || dir === '') throw new RingwireTypeError(`LogReader.open: dir must be a path, got ${describe(dir)}`);
    return new LogReader<T>(dir, checkOptions(options, KNOWN, 'LogReader.open'));
  }

  /** The sequence number of the next record this reader returns (or waits for). */
  get nextSequence(): number {
    return Math.max(this.#seq, this.#skipUntil);
  }
  /** The codec the log was written with ('json', 'string', 'bytes', 'v8' or 'custom'). */
  get codec(): string {
    return codecNameOf(this.#logCodecId) ?? 'unknown';
  }
  /** Records this reader never saw because retention deleted their segment first. */
  get skipped(): number {
    return this.#skipped;
  }
  /** nextSequence and skipped in Prometheus text format (lib/metrics.ts; needs prom-client). */
  metrics(options?: MetricsOptions): Promise<string> {
    return metricsOf(this, options);
  }
  /** @internal What registerMetrics() and metrics() read at each scrape (nothing once closed). */
  metricsSource(name = ''): MetricsSource {
    return logReaderSource(this.dir, name, () => (this.#closed ? undefined : { nextSequence: this.nextSequence, skipped: this.#skipped }));
  }
  /** The segment file the reader is in, and the offset of the next record in it. */
  get position(): { segment: string; offset: number } {
    return { segment: this.#path, offset: this.#pos };
  }

  /** The next record, or undefined if none is committed yet. */
  read(): LogEntry<T> | undefined {
    if (this.#closed) throw closedLogError('LogReader.read');
    // Bounded by the records present: each pass consumes one or moves to a newer segment.
    for (;;) {
      const p = this.#next();
      if (p < 0) return undefined;
      const seq = this.#seq - 1;
      if (seq < this.#skipUntil) continue;
      const length = this.#i32[F.wordAt(p) + F.REC_W.LENGTH]!;
      return {
        sequence: seq,
        timestamp: F.readU64(this.#i32, p + F.REC_TIME_OFFSET),
        value: this.#decode(this.#buf, p + HDR, p + length, false, this.#u8) as T,
      };
    }
  }

  /** The records present now, then ends (see follow() to wait for more). */
  async *[Symbol.asyncIterator](): AsyncIterator<LogEntry<T>> {
    for (let e = this.read(); e !== undefined; e = this.read()) yield e;
  }

  /** Every record from the current position on, waiting for new ones (across processes) until
   * close() or `signal`. Idle waiting is a futex wait in a native thread: no polling. */
  async *follow(options?: FollowOptions): AsyncGenerator<LogEntry<T>, void, undefined> {
    const o = checkOptions(options, new Set(['signal', 'wait', 'spinMicros']), 'LogReader.follow');
    const signal = o.signal as AbortSignal | undefined;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new RingwireTypeError(`options.signal must be an AbortSignal, got ${describe(signal)}`);
    }
    const patience = new Patience({
      wait: checkWait(o.wait),
      spinMicros: o.spinMicros === undefined ? DEFAULT_SPIN_MICROS : checkInteger('options.spinMicros', o.spinMicros, 0, 1e6),
    });
    if (this.#follows++ === 0 && !this.#closed) {
      this.#slot = claimSlot(this.#ctlI32);
      if (this.#slot < 0) {
        this.#follows--;
        throw logError('ERR_TOO_MANY_READERS', `LogReader.follow: the log in ${this.dir} already has ${F.READER_SLOTS} followers (live ones, in any process); at most ${F.READER_SLOTS} at once`);
      }
    }
    const wake = () => this.#kick(); // close() kicks by itself
    signal?.addEventListener('abort', wake, { once: true });
    try {
      while (!this.#closed) {
        if (signal?.aborted) throw abortedError('LogReader.follow', signal.reason);
        const e = this.read();
        if (e !== undefined) {
          yield e;
          continue;
        }
        await this.#park(signal, patience);
      }
    } finally {
      signal?.removeEventListener('abort', wake);
      if (--this.#follows === 0) this.#releaseSlot();
    }
  }

  /** Unmaps everything; a pending follow() ends. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#file?.close();
    this.#file = undefined;
    if (this.#sleepers !== 0) this.#kick(); // #park closes the control file
    else {
      this.#releaseSlot();
      this.#ctl.close();
    }
  }

  /** close(), for `using r = LogReader.open(...)`. */
  [Symbol.dispose](): void {
    this.close();
  }

  #releaseSlot(): void {
    if (this.#slot < 0) return;
    releaseSlot(this.#ctlI32, this.#slot);
    this.#slot = -1;
  }

  /**
   * Waits for the writer's next record as `patience` says (spin, back off: only once a segment is
   * mapped, so each poll is one Atomics.load), then parks until the writer publishes (or close /
   * abort). Announce, re-check, sleep: the writer
   * bumps notify after every commit and then reads the parked bitmap (see lib/log/writer.ts), so a
   * record committed after our check either changes notify before our futex wait starts (it
   * returns at once) or finds our bit set (and wakes us).
   *
   * This is the protocol of lib/core/park.ts, but not its code, on purpose: parkAsync's side has one
   * park word that only its sleeper stores 1 / 0, sleeps in slices (to check a peer's liveness)
   * and wakes itself once on abort (enough for Atomics.waitAsync, which registers synchronously).
   * Here the parked state is this slot's bit in a bitmap shared by up to 64 followers (Atomics.or /
   * and), cleared only when the last follow() of this reader sleeping leaves (#sleepers); the wait
   * has no slices (a dead writer only means no records: nothing to poll); and it runs in a native
   * thread that may not have reached futex_wait when abort or close comes, so ending it takes the
   * repeated #kick. Fitting it into parkAsync would add three hooks (mark / unmark, a repeating
   * self-wake, an unsliced waiter) to the channels' park path for this one user.
   */
  async #park(signal: AbortSignal | undefined, patience: Patience): Promise<void> {
    if (this.#file !== undefined) {
      const file = this.#file;
      // close() (during a back-off's yields) unmaps the segment: stop polling it at once.
      if (await patience.holdAsync(() => this.#file !== file || signal?.aborted === true || this.#available())) return;
      // close() while we were suspended (it saw no sleeper, so it closed the control file itself).
      if (this.#closed) return;
    }
    const i32 = this.#ctlI32;
    const slot = this.#slot;
    const seen = Atomics.load(i32, F.CTL_W.NOTIFY);
    markParked(i32, slot); // seq_cst: the store half of the handshake, before the re-check below
    this.#sleepers++;
    try {
      if (this.#available() || signal?.aborted) return;
      await this.#ctl.wait(F.CTL_NOTIFY_OFFSET, seen >>> 0, -1);
    } finally {
      // The bit is the slot's, not this call's: it stays set while another follow() sleeps.
      if (--this.#sleepers === 0) {
        clearTimeout(this.#kickTimer);
        this.#kickTimer = undefined;
        markAwake(i32, slot);
      }
      if (this.#closed && this.#sleepers === 0) {
        this.#releaseSlot();
        this.#ctl.close();
      }
    }
  }

  /**
   * Ends our own parked wait (abort, close). A futex wake only reaches a thread already asleep, and
   * the native wait's thread may not have reached futex_wait yet (abort or close right after
   * follow() parked): a single wake would be lost and the wait would last until the writer's next
   * record. So wake again every KICK_MS until #park's finally stops it; bounded by how long that
   * thread takes to start (a few ms), and no timer runs while nobody is parked.
   */
  #kick(): void {
    if (this.#sleepers === 0 || this.#kickTimer !== undefined) return;
    const again = (): void => {
      this.#kickTimer = undefined;
      if (this.#sleepers === 0) return;
      this.#ctl.wake(F.CTL_NOTIFY_OFFSET);
      this.#kickTimer = setTimeout(again, KICK_MS);
    };
    again();
  }

  /** Whether read() would find something (a committed record, or a segment to open). */
  #available(): boolean {
    if (this.#file === undefined) return listSegments(this.dir).length > 0;
    const w = Atomics.load(this.#i32, F.wordAt(this.#pos) + F.REC_W.LENGTH);
    return w !== 0 && (w & F.IN_PROGRESS) === 0;
  }

  // ---- positioning ----

  #start(from: 'start' | 'end' | number): void {
    const segments = listSegments(this.dir);
    if (segments.length === 0) {
      if (typeof from === 'number') this.#skipUntil = from;
      return; // the writer has not created the first segment yet; read() looks again
    }
    let pick = segments[0]!;
    if (from === 'end') pick = segments[segments.length - 1]!;
    else if (typeof from === 'number') {
      this.#skipUntil = from;
      // The newest segment whose base sequence is <= from (headers read without mapping).
      for (let k = segments.length - 1; k > 0; k--) {
        let base: number;
        try {
          base = readHeaderFile(segments[k]!.path).baseSequence;
        } catch {
          continue;
        }
        if (base <= from) {
          pick = segments[k]!;
          break;
        }
      }
    }
    this.#openSegment(pick.path, undefined);
    if (from === 'end') {
      while (this.#next() >= 0) {} // bounded: the records present now
      this.#skipUntil = this.#seq;
    }
  }

  /** Maps segment `path` and checks its header; `expected` is the sequence it must start at
   * (undefined: any). */
  #openSegment(path: string, expected: number | undefined): void {
    const file = new (logNative().LogFile)(path, MODE_READ, 0);
    const u8 = new Uint8Array(file.buffer);
    const i32 = F.words(file.buffer);
    const h = parseHeader(u8, i32);
    let problem = '';
    let offset = 0;
    if (h === null) problem = 'bad segment header';
    else if (file.size < h.segmentBytes) {
      problem = `segment file truncated (${file.size} of ${h.segmentBytes} bytes)`;
      offset = file.size;
    } else if (h.index !== F.segmentIndexOf(basename(path))) {
      // The name is what #nextSegment orders by: a header that disagrees could send it in a circle.
      problem = `header says segment ${h.index}`;
      offset = F.SEG_INDEX_OFFSET;
    } else if (h.codec !== this.#logCodecId) problem = `codec id ${h.codec}, the log's is ${this.#logCodecId}`;
    else if (expected !== undefined && h.baseSequence < expected) problem = `base sequence ${h.baseSequence}, expected ${expected}`;
    if (problem !== '') {
      file.close();
      throw new LogCorruptError(path, offset, problem);
    }
    if (expected !== undefined && h!.baseSequence > expected) this.#skipped += h!.baseSequence - expected;
    this.#file = file;
    this.#path = path;
    this.#u8 = u8;
    this.#i32 = i32;
    this.#buf = Buffer.from(file.buffer);
    this.#header = h!;
    this.#pos = F.SEGMENT_HEADER_BYTES;
    this.#seq = h!.baseSequence;
  }

  /** After an end-of-segment record: the next segment (index + 1, or the next one retention left). */
  #nextSegment(): void {
    const index = this.#header.index;
    const expected = this.#seq;
    const old = this.#file!;
    const next = listSegments(this.dir).find((s) => s.index > index);
    if (next === undefined) {
      throw new LogCorruptError(this.#path, this.#pos, 'sealed, but no later segment exists');
    }
    this.#openSegment(next.path, expected);
    old.close();
  }

  /** The CRC record p must carry: in JS for small records, with the hardware CRC for long ones. */
  #crc(p: number, length: number): number {
    if (length <= 256) return recordCrc(this.#u8, this.#i32, p, length);
    const N = logNative();
    LENGTH_WORD[0] = length;
    const lengthCrc = N.crc32c(LENGTH_BYTES);
    return N.crc32c(this.#u8.subarray(p + F.REC_TYPE_OFFSET, p + length), lengthCrc);
  }

  /**
   * Moves past the next committed DATA record and returns its offset (the reader's sequence is
   * then one past it), or -1 if none is committed yet. Crosses end-of-segment records.
   */
  #next(): number {
    if (this.#file === undefined) {
      const segments = listSegments(this.dir);
      if (segments.length === 0) return -1;
      this.#openSegment(segments[0]!.path, undefined);
    }
    // Bounded: each pass either returns or opens a newer segment (the index strictly increases).
    for (;;) {
      const p = this.#pos;
      const i32 = this.#i32;
      const segBytes = this.#header.segmentBytes;
      if (p + HDR > segBytes) throw new LogCorruptError(this.#path, p, 'segment full without an end-of-segment record');
      // Acquire (seq_cst Atomics.load): pairs with the writer's release store of the length word
      // (LogFile.commit), so the fields, payload and CRC of a committed record are visible.
      const w = F.wordAt(p);
      const word = Atomics.load(i32, w + F.REC_W.LENGTH);
      if (word === 0 || (word & F.IN_PROGRESS) !== 0) return -1; // nothing committed here yet
      const length = word;
      let problem = '';
      const type = i32[w + F.REC_W.TYPE];
      if (length < HDR || p + length > segBytes) problem = `bad record length ${length}`;
      else if (type !== F.TYPE_DATA && type !== F.TYPE_END_OF_SEGMENT) problem = `bad record type ${type}`;
      else if (type === F.TYPE_DATA && p + F.alignRecord(length) + F.END_OF_SEGMENT_BYTES > segBytes) problem = `bad record length ${length}`;
      else if (type === F.TYPE_END_OF_SEGMENT && length !== F.END_OF_SEGMENT_BYTES) problem = `bad end-of-segment length ${length}`;
      else if (i32[w + F.REC_W.EPOCH]! >>> 0 !== this.#header.epoch) problem = 'record epoch does not match the segment';
      else if ((i32[w + F.REC_W.SEQ]! >>> 0) + (i32[w + F.REC_W.SEQ + 1]! >>> 0) * TWO_32 !== this.#seq) {
        problem = `record sequence ${(i32[w + F.REC_W.SEQ]! >>> 0) + (i32[w + F.REC_W.SEQ + 1]! >>> 0) * TWO_32}, expected ${this.#seq}`;
      } else if (this.#verify && (i32[w + F.REC_W.CRC]! >>> 0) !== this.#crc(p, length)) problem = 'record CRC mismatch';
      if (problem !== '') throw new LogCorruptError(this.#path, p, problem);
      if (type === F.TYPE_END_OF_SEGMENT) {
        this.#nextSegment();
        continue;
      }
      this.#pos = p + F.alignRecord(length);
      this.#seq++;
      return p;
    }
  }
}
