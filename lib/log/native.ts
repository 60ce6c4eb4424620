// The log's half of the native addon (cpp/addon/log_binding.cc), typed.
import { native } from '../native.js';
import type { SegmentHeader } from './format.js';

/** One mmap'd file. Mode 0 read-only, 1 read-write (extended to `bytes`), 2 create + preallocate. */
export interface LogFile {
  /** The mapping (an external ArrayBuffer, made at the first use; detached by close()). */
  readonly buffer: ArrayBuffer;
  readonly size: number;
  /** flock(LOCK_EX | LOCK_NB): true if we now hold it. */
  lock(): boolean;
  msync(offset: number, length: number): void;
  /** Prefaults the pages of [from, to) in a background thread; later calls extend `to`. */
  populate(from: number, to: number): void;
  /** msync of the whole mapping every `ms` in a background thread, until close(). */
  syncEvery(ms: number): void;
  /** Wakes every thread asleep on the word; returns how many there were. */
  wake(offset: number): number;
  wait(offset: number, expected: number, timeoutMs: number): Promise<'woken' | 'not-equal' | 'timed-out'>;
  /** CRCs and commits the in-progress records laid out in [start, end); returns how many. */
  commit(start: number, end: number): number;
  scan(): ScanResult;
  zero(from: number, to: number): void;
  /** Copies `bytes` into the mapping at `offset` (without making the ArrayBuffer). */
  write(offset: number, bytes: Uint8Array): void;
  /** From now on maps `spare`'s file (same size) at this mapping's address: `buffer` and its views
   * stay valid; the spare's prefaulted pages move along; the old file is unmapped and closed in
   * the background, `spare` is closed, and `path` names the file in messages. */
  adopt(spare: LogFile, path: string): void;
  close(): void;
}

/** What the native scan of a segment found; the header fields as in segments.ts. */
export interface ScanResult extends SegmentHeader {
  /** '' when the segment is valid. */
  problem: string;
  problemOffset: number;
  /** The problem is a record never committed (a writer is writing it, or crashed while it did). */
  inProgress: boolean;
  end: number;
  records: number;
  nextSequence: number;
  lastTimestamp: number;
  payloadBytes: number;
  sealed: boolean;
  dirtyEnd: number;
  headerValid: boolean;
}

export interface LogAddon {
  constants: Record<string, number>;
  /** `perm`: the permission bits of a created file (mode 2), exactly (default 0o600). */
  LogFile: new (path: string, mode: 0 | 1 | 2, bytes: number, perm?: number) => LogFile;
  crc32c(bytes: Uint8Array, init?: number, software?: boolean): number;
  fsyncDir(path: string): void;
  hardwareCrc: boolean;
}

export const MODE_READ = 0;
export const MODE_WRITE = 1;
export const MODE_CREATE = 2;

export const logNative = (): LogAddon => (native() as unknown as { log: LogAddon }).log;
