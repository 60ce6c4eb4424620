// A log written by Node's LogWriter, read by the C++ LogReader (<ringwire/ringwire.hpp>) in another
// process: every record in order across segment rolls, and Follow woken by appends made while it
// sleeps (reader slot and parked bit, as lib/log/readers.ts). There is no C++ LogWriter: the
// reverse direction (a C++-written log read by Node) is not provided.
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCppPeers, programs } from '../../scripts/build-cpp-peers.mjs';
import { LogWriter } from '../../lib/index.js';
import * as F from '../../lib/log/format.js';
import { waitFor } from '../helpers/workers.js';
import { finished, startProgram } from '../xproc/helpers.js';

const root = mkdtempSync(join(tmpdir(), 'ringwire-cpp-log-'));
beforeAll(() => buildCppPeers(), 300_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

const record = (i: number) => ({ i, text: `record ${i} `.repeat(1 + (i % 17)) });
const line = (i: number) => `${i} ${JSON.stringify(record(i))}`;

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
    const parked = () => {
      const b = readFileSync(join(dir, F.CONTROL_FILE));
      const i32 = new Int32Array(b.buffer, b.byteOffset, b.length >> 2);
      return (i32[F.CTL_PARKED_OFFSET >> 2]! | i32[(F.CTL_PARKED_OFFSET >> 2) + 1]!) !== 0;
    };
    expect(await waitFor(parked, 10_000)).toBe(true);
    const t0 = Date.now();
    log.append(record(1));
    expect(await finished(follower)).toBe([line(0), line(1)].join('\n'));
    expect(Date.now() - t0).toBeLessThan(2_000); // woken, not timed out (10 s deadline)
    expect(log.stats().wakes).toBeGreaterThanOrEqual(1);
    log.close();
  });
});
