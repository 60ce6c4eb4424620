// The ringwire command on real logs: tail (once and -f), dump, verify (exit 1 + the first
// corruption's file and offset), stat (a log and a channel file; as JSON and --prometheus), usage errors.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Channel } from '../../lib/index.js';
import { LogWriter } from '../../lib/log/index.js';
import { listSegments } from '../../lib/log/segments.js';
import { cleanupDirs, FIXTURES, ROOT, tempDir } from './helpers.js';
import { parseExposition, valueOf } from '../helpers/prometheus.js';
import { testing } from '../helpers/testing-addon.js';

afterAll(cleanupDirs);

const BIN = join(ROOT, 'bin', 'ringwire.mjs');
const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 30_000 });

function makeLog(n: number): string {
  const dir = tempDir('cli');
  const w = LogWriter.open(dir, { segmentBytes: 64 * 1024 });
  for (let i = 0; i < n; i++) w.append({ level: 30, i, msg: `line ${i}` });
  w.close();
  return dir;
}

describe('ringwire CLI', () => {
  it('log tail prints the last records as NDJSON or text', () => {
    const dir = makeLog(3000);
    const r = cli('log', 'tail', dir, '-n', '3');
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n').map((l) => JSON.parse(l).i)).toEqual([2997, 2998, 2999]);
    const t = cli('log', 'tail', dir, '-n', '1', '--format', 'text');
    expect(t.stdout).toMatch(/^2999 \d{4}-\d\d-\d\dT[\d:.]+Z \{"level":30,"i":2999,"msg":"line 2999"\}\n$/);
    const from = cli('log', 'tail', dir, '--from', '2990', '-n', '4'); // at most 4 from there
    expect(from.stdout.trim().split('\n').map((l) => JSON.parse(l).i)).toEqual([2990, 2991, 2992, 2993]);
  });

  it('log dump prints every record with its sequence and timestamp', () => {
    const dir = makeLog(2500);
    const r = cli('log', 'dump', dir);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.length).toBe(2500);
    expect(lines[1234]).toMatchObject({ sequence: 1234, value: { i: 1234, msg: 'line 1234' } });
    expect(typeof lines[0].timestamp).toBe('number');
  });

  it('log verify: exit 0 on a good log, 1 with the segment and offset of the first corruption', () => {
    const dir = makeLog(2000);
    const ok = cli('log', 'verify', dir);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain('2000 record(s)');
    const seg = listSegments(dir)[1]!.path;
    const fd = openSync(seg, 'r+');
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, 1000);
    b[0]! ^= 0x10;
    writeSync(fd, b, 0, 1, 1000);
    closeSync(fd);
    const bad = cli('log', 'verify', dir);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toMatch(new RegExp(`CORRUPT ${seg} at offset \\d+: `));
    const offset = Number(/at offset (\d+)/.exec(bad.stdout)![1]);
    expect(offset).toBeLessThanOrEqual(1000);
    expect(offset).toBeGreaterThan(1000 - 200);
    // tail/dump meeting the corruption say where, and exit 1.
    const dump = cli('log', 'dump', dir);
    expect(dump.status).toBe(1);
    expect(dump.stderr).toContain(`${seg} is corrupt at offset ${offset}`);
  });

  it('log tail -f follows a live writer', async () => {
    const dir = makeLog(5);
    const w = LogWriter.open(dir);
    const child = spawn(process.execPath, [BIN, 'log', 'tail', dir, '-f', '-n', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const lines = () => out.trim().split('\n').filter(Boolean);
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (lines().length === 2) for (let i = 5; i < 105; i++) w.append({ i });
        if (lines().length >= 102) resolve();
      });
    });
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    clearTimeout(guard);
    w.close();
    expect(lines().map((l) => JSON.parse(l).i)).toEqual([3, 4, ...Array.from({ length: 100 }, (_, k) => k + 5)]);
  });

  it('stat reads the counters of a log and of a channel file', () => {
    const dir = makeLog(1234);
    const s = cli('stat', dir);
    expect(s.status).toBe(0);
    expect(JSON.parse(s.stdout)).toMatchObject({ kind: 'log', nextSequence: 1234, writerPid: 0, parkedReaders: 0 });

    const mem = new Uint8Array(1024 + 4096);
    testing().initRing(mem, 4096, 1024, 1);
    const file = join(tempDir('cli'), 'chan');
    writeFileSync(file, mem);
    const c = cli('stat', file);
    expect(c.status).toBe(0);
    expect(JSON.parse(c.stdout)).toMatchObject({ kind: 'channel', capacity: 4096, depthBytes: 0, stats: { sent: { messages: 0 }, received: { dropped: 0 } } });
  });

  it('stat --prometheus prints the counters of a named channel and of a log in the metrics vocabulary', async () => {
    const name = `cli-prom-${process.pid}-${Math.random().toString(36).slice(2)}`;
    const ch = Channel.open(name, { create: true, capacity: 4096, codec: 'bytes' });
    try {
      const tx = ch.sender();
      let bytes = 0;
      let depth = 0;
      for (let i = 0; i < 37; i++) {
        expect(tx.trySend(new Uint8Array(1 + i))).toBe(true);
        bytes += 1 + i;
        depth += (8 + 1 + i + 7) & ~7; // a record: 8-byte header, payload padded to 8
      }
      await tx.close(); // flushes the sender's counters to the file
      const r = cli('stat', '--prometheus', name);
      expect(r.status, r.stderr).toBe(0);
      const e = parseExposition(r.stdout);
      const v = (metric: string) => valueOf(e, `ringwire_channel_${metric}`, { channel: name });
      expect(v('sent_messages_total')).toBe(37);
      expect(v('sent_bytes_total')).toBe(bytes);
      expect(v('received_messages_total')).toBe(0);
      expect(v('depth_bytes')).toBe(depth);
      expect(v('capacity_bytes')).toBe(4096);

      const dir = makeLog(1234);
      const l = cli('stat', '--prometheus', dir);
      expect(l.status, l.stderr).toBe(0);
      expect(valueOf(parseExposition(l.stdout), 'ringwire_log_records_total', { log: dir })).toBe(1234);
      expect(valueOf(parseExposition(l.stdout), 'ringwire_log_writer_alive', { log: dir })).toBe(0);

      // Without prom-client installed: exit 2, saying what to install.
      const missing = spawnSync(process.execPath, ['--import', join(FIXTURES, 'without-prom-client.mjs'), BIN, 'stat', '--prometheus', name], { encoding: 'utf8', timeout: 30_000 });
      expect(missing.status).toBe(2);
      expect(missing.stdout).toBe('');
      expect(missing.stderr).toContain('metrics need prom-client, an optional peer dependency of ringwire: npm install prom-client');
    } finally {
      await ch.close();
      Channel.unlink(name);
    }
  });

  it('usage errors exit 2', () => {
    expect(cli().status).toBe(2);
    expect(cli('log', 'tail').status).toBe(2);
    expect(cli('log', 'tail', tempDir('empty')).stderr).toContain('is not a ringwire log directory');
    expect(cli('log', 'tail', '/', '-n', 'x').status).toBe(2);
    expect(cli('stat', '/etc/hostname').status).toBe(2);
  });
});
