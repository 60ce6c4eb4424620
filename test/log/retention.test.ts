// Retention deletes the oldest whole segments (never the one being written) by count, bytes or
// age; readers already in a deleted segment keep reading it (the mapping outlives the name), and a
// reader that had not reached it skips to the oldest segment left, counting what it missed.
import { afterAll, describe, expect, it } from 'vitest';
import { LogReader, LogWriter, verifyLog } from '../../lib/log/index.js';
import * as F from '../../lib/log/format.js';
import { listSegments } from '../../lib/log/segments.js';
import { cleanupDirs, payloadFor, tempDir } from './helpers.js';

afterAll(cleanupDirs);

const SMALL = F.MIN_SEGMENT_BYTES;

describe('retention', () => {
  it('maxSegments keeps the newest segments; readers keep reading or skip ahead', () => {
    const dir = tempDir('ret');
    const w = LogWriter.open<string>(dir, { codec: 'string', segmentBytes: SMALL, retention: { maxSegments: 3 } });
    for (let i = 0; i < 200; i++) w.append(payloadFor(i));
    const early = LogReader.open<string>(dir, { codec: 'string' }); // maps segment 0 now
    const first = early.read()!;
    expect(first.sequence).toBe(0);
    const lagging = LogReader.open<string>(dir, { codec: 'string' });
    let n = 200;
    for (; listSegments(dir)[0]!.index < 5; n++) {
      w.append(payloadFor(n));
      expect(listSegments(dir).length).toBeLessThanOrEqual(3);
    }
    // The early reader is inside segment 0, which is deleted: it reads it to the end, then skips.
    let expected = 1;
    for (let e = early.read(); e !== undefined; e = early.read()) {
      expect(e.value).toBe(payloadFor(e.sequence));
      if (e.sequence !== expected) {
        expect(early.skipped).toBe(e.sequence - expected);
        expected = e.sequence;
      }
      expected++;
    }
    expect(expected).toBe(n);
    expect(early.skipped).toBeGreaterThan(0);
    // The lagging reader opened at the start but had not mapped anything past segment 0's start.
    let count = 0;
    for (let e = lagging.read(); e !== undefined; e = lagging.read()) count++;
    expect(count + lagging.skipped).toBe(n);
    early.close();
    lagging.close();
    w.close();
    // What is left is a valid log that starts later.
    const report = verifyLog(dir);
    expect(report.ok).toBe(true);
    expect(report.firstSequence).toBeGreaterThan(0);
    expect(report.nextSequence).toBe(n);
  });

  it('maxBytes bounds the total size', () => {
    const dir = tempDir('ret');
    const w = LogWriter.open<string>(dir, { codec: 'string', segmentBytes: SMALL, retention: { maxBytes: 4 * SMALL } });
    for (let i = 0; i < 5000; i++) w.append(payloadFor(i));
    expect(listSegments(dir).length).toBe(4);
    w.close();
    expect(verifyLog(dir)).toMatchObject({ ok: true, nextSequence: 5000 });
  });

  it('maxAgeMs deletes segments older than the limit (applied at rolls, open, or on demand)', async () => {
    const dir = tempDir('ret');
    const w = LogWriter.open<string>(dir, { codec: 'string', segmentBytes: SMALL, retention: { maxAgeMs: 60_000 } });
    for (let i = 0; i < 2000; i++) w.append(payloadFor(i));
    const before = listSegments(dir).length;
    expect(before).toBeGreaterThan(3);
    expect(w.applyRetention()).toEqual([]); // nothing is a minute old
    w.close();
    await new Promise((r) => setTimeout(r, 20));
    const w2 = LogWriter.open<string>(dir, { codec: 'string', retention: { maxAgeMs: 5 } });
    expect(listSegments(dir).length).toBe(1); // only the segment being written is left
    expect(w2.nextSequence).toBe(2000);
    w2.close();
  });
});
