// The log's `mode` option: the permission bits of the files and directories a writer creates,
// exactly, whatever the umask; and what opening a path that is not a directory says.
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LogReader, LogWriter } from '../../lib/index.js';
import { cleanupDirs, tempDir } from './helpers.js';

afterEach(cleanupDirs);

const bits = (path: string) => statSync(path).mode & 0o777;
const codeOf = (f: () => unknown): unknown => {
  try {
    f();
  } catch (err) {
    return (err as { code?: unknown }).code;
  }
  return 'no error';
};

/** Runs f with the umask set to `mask` (restored after). */
function withUmask<T>(mask: number, f: () => T): T {
  const old = process.umask(mask);
  try {
    return f();
  } finally {
    process.umask(old);
  }
}

describe('log mode', () => {
  it('creates files 0600 and directories 0700 by default, whatever the umask', () => {
    const dir = join(tempDir('mode'), 'a', 'log');
    withUmask(0o000, () => LogWriter.open(dir, { segmentBytes: 65536 }).close());
    for (const name of readdirSync(dir)) expect({ name, mode: bits(join(dir, name)) }).toEqual({ name, mode: 0o600 });
    expect([bits(dir), bits(join(dir, '..'))]).toEqual([0o700, 0o700]);
  });

  it('creates files with exactly `mode` and directories with search added where read is, whatever the umask', () => {
    const root = tempDir('mode');
    const dir = join(root, 'a', 'log');
    const w = withUmask(0o077, () => LogWriter.open(dir, { mode: 0o640, segmentBytes: 65536 }));
    // A roll creates a segment later, under whatever umask is current then.
    withUmask(0o077, () => {
      for (let i = 0; i < 200; i++) w.append('x'.repeat(1000));
    });
    expect(w.stats().rolls).toBeGreaterThan(0);
    w.close();
    const files = readdirSync(dir);
    expect(files.length).toBeGreaterThan(2); // the control file and at least two segments
    for (const name of files) expect({ name, mode: bits(join(dir, name)) }).toEqual({ name, mode: 0o640 });
    expect([bits(dir), bits(join(dir, '..'))]).toEqual([0o750, 0o750]);
    expect(bits(root)).toBe(0o700); // existed before: untouched (mkdtemp's bits)
    // And readers read it (as the owner, here).
    const r = LogReader.open(dir);
    expect(r.read()?.value).toBe('x'.repeat(1000));
    r.close();
  });

  it('existing files keep their bits when a writer opens the log again with another mode', () => {
    const dir = tempDir('mode');
    LogWriter.open(dir, { mode: 0o600 }).close();
    const before = Object.fromEntries(readdirSync(dir).map((n) => [n, bits(join(dir, n))]));
    LogWriter.open(dir, { mode: 0o644 }).close();
    expect(Object.fromEntries(readdirSync(dir).map((n) => [n, bits(join(dir, n))]))).toEqual(before);
  });

  it('validates mode like the other options, naming it', () => {
    const dir = tempDir('mode');
    for (const [mode, code] of [['0640', 'ERR_INVALID_ARG'], [0o1777, 'ERR_OUT_OF_RANGE'], [-1, 'ERR_OUT_OF_RANGE'], [1.5, 'ERR_INVALID_ARG']] as const) {
      let err: unknown;
      try {
        LogWriter.open(dir, { mode: mode as number });
      } catch (e) {
        err = e;
      }
      expect({ mode, code: (err as { code?: string }).code, named: /options\.mode/.test(String((err as Error).message)) }).toEqual({ mode, code, named: true });
    }
    expect(readdirSync(dir)).toEqual([]); // nothing was created
  });
});

describe('a path that is a file', () => {
  it('LogWriter.open and LogReader.open say it is not a log directory (ERR_NOT_A_LOG), for the path or a parent', () => {
    const file = join(tempDir('file'), 'plain');
    writeFileSync(file, 'not a log');
    const cases = {
      writer: () => LogWriter.open(file),
      reader: () => LogReader.open(file),
      writerBelow: () => LogWriter.open(join(file, 'sub')),
      readerBelow: () => LogReader.open(join(file, 'sub')),
    };
    for (const [name, open] of Object.entries(cases)) {
      let err: unknown;
      try {
        open();
      } catch (e) {
        err = e;
      }
      const e = err as { code?: string; message?: string } | undefined;
      expect({ name, code: e?.code, says: /is not a log directory: it, or a directory above it, is a file/.test(e?.message ?? '') }).toEqual({ name, code: 'ERR_NOT_A_LOG', says: true });
    }
  });

  it('a missing directory is still "holds no ringwire log" for readers', () => {
    expect(codeOf(() => LogReader.open(join(tempDir('file'), 'missing')))).toBe('ERR_NOT_A_LOG');
  });
});
