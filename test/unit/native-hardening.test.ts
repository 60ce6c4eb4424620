// Regression tests for native-side defects found in review: misuse from JS, or a foreign file,
// gives an error instead of a crash (SIGSEGV, SIGFPE), a hang, or a use of freed memory.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { native } from '../../lib/native.js';
import { testing } from '../helpers/testing-addon.js';

const addon = native() as any;
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'ringwire-hardening-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('native hardening', () => {
  it('log commit on a read-only mapping throws instead of faulting', () => {
    const path = join(tempDir(), 'seg.rwlog');
    const bytes = Buffer.alloc(65536);
    bytes.writeUInt32LE((0x80000000 | 40) >>> 0, 128); // an in-progress record
    writeFileSync(path, bytes);
    const f = new addon.log.LogFile(path, 0, 65536);
    try {
      expect(() => f.commit(128, 168)).toThrow(/read-only/);
    } finally {
      f.close();
    }
  });

  it('log wait with an infinite timeout waits (no overflowed deadline)', async () => {
    const path = join(tempDir(), 'log.ctl');
    writeFileSync(path, Buffer.alloc(4096));
    const f = new addon.log.LogFile(path, 1, 4096);
    try {
      const p = f.wait(128, 0, Infinity);
      const first = await Promise.race([p, new Promise((r) => setTimeout(() => r('pending'), 100))]);
      expect(first).toBe('pending');
      new Uint32Array(f.buffer)[32] = 1;
      f.wake(128);
      expect(['woken', 'not-equal']).toContain(await p);
    } finally {
      f.close();
    }
  });

  it('unlinkChannel with checkMagic refuses a FIFO without blocking on it', () => {
    const path = join(tempDir(), 'fifo');
    try {
      execFileSync('mkfifo', [path]);
    } catch {
      return; // no mkfifo here
    }
    expect(() => addon.unlinkChannel(path, true)).toThrow(expect.objectContaining({ code: 'ERR_NOT_A_CHANNEL' }));
  });

  it('the sequence helpers reject a size range that would divide by zero', () => {
    const mem = new Uint8Array(new SharedArrayBuffer(1024 + 4096));
    testing().initRing(mem, 4096, 4096, 0);
    const p = new (testing().NativeProducer)(mem);
    expect(() => p.produce(0, 1, 1, 0, 0xffffffff)).toThrow(RangeError);
  });

  it('NativeProducer / NativeConsumer refuse memory whose ArrayBuffer was transferred', () => {
    const ab = new ArrayBuffer(1024 + 4096);
    const mem = new Uint8Array(ab);
    testing().initRing(mem, 4096, 4096, 0);
    const p = new (testing().NativeProducer)(mem);
    const c = new (testing().NativeConsumer)(mem);
    structuredClone(ab, { transfer: [ab] });
    expect(() => p.tryWrite(new Uint8Array(8))).toThrow(expect.objectContaining({ code: 'ERR_CHANNEL_CLOSED' }));
    expect(() => c.read()).toThrow(expect.objectContaining({ code: 'ERR_CHANNEL_CLOSED' }));
  });
});
