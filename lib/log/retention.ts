// Retention: which old segments of a log to delete (by total bytes, age and count), never the one
// being written.
import { closeSync, fstatSync, openSync, unlinkSync } from 'node:fs';
import { checkInteger, checkOptions } from '../errors.js';
import { listSegments, readHeaderFile } from './segments.js';

export interface RetentionOptions {
  /** Delete the oldest segments while all segments together exceed this many bytes. */
  maxBytes?: number;
  /** Delete segments whose newest record is older than this (milliseconds). */
  maxAgeMs?: number;
  /** Keep at most this many segments. */
  maxSegments?: number;
}

const RETENTION_KNOWN = new Set(['maxBytes', 'maxAgeMs', 'maxSegments']);

export function checkRetention(v: unknown): RetentionOptions | undefined {
  if (v === undefined) return undefined;
  const o = checkOptions(v, RETENTION_KNOWN, 'options.retention');
  const r: RetentionOptions = {};
  if (o.maxBytes !== undefined) r.maxBytes = checkInteger('options.retention.maxBytes', o.maxBytes, 0, Number.MAX_SAFE_INTEGER);
  if (o.maxAgeMs !== undefined) r.maxAgeMs = checkInteger('options.retention.maxAgeMs', o.maxAgeMs, 0, Number.MAX_SAFE_INTEGER);
  if (o.maxSegments !== undefined) r.maxSegments = checkInteger('options.retention.maxSegments', o.maxSegments, 1, Number.MAX_SAFE_INTEGER);
  return r;
}

/** The segment being written: never deleted, but counted. */
export interface CurrentSegment {
  index: number;
  path: string;
  segmentBytes: number;
}

/** Deletes the oldest segments of `dir` (never `current`) by the retention options; returns them. */
export function applyRetention(dir: string, r: RetentionOptions | undefined, current: CurrentSegment): string[] {
  if (r === undefined) return [];
  const segments = listSegments(dir).filter((s) => s.index < current.index);
  const sizes = segments.map((s) => fileSize(s.path));
  let total = sizes.reduce((a, b) => a + b, 0) + current.segmentBytes;
  let count = segments.length + 1;
  const now = Date.now();
  const deleted: string[] = [];
  for (let k = 0; k < segments.length; k++) {
    let drop = (r.maxSegments !== undefined && count > r.maxSegments) || (r.maxBytes !== undefined && total > r.maxBytes);
    if (!drop && r.maxAgeMs !== undefined) {
      // A segment's newest record is older than its successor's creation.
      const successor = k + 1 < segments.length ? segments[k + 1]!.path : current.path;
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
