// At-least-once for the message in hand: a receiver hands a message's ring space back no earlier
// than its next receive call, so a consumer process killed while handling a message (after the
// receive call returned, before it recorded the message as handled) leaves that message to its
// successor. The consumers here record a message only after handling it, and are SIGKILLed at
// random moments, mostly while handling (the producer is paced, so the consumer is often caught
// up: the case where a receiver used to hand space back at once).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Channel } from '../../lib/index.js';
import * as L from '../../lib/core/layout.js';
import { prng } from '../helpers/sequence.js';
import { lastConsumerFinishes, start, uniqueName } from './helpers.js';

const KILLS = 60;
const APIS = ['recv', 'recvSync', 'iterate', 'tryRecv'] as const;
const dir = mkdtempSync(join(tmpdir(), 'ringwire-alo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const progressOf = (file: string) => {
  const buf = readFileSync(file);
  return { first: buf.readInt32LE(0), last: buf.readInt32LE(4) };
};

describe('at-least-once receive', () => {
  it(`consumers killed ${KILLS} times while handling messages: no message is ever skipped`, async () => {
    const name = uniqueName('alo');
    const capacity = 4096;
    const seq = { seed: 0x5eed, min: 4, max: 200 };
    const ch = Channel.open(name, { create: true, capacity, codec: { encode: (b: Uint8Array) => b, decode: (b: Uint8Array) => b } });
    await ch.close();
    // Delivered again after a kill: what the dead receiver had returned but not handed back (under
    // capacity / 8 bytes of records), and the message in hand.
    const bound = Math.ceil((capacity / 8 + L.recordBytes(seq.max)) / L.recordBytes(seq.min)) + 1;
    const random = prng(0x3a11);
    const producer = start('progress-producer.mjs', { name, ...seq, pace: true }, 170_000);
    try {
      await producer.waitFor((m) => m.type === 'ready', 30_000);
      let last = -1; // highest sequence number any consumer handled
      let redelivered = 0;
      for (let i = 0; i < KILLS; i++) {
        const progress = join(dir, `progress-${i}`);
        const api = APIS[i % APIS.length];
        const consumer = start('handling-consumer.mjs', { name, progress, api, handleMicros: 400, ...seq }, 60_000);
        await consumer.waitFor((m) => m.type === 'ready', 30_000);
        // Let it handle a few messages (poll its progress file, bounded), then kill it at a
        // random moment.
        const until = performance.now() + 10_000;
        while (progressOf(progress).first === -1 && performance.now() < until) await new Promise((r) => setTimeout(r, 2));
        const wait = performance.now() + random() * 20;
        while (performance.now() < wait); // a busy wait: the kill lands at an arbitrary instant
        consumer.kill('SIGKILL');
        const e = await consumer.exit;
        expect(e.signal, `consumer ${i} (${api}) exit code ${e.code}; stderr: ${e.stderr.slice(-2000)}`).toBe('SIGKILL');
        const { first, last: upTo } = progressOf(progress);
        if (first === -1) continue; // killed before handling anything
        // Nothing skipped: it started at or before the message after the last one handled.
        expect(first, `consumer ${i} (${api}) started after a gap`).toBeLessThanOrEqual(last + 1);
        expect(last - first + 1, `consumer ${i} (${api})`).toBeLessThanOrEqual(bound);
        if (first <= last) redelivered += last - first + 1;
        last = Math.max(last, upTo);
      }
      expect(last).toBeGreaterThan(KILLS); // the consumers did handle messages
      // A last consumer reads to the end: it starts with no gap and ends at the last message sent.
      const args = { name, progress: join(dir, 'progress-final'), api: 'iterate', handleMicros: 0, ...seq };
      const sent = await lastConsumerFinishes(producer, 'handling-consumer.mjs', args, last);
      console.log(`at-least-once kill loop: ${sent} messages, ${redelivered} handled twice across ${KILLS} kills`);
    } finally {
      producer.kill();
      Channel.unlink(name);
    }
  }, 180_000);
});
