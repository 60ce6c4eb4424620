// Two follow() calls on one LogReader share its reader slot and parked bit: when one ends (abort)
// while the other sleeps, the survivor must stay parked where the writer sees it, and be woken by
// the next append (it used to be left asleep with its bit cleared: a lost wake, found in review).
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LogReader, LogWriter } from '../../lib/index.js';
import * as F from '../../lib/log/format.js';
import { logNative } from '../../lib/log/native.js';
import { waitFor } from '../helpers/workers.js';
import { cleanupDirs, tempDir } from './helpers.js';

afterAll(cleanupDirs);

describe('several follow() calls of one reader', () => {
  it('one ends (abort) while the other sleeps: the other is still woken by the next append', async () => {
    const dir = tempDir('two-follows');
    const w = LogWriter.open(dir, { codec: 'json', segmentBytes: 1 << 16 });
    const r = LogReader.open(dir, { from: 'end' });
    const ctl = new Int32Array(new (logNative().LogFile)(join(dir, F.CONTROL_FILE), 0, 0).buffer);
    const parked = () => Atomics.load(ctl, F.CTL_PARKED_OFFSET >> 2) !== 0;
    try {
      const first = (async () => {
        for await (const e of r.follow()) return e.value;
        return undefined;
      })();
      const ac = new AbortController();
      const second = (async () => {
        try {
          for await (const _ of r.follow({ signal: ac.signal })) return 'a record';
        } catch (err) {
          return (err as { code?: string }).code;
        }
        return undefined;
      })();
      expect(await waitFor(parked, 5000)).toBe(true);
      ac.abort();
      expect(await second).toBe('ERR_ABORTED');
      // The survivor, woken by the abort too, sleeps again with its bit set.
      expect(await waitFor(parked, 5000)).toBe(true);
      const t0 = performance.now();
      w.append({ n: 1 });
      const got = await Promise.race([first, new Promise((resolve) => setTimeout(() => resolve('not woken'), 10_000))]);
      expect(got).toEqual({ n: 1 });
      expect(performance.now() - t0).toBeLessThan(1000); // woken by the writer, not by a timeout
      expect(w.stats().wakes).toBeGreaterThan(0);
    } finally {
      r.close();
      w.close();
    }
  });
});
