// Kill loops: SIGKILL the producer or the consumer at random moments (while writing, mid-fragment,
// parked on the futex, between messages) and check that nothing committed is lost, nothing is
// corrupted, and a new process takes the role over where the dead one stopped.
//
// The guarantees checked (README, "Dead peers"):
// - Sender killed: the receiver gets every message the sender committed, then ERR_PEER_DEAD; a
//   record claimed but not committed (or a fragmented message cut short) is never delivered.
// - Receiver killed: a sender waiting for room fails with ERR_PEER_DEAD instead of hanging; a new
//   receiver continues from the last position the dead one handed back: no message is skipped, and
//   the ones seen again are at most those the dead receiver had read since its last release
//   (under capacity / 8 bytes of records, plus the message being read).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Channel } from '../../lib/index.js';
import * as L from '../../lib/core/layout.js';
import { lastConsumerFinishes, start, uniqueName, type Child } from './helpers.js';

const ITERATIONS = 30; // per loop: 60 kills in all
const dir = mkdtempSync(join(tmpdir(), 'ringwire-kill-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Deterministic "random" moments (a failure can be replayed).
let seed = 0x2545f491;
const random = (n: number): number => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) % n;
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function killed(child: Child): Promise<void> {
  child.kill('SIGKILL');
  const e = await child.exit;
  // Anything but our SIGKILL (an error exit) is a failure, with the child's own words.
  expect(e.signal, `exit code ${e.code}; stderr: ${e.stderr.slice(-3000)}; messages: ${JSON.stringify(child.messages)}`).toBe('SIGKILL');
}

describe('kill loops', () => {
  it(`kills the producer ${ITERATIONS} times: every committed message arrives once, in order`, async () => {
    const name = uniqueName('kill-tx');
    const capacity = 8192;
    const ch = Channel.open(name, { create: true, capacity, codec: 'bytes' });
    await ch.close();
    const seq = { seed: 0xbeef, min: 4, max: 6000 }; // about 1 in 4 messages is fragmented
    const consumer = start('consumer.mjs', { name, ...seq }, 170_000);
    try {
      await consumer.waitFor((m) => m.type === 'ready', 30_000);
      let next = 0;
      let progressed = 0;
      for (let i = 0; i < ITERATIONS; i++) {
        const wait = i % 2 === 0 ? 'sync' : 'async';
        const producer = start('producer.mjs', { name, start: next, wait, ...seq }, 60_000);
        await producer.waitFor((m) => m.type === 'ready', 30_000);
        await sleep(random(40));
        const mark = consumer.messages.length;
        await killed(producer);
        // The consumer drains what the producer committed, then reports the death (only reports
        // from after the kill count: earlier ones are about earlier producers).
        const dead = await consumer.waitFor((m) => m.type === 'dead' && m.pid === producer.pid, 20_000, mark);
        expect(dead.next).toBeGreaterThanOrEqual(next);
        if (dead.next > next) progressed++;
        next = dead.next;
      }
      // Most producers got messages through before they were killed.
      expect(progressed).toBeGreaterThan(ITERATIONS / 2);
      // A last producer that finishes and closes: the consumer ends exactly after its messages.
      const last = start('producer.mjs', { name, start: next, count: 2000, wait: 'sync', ...seq }, 60_000);
      const e = await last.exit;
      expect(e.code, e.stderr).toBe(0);
      const end = await consumer.waitFor((m) => m.type === 'end', 30_000);
      expect(end.next).toBe(next + 2000);
      const ce = await consumer.exit;
      expect(ce.code, ce.stderr).toBe(0);
    } finally {
      consumer.kill();
      Channel.unlink(name);
    }
  }, 180_000);

  it(`kills the consumer ${ITERATIONS} times: a new one continues with nothing skipped`, async () => {
    const name = uniqueName('kill-rx');
    const capacity = 4096;
    const seq = { seed: 0xcafe, min: 4, max: 200 }; // single records: each can be seen again whole
    const codec = { encode: (b: Uint8Array) => b, decode: (b: Uint8Array) => b };
    const ch = Channel.open(name, { create: true, capacity, codec });
    await ch.close();
    // Messages a dead receiver may have read without handing back: under capacity / 8 bytes of
    // records since its last release, plus the one being read when it died.
    const bound = Math.ceil((capacity / 8 + L.recordBytes(seq.max)) / L.recordBytes(seq.min));
    const producer = start('progress-producer.mjs', { name, ...seq }, 170_000);
    try {
      await producer.waitFor((m) => m.type === 'ready', 30_000);
      let last = -1; // highest sequence number any consumer took
      let redelivered = 0;
      for (let i = 0; i < ITERATIONS; i++) {
        const progress = join(dir, `progress-${i}`);
        const consumer = start('progress-consumer.mjs', { name, progress, ...seq }, 60_000);
        await consumer.waitFor((m) => m.type === 'ready', 30_000);
        await sleep(random(50));
        await killed(consumer);
        const buf = readFileSync(progress);
        const first = buf.readInt32LE(0);
        const upTo = buf.readInt32LE(4);
        if (first !== -1) {
          // Nothing skipped: it started at or before the message after the last one taken.
          expect(first, `consumer ${i}`).toBeLessThanOrEqual(last + 1);
          // Seen again: only what the previous consumer had read since its last release.
          expect(last - first + 1, `consumer ${i}`).toBeLessThanOrEqual(bound);
          redelivered += Math.max(0, last - first + 1);
          last = Math.max(last, upTo);
        }
        // The sender, blocked on a full ring, fails with ERR_PEER_DEAD rather than hang.
        await producer.waitFor((m) => m.type === 'dead' && m.pid === consumer.pid, 20_000);
      }
      expect(last).toBeGreaterThan(ITERATIONS); // the consumers did take messages
      // A last consumer reads until the producer closes: it ends exactly at the last message sent.
      const sent = await lastConsumerFinishes(producer, 'progress-consumer.mjs', { name, progress: join(dir, 'progress-final'), ...seq }, last);
      console.log(`consumer kill loop: ${sent} messages sent, ${redelivered} seen again after takeovers (bound ${bound} per takeover)`);
    } finally {
      producer.kill();
      Channel.unlink(name);
    }
  }, 180_000);
});
