// LogWriter: appends records to the mapped tail segment directly from JS (format:
// cpp/log/format.h). Native code creates, maps, locks, syncs and scans; the append path is plain
// stores into the mapping plus one Atomics.store per record (the commit).
//
// Ordering: Atomics on an Int32Array are sequentially consistent, at least the release that the
// commit needs: payload, fields and CRC are plain stores made before the Atomics.store of the
// length word, so a reader that Atomics.loads a committed length word sees all of them.
// Wake-ups (follow()): after a commit the writer Atomics.stores the control file's notify word and
// then Atomics.loads the parked bitmap (lib/log/readers.ts); a follower sets its bit (Atomics.or),
// re-checks for a record, then futex-waits on notify with the value it read before. All four are
// seq_cst, so either the writer sees the follower parked (and wakes it) or the follower sees the
// new record (or a changed notify word, and the futex wait returns at once). A follower killed
// while asleep leaves its bit set: when a wake finds nobody asleep, the writer checks (at most
// every RECLAIM_MS) whether the owners of the set bits are alive and frees the dead ones' slots.
import { closeSync, fstatSync, openSync, unlinkSync } from 'node:fs';
import { mkdirSync } from 'node:fs';
import { codecNameOf, resolveCodec, type CodecSpec, type WireCodec } from '../channel/codecs.js';
import { checkInteger, checkOptions, describe, RingwireRangeError, RingwireTypeError } from '../errors.js';
import { recordCrc } from './crc32c.js';
import { closedLogError, logError, LogCorruptError } from './errors.js';
import * as F from './format.js';
import { logNative, MODE_WRITE, type LogFile } from './native.js';
import { anyParked, reclaimDeadSlots, resetReclaiming } from './readers.js';
import {
  createSegment,
  listSegments,
  newEpoch,
  openControl,
  readControlStats,
  readHeaderFile,
  removeTemporaries,
  upgradeControl,
  writeControlStats,
  type ControlStats,
  writeHeader,
} from './segments.js';
import type { SegmentHeader } from './format.js';

export type Durability = 'process' | 'interval' | 'sync';

export interface RetentionOptions {
  /** Delete the oldest segments while all segments together exceed this many bytes. */
  maxBytes?: number;
  /** Delete segments whose newest record is older than this (milliseconds). */
  maxAgeMs?: number;
  /** Keep at most this many segments. */
  maxSegments?: number;
}

export interface LogWriterOptions {
  /** Size of each new segment file: a multiple of 4096 from 64 KiB to 1 GiB (default 64 MiB). */
  segmentBytes?: number;
  /**
   * 'process' (default): an append is in the page cache when it returns; survives the process
   * crashing or being killed, not the machine. 'interval': also msync'd every `syncIntervalMs` by a
   * background thread; a machine crash loses at most that window. 'sync': msync'd before append /
   * appendBatch returns; survives a machine crash (as far as the disk honours the flush).
   */
  durability?: Durability;
  /** Milliseconds between background msyncs in 'interval' mode (default 1000). */
  syncIntervalMs?: number;
  /** 'json' (default for a new log), 'string', 'bytes', 'v8' or { encode, decode }. An existing
   * log keeps the codec it was created with; naming another one is an error. */
  codec?: CodecSpec;
  /** Deletes old segments (at open and after each roll; never the one being written). */
  retention?: RetentionOptions;
}

/** What opening found in the tail of the log. */
export interface RecoveryReport {
  segment: string;
  /** Why the tail ended where it did ('' = cleanly). */
  problem: string;
  /** Offset of the first byte that was discarded (zeroed), or -1 if nothing was. */
  discardedFrom: number;
  discardedBytes: number;
  /** Records kept in the tail segment. */
  records: number;
}

const KNOWN = new Set(['segmentBytes', 'durability', 'syncIntervalMs', 'codec', 'retention']);
const RETENTION_KNOWN = new Set(['maxBytes', 'maxAgeMs', 'maxSegments']);
const HDR = F.RECORD_HEADER_BYTES;
const TWO_32 = 4294967296;
const NOTIFY = F.CTL_NOTIFY_OFFSET >> 2;
/** Milliseconds between two checks for dead parked followers (each reads /proc per parked slot). */
const RECLAIM_MS = 100;
/**
 * Records up to this many bytes get their CRC32C in JS (slicing-by-8, ~1 ns/byte); longer ones in
 * one Node-API call with the hardware instruction, whose fixed cost (~50-80 ns) wins from about
 * 200-250 bytes on (measured on x86-64; both orders of magnitude hold on a loaded machine).
 */
const JS_CRC_MAX = 256;
/** Appends between two reads of the clock within one synchronous run (see #now). */
const CLOCK_EVERY = 16;
/** Pages are prefaulted up to this far ahead of the writer, in steps of TOUCH_STEP. */
const TOUCH_WINDOW = 16 << 20;
const TOUCH_STEP = 4 << 20;
/** Appends between two publications of the stats in the control file. */
const STATS_EVERY = 65536;

export class LogWriter<T = unknown> {
  readonly dir: string;
  readonly durability: Durability;
  /** Set by open(): how the tail of the log was recovered. */
  readonly recovery: RecoveryReport;
  readonly #codec: WireCodec;
  readonly #segmentBytes: number;
  readonly #syncIntervalMs: number;
  readonly #retention: RetentionOptions | undefined;
  readonly #ctl: LogFile;
  readonly #ctlI32: Int32Array;
  #file!: LogFile;
  #path!: string;
  #u8!: Uint8Array;
  #i32!: Int32Array;
  #buf!: Buffer;
  /** Offset of the next record; data records must end by #limit (room for the EOS is kept). */
  #pos = 0;
  #limit = 0;
  #segBytes = 0;
  #index = 0;
  #epoch = 0;
  /** Next sequence, as a u32 pair (no float math on the hot path). */
  #seqLo = 0;
  #seqHi = 0;
  #tsLo = 0;
  #tsHi = 0;
  #clockLeft = 0;
  #clockQueued = false;
  #bytes = 0;
  #rolls = 0;
  #flushes = 0;
  #wakes = 0;
  /** Date.now() before which a wake that found nobody does not look for dead followers again. */
  #reclaimAt = 0;
  #statsLeft = STATS_EVERY;
  /** When #pos passes this, the page toucher is asked to go further. */
  #touchAt = 0;
  #closed = false;

  private constructor(dir: string, o: Record<string, unknown>) {
    this.dir = dir;
    this.durability = checkDurability(o.durability);
    this.#syncIntervalMs =
      o.syncIntervalMs === undefined ? 1000 : checkInteger('options.syncIntervalMs', o.syncIntervalMs, 1, 3_600_000);
    this.#retention = checkRetention(o.retention);
    const requested = o.segmentBytes === undefined ? undefined : checkSegmentBytes(o.segmentBytes);
    const codec = o.codec === undefined ? undefined : resolveCodec(o.codec);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.#ctl = openControl(dir, {
      segmentBytes: requested ?? F.DEFAULT_SEGMENT_BYTES,
      codec: (codec ?? resolveCodec('json')).id,
    });
    try {
      this.#ctlI32 = F.words(this.#ctl.buffer);
      if (!this.#ctl.lock()) {
        const pid = this.#ctlI32[F.CTL_WRITER_PID_OFFSET >> 2];
        throw logError('ERR_LOCKED', `the log in ${dir} already has a writer (pid ${pid}); one writer per log`);
      }
      upgradeControl(this.#ctlI32);
      resetReclaiming(this.#ctlI32);
      this.#codec = logCodec(this.#ctlI32[F.CTL_CODEC_OFFSET >> 2]!, codec, o.codec, dir);
      this.#segmentBytes = requested ?? this.#ctlI32[F.CTL_SEGMENT_BYTES_OFFSET >> 2]!;
      if (!F.validSegmentBytes(this.#segmentBytes)) {
        // Read from the control file: new segments would be created with it.
        throw logError('ERR_CORRUPT', `the control file of the log in ${dir} is corrupt: segment bytes ${this.#segmentBytes} (a multiple of ${F.PAGE_BYTES} from ${F.MIN_SEGMENT_BYTES} to ${F.MAX_SEGMENT_BYTES} expected)`);
      }
      removeTemporaries(dir);
      // The counters continue across writers (a fresh control file holds zeros).
      const before = readControlStats(this.#ctlI32);
      this.#bytes = before.bytes;
      this.#rolls = before.rolls;
      this.#flushes = before.flushes;
      this.#wakes = before.wakes;
      this.recovery = this.#recover();
      this.#ctlI32[F.CTL_WRITER_PID_OFFSET >> 2] = process.pid;
      F.writeU64(this.#ctlI32, F.CTL_WRITER_START_OFFSET, Date.now());
      this.#publishStats();
      this.#applyRetention();
    } catch (err) {
      this.#file?.close();
      this.#ctl.close(); // drops the lock
      throw err;
    }
  }

  /** Opens (creating if needed) the log in `dir` for writing. Synchronous: it is a few local
   * syscalls, plus a scan of the tail segment after a crash. */
  static open<T = unknown>(dir: string, options?: LogWriterOptions): LogWriter<T> {
    if (typeof dir !== 'string' || dir === '') throw new RingwireTypeError(`LogWriter.open: dir must be a path, got ${describe(dir)}`);
    return new LogWriter<T>(dir, checkOptions(options, KNOWN, 'LogWriter.open'));
  }

  /** The sequence number the next append gets. */
  get nextSequence(): number {
    return this.#seqLo + this.#seqHi * TWO_32;
  }
  get codec(): string {
    return this.#codec.name;
  }
  get closed(): boolean {
    return this.#closed;
  }
  /** The writer's counters (live; published in the control file for `ringwire stat` at rolls,
   * flushes, close and every 65536 appends). */
  stats(): ControlStats {
    return { nextSequence: this.nextSequence, bytes: this.#bytes, rolls: this.#rolls, flushes: this.#flushes, segment: this.#index, wakes: this.#wakes };
  }
  /** The segment file being written. */
  get segment(): string {
    return this.#path;
  }

  /** Appends one record; returns its sequence number. */
  append(value: T): number {
    if (this.#closed) throw closedLogError('LogWriter.append');
    return this.#append(this.#codec.toWire(value));
  }

  /** Appends an already-encoded record (bytes, or a string written as UTF-8), bypassing the codec. */
  appendEncoded(payload: string | Uint8Array): number {
    if (this.#closed) throw closedLogError('LogWriter.appendEncoded');
    if (typeof payload !== 'string' && !(payload instanceof Uint8Array)) {
      throw new RingwireTypeError(`LogWriter.appendEncoded takes a string or Uint8Array, got ${describe(payload)}`);
    }
    return this.#append(payload);
  }

  /**
   * Appends every value in order; returns the first one's sequence number (the others follow it).
   * The CRCs are computed natively in one call per segment touched, which is what makes a batch
   * cheaper per record than append(). All-or-nothing only per record: a value the codec rejects
   * throws after the ones before it were appended.
   */
  appendBatch(values: readonly T[]): number {
    if (this.#closed) throw closedLogError('LogWriter.appendBatch');
    if (!Array.isArray(values)) throw new RingwireTypeError(`LogWriter.appendBatch takes an array, got ${describe(values)}`);
    const first = this.nextSequence;
    let start = this.#pos;
    try {
      for (let k = 0; k < values.length; k++) {
        const wire = this.#codec.toWire(values[k]);
        let p = this.#pos;
        let n = this.#fits(wire, p);
        if (n < 0) {
          if (this.#pos > start) this.#file.commit(start, this.#pos);
          start = this.#pos;
          this.#roll();
          p = start = this.#pos;
          n = this.#fits(wire, p);
        }
        this.#write(wire, p, n, true);
      }
    } finally {
      if (this.#pos > start) this.#file.commit(start, this.#pos);
      this.#published();
    }
    if (this.durability === 'sync') this.#file.msync(start, this.#pos - start);
    return first;
  }

  /** Writes the mapped pages of the current segment to the file and waits (msync). */
  flush(): void {
    if (this.#closed) throw closedLogError('LogWriter.flush');
    this.#file.msync(0, this.#pos);
    this.#flushes++;
    this.#publishStats();
  }

  /** Stops writing; releases the lock (another process may then open the log for writing). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      if (this.durability !== 'process') this.#file.msync(0, this.#pos);
    } finally {
      // Even when the msync fails (EIO): the mapping is unmapped and the lock dropped, once.
      this.#publishStats();
      this.#ctlI32[F.CTL_WRITER_PID_OFFSET >> 2] = 0;
      this.#file.close();
      this.#ctl.close();
    }
  }

  /** Deletes old segments now, by the retention options. Returns the deleted files. */
  applyRetention(): string[] {
    if (this.#closed) throw closedLogError('LogWriter.applyRetention');
    return this.#applyRetention();
  }

  // ---- the append path ----

  #append(wire: string | Uint8Array): number {
    let p = this.#pos;
    let n = this.#fits(wire, p);
    if (n < 0) {
      this.#roll();
      p = this.#pos;
      n = this.#fits(wire, p);
    }
    const seq = this.#write(wire, p, n, false);
    this.#published();
    if (this.durability === 'sync') this.#file.msync(p, this.#pos - p);
    return seq;
  }

  /**
   * A bound on the payload bytes of `wire` (exact for bytes) if it fits at `p`, else -1 (roll
   * first); throws if it can never fit a segment.
   */
  #fits(wire: string | Uint8Array, p: number): number {
    const room = this.#limit - p - HDR;
    if (typeof wire === 'string') {
      // UTF-8 takes at most 3 bytes per UTF-16 unit: the exact length is needed only near the end.
      if (wire.length * 3 <= room) return wire.length * 3; // a bound; #write measures
      const n = Buffer.byteLength(wire);
      return n <= room ? n : this.#tooLarge(n);
    }
    const n = wire.length;
    return n <= room ? n : this.#tooLarge(n);
  }

  #tooLarge(n: number): -1 {
    const max = Math.min(F.maxPayload(this.#segmentBytes), F.LENGTH_MASK - HDR);
    if (n > max) {
      throw new RingwireRangeError('ERR_MESSAGE_TOO_LARGE', `a ${n}-byte record does not fit a segment (at most ${max} bytes with segmentBytes ${this.#segmentBytes})`);
    }
    return -1;
  }

  /** Writes one record at p (room checked); commits it unless `batch` (LogFile.commit does). */
  #write(wire: string | Uint8Array, p: number, bound: number, batch: boolean): number {
    const i32 = this.#i32;
    const w = p >> 2;
    // In progress: a crash from here to the commit leaves a record recovery recognises as unfinished.
    i32[w] = F.IN_PROGRESS;
    let n: number;
    if (typeof wire === 'string') n = this.#buf.write(wire, p + HDR, bound, 'utf8');
    else {
      this.#u8.set(wire, p + HDR);
      n = bound;
    }
    const length = HDR + n;
    i32[w + 2] = F.TYPE_DATA;
    i32[w + 3] = this.#epoch;
    const lo = this.#seqLo;
    i32[w + 4] = lo;
    i32[w + 5] = this.#seqHi;
    if (--this.#clockLeft < 0) this.#readClock();
    i32[w + 6] = this.#tsLo;
    i32[w + 7] = this.#tsHi;
    if (batch) {
      i32[w] = (F.IN_PROGRESS | length) | 0;
    } else if (length > JS_CRC_MAX) {
      i32[w] = (F.IN_PROGRESS | length) | 0;
      this.#file.commit(p, p + ((length + 7) & ~7)); // hardware CRC + the same release store
    } else {
      i32[w + 1] = recordCrc(this.#u8, i32, p, length);
      // Commit point. Release (seq_cst Atomics.store): the payload, fields and CRC stored above are
      // visible to any reader that Atomics.loads this word and finds it without the in-progress bit.
      Atomics.store(i32, w, length);
    }
    this.#pos = p + ((length + 7) & ~7);
    this.#bytes += n;
    const seq = lo + this.#seqHi * TWO_32;
    if (lo === 0xffffffff) {
      this.#seqLo = 0;
      this.#seqHi++;
    } else this.#seqLo = lo + 1;
    return seq;
  }

  /** After a commit: bumps the notify word and wakes parked readers, if any (see the top). */
  #published(): void {
    if (this.#pos > this.#touchAt) {
      this.#touchAt = this.#pos + TOUCH_STEP;
      this.#file.populate(this.#pos, this.#pos + TOUCH_WINDOW);
    }
    Atomics.store(this.#ctlI32, NOTIFY, this.#seqLo | 0);
    if (anyParked(this.#ctlI32)) this.#wake();
    if (--this.#statsLeft < 0) this.#publishStats();
  }

  /** Wakes the followers asleep on notify; if there was none, frees the slots of dead ones. */
  #wake(): void {
    this.#wakes++;
    // Nobody woken while bits are set: a follower between setting its bit and its futex wait, one
    // just woken and not yet cleared its bit, or one killed while asleep (which would cost every
    // append a wake from now on).
    if (this.#ctl.wake(F.CTL_NOTIFY_OFFSET) > 0) return;
    const now = Date.now();
    if (now < this.#reclaimAt) return;
    this.#reclaimAt = now + RECLAIM_MS;
    reclaimDeadSlots(this.#ctlI32);
  }

  /**
   * Timestamps are read from Date.now() at most every CLOCK_EVERY appends within one synchronous
   * run of code, and afresh at the first append of every new task or microtask (a queued microtask
   * forgets the cached value): reading the clock costs about half of a small append.
   */
  #readClock(): void {
    const now = Date.now();
    this.#tsLo = now % TWO_32 | 0;
    this.#tsHi = Math.floor(now / TWO_32);
    this.#clockLeft = CLOCK_EVERY - 1;
    if (!this.#clockQueued) {
      this.#clockQueued = true;
      queueMicrotask(() => {
        this.#clockQueued = false;
        this.#clockLeft = 0;
      });
    }
  }

  #publishStats(): void {
    this.#statsLeft = STATS_EVERY;
    writeControlStats(this.#ctlI32, this.stats());
  }

  // ---- segments ----

  #use(file: LogFile, path: string, h: SegmentHeader, pos: number): void {
    this.#file = file;
    this.#path = path;
    this.#u8 = new Uint8Array(file.buffer);
    this.#i32 = F.words(file.buffer);
    this.#buf = Buffer.from(file.buffer);
    this.#segBytes = h.segmentBytes;
    this.#limit = h.segmentBytes - F.END_OF_SEGMENT_BYTES;
    this.#index = h.index;
    this.#epoch = h.epoch | 0;
    this.#pos = pos;
    // Touch the pages ahead of the writer in a background thread (off the append path).
    file.populate(pos, pos + TOUCH_WINDOW);
    this.#touchAt = pos + TOUCH_STEP;
    if (this.durability === 'interval') file.syncEvery(this.#syncIntervalMs);
  }

  #setSequence(seq: number): void {
    this.#seqLo = seq % TWO_32;
    this.#seqHi = Math.floor(seq / TWO_32);
  }

  /** Ends the current segment and continues in a new one. */
  #roll(): void {
    const next: SegmentHeader = {
      epoch: newEpoch(),
      index: this.#index + 1,
      baseSequence: this.nextSequence,
      segmentBytes: this.#segmentBytes,
      created: Date.now(),
      codec: this.#codec.id,
    };
    // The next segment exists (complete) before the EOS points readers to it. A full disk throws
    // here, with the current segment intact.
    const { file, path } = createSegment(this.dir, next);
    this.#writeEndOfSegment(this.#i32, this.#u8, this.#pos, this.#epoch, this.nextSequence);
    const old = this.#file;
    if (this.durability !== 'process') {
      old.msync(0, this.#pos + F.END_OF_SEGMENT_BYTES);
      logNative().fsyncDir(this.dir);
    }
    old.close();
    this.#use(file, path, next, F.SEGMENT_HEADER_BYTES);
    this.#rolls++;
    this.#published();
    this.#publishStats();
    this.#applyRetention();
  }

  #writeEndOfSegment(i32: Int32Array, u8: Uint8Array, p: number, epoch: number, seq: number): void {
    const w = p >> 2;
    i32[w] = F.IN_PROGRESS;
    i32[w + 2] = F.TYPE_END_OF_SEGMENT;
    i32[w + 3] = epoch;
    F.writeU64(i32, p + F.REC_SEQ_OFFSET, seq);
    F.writeU64(i32, p + F.REC_TIME_OFFSET, Date.now());
    i32[w + 1] = recordCrc(u8, i32, p, F.END_OF_SEGMENT_BYTES);
    // Commit point (release), as for a data record.
    Atomics.store(i32, w, F.END_OF_SEGMENT_BYTES);
  }

  /** Finds the tail, keeps its valid prefix, zeroes the rest, and positions the writer after it. */
  #recover(): RecoveryReport {
    const segments = listSegments(this.dir);
    const N = logNative();
    if (segments.length === 0) {
      const h = this.#newHeader(0, 0);
      const { file, path } = createSegment(this.dir, h);
      this.#use(file, path, h, F.SEGMENT_HEADER_BYTES);
      this.#setSequence(0);
      return { segment: path, problem: '', discardedFrom: -1, discardedBytes: 0, records: 0 };
    }
    const tail = segments[segments.length - 1]!;
    const header = readHeaderFile(tail.path);
    if (header.index !== tail.index) throw new LogCorruptError(tail.path, F.SEG_INDEX_OFFSET, `header says segment ${header.index}`);
    // Mode write extends a truncated file back to its size (zero-filled): no SIGBUS past the end.
    const file = new N.LogFile(tail.path, MODE_WRITE, header.segmentBytes);
    let report: RecoveryReport;
    try {
      const r = file.scan();
      if (!r.headerValid) throw new LogCorruptError(tail.path, 0, 'bad segment header');
      if (r.dirtyEnd > r.end) file.zero(r.end, r.dirtyEnd);
      report = {
        segment: tail.path,
        problem: r.problem,
        discardedFrom: r.dirtyEnd > r.end || r.problem !== '' ? r.end : -1,
        discardedBytes: r.dirtyEnd - r.end,
        records: r.records,
      };
      let base = header;
      if (r.records === 0 && segments.length > 1) base = this.#sealPrevious(segments[segments.length - 2]!, file, header);
      this.#setSequence(r.records === 0 ? base.baseSequence : r.nextSequence);
      if (r.sealed) {
        // Sealed, yet the last: its successor is gone (deleted by hand). Start a new one.
        file.close();
        const h = this.#newHeader(tail.index + 1, r.nextSequence);
        const next = createSegment(this.dir, h);
        this.#use(next.file, next.path, h, F.SEGMENT_HEADER_BYTES);
      } else {
        this.#use(file, tail.path, base, r.end);
      }
    } catch (err) {
      file.close();
      throw err;
    }
    return report;
  }

  /**
   * The tail is empty: the previous writer may have died in a roll, after creating the tail but
   * before sealing the previous segment. Seal it (after its valid prefix) and make the tail's base
   * sequence follow it. Returns the tail's (possibly rewritten) header.
   */
  #sealPrevious(prev: { path: string }, tailFile: LogFile, tail: SegmentHeader): SegmentHeader {
    const ph = readHeaderFile(prev.path);
    const f = new (logNative().LogFile)(prev.path, MODE_WRITE, ph.segmentBytes);
    try {
      const r = f.scan();
      if (!r.headerValid) return tail;
      if (!r.sealed) {
        if (r.dirtyEnd > r.end) f.zero(r.end, r.dirtyEnd);
        if (r.end + F.END_OF_SEGMENT_BYTES > ph.segmentBytes) throw new LogCorruptError(prev.path, r.end, 'no room for the end-of-segment record');
        this.#writeEndOfSegment(F.words(f.buffer), new Uint8Array(f.buffer), r.end, ph.epoch, r.nextSequence);
      }
      if (tail.baseSequence === r.nextSequence) return tail;
      const fixed = { ...tail, baseSequence: r.nextSequence };
      writeHeader(new Uint8Array(tailFile.buffer), F.words(tailFile.buffer), fixed);
      return fixed;
    } finally {
      f.close();
    }
  }

  #newHeader(index: number, baseSequence: number): SegmentHeader {
    return { epoch: newEpoch(), index, baseSequence, segmentBytes: this.#segmentBytes, created: Date.now(), codec: this.#codec.id };
  }

  /** Deletes the oldest segments (never the current one) by the retention options. */
  #applyRetention(): string[] {
    const r = this.#retention;
    if (r === undefined) return [];
    const segments = listSegments(this.dir).filter((s) => s.index < this.#index);
    const sizes = segments.map((s) => fileSize(s.path));
    let total = sizes.reduce((a, b) => a + b, 0) + this.#segBytes;
    let count = segments.length + 1;
    const now = Date.now();
    const deleted: string[] = [];
    for (let k = 0; k < segments.length; k++) {
      let drop = (r.maxSegments !== undefined && count > r.maxSegments) || (r.maxBytes !== undefined && total > r.maxBytes);
      if (!drop && r.maxAgeMs !== undefined) {
        // A segment's newest record is older than its successor's creation.
        const successor = k + 1 < segments.length ? segments[k + 1]!.path : this.#path;
        let end = now;
        try {
          end = readHeaderFile(successor).created;
        } catch {}
        drop = end < now - r.maxAgeMs;
      }
      if (!drop) break;
      // A reader with the file open keeps reading it (unlink only removes the name); one that has
      // not reached it yet skips ahead to the oldest segment left (LogReader.skipped counts).
      try {
        unlinkSync(segments[k]!.path);
        deleted.push(segments[k]!.path);
      } catch {}
      total -= sizes[k]!;
      count--;
    }
    return deleted;
  }
}

function fileSize(path: string): number {
  try {
    const fd = openSync(path, 'r');
    try {
      return fstatSync(fd).size;
    } finally {
      closeSync(fd);
    }
  } catch {
    return 0;
  }
}

function checkDurability(v: unknown): Durability {
  if (v === undefined) return 'process';
  if (v === 'process' || v === 'interval' || v === 'sync') return v;
  throw new RingwireTypeError(`options.durability must be 'process', 'interval' or 'sync', got ${describe(v)}`);
}

function checkSegmentBytes(v: unknown): number {
  checkInteger('options.segmentBytes', v, F.MIN_SEGMENT_BYTES, F.MAX_SEGMENT_BYTES);
  if ((v as number) % F.PAGE_BYTES !== 0) {
    throw new RingwireRangeError('ERR_OUT_OF_RANGE', `options.segmentBytes must be a multiple of ${F.PAGE_BYTES}, got ${v as number}`);
  }
  return v as number;
}

function checkRetention(v: unknown): RetentionOptions | undefined {
  if (v === undefined) return undefined;
  const o = checkOptions(v, RETENTION_KNOWN, 'options.retention');
  const r: RetentionOptions = {};
  if (o.maxBytes !== undefined) r.maxBytes = checkInteger('options.retention.maxBytes', o.maxBytes, 0, Number.MAX_SAFE_INTEGER);
  if (o.maxAgeMs !== undefined) r.maxAgeMs = checkInteger('options.retention.maxAgeMs', o.maxAgeMs, 0, Number.MAX_SAFE_INTEGER);
  if (o.maxSegments !== undefined) r.maxSegments = checkInteger('options.retention.maxSegments', o.maxSegments, 1, Number.MAX_SAFE_INTEGER);
  return r;
}

/** The codec of a log whose control file says `id`; `requested` must agree with it. */
export function logCodec(id: number, requested: WireCodec | undefined, spec: unknown, dir: string): WireCodec {
  const name = codecNameOf(id);
  if (name === undefined) throw logError('ERR_NOT_A_LOG', `the log in ${dir} has an unknown codec id ${id}`);
  if (requested !== undefined) {
    if (requested.id !== id) {
      throw new RingwireTypeError(`options.codec is ${describe(spec)} but the log in ${dir} was created with codec '${name}'`);
    }
    return requested;
  }
  if (name === 'custom') {
    throw new RingwireTypeError(`the log in ${dir} uses a custom codec: pass it as options.codec`);
  }
  return resolveCodec(name);
}
