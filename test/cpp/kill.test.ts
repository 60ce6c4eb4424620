// SIGKILL of the C++ side at random moments, with Node taking over its role: the guarantees of the
// TS side hold across languages (README, "Roles and dead peers" and "Delivery guarantees").
//  - C++ receiver killed: Node's receiver() takes the dead holder's role over; its first message is
//    at most the one after the last the C++ receiver reported (the message in hand comes again,
//    nothing is lost), and the sequence goes on from there without a gap.
//  - C++ sender killed: Node's receiver gets every message it committed, then ERR_PEER_DEAD soon
//    after the kill; Node's sender() takes the role over and continues the sequence.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCppPeers, programs } from '../../scripts/build-cpp-peers.mjs';
import { Channel } from '../../lib/index.js';
import * as seq from '../helpers/sequence.js';
import { sleep, waitFor } from '../helpers/workers.js';
import { startProgram, uniqueName } from '../xproc/helpers.js';

const ROUNDS = 20;
// A 16 KiB ring (records of up to 8184 bytes): small messages, and every 50th one of 8200 bytes up
// to `bigmax` (fragmented; written whole up to ~16 000 bytes, streamed above).
function sequence(bigmax: number) {
  const s = { seed: 0xdead, min: 4, max: 200, every: 50, bigmin: 8200, bigmax };
  const sizeOf = (i: number): number => (i % s.every === s.every - 1 ? seq.size(i, s.seed, s.bigmin, s.bigmax) : seq.size(i, s.seed, s.min, s.max));
  return {
    arg: Object.values(s).join(','),
    message(i: number): Uint8Array {
      const m = new Uint8Array(sizeOf(i));
      seq.fill(m, m.length, i);
      return m;
    },
    isMessage: (m: Uint8Array, i: number): boolean => m.length === sizeOf(i) && seq.checkBytes(m, m.length, i),
  };
}
const indexOf = (m: Uint8Array): number => (m[0]! | (m[1]! << 8) | (m[2]! << 16) | (m[3]! << 24)) >>> 0;

const names: string[] = [];
beforeAll(() => buildCppPeers(), 300_000);
afterAll(() => {
  for (const n of names) Channel.unlink(n);
});
const channel = (what: string) => {
  const name = uniqueName(what);
  names.push(name);
  return { name, ch: Channel.open<Uint8Array>(name, { create: true, capacity: 1 << 14, codec: 'bytes' }) };
};
const randomMs = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));

describe('SIGKILL of the C++ side at random moments, Node taking over', () => {
  it(`C++ receiver killed ${ROUNDS} times: Node takes the role over, the message in hand comes again, nothing is lost`, async () => {
    const { name, ch } = channel('kill-rx');
    const { arg, message, isMessage } = sequence(15_000); // all fit the ring whole: trySend writes them
    const tx = ch.sender();
    // Node producer: trySend (never waits, so never meets the dead receiver), yielding when full.
    let produced = 0;
    let stop = false;
    const producing = (async () => {
      for (let spins = 0; !stop && spins < 50_000_000; spins++) {
        if (tx.trySend(message(produced))) produced++;
        else await sleep(0);
      }
    })();
    let expectedNext = 0; // what the next receiver must start at, at the latest
    const redelivered: number[] = [];
    try {
      for (let round = 0; round < ROUNDS; round++) {
        // Odd rounds: killed at a random moment. Even rounds: killed while it holds a message in hand
        // (it received a random number of messages and makes no further receive call).
        const holding = round % 2 === 0;
        const cpp = startProgram(programs.peer, ['recv', name, 'any', String(holding ? randomMs(1, 200) : 1e9), arg, holding ? 'hold' : '1'], 30_000);
        let out = '';
        cpp.proc.stdout!.on('data', (d: Buffer | string) => (out += d));
        const lines = () => out.split('\n').slice(0, -1); // whole lines only
        const reported = () => lines().filter((l) => l !== 'holding').map(Number);
        if (holding) expect(await waitFor(() => lines().includes('holding'), 10_000)).toBe(true);
        else {
          expect(await waitFor(() => reported().length > 0, 10_000)).toBe(true);
          await sleep(randomMs(0, 40)); // the random moment
        }
        cpp.kill('SIGKILL');
        const e = await cpp.exit;
        expect(e.signal).toBe('SIGKILL');
        const got = reported();
        // The C++ receiver started where the previous Node receiver released (nothing before it is
        // redelivered after a release), and went on without a gap.
        expect(got[0]).toBe(expectedNext);
        expect(got.every((v, k) => v === got[0]! + k)).toBe(true);
        const last = got[got.length - 1]!;
        // Takeover: the role of the dead process is taken by this thread.
        const rx = ch.receiver();
        const first = await rx.recv({ timeout: 10_000 });
        const f = indexOf(first);
        expect(isMessage(first, f)).toBe(true);
        expect(f).toBeLessThanOrEqual(last + 1); // nothing lost: at most the one after the last reported
        expect(f).toBeGreaterThanOrEqual(got[0]!); // never before what was handed back
        if (holding) expect(f).toBeLessThanOrEqual(last); // the message in hand (at least) comes again
        redelivered.push(last + 1 - f);
        let next = f + 1;
        for (let k = randomMs(1, 300); k > 0; k--, next++) {
          const m = await rx.recv({ timeout: 10_000 });
          expect(isMessage(m, next)).toBe(true);
        }
        rx.release(); // hands back what it read: the next C++ receiver starts at `next`
        expectedNext = next;
      }
    } finally {
      stop = true;
      await producing;
      await ch.close();
    }
    // Redelivery is bounded: the message in hand and what was not yet handed back (capacity / 8).
    expect(Math.max(...redelivered)).toBeLessThan(((1 << 14) >> 3) / 8 + 2);
  }, 120_000);

  it(`C++ sender killed ${ROUNDS} times: every committed message arrives, ERR_PEER_DEAD follows, Node takes the role over`, async () => {
    const { name, ch } = channel('kill-tx');
    const { arg, message, isMessage } = sequence(20_000); // some streamed: cut short by a kill
    const rx = ch.receiver();
    let next = 0;
    let dropped = 0;
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const cpp = startProgram(programs.peer, ['send', name, String(next), String(1e9), arg, 'release'], 30_000);
        const first = await rx.recv({ timeout: 10_000 });
        expect(isMessage(first, next)).toBe(true);
        next++;
        const killAt = Date.now() + randomMs(0, 40);
        let killedAt = 0;
        // Receive until the dead sender is detected: each message must be the next one.
        let dead: any;
        for (let k = 0; k < 10_000_000 && dead === undefined; k++) {
          if (killedAt === 0 && Date.now() >= killAt) {
            cpp.kill('SIGKILL');
            killedAt = Date.now();
          }
          try {
            const m = await rx.recv({ timeout: killedAt === 0 ? 5 : 10_000 });
            expect(isMessage(m, next)).toBe(true);
            next++;
          } catch (err: any) {
            if (err.code === 'ERR_TIMEOUT' && killedAt === 0) continue;
            dead = err;
          }
        }
        expect(dead?.code).toBe('ERR_PEER_DEAD');
        expect(Date.now() - killedAt).toBeLessThan(3_000); // within ~250 ms; 3 s of a 10 s deadline
        expect((await cpp.exit).signal).toBe('SIGKILL');
        // Node takes the sender role over and continues the sequence.
        const tx = ch.sender();
        for (let k = randomMs(1, 50); k > 0; k--) {
          const sending = tx.send(message(next), { timeout: 10_000 }); // a streamed one needs the receiver meanwhile
          const m = await rx.recv({ timeout: 10_000 });
          await sending;
          expect(isMessage(m, next)).toBe(true);
          next++;
        }
        tx.release();
      }
      dropped = ch.stats().received.dropped; // fragmented messages cut short by a kill
    } finally {
      await ch.close();
    }
    expect(next).toBeGreaterThan(ROUNDS * 2);
    expect(dropped).toBeLessThanOrEqual(ROUNDS);
  }, 120_000);
});
