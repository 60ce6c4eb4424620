// LogWriter: appends records to the mapped tail segment directly from JS (format:
// cpp/log/format.h). Native code creates, maps, locks, syncs and scans; the append path is plain
// stores into the mapping, then one native call (LogFile.commit) per record or per batch.
//
// Ordering: LogFile.commit computes each record's CRC and then release-stores its length word
// without the in-progress bit (the commit point), so a reader that acquire-loads a committed length
// word sees the payload, fields and CRC. Wake-ups (follow()): after the commit the writer
// Atomics.stores (seq_cst) the control file's notify word and then Atomics.loads the parked bitmap
// (lib/log/readers.ts); a follower sets its bit (Atomics.or), re-checks for a record, then
// futex-waits on notify with the value it read before. The notify store follows the commit, and
// the four notify/bitmap/record accesses are seq_cst, so either the writer sees the follower parked
// (and wakes it) or the follower sees the new record (or a changed notify word, and the futex wait
// returns at once, after which it sees the record). A follower killed
// while asleep leaves its bit set: when a wake finds nobody asleep, the writer checks (at most
// every RECLAIM_MS) whether the owners of the set bits are alive and frees the dead ones' slots.
import process from 'node:process';
import { Buffer } from 'node:buffer';
import { resolveCodec, type WireCodec } from '../channel/codecs.js';
import { describe, RingwireRangeError, RingwireTypeError } from '../errors.js';
import { logWriterSource, metricsOf, type MetricsOptions, type MetricsSource } from '../metrics.js';
import { closedLogError, logError } from './errors.js';
import * as F from './format.js';
import { logNative, type LogFile } from './native.js';
import { logCodec, writerSettings, type Durability, type LogWriterOptions } from './options.js';
import { anyParked, reclaimDeadSlots, resetReclaiming } from './readers.js';
import { newHeader, recoverTail, type RecoveryReport, type Tail } from './recovery.js';
import { applyRetention, type RetentionOptions } from './retention.js';
import {
  createSpare,
  discardSpare,
  installSegment,
  makeLogDir,
  openControl,
  readControlStats,
  removeTemporaries,
  upgradeControl,
  writeControlStats,
  writeEndOfSegment,
  type ControlStats,
  type Spare,
} from './segments.js';

const HDR = F.RECORD_HEADER_BYTES;
const R = F.REC_W;
const TWO_32 = 4294967296;
/** Milliseconds between two checks for dead parked followers (each reads /proc per parked slot). */
const RECLAIM_MS = 100;
/** Appends between two reads of the clock within one synchronous run (see #now). */
const CLOCK_EVERY = 16;
/** Pages are prefaulted up to this far ahead of the writer, in steps of TOUCH_STEP. */
const TOUCH_WINDOW = 16 << 20;
const TOUCH_STEP = 4 << 20;
/** Appends between two publications of the stats in the control file. */
const STATS_EVERY = 65536;

/** LogFile.adopt, false if mremap failed (ERR_IO; both files are then as they were). */
function adopt(file: LogFile, spare: LogFile, path: string): boolean {
  try {
    file.adopt(spare, path);
    return true;
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ERR_IO') throw err;
    return false;
  }
}

export class LogWriter<T = unknown> {
  readonly dir: string;
  readonly durability: Durability;
  /** Set by open(): how the tail of the log was recovered. */
  readonly recovery: RecoveryReport;
  readonly #codec: WireCodec;
  readonly #segmentBytes: number;
  readonly #syncIntervalMs: number;
  readonly #retention: RetentionOptions | undefined;
  /** Permission bits of the files this writer creates. */
  readonly #mode: number;
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
  /** The file the next roll makes the next segment (its first pages prefaulted meanwhile). */
  #spare: Spare | undefined;
  #closed = false;
  /** Set when a roll failed once the next segment was installed (see #roll): nothing more is appended. */
  #failed: Error | undefined;
  /** Neither closed nor failed: the one check on the append path. */
  #usable = true;

  private constructor(dir: string, options: unknown) {
    this.dir = dir;
    const o = writerSettings(options);
    this.durability = o.durability;
    this.#syncIntervalMs = o.syncIntervalMs;
    this.#retention = o.retention;
    const requested = o.segmentBytes;
    this.#mode = o.mode;
    makeLogDir(dir, o.mode);
    this.#ctl = openControl(dir, {
      segmentBytes: requested ?? F.DEFAULT_SEGMENT_BYTES,
      codec: (o.codec ?? resolveCodec('json')).id,
      mode: o.mode,
    });
    try {
      this.#ctlI32 = F.words(this.#ctl.buffer);
      if (!this.#ctl.lock()) {
        const pid = this.#ctlI32[F.CTL_W.WRITER_PID];
        throw logError('ERR_LOCKED', `the log in ${dir} already has a writer (pid ${pid}); one writer per log`);
      }
      upgradeControl(this.#ctlI32);
      resetReclaiming(this.#ctlI32);
      this.#codec = logCodec(this.#ctlI32[F.CTL_W.CODEC]!, o.codec, o.codecSpec, dir);
      this.#segmentBytes = requested ?? this.#ctlI32[F.CTL_W.SEGMENT_BYTES]!;
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
      const { tail, report } = recoverTail({ dir, segmentBytes: this.#segmentBytes, codec: this.#codec.id, mode: this.#mode });
      this.#setSequence(tail.nextSequence);
      this.#use(tail);
      this.#prepareSpare(this.#index + 1);
      this.recovery = report;
      this.#ctlI32[F.CTL_W.WRITER_PID] = process.pid;
      F.writeU64(this.#ctlI32, F.CTL_WRITER_START_OFFSET, Date.now());
      this.#publishStats();
      this.#applyRetention();
    } catch (err) {
      this.#file?.close();
      this.#dropSpare();
      this.#ctl.close(); // drops the lock
      throw err;
    }
  }

  /** Opens (creating if needed) the log in `dir` for writing. Synchronous: it is a few local
   * syscalls, plus a scan of the tail segment after a crash. */
  static open<T = unknown>(dir: string, options?: LogWriterOptions): LogWriter<T> {
    if (typeof dir !== 'string' || dir === '') throw new RingwireTypeError(`LogWriter.open: dir must be a path, got ${describe(dir)}`);
    return new LogWriter<T>(dir, options);
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
  /** These counters in Prometheus text format (lib/metrics.ts; needs prom-client). */
  metrics(options?: MetricsOptions): Promise<string> {
    return metricsOf(this, options);
  }
  /** @internal What registerMetrics() and metrics() read at each scrape (nothing once closed). */
  metricsSource(name?: string): MetricsSource {
    return logWriterSource(name ?? this.dir, () => (this.#closed ? undefined : this.stats()));
  }
  /** The segment file being written. */
  get segment(): string {
    return this.#path;
  }

  /** Appends one record; returns its sequence number. */
  append(value: T): number {
    if (!this.#usable) throw this.#unusable('LogWriter.append');
    return this.#append(this.#codec.toWire(value));
  }

  /** Appends an already-encoded record (bytes, or a string written as UTF-8), bypassing the codec. */
  appendEncoded(payload: string | Uint8Array): number {
    if (!this.#usable) throw this.#unusable('LogWriter.appendEncoded');
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
    if (!this.#usable) throw this.#unusable('LogWriter.appendBatch');
    if (!Array.isArray(values)) throw new RingwireTypeError(`LogWriter.appendBatch takes an array, got ${describe(values)}`);
    const first = this.nextSequence;
    // One timestamp for the whole batch, read if the clock budget runs out within it; the batch
    // uses up as much of the budget as as many single appends would.
    if ((this.#clockLeft -= values.length) < 0) {
      this.#readClock();
      this.#clockLeft = CLOCK_EVERY - values.length;
    }
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
    if (!this.#usable) throw this.#unusable('LogWriter.flush');
    this.#file.msync(0, this.#pos);
    this.#flushes++;
    this.#publishStats();
  }

  /** Stops writing; releases the lock (another process may then open the log for writing). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#usable = false;
    try {
      if (this.durability !== 'process') {
        if (this.#failed === undefined) this.#file.msync(0, this.#pos);
        else {
          // After a failed roll, whose error was thrown already: as much as can be flushed, the
          // sealed segment's end included, and no second error for the same failure.
          try {
            this.#file.msync(0, Math.min(this.#pos + F.END_OF_SEGMENT_BYTES, this.#segBytes));
          } catch {
            // reported by the roll
          }
        }
      }
    } finally {
      // Even when the msync fails (EIO): the mapping is unmapped and the lock dropped, once.
      this.#publishStats();
      this.#ctlI32[F.CTL_W.WRITER_PID] = 0;
      this.#file.close();
      this.#dropSpare();
      this.#ctl.close();
    }
  }

  /** close(), for `using w = LogWriter.open(...)`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Deletes old segments now, by the retention options. Returns the deleted files. */
  applyRetention(): string[] {
    if (!this.#usable) throw this.#unusable('LogWriter.applyRetention');
    return this.#applyRetention();
  }

  // ---- the append path ----

  #append(wire: string | Uint8Array): number {
    if (--this.#clockLeft < 0) this.#readClock();
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
    const w = F.wordAt(p);
    // In progress: a crash from here to the commit leaves a record recovery recognises as unfinished.
    i32[w + R.LENGTH] = F.IN_PROGRESS;
    let n: number;
    if (typeof wire === 'string') n = this.#buf.write(wire, p + HDR, bound, 'utf8');
    else {
      this.#u8.set(wire, p + HDR);
      n = bound;
    }
    const length = HDR + n;
    i32[w + R.TYPE] = F.TYPE_DATA;
    i32[w + R.EPOCH] = this.#epoch;
    const lo = this.#seqLo;
    i32[w + R.SEQ] = lo;
    i32[w + R.SEQ + 1] = this.#seqHi;
    i32[w + R.TIME] = this.#tsLo;
    i32[w + R.TIME + 1] = this.#tsHi;
    i32[w + R.LENGTH] = (F.IN_PROGRESS | length) | 0;
    // A single record is committed at once, natively: the CRC32C with the hardware instruction,
    // then the release store of its length (the commit point). For a 100-byte record that one
    // Node-API call measured 25-35% faster than the CRC in JS on Node 20 and 22, level on Node 24.
    // A batch's records are committed together, by one call (appendBatch).
    if (!batch) this.#file.commit(p, p + F.alignRecord(length));
    this.#pos = p + F.alignRecord(length);
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
    Atomics.store(this.#ctlI32, F.CTL_W.NOTIFY, this.#seqLo | 0);
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
   * forgets the cached value): reading the clock costs about half of a small append, and Date.now()
   * allocates (a heap number). The records of one appendBatch share one reading.
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

  #use({ file, path, header: h, pos }: Omit<Tail, 'nextSequence'>): void {
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
    // Touch the pages ahead of the writer in a background thread (off the append path); for a
    // segment made from a spare this continues what #prepareSpare started.
    file.populate(pos, pos + TOUCH_WINDOW);
    this.#touchAt = pos + TOUCH_STEP;
    if (this.durability === 'interval') file.syncEvery(this.#syncIntervalMs);
  }

  /**
   * Creates the file of the next segment now and has its first TOUCH_WINDOW prefaulted in the
   * background while this one fills, so that a roll creates no file (fallocate, mmap) and the
   * appends after it do not race a toucher that has just started. The spare is one more segment
   * of disk, a `.tmp` until the roll; a crashed writer's is removed at the next open.
   */
  #prepareSpare(index: number): void {
    try {
      const spare = createSpare(this.dir, index, this.#segmentBytes, this.#mode);
      // Not the first page: the roll writes and msyncs the header there, and a toucher still
      // populating it for writing afterwards (a loaded machine) would mark it dirty again.
      spare.file.populate(F.PAGE_BYTES, TOUCH_WINDOW);
      this.#spare = spare;
    } catch (err) {
      // No room for a spare now (a full disk, ERR_NO_SPACE, or ERR_IO): the roll creates its
      // segment itself then, and that is where a full disk is reported.
      const code = (err as { code?: unknown }).code;
      if (code !== 'ERR_NO_SPACE' && code !== 'ERR_IO') throw err;
    }
  }

  #dropSpare(): void {
    if (this.#spare !== undefined) discardSpare(this.#spare);
    this.#spare = undefined;
  }

  #setSequence(seq: number): void {
    this.#seqLo = seq % TWO_32;
    this.#seqHi = Math.floor(seq / TWO_32);
  }

  #unusable(what: string): Error {
    if (this.#closed || this.#failed === undefined) return closedLogError(what);
    return logError('ERR_LOG_FAILED', `${what}: the writer stopped when a roll failed (${this.#failed.message}); close it and open the log again`, this.#failed);
  }

  /** Ends the current segment and continues in a new one. */
  #roll(): void {
    const next = newHeader(this.#codec.id, this.#segmentBytes, this.#index + 1, this.nextSequence);
    // The next segment exists (complete) before the EOS points readers to it. A full disk throws
    // here (creating the file when there is no spare), with the current segment intact.
    const spare = this.#spare ?? createSpare(this.dir, next.index, this.#segmentBytes, this.#mode);
    this.#spare = undefined;
    const { file, path } = installSegment(this.dir, spare, next, this.durability !== 'process');
    // The next segment exists now: a failed roll could not be tried again (its name is taken), and
    // once this one is sealed below, readers may move on to the next at once, so appending here
    // again would hide records from them. Any failure from here on (an msync's EIO, the next
    // segment's msync thread that cannot start) stops the writer; a new one recovers the log at open.
    let unowned: LogFile | undefined = file; // the next segment's file until the writer (or adopt) takes it
    try {
      // Before the adopt below starts unmapping the old segment in the background: that holds the
      // process's mmap lock, which mapping the new spare would wait for (milliseconds).
      this.#prepareSpare(next.index + 1);
      writeEndOfSegment(this.#i32, this.#u8, this.#pos, this.#epoch, this.nextSequence);
      const old = this.#file;
      if (this.durability !== 'process') {
        old.msync(0, this.#pos + F.END_OF_SEGMENT_BYTES);
        logNative().fsyncDir(this.dir);
      }
      // The same mapping, now of the next file: no new ArrayBuffer (no garbage collection per
      // segment), and the pages the spare prefaulted stay faulted in. Otherwise (a tail segment of
      // another size, from before segmentBytes changed, or mremap failed) the next file's own.
      const adopted = old.size === file.size && adopt(old, file, path);
      if (!adopted) old.close();
      unowned = undefined;
      this.#use({ file: adopted ? old : file, path, header: next, pos: F.SEGMENT_HEADER_BYTES });
    } catch (err) {
      unowned?.close();
      this.#failed = err instanceof Error ? err : new Error(String(err));
      this.#usable = false;
      throw logError('ERR_LOG_FAILED', `rolling to segment ${next.index} of the log in ${this.dir} failed (${this.#failed.message}): the writer stopped; close it and open the log again`, err);
    }
    this.#rolls++;
    this.#published();
    this.#publishStats();
    this.#applyRetention();
  }

  /** Deletes the oldest segments (never the current one) by the retention options. */
  #applyRetention(): string[] {
    return applyRetention(this.dir, this.#retention, { index: this.#index, path: this.#path, segmentBytes: this.#segBytes });
  }
}
