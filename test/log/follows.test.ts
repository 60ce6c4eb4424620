// Two follow() calls on one LogReader share its reader slot and parked bit: when one ends (abort)
// while the other sleeps, the survivor must stay parked where the writer sees it, and be woken by
// the next append (it used to be left asleep with its bit cleared: a lost wake, found in review).
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
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

  it('two threads taking over the slots of ended followers at the same instant get different slots', async () => {
    const dir = tempDir('slot-race');
    const w = LogWriter.open(dir, { codec: 'json', segmentBytes: 1 << 16 });
    const ctl = new Int32Array(new (logNative().LogFile)(join(dir, F.CONTROL_FILE), 1, 0).buffer);
    const parkedBits = () => {
      let n = 0;
      for (let k = 0; k < F.PARKED_WORDS; k++) for (let v = Atomics.load(ctl, (F.CTL_PARKED_OFFSET >> 2) + k); v !== 0; v &= v - 1) n++;
      return n;
    };
    // Every slot held by a thread of this process that has ended (a tid no thread has).
    for (let k = 0; k < F.READER_SLOTS; k++) {
      const s = (F.CTL_READERS_OFFSET + k * F.READER_SLOT_BYTES) >> 2;
      Atomics.store(ctl, s + (F.SLOT_PID_OFFSET >> 2), process.pid);
      Atomics.store(ctl, s + (F.SLOT_START_OFFSET >> 2), 1);
      Atomics.store(ctl, s + (F.SLOT_ECHO_OFFSET >> 2), 0x3ffffff0);
      Atomics.store(ctl, s + (F.SLOT_OWNER_OFFSET >> 2), 0x3ffffff0);
    }
    const barrier = new SharedArrayBuffer(8);
    const bar = new Int32Array(barrier);
    const workers = [0, 1].map(() => new Worker(new URL('./fixtures/follow-thread.mjs', import.meta.url), { workerData: { dir, barrier } }));
    try {
      const got = workers.map((wk) => new Promise((resolve, reject) => (wk.once('message', resolve), wk.once('error', reject))));
      expect(await waitFor(() => Atomics.load(bar, 0) === 2, 10_000)).toBe(true);
      Atomics.store(bar, 1, 1);
      Atomics.notify(bar, 1);
      // Both asleep, each on a slot of its own: two parked bits (one shared slot would show one).
      expect(await waitFor(() => parkedBits() === 2, 10_000)).toBe(true);
      const t0 = performance.now();
      w.append({ n: 7 });
      expect(await Promise.all(got)).toEqual([{ n: 7 }, { n: 7 }]);
      expect(performance.now() - t0).toBeLessThan(1000);
    } finally {
      await Promise.all(workers.map((wk) => wk.terminate()));
      w.close();
    }
  });
});
