// verifyLog: checks every segment of a log (headers, every record's CRC32C, sequence continuity,
// seals, bytes after the end) with the native scanner, read-only; and logStat: the counters the
// writer publishes in the control file.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import * as L from '../layout.js';
import { readStats, type Counters } from '../stats.js';
import { logError } from './errors.js';
import * as F from './format.js';
import { logNative, MODE_READ } from './native.js';
import { listSegments, openControl, readControlStats, type ControlStats } from './segments.js';

export interface LogProblem {
  segment: string;
  offset: number;
  problem: string;
}

export interface VerifyReport {
  ok: boolean;
  segments: number;
  records: number;
  payloadBytes: number;
  firstSequence: number;
  nextSequence: number;
  /** Every problem found (at most one per segment: a scan stops at the first bad record). */
  problems: LogProblem[];
}

/** Verifies the log in `dir`; throws only if `dir` holds no log (ERR_NOT_A_LOG). */
export function verifyLog(dir: string): VerifyReport {
  openControl(dir).close(); // ERR_NOT_A_LOG if it is not a log
  const N = logNative();
  const segments = listSegments(dir);
  const report: VerifyReport = { ok: true, segments: segments.length, records: 0, payloadBytes: 0, firstSequence: -1, nextSequence: -1, problems: [] };
  let prev: { index: number; next: number; sealed: boolean; path: string; end: number } | undefined;
  for (let k = 0; k < segments.length; k++) {
    const s = segments[k]!;
    let r;
    try {
      const f = new N.LogFile(s.path, MODE_READ, 0);
      try {
        r = f.scan();
      } finally {
        f.close();
      }
    } catch (err) {
      report.problems.push({ segment: s.path, offset: 0, problem: (err as Error).message });
      prev = undefined;
      continue;
    }
    if (!r.headerValid) {
      report.problems.push({ segment: s.path, offset: 0, problem: 'bad segment header' });
      prev = undefined;
      continue;
    }
    if (r.index !== s.index) report.problems.push({ segment: s.path, offset: F.SEG_INDEX_OFFSET, problem: `header says segment ${r.index}` });
    if (prev !== undefined) {
      if (!prev.sealed) report.problems.push({ segment: prev.path, offset: prev.end, problem: 'segment is not sealed but a later one exists' });
      else if (r.baseSequence !== prev.next) {
        report.problems.push({ segment: s.path, offset: F.SEG_BASE_SEQ_OFFSET, problem: `base sequence ${r.baseSequence}, the previous segment ends at ${prev.next}` });
      }
      if (s.index !== prev.index + 1) report.problems.push({ segment: s.path, offset: 0, problem: `segment ${prev.index + 1} is missing` });
    }
    if (r.problem !== '') report.problems.push({ segment: s.path, offset: r.problemOffset, problem: r.problem });
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
  /** Readers asleep in follow() right now. */
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
      writerPid: i32[F.CTL_WRITER_PID_OFFSET >> 2]!,
      writerAlive: alive(i32[F.CTL_WRITER_PID_OFFSET >> 2]!),
      parkedReaders: Atomics.load(i32, F.CTL_PARKED_OFFSET >> 2),
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

export interface ChannelFileStat {
  kind: 'channel';
  path: string;
  capacity: number;
  /** Bytes published and not yet consumed. */
  usedBytes: number;
  senderPid: number;
  receiverPid: number;
  closed: { sender: boolean; receiver: boolean };
  sent: Counters;
  received: Counters;
}

/**
 * Counters of a log directory (logStat) or of a channel file (its control block, read from the
 * page cache: the same bytes the processes map; layout: cpp/layout.h).
 */
export function statPath(path: string): LogStat | ChannelFileStat {
  if (isLogDir(path)) return logStat(path);
  let magic: number;
  try {
    magic = readMagic(path);
  } catch (err) {
    throw logError('ERR_NOT_A_LOG', `${path} is neither a ringwire log directory nor a channel file`, err);
  }
  if (magic !== L.MAGIC) throw logError('ERR_NOT_A_LOG', `${path} is neither a ringwire log directory nor a channel file`);
  const block = new Uint8Array(new ArrayBuffer(L.CONTROL_BYTES));
  const fd = openSync(path, 'r');
  try {
    if (readSync(fd, block, 0, block.length, 0) < block.length) throw logError('ERR_NOT_A_LOG', `${path}: channel file shorter than its control block`);
  } finally {
    closeSync(fd);
  }
  const i32 = new Int32Array(block.buffer);
  const word = (off: number) => i32[off >> 2]! >>> 0;
  const closed = word(L.CLOSED_OFFSET);
  return {
    kind: 'channel',
    path,
    capacity: word(L.CAPACITY_OFFSET),
    usedBytes: (word(L.TAIL_OFFSET) - word(L.HEAD_OFFSET)) >>> 0,
    senderPid: word(L.SENDER_PID_OFFSET),
    receiverPid: word(L.RECEIVER_PID_OFFSET),
    closed: { sender: (closed & L.SENDER_CLOSED) !== 0, receiver: (closed & L.RECEIVER_CLOSED) !== 0 },
    sent: readStats(i32, L.TX_STATS_OFFSET),
    received: readStats(i32, L.RX_STATS_OFFSET),
  };
}
