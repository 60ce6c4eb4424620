// The replica against a real server: killed at random moments and restarted, its local log must
// end up the stream's exact copy (same payloads, same order, each once), readable with LogReader.
import { connect } from '@nats-io/transport-node';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { LogReader, LogWriter } from '../../lib/log/index.js';
import { replicate, shipLog } from '../../lib/nats/index.js';
import { between, prng } from '../helpers/sequence.js';
import { sleep } from '../helpers/workers.js';
import { start } from '../xproc/helpers.js';
import { startServer, stopAll, tempDir } from './server.js';
import { readStream, waitForAsync } from './stream.js';

const replicaFixture = fileURLToPath(new URL('./fixtures/replica.mjs', import.meta.url));

afterAll(stopAll);

/** Every record of the log in `dir` as raw payload bytes (empty if there is no log yet). */
function localRecords(dir: string): Uint8Array[] {
  try {
    const r = LogReader.open(dir, { raw: true });
    const out: Uint8Array[] = [];
    for (let e = r.read(); e !== undefined; e = r.read()) out.push(e.value as Uint8Array);
    r.close();
    return out;
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_NOT_A_LOG') return [];
    throw err;
  }
}

describe('replicate', () => {
  it('a replica SIGKILLed at 8 random moments and restarted: the local log is the stream, exactly', async () => {
    const server = await startServer();
    const source = tempDir();
    const w = LogWriter.open(source);
    const shipper = shipLog(source, { servers: server.url, stream: 'rep' });
    let n = 0;
    const writing = setInterval(() => {
      for (let k = 0; k < 5; k++) w.append({ n: n++, text: `record ${n}` });
    }, 4);
    const copy = join(tempDir(), 'copy');
    const args = { dir: copy, servers: server.url, stream: 'rep', batch: 50 };
    const rand = prng(Date.now() & 0xffff);
    try {
      for (let k = 0; k < 8; k++) {
        const child = start(replicaFixture, args, 30_000);
        await sleep(between(rand, 100, 600)); // the random moment of the kill (not a synchronisation)
        child.kill('SIGKILL');
        expect((await child.exit).signal).toBe('SIGKILL');
      }
      clearInterval(writing);
      expect(await waitForAsync(async () => shipper.stats().nextSequence === n, 20_000)).toBe(true);
      const last = start(replicaFixture, args, 60_000);
      expect(await waitForAsync(async () => localRecords(copy).length >= n, 30_000)).toBe(true);
      last.kill('SIGKILL');
      await last.exit;
      const nc = await connect({ servers: server.url });
      const stored = await readStream(nc, 'rep');
      await nc.close();
      const local = localRecords(copy);
      expect(stored.length).toBe(n);
      expect(local.length).toBe(n);
      const differ = local.findIndex((b, i) => Buffer.compare(Buffer.from(b), Buffer.from(stored[i]!.data)) !== 0);
      expect(differ).toBe(-1);
      // The codec carried over: readers there get the values.
      const r = LogReader.open(copy);
      expect(r.read()?.value).toEqual({ n: 0, text: 'record 1' });
      expect(r.codec).toBe('json');
      r.close();
    } finally {
      clearInterval(writing);
      await shipper.stop();
      w.close();
    }
  });

  it('acknowledges what it appended: the durable consumer has nothing pending afterwards', async () => {
    const server = await startServer();
    const source = tempDir();
    const w = LogWriter.open(source, { codec: 'string' });
    for (let i = 0; i < 300; i++) w.append(`line ${i}`);
    const shipper = shipLog(source, { servers: server.url, stream: 'acks' });
    const copy = join(tempDir(), 'copy');
    const replica = replicate(copy, { servers: server.url, stream: 'acks', log: { durability: 'sync' } });
    try {
      expect(await waitForAsync(async () => replica.stats().appended === 300, 20_000)).toBe(true);
      const nc = await connect({ servers: server.url });
      const { jetstreamManager } = await import('@nats-io/jetstream');
      const jsm = await jetstreamManager(nc);
      expect(await waitForAsync(async () => (await jsm.consumers.info('acks', replica.durable)).num_ack_pending === 0, 10_000)).toBe(true);
      const info = await jsm.consumers.info('acks', replica.durable);
      expect(info.ack_floor.stream_seq).toBe(300);
      await nc.close();
      expect(localRecords(copy).map((b) => Buffer.from(b).toString())).toEqual(Array.from({ length: 300 }, (_, i) => `line ${i}`));
    } finally {
      await replica.stop();
      await shipper.stop();
      w.close();
    }
  });
});
