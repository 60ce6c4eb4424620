// LogFile.adopt (what a LogWriter roll does with its spare segment): the writer's mapping shows
// the spare's file from then on, at the same address, and the old file keeps what was written to it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as F from '../../lib/log/format.js';
import { logNative, MODE_CREATE } from '../../lib/log/native.js';
import { cleanupDirs, tempDir } from './helpers.js';

afterAll(cleanupDirs);

const SIZE = F.MIN_SEGMENT_BYTES;

describe('LogFile.adopt', () => {
  it('keeps the buffer and its views, which now read and write the spare file; the old file keeps its bytes', () => {
    const dir = tempDir('adopt');
    const { LogFile } = logNative();
    const a = new LogFile(join(dir, 'a'), MODE_CREATE, SIZE);
    const b = new LogFile(join(dir, 'b'), MODE_CREATE, SIZE);
    const view = new Uint8Array(a.buffer);
    view.fill(0xaa, 0, SIZE);
    b.write(100, Uint8Array.of(1, 2, 3));
    b.populate(0, SIZE); // a toucher running in the spare when it is adopted
    a.adopt(b, join(dir, 'b'));
    expect(a.buffer).toBe(view.buffer);
    expect(view.length).toBe(SIZE);
    expect([...view.subarray(99, 104)]).toEqual([0, 1, 2, 3, 0]); // b's bytes, through the old view
    view[SIZE - 1] = 7;
    a.msync(0, SIZE);
    const onDiskB = readFileSync(join(dir, 'b'));
    expect(onDiskB[SIZE - 1]).toBe(7);
    expect(onDiskB[100]).toBe(1);
    const onDiskA = readFileSync(join(dir, 'a'));
    expect(onDiskA.every((v) => v === 0xaa)).toBe(true); // nothing written after the adopt reached a
    expect(() => b.size).toThrow(expect.objectContaining({ code: 'ERR_LOG_CLOSED' }));
    a.close();
    expect(view.length).toBe(0); // detached by close, as before
  });

  it('detaches a buffer the spare had made, and refuses files of another size or itself', () => {
    const dir = tempDir('adopt');
    const { LogFile } = logNative();
    const a = new LogFile(join(dir, 'a'), MODE_CREATE, SIZE);
    const b = new LogFile(join(dir, 'b'), MODE_CREATE, SIZE);
    const c = new LogFile(join(dir, 'c'), MODE_CREATE, 2 * SIZE);
    const spareView = new Uint8Array(b.buffer);
    expect(() => a.adopt(c, 'c')).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => a.adopt(a, 'a')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    a.adopt(b, 'b');
    expect(spareView.length).toBe(0); // its old address is no longer b's: no view may reach it
    for (const f of [a, c]) f.close();
  });
});
