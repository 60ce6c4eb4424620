import { connect, type NatsConnection } from '@nats-io/transport-node';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LogWriter } from '../../lib/log/index.js';
import { shipLog, type LogShipper } from '../../lib/nats/index.js';
import { startServer, stopAll, tempDir, type NatsServer } from './server.js';
import { readStream, sequenceProblems, waitForAsync } from './stream.js';

let server: NatsServer;
let nc: NatsConnection;
const shippers: LogShipper[] = [];

beforeAll(async () => {
  server = await startServer();
  nc = await connect({ servers: server.url });
});
afterEach(async () => {
  await Promise.all(shippers.splice(0).map((s) => s.stop().catch(() => {})));
});
afterAll(async () => {
  await nc?.close();
  await stopAll();
});

const payload = (i: number) => ({ i, pad: 'x'.repeat(i % 50) });

describe('shipLog', () => {
  it('ships every record in order with its sequence, and lag falls to zero', async () => {
    const dir = tempDir();
    const w = LogWriter.open(dir);
    for (let i = 0; i < 500; i++) w.append(payload(i));
    const s = shipLog(dir, { servers: server.url, stream: 'basic' });
    shippers.push(s);
    for (let i = 500; i < 1000; i++) w.append(payload(i));
    expect(await waitForAsync(async () => s.stats().nextSequence === 1000, 20_000)).toBe(true);
    const st = s.stats();
    expect(st.lag).toEqual({ records: 0, bytes: 0 });
    expect(st.shipped).toBe(1000);
    const stored = await readStream(nc, 'basic');
    expect(sequenceProblems(stored, 1000)).toEqual([]);
    expect(JSON.parse(new TextDecoder().decode(stored[7]!.data))).toEqual(payload(7));
    expect(stored.every((m) => m.source === s.source)).toBe(true);
    w.close();
  });

  it('reports lag in records and bytes while the stream is out of reach', async () => {
    const dir = tempDir();
    const w = LogWriter.open(dir, { codec: 'bytes' });
    const down = await startServer();
    w.append(new Uint8Array(10));
    const s = shipLog(dir, { servers: down.url, stream: 'lag', ackTimeoutMs: 500 });
    shippers.push(s);
    expect(await waitForAsync(async () => s.stats().nextSequence === 1, 20_000)).toBe(true);
    await down.stop();
    for (let i = 0; i < 100; i++) w.append(new Uint8Array(10));
    const lag = s.stats().lag;
    expect(lag.records).toBe(100);
    expect(lag.bytes).toBe(1000);
    await down.start();
    expect(await waitForAsync(async () => s.stats().lag.records === 0, 20_000)).toBe(true);
    expect(s.stats().lag.bytes).toBe(0);
    expect(s.stats().nextSequence).toBe(101);
    w.close();
  });

  it('resumes from what the stream holds: a second shipper after the first stopped adds no duplicate', async () => {
    const dir = tempDir();
    const w = LogWriter.open(dir);
    for (let i = 0; i < 300; i++) w.append(payload(i));
    const a = shipLog(dir, { servers: server.url, stream: 'resume' });
    expect(await waitForAsync(async () => a.stats().nextSequence === 300, 20_000)).toBe(true);
    await a.stop();
    for (let i = 300; i < 400; i++) w.append(payload(i));
    const b = shipLog(dir, { servers: server.url, stream: 'resume' });
    shippers.push(b);
    expect(await waitForAsync(async () => b.stats().nextSequence === 400, 20_000)).toBe(true);
    // It read its starting point back from the stream: it shipped only the new records.
    expect(b.stats().shipped).toBe(100);
    expect(sequenceProblems(await readStream(nc, 'resume'), 400)).toEqual([]);
    w.close();
  });

  it('bad options throw, naming the option', () => {
    const dir = tempDir();
    LogWriter.open(dir).close();
    expect(() => shipLog(dir, { stream: 'x' } as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG', message: expect.stringContaining('options.servers') }));
    expect(() => shipLog(dir, { servers: server.url, stream: 'a.b' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG', message: expect.stringContaining('options.stream') }));
    expect(() => shipLog(dir, { servers: server.url, stream: 'x', subject: 'a.*' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG', message: expect.stringContaining('options.subject') }));
    expect(() => shipLog(dir, { servers: server.url, stream: 'x', maxInFlight: 0 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE', message: expect.stringContaining('maxInFlight') }));
    expect(() => shipLog(dir, { servers: server.url, stream: 'x', bogus: 1 } as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG', message: expect.stringContaining('bogus') }));
  });

  it('refuses a stream whose subject holds another log', async () => {
    const one = tempDir();
    const two = tempDir();
    const w1 = LogWriter.open(one);
    w1.append(1);
    const a = shipLog(one, { servers: server.url, stream: 'foreign', source: 'one' });
    expect(await waitForAsync(async () => a.stats().nextSequence === 1, 20_000)).toBe(true);
    await a.stop();
    const w2 = LogWriter.open(two);
    w2.append(2);
    const b = shipLog(two, { servers: server.url, stream: 'foreign', source: 'two' });
    await expect(b.done).rejects.toMatchObject({ code: 'ERR_NATS_FOREIGN' });
    w1.close();
    w2.close();
  });
});
