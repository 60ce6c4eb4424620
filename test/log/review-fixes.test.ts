// Regressions from a review: follow() ending at once on abort/close right after it parks, a
// segment whose header disagrees with its file name, a corrupt segment size in the control file.
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readdirSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LogReader, LogWriter } from '../../lib/log/index.js';
import { recordCrc } from '../../lib/log/crc32c.js';
import * as F from '../../lib/log/format.js';
import { logNative, MODE_WRITE } from '../../lib/log/native.js';
import { listSegments, parseHeader, writeHeader } from '../../lib/log/segments.js';
import { cleanupDirs, ROOT, tempDir } from './helpers.js';

afterAll(cleanupDirs);

const settlesWithin = <T>(p: Promise<T>, ms: number): Promise<T | 'pending'> =>
  Promise.race([p, new Promise<'pending'>((r) => setTimeout(() => r('pending'), ms).unref())]);

describe('log review regressions', () => {
  it('follow() ends at once on abort or close issued right after it parked (no lost wake-up)', async () => {
    const dir = tempDir();
    const w = LogWriter.open<number>(dir);
    w.append(0);
    for (let k = 0; k < 40; k++) {
      const r = LogReader.open<number>(dir, { from: 'end' });
      const ac = new AbortController();
      const it = r.follow({ signal: ac.signal });
      const next = it.next().then(
        (v) => (v.done ? 'ended' : 'value'),
        (e: { code?: string }) => e.code,
      );
      // follow() is now parked: its native wait thread may not be asleep in the futex yet.
      if (k % 2 === 0) ac.abort();
      else r.close();
      expect(await settlesWithin(next, 2000)).toBe(k % 2 === 0 ? 'ERR_ABORTED' : 'ended');
      r.close();
    }
    w.close();
  });

  it('a segment whose header names another index is corrupt (a reader never goes in circles)', () => {
    const dir = tempDir();
    const w = LogWriter.open<number>(dir, { segmentBytes: F.MIN_SEGMENT_BYTES });
    for (let i = 0; w.segment.endsWith(F.segmentName(0)); i++) w.append(i); // roll once
    w.close();
    // Make segment 1 an empty, sealed segment whose header says it is segment 0: before the check,
    // a reader crossing its end-of-segment record reopened the same file forever.
    const seg1 = listSegments(dir).find((s) => s.index === 1)!.path;
    const f = new (logNative().LogFile)(seg1, MODE_WRITE, F.MIN_SEGMENT_BYTES);
    const u8 = new Uint8Array(f.buffer);
    const i32 = F.words(f.buffer);
    const h = parseHeader(u8, i32)!;
    writeHeader(u8, i32, { ...h, index: 0 });
    const p = F.SEGMENT_HEADER_BYTES;
    u8.fill(0, p, p + 4096);
    i32[(p >> 2) + 2] = F.TYPE_END_OF_SEGMENT;
    i32[(p >> 2) + 3] = h.epoch | 0;
    F.writeU64(i32, p + F.REC_SEQ_OFFSET, h.baseSequence);
    F.writeU64(i32, p + F.REC_TIME_OFFSET, Date.now());
    i32[(p >> 2) + 1] = recordCrc(u8, i32, p, F.END_OF_SEGMENT_BYTES) | 0;
    i32[p >> 2] = F.END_OF_SEGMENT_BYTES;
    f.close();
    // In a child process (the built library): a regression would hang, not fail.
    const script = `import { LogReader } from ${JSON.stringify(join(ROOT, 'dist/index.js'))};
      const r = LogReader.open(${JSON.stringify(dir)});
      try { while (r.read() !== undefined); console.log('no error'); }
      catch (e) { console.log(e.code, e.offset, e.message); }`;
    const res = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect(res.signal).toBeNull();
    expect(res.stdout).toContain(`ERR_CORRUPT ${F.SEG_INDEX_OFFSET} `);
    expect(res.stdout).toContain(`${seg1} is corrupt at offset ${F.SEG_INDEX_OFFSET}: header says segment 0`);
  });

  it('a bad segment size in the control file is ERR_CORRUPT, and no segment is created with it', () => {
    for (const bad of [100, 0, 4097, -4096, 2 ** 30 + 4096]) {
      const dir = tempDir();
      LogWriter.open(dir).close();
      for (const s of listSegments(dir)) unlinkSync(s.path);
      const fd = openSync(join(dir, F.CONTROL_FILE), 'r+');
      const b = Buffer.alloc(4);
      b.writeInt32LE(bad | 0);
      writeSync(fd, b, 0, 4, F.CTL_SEGMENT_BYTES_OFFSET);
      closeSync(fd);
      expect(() => LogWriter.open(dir)).toThrow(expect.objectContaining({ code: 'ERR_CORRUPT', message: expect.stringContaining(`segment bytes ${bad | 0}`) }));
      expect(readdirSync(dir).filter((n) => n !== F.CONTROL_FILE)).toEqual([]);
      // The failed open dropped the lock: a writer naming a valid size may open it.
      LogWriter.open(dir, { segmentBytes: F.MIN_SEGMENT_BYTES }).close();
    }
  });
});
