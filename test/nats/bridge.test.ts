// The channel bridge against a real server: a Receiver forwarded to a subject, the subject fed into
// a Sender on another channel, with a slow reader at the far end.
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Channel } from '../../lib/index.js';
import { feed, forward } from '../../lib/nats/index.js';
import { sleep } from '../helpers/workers.js';
import { startServer, stopAll, type NatsServer } from './server.js';

let server: NatsServer;
let nc: NatsConnection;
beforeAll(async () => {
  server = await startServer();
  nc = await connect({ servers: server.url });
});
afterAll(async () => {
  await nc?.close();
  await stopAll();
});

describe('channel bridge', () => {
  it('a slow reader: memory held stays bounded, the backlog waits in the stream, nothing is lost, the end carries over', async () => {
    const N = 1500;
    const a = Channel.create({ codec: 'json', capacity: 1 << 16 });
    const b = Channel.create({ codec: 'v8', capacity: 4096 });
    const tx = a.sender();
    const fwd = forward(a.receiver(), { servers: server.url, stream: 'slow', subject: 'bridge.slow', maxInFlight: 64 });
    const fed = feed(b.sender(), { servers: server.url, stream: 'slow', subject: 'bridge.slow', batch: 16 });
    const jsm = await jetstreamManager(nc);
    const produced = (async () => {
      for (let i = 0; i < N; i++) await tx.send({ i, pad: 'p'.repeat(200) });
      await tx.close();
    })();
    const got: number[] = [];
    let maxAckPending = 0;
    let maxBacklog = 0;
    let sampling = true;
    const sampler = (async () => {
      // Bounded by the test: stops when the reader is done.
      while (sampling) {
        const info = await jsm.consumers.info('slow', fed.durable).catch(() => undefined);
        if (info !== undefined) {
          maxAckPending = Math.max(maxAckPending, info.num_ack_pending);
          maxBacklog = Math.max(maxBacklog, info.num_pending);
        }
        await sleep(20);
      }
    })();
    for await (const v of b.receiver() as AsyncIterable<{ i: number; pad: string }>) {
      got.push(v.i);
      if (got.length % 10 === 0) await sleep(3); // the slow reader
    }
    sampling = false;
    await sampler;
    await produced;
    await fwd.done;
    await fed.done;
    expect(got).toEqual(Array.from({ length: N }, (_, i) => i));
    // What each process held stayed within its bound, and the server handed out at most the
    // consumer's max_ack_pending; the backlog waited in the stream instead.
    expect(fed.stats().maxHeld).toBeLessThanOrEqual(16);
    expect(fwd.stats().maxHeld).toBeLessThanOrEqual(64);
    expect(maxAckPending).toBeLessThanOrEqual(32);
    expect(maxBacklog).toBeGreaterThan(100);
    expect(fwd.stats().messages).toBe(N);
    expect(fed.stats().messages).toBe(N);
  });

  it('the server killed and restarted mid-stream: forwarded again and fed on, nothing lost or doubled', async () => {
    const N = 3000;
    const a = Channel.create({ codec: 'json', capacity: 1 << 16 });
    const b = Channel.create({ codec: 'json', capacity: 1 << 16 });
    const restarted = await startServer();
    const fwd = forward(a.receiver(), { servers: restarted.url, stream: 'restart', subject: 'bridge.restart', ackTimeoutMs: 1000 });
    const fed = feed(b.sender(), { servers: restarted.url, stream: 'restart', subject: 'bridge.restart' });
    const tx = a.sender();
    const produced = (async () => {
      for (let i = 0; i < N; i++) {
        await tx.send(i);
        if (i % 10 === 0) await sleep(2); // spread over the restart (not a synchronisation)
      }
      await tx.close();
    })();
    const got: number[] = [];
    const received = (async () => {
      for await (const v of b.receiver() as AsyncIterable<number>) got.push(v);
    })();
    const deadline = Date.now() + 20_000;
    while (got.length < 500 && Date.now() < deadline) await sleep(5);
    expect(got.length).toBeGreaterThanOrEqual(500);
    const beforeKill = got.length;
    await restarted.stop('SIGKILL');
    await sleep(300); // down for a while
    await restarted.start();
    await produced;
    await received;
    await fwd.done;
    await fed.done;
    expect(got).toEqual(Array.from({ length: N }, (_, i) => i));
    // The server died mid-stream (whether publishes were in flight then, to be sent again, or
    // waited in the client's reconnect buffer depends on timing; nothing was lost either way).
    expect(beforeKill).toBeLessThan(N);
  });

  it('message boundaries and bytes carry over: empty, one byte, fragmented (larger than the ring)', async () => {
    const sizes = [0, 1, 70_000, 5, 300];
    const a = Channel.create({ codec: 'bytes', capacity: 1 << 16 });
    const b = Channel.create({ codec: 'bytes', capacity: 1 << 16 });
    const fwd = forward(a.receiver(), { servers: server.url, stream: 'bounds', subject: 'bridge.bounds', codec: 'bytes' });
    const fed = feed(b.sender(), { servers: server.url, stream: 'bounds', subject: 'bridge.bounds' });
    const tx = a.sender();
    for (const [k, n] of sizes.entries()) await tx.send(new Uint8Array(n).fill(k + 1));
    await tx.close();
    const got: Uint8Array[] = [];
    for await (const m of b.receiver() as AsyncIterable<Uint8Array>) got.push(m);
    await fwd.done;
    await fed.done;
    expect(got.map((m) => m.length)).toEqual(sizes);
    expect(got.every((m, k) => m.every((x) => x === k + 1))).toBe(true);
  });
});
