// Metrics in Prometheus' text format (lib/metrics.ts): channel.metrics(), a log writer's and
// reader's, registerMetrics() into a prom-client Registry of the user's (live values, one series per
// object, unregistering), and of a channel file or log named by its path or name (what `ringwire
// stat --prometheus` prints, read again at each scrape). Every
// exposition is read back by a strict parser and compared with the counts the test itself kept.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Counter, Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { Channel, LogReader, LogWriter, metricsOf, registerMetrics } from '../../lib/index.js';
import { parseExposition, samplesOf, valueOf } from '../helpers/prometheus.js';

const root = mkdtempSync(join(tmpdir(), 'ringwire-metrics-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const newDir = () => join(root, `log-${dirs++}`);
/** Ring bytes of a message of n bytes: an 8-byte record header, the payload padded to 8 (cpp/ring/layout.h). */
const recordBytes = (n: number) => (8 + n + 7) & ~7;

describe('channel metrics', () => {
  it('channel.metrics(): messages and bytes sent and received, full rings, the depth and capacity, as counted', async () => {
    const ch = Channel.create<Uint8Array>({ capacity: 4096, codec: 'bytes' });
    const tx = ch.sender();
    const rx = ch.receiver();
    let sent = 0;
    let bytes = 0;
    let full = 0;
    for (let i = 0; i < 300; i++) {
      const m = new Uint8Array(1 + (i % 50));
      if (tx.trySend(m)) {
        sent++;
        bytes += m.length;
      } else full++;
    }
    let received = 0;
    let receivedBytes = 0;
    for (let i = 0; i < 40; i++) {
      receivedBytes += rx.tryRecv()!.length;
      received++;
    }
    received += rx.drain((_v, _o, length) => void (receivedBytes += length)); // hands everything back
    for (let i = 0; i < 5; i++) expect(tx.trySend(new Uint8Array(10))).toBe(true);

    expect(full).toBeGreaterThan(0);
    expect(received).toBe(sent);
    const e = parseExposition(await ch.metrics({ name: 'unit' }));
    const v = (name: string) => valueOf(e, `ringwire_channel_${name}`, { channel: 'unit' });
    expect(v('sent_messages_total')).toBe(sent + 5);
    expect(v('sent_bytes_total')).toBe(bytes + 50);
    expect(v('send_full_total')).toBe(full);
    expect(v('received_messages_total')).toBe(received);
    expect(v('received_bytes_total')).toBe(receivedBytes);
    expect(v('depth_bytes')).toBe(5 * recordBytes(10)); // the five sent since the drain
    expect(v('capacity_bytes')).toBe(4096);
    expect([v('sender_parks_total'), v('receiver_parks_total'), v('dropped_messages_total')]).toEqual([0, 0, 0]);
    expect(e.types.get('ringwire_channel_sent_messages_total')).toBe('counter');
    expect(e.types.get('ringwire_channel_depth_bytes')).toBe('gauge');
  });

  it('a channel file is labelled with its name; a worker channel with options.name (else "")', async () => {
    const name = `metrics-${process.pid}-${Math.random().toString(36).slice(2)}`;
    const file = Channel.open(name, { create: true, capacity: 4096 });
    try {
      file.sender().trySend('x');
      expect(valueOf(parseExposition(await file.metrics()), 'ringwire_channel_sent_messages_total', { channel: name })).toBe(1);
    } finally {
      await file.close();
      Channel.unlink(name);
    }
    expect(samplesOf(parseExposition(await Channel.create().metrics()), 'ringwire_channel_capacity_bytes').map((s) => s.labels)).toEqual([{ channel: '' }]);
  });
});

describe('registerMetrics', () => {
  it("reads the live counters at every scrape of the user's Registry, one series per object, until unregistered", async () => {
    const registry = new Registry();
    const mine = new Counter({ name: 'app_requests_total', help: 'the application’s own', registers: [registry] });
    mine.inc(7);
    const a = Channel.create({ codec: 'json' });
    const b = Channel.create({ codec: 'json' });
    const offA = registerMetrics(registry, a, { name: 'a' });
    registerMetrics(registry, b, { name: 'b' });
    const tx = a.sender();
    tx.trySend({ x: 1 });
    tx.trySend({ x: 2 });
    let e = parseExposition(await registry.metrics());
    expect(valueOf(e, 'ringwire_channel_sent_messages_total', { channel: 'a' })).toBe(2);
    expect(valueOf(e, 'ringwire_channel_sent_messages_total', { channel: 'b' })).toBe(0);
    expect(valueOf(e, 'app_requests_total')).toBe(7);

    tx.trySend({ x: 3 });
    e = parseExposition(await registry.metrics());
    expect(valueOf(e, 'ringwire_channel_sent_messages_total', { channel: 'a' })).toBe(3);

    offA();
    e = parseExposition(await registry.metrics());
    expect(samplesOf(e, 'ringwire_channel_sent_messages_total', { channel: 'a' })).toEqual([]);
    expect(valueOf(e, 'ringwire_channel_sent_messages_total', { channel: 'b' })).toBe(0);
    expect(valueOf(e, 'app_requests_total')).toBe(7);
  });

  it('two objects with the same labels in one registry are an error naming options.name', () => {
    const registry = new Registry();
    registerMetrics(registry, Channel.create(), { name: 'same' });
    let err: unknown;
    try {
      registerMetrics(registry, Channel.create(), { name: 'same' });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'ERR_INVALID_ARG', message: expect.stringMatching(/already.*options\.name/) });
    registerMetrics(new Registry(), Channel.create(), { name: 'same' }); // another registry is another scrape
  });

  it('a closed channel file reports nothing, and the scrape still works', async () => {
    const name = `metrics-closed-${process.pid}-${Math.random().toString(36).slice(2)}`;
    const registry = new Registry();
    const ch = Channel.open(name, { create: true, capacity: 4096 });
    try {
      registerMetrics(registry, ch);
      registerMetrics(registry, Channel.create(), { name: 'open' });
      expect(samplesOf(parseExposition(await registry.metrics()), 'ringwire_channel_capacity_bytes', { channel: name })).toHaveLength(1);
      await ch.close(); // unmapped: its stats can no longer be read
      const e = parseExposition(await registry.metrics());
      expect(samplesOf(e, 'ringwire_channel_capacity_bytes', { channel: name })).toEqual([]);
      expect(valueOf(e, 'ringwire_channel_capacity_bytes', { channel: 'open' })).toBe(1 << 20);
    } finally {
      Channel.unlink(name);
    }
  });

  it("a channel named by its name is read from its file at each scrape (what its sides last published), until it is removed", async () => {
    const name = `metrics-named-${process.pid}-${Math.random().toString(36).slice(2)}`;
    const ch = Channel.open(name, { create: true, capacity: 4096, codec: 'bytes' });
    try {
      const registry = new Registry();
      registerMetrics(registry, name);
      const sent = async () => samplesOf(parseExposition(await registry.metrics()), 'ringwire_channel_sent_messages_total', { channel: name }).map((s) => s.value);
      expect(await sent()).toEqual([0]);
      const tx = ch.sender();
      for (let i = 0; i < 6; i++) tx.trySend(new Uint8Array(8));
      await tx.close(); // publishes the sender's counters in the file
      expect(await sent()).toEqual([6]);
      Channel.unlink(name);
      expect(await sent()).toEqual([]);
    } finally {
      await ch.close();
      Channel.unlink(name);
    }
    expect(() => registerMetrics(new Registry(), `no-such-${name}`)).toThrow(expect.objectContaining({ code: 'ERR_NOT_A_LOG' }));
  });

  it("in an OpenMetrics registry, counters keep one _total suffix", async () => {
    const registry = new Registry<typeof Registry.OPENMETRICS_CONTENT_TYPE>();
    registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    const ch = Channel.create();
    registerMetrics(registry, ch, { name: 'om' });
    ch.sender().trySend(1);
    const text = await registry.metrics();
    expect(text).toContain('\nringwire_channel_sent_messages_total{channel="om"} 1\n');
    expect(text).not.toContain('_total_total');
  });

  it('bad targets, registries and options are errors that name them', async () => {
    const ch = Channel.create();
    await expect(metricsOf({} as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', message: expect.stringContaining('expected a Channel') });
    await expect(ch.metrics({ name: 3 } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', message: expect.stringContaining('options.name must be a string') });
    await expect(ch.metrics({ nmae: 'x' } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', message: expect.stringContaining("unknown option 'nmae'") });
    expect(() => registerMetrics({} as never, ch)).toThrow(/expected a prom-client Registry/);
  });
});

describe('log metrics', () => {
  it("a writer's records, bytes, rolls and flushes, and a reader's position, as counted", async () => {
    const dir = newDir();
    const w = LogWriter.open(dir, { segmentBytes: 64 * 1024, codec: 'bytes' });
    let bytes = 0;
    const segments = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const rec = new Uint8Array(20 + (i % 100));
      w.append(rec);
      bytes += rec.length;
      segments.add(w.segment);
    }
    w.flush();
    w.flush();
    const r = LogReader.open(dir, { from: 'start' });
    for (let i = 0; i < 1234; i++) r.read();

    expect(segments.size).toBeGreaterThan(3);
    let e = parseExposition(await w.metrics());
    const v = (name: string) => valueOf(e, `ringwire_log_${name}`, { log: dir });
    expect(v('records_total')).toBe(5000);
    expect(v('bytes_total')).toBe(bytes);
    expect(v('rolls_total')).toBe(segments.size - 1);
    expect(v('flushes_total')).toBe(2);
    expect(v('segment')).toBe(segments.size - 1);
    expect(v('wakes_total')).toBe(0);

    e = parseExposition(await r.metrics({ name: 'r1' }));
    expect(valueOf(e, 'ringwire_log_reader_next_sequence', { log: dir, reader: 'r1' })).toBe(1234);
    expect(valueOf(e, 'ringwire_log_reader_skipped_records_total', { log: dir, reader: 'r1' })).toBe(0);

    w.close();
    r.close();
    // Closed: nothing to report (the families are announced, with no samples).
    expect(parseExposition(await w.metrics()).samples).toEqual([]);
    expect(parseExposition(await r.metrics()).samples).toEqual([]);

    // What `ringwire stat --prometheus` prints: the counters the writer published (at close), and the files.
    e = parseExposition(await metricsOf(dir));
    expect(v('records_total')).toBe(5000);
    expect(v('bytes_total')).toBe(bytes);
    expect(v('rolls_total')).toBe(segments.size - 1);
    expect(v('segments')).toBe(segments.size);
    expect(v('disk_bytes')).toBe(segments.size * 64 * 1024);
    expect(v('writer_alive')).toBe(0);
    expect(v('parked_readers')).toBe(0);
  });
});
