// The files of a log directory: listing segments, segment headers, the control file.
import process from 'node:process';
import { chmodSync, closeSync, existsSync, linkSync, mkdirSync, openSync, readdirSync, readSync, statSync, unlinkSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { crc32c, recordCrc } from './crc32c.js';
import { logError, LogCorruptError } from './errors.js';
import * as F from './format.js';
import type { SegmentHeader } from './format.js';
import { logNative, MODE_CREATE, MODE_WRITE, type LogFile } from './native.js';

export interface SegmentRef {
  index: number;
  path: string;
}

/** Segments of `dir`, oldest first. */
export function listSegments(dir: string): SegmentRef[] {
  const out: SegmentRef[] = [];
  for (const name of readdirSync(dir)) {
    const index = F.segmentIndexOf(name);
    if (index >= 0) out.push({ index, path: join(dir, name) });
  }
  return out.sort((a, b) => a.index - b.index);
}

/** Parses and checks the header at the start of `i32`/`u8` (>= 128 bytes); null if invalid. */
export function parseHeader(u8: Uint8Array, i32: Int32Array): SegmentHeader | null {
  if (u8.length < F.SEGMENT_HEADER_BYTES) return null;
  const w = (off: number) => i32[F.wordAt(off)]! >>> 0;
  if (w(F.SEG_MAGIC_OFFSET) !== F.SEGMENT_MAGIC || w(F.SEG_VERSION_OFFSET) !== F.VERSION) return null;
  if (w(F.SEG_HEADER_BYTES_OFFSET) !== F.SEGMENT_HEADER_BYTES) return null;
  if (w(F.SEG_HEADER_CRC_OFFSET) !== crc32c(u8, 0, F.SEG_HEADER_CRC_OFFSET)) return null;
  const h: SegmentHeader = {
    epoch: w(F.SEG_EPOCH_OFFSET),
    index: F.readU64(i32, F.SEG_INDEX_OFFSET),
    baseSequence: F.readU64(i32, F.SEG_BASE_SEQ_OFFSET),
    segmentBytes: F.readU64(i32, F.SEG_BYTES_OFFSET),
    created: F.readU64(i32, F.SEG_CREATED_OFFSET),
    codec: w(F.SEG_CODEC_OFFSET),
  };
  if (h.epoch === 0 || h.index < 0 || h.baseSequence < 0 || h.created < 0 || !F.validSegmentBytes(h.segmentBytes)) return null;
  return h;
}

export function writeHeader(u8: Uint8Array, i32: Int32Array, h: SegmentHeader): void {
  u8.fill(0, 0, F.SEGMENT_HEADER_BYTES);
  i32[F.SEG_W.MAGIC] = F.SEGMENT_MAGIC;
  i32[F.SEG_W.VERSION] = F.VERSION;
  i32[F.SEG_W.HEADER_BYTES] = F.SEGMENT_HEADER_BYTES;
  i32[F.SEG_W.EPOCH] = h.epoch | 0;
  F.writeU64(i32, F.SEG_INDEX_OFFSET, h.index);
  F.writeU64(i32, F.SEG_BASE_SEQ_OFFSET, h.baseSequence);
  F.writeU64(i32, F.SEG_BYTES_OFFSET, h.segmentBytes);
  F.writeU64(i32, F.SEG_CREATED_OFFSET, h.created);
  i32[F.SEG_W.CODEC] = h.codec;
  i32[F.SEG_W.HEADER_CRC] = crc32c(u8, 0, F.SEG_HEADER_CRC_OFFSET) | 0;
}

/** Reads a segment's header with read(2) (no mapping); throws LogCorruptError if it is invalid. */
export function readHeaderFile(path: string): SegmentHeader {
  const buf = new Uint8Array(new ArrayBuffer(F.SEGMENT_HEADER_BYTES));
  const fd = openSync(path, 'r');
  let n: number;
  try {
    n = readSync(fd, buf, 0, buf.length, 0);
  } finally {
    closeSync(fd);
  }
  const h = n === buf.length ? parseHeader(buf, new Int32Array(buf.buffer)) : null;
  if (h !== null) return h;
  if (buf.subarray(0, n).every((b) => b === 0)) {
    // What a crash (power loss) can leave of a segment created shortly before: durability 'process'
    // does not wait for the header to reach the disk.
    const what = n === 0 ? 'the file is empty' : `its first ${n} bytes are zeros`;
    throw new LogCorruptError(
      path,
      0,
      `no segment header (${what}), as a machine crash can leave a segment created just before it under durability 'process'; ` +
        'if it is the last segment, moving it out of the directory lets the log continue after the one before it (whatever it held is lost)',
    );
  }
  throw new LogCorruptError(path, 0, n < buf.length ? `file too short for a header (${n} bytes)` : 'bad segment header');
}

/** Seals a segment: the end-of-segment record at p, pointing readers to the next segment
 * (which must exist, complete, before this is called). */
export function writeEndOfSegment(i32: Int32Array, u8: Uint8Array, p: number, epoch: number, seq: number): void {
  const w = F.wordAt(p);
  i32[w + F.REC_W.LENGTH] = F.IN_PROGRESS;
  i32[w + F.REC_W.TYPE] = F.TYPE_END_OF_SEGMENT;
  i32[w + F.REC_W.EPOCH] = epoch;
  F.writeU64(i32, p + F.REC_SEQ_OFFSET, seq);
  F.writeU64(i32, p + F.REC_TIME_OFFSET, Date.now());
  i32[w + F.REC_W.CRC] = recordCrc(u8, i32, p, F.END_OF_SEGMENT_BYTES);
  // Commit point (release: seq_cst Atomics.store), as for a data record (lib/log/writer.ts).
  Atomics.store(i32, w + F.REC_W.LENGTH, F.END_OF_SEGMENT_BYTES);
}

/** A new random non-zero epoch. */
export function newEpoch(): number {
  const v = new Uint32Array(1);
  do crypto.getRandomValues(v);
  while (v[0] === 0);
  return v[0]!;
}

/** The permission bits of a log's files when none are given: only the owner reads and writes. */
export const DEFAULT_FILE_MODE = 0o600;

/** The bits of a directory holding files of `fileMode`: the same, plus search wherever read is granted. */
export const dirModeOf = (fileMode: number): number => fileMode | ((fileMode & 0o444) >> 2);

/** Creates `dir` and its missing parents with dirModeOf(fileMode) exactly (mkdir applies the
 * umask; chmod does not). Directories that exist keep their bits. */
export function makeLogDir(dir: string, fileMode: number): void {
  const mode = dirModeOf(fileMode);
  let first: string | undefined;
  try {
    first = mkdirSync(dir, { recursive: true, mode });
  } catch (err) {
    throw notADirectory(dir, err) ?? err;
  }
  if (first === undefined) return;
  const top = resolve(first);
  // Bounded: from dir up to the first directory mkdir created (an ancestor of dir, or dir itself).
  for (let d = resolve(dir); ; d = dirname(d)) {
    chmodSync(d, mode);
    if (d === top || d === dirname(d)) break;
  }
}

/**
 * ERR_NOT_A_LOG if `dir`, or a directory above it, is a file (what `err`, an error opening or
 * creating something at or below `dir`, came from); undefined otherwise.
 */
function notADirectory(dir: string, err: unknown): Error | undefined {
  const code = (err as { code?: unknown }).code;
  // Node's fs errors carry the errno name; the addon's (ERR_IO) the number.
  if (code !== 'EEXIST' && code !== 'ENOTDIR' && (err as { errno?: unknown }).errno !== constants.errno.ENOTDIR) return undefined;
  let isFile = false;
  try {
    isFile = !statSync(dir).isDirectory();
  } catch {
    isFile = true; // ENOTDIR: a directory above it is a file
  }
  if (!isFile) return undefined;
  return logError('ERR_NOT_A_LOG', `${dir} is not a log directory: it, or a directory above it, is a file`, err);
}

/** Creates segment `h.index` of `dir` complete with its header (made under a temporary name and
 * renamed into place, so no reader ever sees a partial header), with permission bits `mode`.
 * Returns the mapped file. */
export function createSegment(dir: string, h: SegmentHeader, mode: number): { file: LogFile; path: string } {
  return installSegment(dir, createSpare(dir, h.index, h.segmentBytes, mode), h);
}

/** A preallocated (zero) mapped file under a temporary name in `dir`, not yet a segment. */
export interface Spare {
  file: LogFile;
  tmp: string;
}

/** Creates a spare for segment `index` (its name only keeps temporaries apart); `installSegment` turns it into one. */
export function createSpare(dir: string, index: number, segmentBytes: number, mode: number): Spare {
  const tmp = `${join(dir, F.segmentName(index))}.${process.pid}.tmp`;
  return { file: new (logNative().LogFile)(tmp, MODE_CREATE, segmentBytes, mode), tmp };
}

/** Writes header `h` into `spare` (sized h.segmentBytes) and links it as segment `h.index` of
 * `dir`; returns the mapped segment. On failure the spare is closed and removed. `durable`: the
 * header reaches the disk before the name can (a name whose header a power loss left as zeros
 * would stop both recovery and readers). */
export function installSegment(dir: string, spare: Spare, h: SegmentHeader, durable = false): { file: LogFile; path: string } {
  const { file, tmp } = spare;
  const path = join(dir, F.segmentName(h.index));
  try {
    // Through a scratch copy: the spare's own ArrayBuffer is never made (LogWriter adopts the file
    // into its mapping; an ArrayBuffer per segment would make V8 collect garbage per segment).
    const header = new Uint8Array(F.SEGMENT_HEADER_BYTES);
    writeHeader(header, new Int32Array(header.buffer), h);
    file.write(0, header);
    if (durable) file.msync(0, F.SEGMENT_HEADER_BYTES);
    // link() fails if the name exists (a rename would silently replace a segment).
    linkSync(tmp, path);
  } catch (err) {
    discardSpare(spare);
    throw err;
  }
  try {
    unlinkSync(tmp);
  } catch {
    // The segment is in place; a temporary name left over is removed at the next open (removeTemporaries).
  }
  return { file, path };
}

/** Closes and removes a spare that will not be used. */
export function discardSpare({ file, tmp }: Spare): void {
  file.close();
  try {
    unlinkSync(tmp);
  } catch {}
}

/** Removes `*.tmp` files left by a writer that died while creating a file. */
export function removeTemporaries(dir: string): void {
  for (const name of readdirSync(dir)) {
    if (name.endsWith('.tmp')) {
      try {
        unlinkSync(join(dir, name));
      } catch {}
    }
  }
}

/** Opens (creating it with `create.mode` if `create` is given and it does not exist) the control file of `dir`. With
 * `create` (the writer) a version-1 control file is accepted too: the writer upgrades it once it
 * holds the lock (upgradeControl); everyone else gets ERR_NOT_A_LOG for it. */
export function openControl(dir: string, create?: { segmentBytes: number; codec: number; mode: number }): LogFile {
  const path = join(dir, F.CONTROL_FILE);
  const N = logNative();
  if (create !== undefined && !existsSync(path)) {
    const tmp = `${path}.${process.pid}.tmp`;
    const f = new N.LogFile(tmp, MODE_CREATE, F.CONTROL_BYTES, create.mode);
    const i32 = F.words(f.buffer);
    i32[F.CTL_W.VERSION] = F.CONTROL_VERSION;
    i32[F.CTL_W.SEGMENT_BYTES] = create.segmentBytes;
    i32[F.CTL_W.CODEC] = create.codec;
    F.writeU64(i32, F.CTL_CREATED_OFFSET, Date.now());
    i32[F.CTL_W.MAGIC] = F.CONTROL_MAGIC;
    f.close();
    try {
      linkSync(tmp, path); // fails if another writer created it first: we then use theirs
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      unlinkSync(tmp);
    }
  }
  let f: LogFile;
  try {
    f = new N.LogFile(path, MODE_WRITE, 0);
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_NOT_FOUND') {
      throw logError('ERR_NOT_A_LOG', `${dir} holds no ringwire log (no ${F.CONTROL_FILE})`, err);
    }
    throw notADirectory(dir, err) ?? err;
  }
  const i32 = F.words(f.buffer);
  const version = f.size < F.CONTROL_BYTES ? 0 : i32[F.CTL_W.VERSION];
  if (f.size < F.CONTROL_BYTES || i32[F.CTL_W.MAGIC] !== F.CONTROL_MAGIC) {
    f.close();
    throw logError('ERR_NOT_A_LOG', `${path} is not a ringwire log control file (bad magic or size)`);
  }
  if (version !== F.CONTROL_VERSION && !(version === F.CONTROL_VERSION_PARKED_COUNT && create !== undefined)) {
    f.close();
    const hint = version === F.CONTROL_VERSION_PARKED_COUNT ? ': written by an older ringwire; opening it with LogWriter upgrades it' : '';
    throw logError('ERR_NOT_A_LOG', `${path} has control file version ${version}, this ringwire reads version ${F.CONTROL_VERSION}${hint}`);
  }
  return f;
}

/**
 * Writer side, holding the lock: upgrades a version-1 control file (a count of parked readers at
 * CTL_PARKED_OFFSET, no reader slots) to version 2. Followers of the old version are not supported
 * alongside (every process using a log must run a ringwire that reads its control version).
 */
export function upgradeControl(i32: Int32Array): void {
  if (Atomics.load(i32, F.CTL_W.VERSION) !== F.CONTROL_VERSION_PARKED_COUNT) return;
  i32.fill(0, F.CTL_W.PARKED, F.CTL_W.PARKED + F.PARKED_WORDS);
  i32.fill(0, F.CTL_W.READERS, F.CTL_W.READERS_END);
  Atomics.store(i32, F.CTL_W.VERSION, F.CONTROL_VERSION);
}

export interface ControlStats {
  nextSequence: number;
  bytes: number;
  rolls: number;
  flushes: number;
  segment: number;
  /** Futex wakes the writer issued (it wakes only while a follower is marked asleep). */
  wakes: number;
}

const STAT_FIELDS = [F.STAT_W.NEXT_SEQUENCE, F.STAT_W.BYTES, F.STAT_W.ROLLS, F.STAT_W.FLUSHES, F.STAT_W.SEGMENT, F.STAT_W.WAKES] as const;

/** Writer side: publishes counters under a sequence lock (odd while writing). */
export function writeControlStats(i32: Int32Array, s: ControlStats): void {
  const seqAt = F.CTL_W.STATS + F.STAT_W.SEQ;
  const seq = (Atomics.load(i32, seqAt) + 1) | 1;
  Atomics.store(i32, seqAt, seq);
  const values = [s.nextSequence, s.bytes, s.rolls, s.flushes, s.segment, s.wakes];
  for (let k = 0; k < STAT_FIELDS.length; k++) {
    const at = F.CTL_W.STATS + STAT_FIELDS[k]!;
    Atomics.store(i32, at, values[k]! % 4294967296 | 0);
    Atomics.store(i32, at + 1, Math.floor(values[k]! / 4294967296) | 0);
  }
  // Publish point: a reader that sees the same even sequence before and after read a consistent set.
  Atomics.store(i32, seqAt, seq + 1);
}

export function readControlStats(i32: Int32Array): ControlStats {
  const seqAt = F.CTL_W.STATS + F.STAT_W.SEQ;
  let v: number[] = [];
  // Bounded: a writer holds the lock for a few stores; one that died mid-update leaves it odd, and
  // after the bound we return what we read.
  for (let attempt = 0; attempt < 10_000; attempt++) {
    const s1 = Atomics.load(i32, seqAt);
    v = STAT_FIELDS.map((f) => {
      const at = F.CTL_W.STATS + f;
      return (Atomics.load(i32, at) >>> 0) + (Atomics.load(i32, at + 1) >>> 0) * 4294967296;
    });
    if ((s1 & 1) === 0 && Atomics.load(i32, seqAt) === s1) break;
  }
  return { nextSequence: v[0]!, bytes: v[1]!, rolls: v[2]!, flushes: v[3]!, segment: v[4]!, wakes: v[5]! };
}
