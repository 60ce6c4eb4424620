// C++ peers and Node peers on one channel file, as real processes: the README's examples across
// languages (examples/cpp with the README's Node blocks), and a million sequence-checked messages
// each way with fragmentation (test/native/sequence.h on both sides: message i's size and bytes depend
// only on i and the seed). The C++ programs are built against the installed API (find_package).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCppPeers, programs } from '../../scripts/build-cpp-peers.mjs';
import { Channel } from '../../lib/index.js';
import * as seq from '../helpers/sequence.js';
import { waitFor } from '../helpers/workers.js';
import { finished, readmeExample, receiverClaimed, start, startProgram, uniqueName } from '../xproc/helpers.js';

const names: string[] = [];
const fresh = (what: string): string => {
  const n = uniqueName(what);
  names.push(n);
  return n;
};
const dir = mkdtempSync(join(tmpdir(), 'ringwire-cpp-'));
beforeAll(() => buildCppPeers(), 300_000);
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  for (const n of names) Channel.unlink(n);
});

describe("the README's examples across languages (examples/cpp and the README's Node blocks)", () => {
  it("the README's C++ blocks are examples/cpp/producer.cc and consumer.cc, verbatim (the programs built and run here)", () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const blocks = [...readme.matchAll(/```cpp\n([\s\S]*?)```/g)].map((m) => m[1]!);
    for (const file of ['producer.cc', 'consumer.cc']) {
      const source = readFileSync(new URL(`../../examples/cpp/${file}`, import.meta.url), 'utf8');
      expect(blocks.filter((b) => b.startsWith(`// ${file}:`)), file).toEqual([source]);
    }
  });

  it('C++ producer → the README consumer.mjs: all 1000 orders, in order, parsed as JSON', async () => {
    const name = fresh('orders-cpp-node');
    const consumer = start(readmeExample('consumer.mjs: start it or the producer first', dir, 'consumer.mjs', name), null, 30_000);
    expect(await waitFor(() => receiverClaimed(name), 10_000)).toBe(true);
    const producer = startProgram(programs.producer, [name], 30_000);
    expect(await finished(consumer)).toBe(Array.from({ length: 1000 }, (_, i) => `{ i: ${i} }`).join('\n'));
    await finished(producer);
  });

  it('the README producer.mjs → C++ consumer: all 1000 orders as JSON text, then the end', async () => {
    const name = fresh('orders-node-cpp');
    const producer = start(readmeExample('producer.mjs, another process', dir, 'producer.mjs', name), null, 30_000);
    await finished(producer); // 1000 small orders fit the default 1 MiB ring: the stream is complete and closed
    const consumer = startProgram(programs.consumer, [name], 30_000);
    expect(await finished(consumer)).toBe(Array.from({ length: 1000 }, (_, i) => `{"i":${i}}`).join('\n'));
  });
});

// A 64 KiB ring (records of up to 32 760 bytes): messages of 0..100 bytes, and every 250th of
// 33 000..100 000 bytes, so 4000 messages each way are fragmented, some of them streamed (larger
// than the ring) and the rest written whole; the ring wraps ~1000 times.
const MESSAGES = 1_000_000;
const SIZES = { seed: 0x5eed, min: 0, max: 100, every: 250, bigmin: 33_000, bigmax: 100_000 };
const SIZES_ARG = Object.values(SIZES).join(',');
const big = (i: number): boolean => i % SIZES.every === SIZES.every - 1;
const sizeOf = (i: number): number => (big(i) ? seq.size(i, SIZES.seed, SIZES.bigmin, SIZES.bigmax) : seq.size(i, SIZES.seed, SIZES.min, SIZES.max));
const isMessage = (view: Uint8Array, offset: number, length: number, i: number): boolean =>
  length === sizeOf(i) && seq.checkBytes(view, length, i, offset);

describe('a million sequence-checked messages each way, with fragmentation', () => {
  it('C++ Send → Node drain/recvSync: every message, in order, byte for byte', async () => {
    const name = fresh('seq-cpp-node');
    const ch = Channel.open<Uint8Array>(name, { create: true, capacity: 1 << 16, codec: 'bytes' });
    const rx = ch.receiver();
    const producer = startProgram(programs.peer, ['send', name, '0', String(MESSAGES), SIZES_ARG, 'close'], 120_000);
    let next = 0;
    let bad = -1;
    const check = (view: Uint8Array, offset: number, length: number) => {
      if (bad < 0 && !isMessage(view, offset, length, next)) bad = next;
      next++;
    };
    const end = Date.now() + 110_000;
    // Bounded by the message count and the time limit; recvSync parks when the ring is empty.
    while (next < MESSAGES && Date.now() < end) {
      if (rx.drain(check, 4096) > 0) continue;
      const m = rx.recvSync({ timeout: 10_000 });
      check(m, 0, m.length);
    }
    expect({ received: next, firstBad: bad }).toEqual({ received: MESSAGES, firstBad: -1 });
    expect(() => rx.recvSync({ timeout: 10_000 })).toThrow(expect.objectContaining({ code: 'ERR_CHANNEL_CLOSED' })); // C++ Close: the end
    expect(ch.stats().received.dropped).toBe(0);
    await finished(producer);
    await ch.close();
  }, 150_000);

  it('Node sendSync → C++ Recv: every message, in order, byte for byte, then the end', async () => {
    const name = fresh('seq-node-cpp');
    const ch = Channel.open<Uint8Array>(name, { create: true, capacity: 1 << 16, codec: 'bytes' });
    const consumer = startProgram(programs.peer, ['recv', name, '0', String(MESSAGES + 1), SIZES_ARG, '0'], 120_000);
    expect(await waitFor(() => receiverClaimed(name), 10_000)).toBe(true);
    const tx = ch.sender();
    const scratch = new Uint8Array(SIZES.bigmax);
    for (let i = 0; i < MESSAGES; i++) {
      const n = sizeOf(i);
      seq.fill(scratch, n, i);
      tx.sendSync(scratch.subarray(0, n), { timeout: 10_000 });
    }
    await tx.close();
    // "done <received> <next index>": it received them all, each checked, then the end.
    expect(await finished(consumer)).toBe(`done ${MESSAGES} ${MESSAGES}`);
    await ch.close();
  }, 150_000);
});
