// Logs across languages, in other processes: a log written by Node's LogWriter read by the C++
// LogReader (every record in order across segment rolls; Follow woken by appends made while it
// sleeps, through its reader slot and parked bit as lib/log/readers.ts), and the reverse: a log
// written by the C++ LogWriter read by Node's LogReader (follow() woken by C++ appends) and
// accepted by `ringwire verify`.
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCppPeers, programs } from '../../scripts/build-cpp-peers.mjs';
import { LogReader, LogWriter } from '../../lib/index.js';
import * as F from '../../lib/log/format.js';
import { waitFor } from '../helpers/workers.js';
import { finished, startProgram } from '../xproc/helpers.js';

const root = mkdtempSync(join(tmpdir(), 'ringwire-cpp-log-'));
beforeAll(() => buildCppPeers(), 300_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

const record = (i: number) => ({ i, text: `record ${i} `.repeat(1 + (i % 17)) });
const line = (i: number) => `${i} ${JSON.stringify(record(i))}`;
/** The parked bitmap of the log in `dir` (non-zero: a follower sleeps). */
function parkedBits(dir: string): number {
  const b = readFileSync(join(dir, F.CONTROL_FILE));
  const i32 = new Int32Array(b.buffer, b.byteOffset, b.length >> 2);
  return i32[F.CTL_PARKED_OFFSET >> 2]! | i32[(F.CTL_PARKED_OFFSET >> 2) + 1]!;
}

describe('a Node-written log read by the C++ LogReader', () => {
  it('reads every record in order across segment rolls, values as the JSON text Node wrote', async () => {
    const dir = join(root, 'read');
    const log = LogWriter.open(dir, { segmentBytes: 64 * 1024, codec: 'json' });
    for (let i = 0; i < 3000; i++) log.append(record(i));
    expect(log.stats().rolls).toBeGreaterThanOrEqual(3);
    log.close();
    const out = await finished(startProgram(programs.peer, ['log', dir, '3000', '10000'], 30_000));
    expect(out).toBe(Array.from({ length: 3000 }, (_, i) => line(i)).join('\n'));
  });

  it('a damaged record (CRC) or a truncated segment is ERR_CORRUPT naming the file, never a crash', async () => {
    for (const damage of ['flip', 'truncate'] as const) {
      const dir = join(root, `damaged-${damage}`);
      const log = LogWriter.open(dir, { segmentBytes: 64 * 1024, codec: 'json' });
      for (let i = 0; i < 10; i++) log.append(record(i));
      log.close();
      const segment = join(dir, F.segmentName(0));
      if (damage === 'flip') {
        const bytes = readFileSync(segment);
        bytes[F.SEGMENT_HEADER_BYTES + F.RECORD_HEADER_BYTES + 2]! ^= 0x40; // inside record 0's payload
        writeFileSync(segment, bytes);
      } else {
        truncateSync(segment, 4096);
      }
      const e = await startProgram(programs.peer, ['log', dir, '10', '1000'], 30_000).exit;
      expect({ code: e.code, signal: e.signal }).toEqual({ code: 2, signal: null });
      expect(e.stderr).toContain('ERR_CORRUPT');
      expect(e.stderr).toContain(segment);
      expect(e.stderr).toContain(damage === 'flip' ? 'CRC' : 'truncated');
    }
  });

  it('Follow sleeps in a reader slot and is woken by appends from Node, long before its deadline', async () => {
    const dir = join(root, 'follow');
    const log = LogWriter.open(dir, { segmentBytes: 64 * 1024, codec: 'json' });
    log.append(record(0));
    const follower = startProgram(programs.peer, ['log', dir, '2', '10000'], 30_000);
    // The follower read record 0 and sleeps: its parked bit is set in log.ctl.
    expect(await waitFor(() => parkedBits(dir) !== 0, 10_000)).toBe(true);
    const t0 = Date.now();
    log.append(record(1));
    expect(await finished(follower)).toBe([line(0), line(1)].join('\n'));
    expect(Date.now() - t0).toBeLessThan(2_000); // woken, not timed out (10 s deadline)
    expect(log.stats().wakes).toBeGreaterThanOrEqual(1);
    log.close();
  });
});

describe('a log written by the C++ LogWriter', () => {
  it("is read by Node's LogReader, whose parked follow() a C++ append wakes, and accepted by ringwire verify", async () => {
    const dir = join(root, 'cpp-written');
    const N = 3000;
    // The C++ process creates the log and appends N records across segment rolls.
    expect(await finished(startProgram(programs.peer, ['log-write', dir, String(N), String(64 * 1024)], 30_000))).toBe(`done ${N}`);
    const reader = LogReader.open(dir);
    const follow = reader.follow({ signal: AbortSignal.timeout(20_000) })[Symbol.asyncIterator]();
    const got: unknown[] = [];
    const sequences: number[] = [];
    for (let k = 0; k < N; k++) {
      const e = await follow.next();
      got.push(e.value?.value);
      sequences.push(e.value?.sequence ?? -1);
    }
    expect(sequences).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(got).toEqual(Array.from({ length: N }, (_, i) => record(i)));
    // Now follow() sleeps in its reader slot; a second C++ writer appends one more record.
    const pending = follow.next();
    expect(await waitFor(() => parkedBits(dir) !== 0, 10_000)).toBe(true);
    const t0 = Date.now();
    const again = startProgram(programs.peer, ['log-write', dir, '1', String(64 * 1024)], 30_000);
    const next = await pending;
    expect(Date.now() - t0).toBeLessThan(5_000); // woken (a process start away), not the 20 s deadline
    expect(next.value).toMatchObject({ sequence: N, value: record(0) });
    expect(await finished(again)).toBe(`done ${N + 1}`);
    reader.close();
    const cli = fileURLToPath(new URL('../../bin/ringwire.mjs', import.meta.url));
    const verify = spawnSync(process.execPath, [cli, 'log', 'verify', dir], { encoding: 'utf8' });
    expect({ status: verify.status, stderr: verify.stderr }).toEqual({ status: 0, stderr: '' });
    // A Node writer continues the C++ writers' log (each released the lock at exit).
    const log = LogWriter.open(dir);
    expect(log.nextSequence).toBe(N + 1);
    expect(log.stats().rolls).toBeGreaterThanOrEqual(3);
    log.close();
  });
});
