// follow() across processes: a writer process appends (with naps, so the reader has to park, and
// 64 KiB segments, so it rolls often) while reader processes follow from the start. Each reader
// must see every record exactly once, in order, with the right payload, across every roll.
import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { LogWriter, logStat, verifyLog } from '../../lib/log/index.js';
import { cleanupDirs, FIXTURES, tempDir } from './helpers.js';

afterAll(cleanupDirs);

function run(script: string, args: string[], onLine?: (line: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`${FIXTURES}${script}`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const guard = setTimeout(() => child.kill('SIGKILL'), 60_000); // bounded
    child.stdout.on('data', (d: Buffer) => {
      const before = out.length;
      out += d.toString();
      if (onLine) for (const line of out.slice(before).split('\n')) if (line) onLine(line);
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      if (code === 0) resolve(out);
      else reject(new Error(`${script} exited with ${code ?? signal}: ${err}`));
    });
  });
}

describe('follow across processes', () => {
  it('two follower processes see every record once, in order, across segment rolls', async () => {
    const dir = tempDir('follow');
    const COUNT = 20_000;
    // An empty log, then the readers (they park at once), then the writer process.
    LogWriter.open(dir, { codec: 'string', segmentBytes: 64 * 1024 }).close();
    let following = 0;
    let startWriter!: () => void;
    const bothFollowing = new Promise<void>((r) => (startWriter = r));
    const onLine = (line: string) => {
      if (line === 'following' && ++following === 2) startWriter();
    };
    const writerDone = (async () => {
      await bothFollowing;
      // Idle readers sleep in a futex wait (counted in the control file), they do not poll.
      for (let i = 0; i < 500 && logStat(dir).parkedReaders < 2; i++) await new Promise((r) => setTimeout(r, 10));
      expect(logStat(dir).parkedReaders).toBe(2);
      return run('writer.mjs', [dir, String(64 * 1024), String(COUNT), '42', '50']);
    })();
    const readers = [run('follower.mjs', [dir, String(COUNT)], onLine), run('follower.mjs', [dir, String(COUNT)], onLine)];
    const [w, r1, r2] = await Promise.all([writerDone, ...readers]);
    expect(w).toContain(`done ${COUNT}`);
    expect(r1.trim().split('\n').at(-1)).toBe(`ok ${COUNT} 0`);
    expect(r2.trim().split('\n').at(-1)).toBe(`ok ${COUNT} 0`);
    const report = verifyLog(dir);
    expect(report).toMatchObject({ ok: true, records: COUNT });
    expect(report.segments).toBeGreaterThan(20);
    expect(logStat(dir).parkedReaders).toBe(0);
  });
});
