// `ringwire log ship` against a real server: ships, stops cleanly on SIGTERM with its stats;
// usage errors exit 2.
import { spawn, spawnSync } from 'node:child_process';
import { connect } from '@nats-io/transport-node';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { LogWriter } from '../../lib/log/index.js';
import { startServer, stopAll, tempDir } from './server.js';
import { readStream, sequenceProblems, waitForAsync } from './stream.js';

const BIN = join(fileURLToPath(new URL('../..', import.meta.url)), 'bin', 'ringwire.mjs');

afterAll(stopAll);

describe('ringwire log ship', () => {
  it('ships a log until SIGTERM, then prints its stats and exits 0', async () => {
    const server = await startServer();
    const dir = tempDir();
    const w = LogWriter.open(dir);
    for (let i = 0; i < 200; i++) w.append({ i });
    const child = spawn(process.execPath, [BIN, 'log', 'ship', dir, '--server', server.url, '--stream', 'cli'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const limit = setTimeout(() => child.kill('SIGKILL'), 60_000);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const nc = await connect({ servers: server.url });
    try {
      const { jetstreamManager } = await import('@nats-io/jetstream');
      const jsm = await jetstreamManager(nc);
      expect(await waitForAsync(async () => (await jsm.streams.info('cli')).state.messages === 200, 20_000)).toBe(true);
      for (let i = 200; i < 250; i++) w.append({ i });
      expect(await waitForAsync(async () => (await jsm.streams.info('cli')).state.messages === 250, 20_000)).toBe(true);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      const stats = JSON.parse(stdout.trim().split('\n').pop()!);
      expect(stats.nextSequence).toBe(250);
      expect(stats.lag).toEqual({ records: 0, bytes: 0 });
      expect(stderr).toContain('subject ringwire.log.cli');
      expect(sequenceProblems(await readStream(nc, 'cli'), 250)).toEqual([]);
    } finally {
      clearTimeout(limit);
      child.kill('SIGKILL');
      await nc.close();
      w.close();
    }
  });

  it('without --stream it is a usage error (exit 2)', () => {
    const dir = tempDir();
    LogWriter.open(dir).close();
    const r = spawnSync(process.execPath, [BIN, 'log', 'ship', dir, '--server', 'nats://127.0.0.1:1'], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('log ship needs --server and --stream');
  });
});
