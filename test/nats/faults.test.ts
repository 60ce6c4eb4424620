// Shipping under faults, against real servers: the shipper SIGKILLed at random moments, the server
// killed and restarted, a cluster node killed. Each time the stream must end with every record of
// the log exactly once, in order.
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, describe, expect, it } from 'vitest';
import { LogWriter } from '../../lib/log/index.js';
import { shipLog } from '../../lib/nats/index.js';
import { prng, between } from '../helpers/sequence.js';
import { sleep } from '../helpers/workers.js';
import { start } from '../xproc/helpers.js';
import { startCluster, startServer, stopAll, tempDir } from './server.js';
import { readStream, sequenceProblems, waitForAsync } from './stream.js';
import { fileURLToPath } from 'node:url';

const shipFixture = fileURLToPath(new URL('./fixtures/ship.mjs', import.meta.url));

afterAll(stopAll);

/** Appends `perTick` records every few ms until stop(); returns how many it appended. */
function keepWriting(w: LogWriter, perTick: number) {
  let n = w.nextSequence;
  const timer = setInterval(() => {
    for (let k = 0; k < perTick; k++) w.append({ n: n++ });
  }, 4);
  return {
    stop: () => {
      clearInterval(timer);
      return n;
    },
  };
}

describe('shipping under faults', () => {
  it('a shipper SIGKILLed at 22 random moments while the log is written: every record once, in order', async () => {
    const server = await startServer();
    const dir = tempDir();
    const w = LogWriter.open(dir);
    const rand = prng(Date.now() & 0xffff);
    const writing = keepWriting(w, 5);
    const args = { dir, servers: server.url, stream: 'killed', maxInFlight: 64 };
    for (let k = 0; k < 22; k++) {
      const child = start(shipFixture, args, 30_000);
      await sleep(between(rand, 50, 450)); // the random moment of the kill (not a synchronisation)
      child.kill('SIGKILL');
      const exit = await child.exit;
      expect(exit.signal, exit.stderr).toBe('SIGKILL');
    }
    const total = writing.stop();
    const last = start(shipFixture, args, 60_000);
    const nc = await connect({ servers: server.url });
    try {
      const jsm = await jetstreamManager(nc);
      const shipped = async () => (await jsm.streams.info('killed')).state.messages === total;
      expect(await waitForAsync(shipped, 30_000)).toBe(true);
      expect(sequenceProblems(await readStream(nc, 'killed'), total)).toEqual([]);
    } finally {
      last.kill('SIGKILL');
      await last.exit;
      await nc.close();
      w.close();
    }
  });

  it('the server killed and restarted twice while shipping: nothing lost, nothing twice', async () => {
    const server = await startServer();
    const dir = tempDir();
    const w = LogWriter.open(dir);
    const s = shipLog(dir, { servers: server.url, stream: 'restarted', ackTimeoutMs: 1000 });
    const writing = keepWriting(w, 5);
    try {
      for (let k = 0; k < 2; k++) {
        expect(await waitForAsync(async () => s.stats().shipped > 200 * (k + 1), 20_000)).toBe(true);
        await server.stop('SIGKILL');
        await sleep(300); // the server is down for a while
        await server.start();
      }
      const total = writing.stop();
      expect(await waitForAsync(async () => s.stats().nextSequence === total, 30_000)).toBe(true);
      expect(s.stats().restarts).toBeGreaterThan(0);
      const nc = await connect({ servers: server.url });
      expect(sequenceProblems(await readStream(nc, 'restarted'), total)).toEqual([]);
      await nc.close();
    } finally {
      writing.stop();
      await s.stop();
      w.close();
    }
  });

  it('a 3-node cluster, R3 stream, its leader killed while shipping: shipping goes on, nothing lost', async () => {
    const servers = await startCluster();
    const urls = servers.map((x) => x.url);
    const dir = tempDir();
    const w = LogWriter.open(dir);
    const s = shipLog(dir, { servers: urls, stream: 'cluster', replicas: 3, ackTimeoutMs: 2000 });
    const writing = keepWriting(w, 5);
    const nc = await connect({ servers: urls });
    try {
      expect(await waitForAsync(async () => s.stats().shipped > 300, 30_000)).toBe(true);
      const jsm = await jetstreamManager(nc);
      const leader = (await jsm.streams.info('cluster')).cluster?.leader;
      const victim = servers.find((x) => x.args.includes(leader ?? '?'));
      expect(victim, `leader ${leader}`).toBeDefined();
      await victim!.stop('SIGKILL');
      const before = s.stats().nextSequence;
      // Shipping goes on with two of three servers.
      expect(await waitForAsync(async () => s.stats().nextSequence > before + 200, 30_000)).toBe(true);
      const total = writing.stop();
      expect(await waitForAsync(async () => s.stats().nextSequence === total, 30_000)).toBe(true);
      expect(sequenceProblems(await readStream(nc, 'cluster'), total)).toEqual([]);
    } finally {
      writing.stop();
      await s.stop();
      await nc.close();
      w.close();
    }
  }, 240_000); // the cluster's start (twice at worst) and three waits, each bounded at 30 s
});
