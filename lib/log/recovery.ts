// Recovery at LogWriter.open: finds the tail segment, keeps its valid prefix, zeroes the rest,
// finishes a roll the previous writer died in, and says where the next record goes.
import { LogCorruptError } from './errors.js';
import * as F from './format.js';
import type { SegmentHeader } from './format.js';
import { logNative, MODE_WRITE, type LogFile } from './native.js';
import { createSegment, listSegments, newEpoch, readHeaderFile, writeEndOfSegment, writeHeader } from './segments.js';

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

/** The log a writer recovers, and what new segments get. */
export interface RecoverParams {
  dir: string;
  segmentBytes: number;
  codec: number;
  /** Permission bits of new segment files. */
  mode: number;
}

/** Where the writer continues: the mapped tail segment, its header, the offset and sequence of the next record. */
export interface Tail {
  file: LogFile;
  path: string;
  header: SegmentHeader;
  pos: number;
  nextSequence: number;
}

/** The header of a new segment (a fresh epoch, created now). */
export const newHeader = (codec: number, segmentBytes: number, index: number, baseSequence: number): SegmentHeader => ({
  epoch: newEpoch(),
  index,
  baseSequence,
  segmentBytes,
  created: Date.now(),
  codec,
});

/** Finds the tail, keeps its valid prefix, zeroes the rest; returns where to continue. */
export function recoverTail(p: RecoverParams): { tail: Tail; report: RecoveryReport } {
  const segments = listSegments(p.dir);
  const N = logNative();
  if (segments.length === 0) {
    const h = newHeader(p.codec, p.segmentBytes, 0, 0);
    const { file, path } = createSegment(p.dir, h, p.mode);
    return {
      tail: { file, path, header: h, pos: F.SEGMENT_HEADER_BYTES, nextSequence: 0 },
      report: { segment: path, problem: '', discardedFrom: -1, discardedBytes: 0, records: 0 },
    };
  }
  const last = segments[segments.length - 1]!;
  const header = readHeaderFile(last.path);
  if (header.index !== last.index) throw new LogCorruptError(last.path, F.SEG_INDEX_OFFSET, `header says segment ${header.index}`);
  // Mode write extends a truncated file back to its size (zero-filled): no SIGBUS past the end.
  const file = new N.LogFile(last.path, MODE_WRITE, header.segmentBytes);
  try {
    const r = file.scan();
    if (!r.headerValid) throw new LogCorruptError(last.path, 0, 'bad segment header');
    if (r.dirtyEnd > r.end) file.zero(r.end, r.dirtyEnd);
    const report: RecoveryReport = {
      segment: last.path,
      problem: r.problem,
      discardedFrom: r.dirtyEnd > r.end || r.problem !== '' ? r.end : -1,
      discardedBytes: r.dirtyEnd - r.end,
      records: r.records,
    };
    let base = header;
    if (r.records === 0 && segments.length > 1) base = sealPrevious(segments[segments.length - 2]!, file, header);
    const nextSequence = r.records === 0 ? base.baseSequence : r.nextSequence;
    if (r.sealed) {
      // Sealed, yet the last: its successor is gone (deleted by hand). Start a new one.
      file.close();
      const h = newHeader(p.codec, p.segmentBytes, last.index + 1, r.nextSequence);
      const next = createSegment(p.dir, h, p.mode);
      return { tail: { file: next.file, path: next.path, header: h, pos: F.SEGMENT_HEADER_BYTES, nextSequence }, report };
    }
    return { tail: { file, path: last.path, header: base, pos: r.end, nextSequence }, report };
  } catch (err) {
    file.close();
    throw err;
  }
}

/**
 * The tail is empty: the previous writer may have died in a roll, after creating the tail but
 * before sealing the previous segment. Seal it (after its valid prefix) and make the tail's base
 * sequence follow it. Returns the tail's (possibly rewritten) header.
 */
function sealPrevious(prev: { path: string }, tailFile: LogFile, tail: SegmentHeader): SegmentHeader {
  const ph = readHeaderFile(prev.path);
  const f = new (logNative().LogFile)(prev.path, MODE_WRITE, ph.segmentBytes);
  try {
    const r = f.scan();
    if (!r.headerValid) return tail;
    if (!r.sealed) {
      if (r.dirtyEnd > r.end) f.zero(r.end, r.dirtyEnd);
      if (r.end + F.END_OF_SEGMENT_BYTES > ph.segmentBytes) throw new LogCorruptError(prev.path, r.end, 'no room for the end-of-segment record');
      writeEndOfSegment(F.words(f.buffer), new Uint8Array(f.buffer), r.end, ph.epoch, r.nextSequence);
    }
    if (tail.baseSequence === r.nextSequence) return tail;
    const fixed = { ...tail, baseSequence: r.nextSequence };
    writeHeader(new Uint8Array(tailFile.buffer), F.words(tailFile.buffer), fixed);
    return fixed;
  } finally {
    f.close();
  }
}
