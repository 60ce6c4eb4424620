// verifyLog: checks every segment of a log (headers, every record's CRC32C, sequence continuity,
// seals, bytes after the end) with the native scanner, read-only; and logStat: the counters the
// writer publishes in the control file.
import process from 'node:process';
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { channelPath, inspectChannel, type ChannelInfo } from '../channel/inspect.js';
import * as L from '../core/layout.js';
import { RingwireError } from '../errors.js';
import { logError } from './errors.js';
import * as F from './format.js';
import { logNative, MODE_READ, type ScanResult } from './native.js';
import { parkedCount } from './readers.js';
import { listSegments, openControl, readControlStats, type ControlStats } from './segments.js';

export interface LogProblem {
  segment: string;
  offset: number;
  problem: string;
}

export interface UnfinishedTail {
  /** The segment holding it: the last one, or for an interrupted roll the one left unsealed. */
  segment: string;
  /** Offset of the first byte after the last committed record. */
  offset: number;
  /** Bytes written after the last committed record (what the next writer discards). */
  bytes: number;
  /** A roll stopped after the new (empty) segment was created, before the previous was sealed. */
  rollInterrupted: boolean;
  /** The writer named in log.ctl is running: it is writing that record now (not a crash). */
  writerRunning: boolean;
}

export interface VerifyReport {
  /** No damage to committed records (an unfinished tail is not damage). */
  ok: boolean;
  segments: number;
  records: number;
  payloadBytes: number;
  firstSequence: number;
  nextSequence: number;
  /** Every problem found in committed records (at most one per segment: a scan stops there). */
  problems: LogProblem[];
  /** What a writer that crashed (or is writing now) left after its last commit; repaired by the
   * next LogWriter.open. Undefined when the log ends cleanly. */
  unfinishedTail: UnfinishedTail | undefined;
}

interface Scanned {
  path: string;
  index: number;
  r: ScanResult | undefined;
  error: string;
  /** A committed record follows the in-progress record the scan stopped at (see committedAfter). */
  committedAfter: boolean;
}

/**
 * Whether a committed record follows the in-progress record at `p`, skipping further in-progress
 * records by their lengths (a batch lays several out before committing them in order). A writer
 * never commits a record after one it left in progress, so a committed one there means the
 * in-progress bit of a committed record was flipped: damage, not an unfinished tail.
 */
function committedAfter(i32: Int32Array, p: number): boolean {
  // Bounded: p grows by at least one record header per pass.
  while (p + F.RECORD_HEADER_BYTES <= i32.length * 4) {
    const word = i32[F.wordAt(p) + F.REC_W.LENGTH]!;
    if (word === 0) return false;
    if ((word & F.IN_PROGRESS) === 0) return true;
    const length = word & F.LENGTH_MASK;
    if (length < F.RECORD_HEADER_BYTES) return false; // its length is not written yet: nothing after it is
    p += F.alignRecord(length);
  }
  return false;
}

/**
 * The unfinished tail a writer leaves when it dies (SIGKILL, crash) between two commits: a record
 * in progress at the end of the last segment, or a roll interrupted after it created the next
 * segment (complete header, no records) and before it committed the END_OF_SEGMENT record of the
 * previous one (nothing, or that record in progress). Anything else is damage.
 */
function unfinishedTail(scanned: Scanned[], writerRunning: boolean): UnfinishedTail | undefined {
  const last = scanned.at(-1);
  const lr = last?.r;
  if (lr === undefined || !lr.headerValid) return undefined;
  const before = scanned.at(-2);
  const pr = before?.r;
  if (
    pr !== undefined && pr.headerValid && !pr.sealed && (pr.problem === '' || (pr.inProgress && !before!.committedAfter)) &&
    lr.records === 0 && lr.problem === '' &&
    before!.index + 1 === last!.index && lr.baseSequence === pr.nextSequence
  ) {
    return { segment: before!.path, offset: pr.end, bytes: pr.dirtyEnd - pr.end, rollInterrupted: true, writerRunning };
  }
  if (!lr.inProgress || last!.committedAfter) return undefined;
  return { segment: last!.path, offset: lr.end, bytes: lr.dirtyEnd - lr.end, rollInterrupted: false, writerRunning };
}

/** Verifies the log in `dir`; throws only if `dir` holds no log (ERR_NOT_A_LOG). */
export function verifyLog(dir: string): VerifyReport {
  const ctl = openControl(dir); // ERR_NOT_A_LOG if it is not a log
  const writerRunning = alive(F.words(ctl.buffer)[F.CTL_W.WRITER_PID]!);
  ctl.close();
  const N = logNative();
  const scanned: Scanned[] = listSegments(dir).map((s) => {
    try {
      const f = new N.LogFile(s.path, MODE_READ, 0);
      try {
        const r = f.scan();
        return { ...s, r, error: '', committedAfter: r.inProgress && committedAfter(F.words(f.buffer), r.end) };
      } finally {
        f.close();
      }
    } catch (err) {
      return { ...s, r: undefined, error: (err as Error).message, committedAfter: false };
    }
  });
  const tail = unfinishedTail(scanned, writerRunning);
  const report: VerifyReport = {
    ok: true, segments: scanned.length, records: 0, payloadBytes: 0, firstSequence: -1, nextSequence: -1, problems: [], unfinishedTail: tail,
  };
  let prev: { index: number; next: number; sealed: boolean; path: string; end: number } | undefined;
  for (const s of scanned) {
    const r = s.r;
    if (r === undefined || !r.headerValid) {
      report.problems.push({ segment: s.path, offset: 0, problem: r === undefined ? s.error : 'bad segment header' });
      prev = undefined;
      continue;
    }
    const inTail = tail !== undefined && tail.segment === s.path;
    if (r.index !== s.index) report.problems.push({ segment: s.path, offset: F.SEG_INDEX_OFFSET, problem: `header says segment ${r.index}` });
    if (prev !== undefined) {
      if (!prev.sealed) {
        if (tail?.segment !== prev.path) report.problems.push({ segment: prev.path, offset: prev.end, problem: 'segment is not sealed but a later one exists' });
      } else if (r.baseSequence !== prev.next) {
        report.problems.push({ segment: s.path, offset: F.SEG_BASE_SEQ_OFFSET, problem: `base sequence ${r.baseSequence}, the previous segment ends at ${prev.next}` });
      }
      if (s.index !== prev.index + 1) report.problems.push({ segment: s.path, offset: 0, problem: `segment ${prev.index + 1} is missing` });
    }
    if (r.problem !== '' && !(inTail && r.inProgress)) report.problems.push({ segment: s.path, offset: r.problemOffset, problem: r.problem });
    if (report.firstSequence < 0) report.firstSequence = r.baseSequence;
    report.records += r.records;
    report.payloadBytes += r.payloadBytes;
    report.nextSequence = r.nextSequence;
    prev = { index: s.index, next: r.nextSequence, sealed: r.sealed, path: s.path, end: r.end };
  }
  report.ok = report.problems.length === 0;
  return report;
}

export interface LogStat extends ControlStats {
  kind: 'log';
  dir: string;
  /** pid of the last writer that opened the log, 0 after a clean close. */
  writerPid: number;
  /** Whether that process is still running (false: it closed, or died and a successor may open). */
  writerAlive: boolean;
  /** Followers marked asleep in follow() right now (one killed asleep counts until the writer's
   * next wake finds it dead). */
  parkedReaders: number;
  segments: number;
  oldestSegment: number;
  diskBytes: number;
}

/** The writer's counters from the control file (published at rolls, flushes, close and every
 * 65536 appends), plus the segment files. */
export function logStat(dir: string): LogStat {
  const ctl = openControl(dir);
  try {
    const i32 = F.words(ctl.buffer);
    const segments = listSegments(dir);
    let diskBytes = 0;
    for (const s of segments) {
      try {
        const fd = openSync(s.path, 'r');
        diskBytes += fstatSync(fd).size;
        closeSync(fd);
      } catch {}
    }
    return {
      kind: 'log',
      dir,
      ...readControlStats(i32),
      writerPid: i32[F.CTL_W.WRITER_PID]!,
      writerAlive: alive(i32[F.CTL_W.WRITER_PID]!),
      parkedReaders: parkedCount(i32),
      segments: segments.length,
      oldestSegment: segments.length > 0 ? segments[0]!.index : -1,
      diskBytes,
    };
  } finally {
    ctl.close();
  }
}


function alive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The first bytes of `path` (for detecting what kind of file it is). */
export function readMagic(path: string): number {
  const b = new Uint8Array(4);
  const fd = openSync(path, 'r');
  try {
    if (readSync(fd, b, 0, 4, 0) < 4) return 0;
  } finally {
    closeSync(fd);
  }
  return (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
}

export const isLogDir = (path: string): boolean => {
  try {
    return readMagic(join(path, F.CONTROL_FILE)) === F.CONTROL_MAGIC;
  } catch {
    return false;
  }
};

/** `ringwire stat` of a channel file: what `ringwire ls` shows of it, counters included. */
export type ChannelFileStat = { kind: 'channel' } & ChannelInfo;

/**
 * Counters of a log directory (logStat) or of a channel file (lib/channel/inspect.ts, the one reader
 * of them). A path that exists is that path; otherwise a plain name is the channel SHM_DIR/ringwire-<name>.
 */
export function statPath(nameOrPath: string): LogStat | ChannelFileStat {
  const path = existsSync(nameOrPath) || nameOrPath.includes('/') ? nameOrPath : channelPath(nameOrPath);
  if (isLogDir(path)) return logStat(path);
  let magic = 0;
  try {
    magic = readMagic(path);
  } catch (err) {
    throw logError('ERR_NOT_A_LOG', `${path} is neither a ringwire log directory nor a channel file`, err);
  }
  if (magic !== L.MAGIC) throw logError('ERR_NOT_A_LOG', `${path} is neither a ringwire log directory nor a channel file`);
  const c = inspectChannel(path);
  if ('problem' in c) throw new RingwireError('ERR_NOT_A_CHANNEL', `${path} is not a usable ringwire channel: ${c.problem}`);
  return { kind: 'channel', ...c };
}
