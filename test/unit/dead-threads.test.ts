// A worker thread that ends without close() does not hang its peer (issue #8, item 3): whether it
// returns, calls process.exit(), throws or is terminated while holding a role, the peer gets every
// committed message, then ERR_PEER_DEAD within a bound, and a new thread can take the role over.
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { Channel } from '../../lib/index.js';
import * as L from '../../lib/core/layout.js';
import { roleHolderDead } from '../../lib/core/roles.js';
import { words } from '../helpers/ring.js';
import { fixture, outcome, waitFor } from '../helpers/workers.js';

type How = 'return' | 'exit' | 'throw' | 'terminate';
const WAYS: How[] = ['return', 'exit', 'throw', 'terminate'];
/** A lost detection fails the test at this deadline instead of hanging it. */
const DEADLINE_MS = 10_000;
/** Detection comes within one 250 ms wait slice plus scheduling: far less than this. */
const DETECT_MS = 2_000;

const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.terminate()));
});

/** Starts the dying peer; resolves `ended` with the time its thread was gone (its 'exit' event). */
function peer(handle: unknown, role: 'sender' | 'receiver', from: number, count: number, how: How | 'close') {
  const worker = new Worker(fixture('dying-peer.mjs'), { workerData: { handle, role, from, count, how } });
  workers.push(worker);
  worker.on('error', () => undefined); // 'throw' on purpose
  const done = new Promise<void>((resolve) => worker.once('message', () => resolve()));
  const ended = new Promise<number>((resolve) => worker.once('exit', () => resolve(performance.now())));
  return { worker, done, ended };
}

async function kill(p: ReturnType<typeof peer>, how: How): Promise<number> {
  await p.done;
  if (how === 'terminate') await p.worker.terminate();
  return p.ended;
}

describe('a worker holding the sender role ends without close()', () => {
  for (const how of WAYS) {
    it(`${how}: recv() gets every committed message, then ERR_PEER_DEAD; a new worker takes over and receiving goes on`, async () => {
      const ch = Channel.create<number>({ capacity: 4096, codec: 'json' });
      const rx = ch.receiver();
      const dying = peer(ch.handle, 'sender', 0, 40, how);
      const killed = kill(dying, how);
      const got: number[] = [];
      let failure: { error?: any } = {};
      for (;;) {
        const r = await outcome(rx.recv({ timeout: DEADLINE_MS }));
        if (r.error !== undefined) {
          failure = r;
          break;
        }
        got.push(r.value!);
      }
      const detected = performance.now();
      const ended = await killed;
      expect(failure.error).toMatchObject({ code: 'ERR_PEER_DEAD' });
      expect(got).toEqual(Array.from({ length: 40 }, (_, i) => i));
      expect(detected - ended).toBeLessThan(DETECT_MS);
      expect(roleHolderDead(words(ch), 'sender')).toBe(true);
      // Takeover: another worker claims the dead thread's role and continues the stream.
      const next = peer(ch.handle, 'sender', 40, 10, 'close');
      // Until it has claimed the role, a wait here would rightly find the old holder dead again.
      expect(await waitFor(() => !roleHolderDead(words(ch), 'sender'), 10_000)).toBe(true);
      const rest: number[] = [];
      for await (const m of rx) rest.push(m);
      expect(rest).toEqual(Array.from({ length: 10 }, (_, i) => 40 + i));
      await next.ended;
    });
  }

  it('for await over the receiver ends with ERR_PEER_DEAD after the last committed message', async () => {
    const ch = Channel.create<number>({ capacity: 4096, codec: 'json' });
    const rx = ch.receiver();
    const dying = peer(ch.handle, 'sender', 0, 25, 'return');
    const got: number[] = [];
    const iterate = async () => {
      for await (const m of rx) got.push(m);
    };
    const r = await outcome(iterate());
    const ended = await dying.ended;
    expect(r.error).toMatchObject({ code: 'ERR_PEER_DEAD' });
    expect(performance.now() - ended).toBeLessThan(DETECT_MS);
    expect(got).toHaveLength(25);
  }, DEADLINE_MS + 5_000);
});

describe('a worker holding the receiver role ends without close()', () => {
  for (const how of WAYS) {
    it(`${how}: a sender waiting for room fails with ERR_PEER_DEAD; a new worker takes over and gets the rest`, async () => {
      const ch = Channel.create<number>({ capacity: 1024, codec: 'json' });
      const tx = ch.sender();
      const dying = peer(ch.handle, 'receiver', 0, 5, how);
      for (let i = 0; i < 5; i++) tx.sendSync(i);
      await dying.done; // it reads nothing more
      let sent = 5;
      while (tx.trySend(sent)) sent++;
      const waiting = outcome(tx.send(sent, { timeout: DEADLINE_MS }));
      const ended = await kill(dying, how);
      const r = await waiting;
      const detected = performance.now();
      expect(r.error).toMatchObject({ code: 'ERR_PEER_DEAD' });
      expect(detected - ended).toBeLessThan(DETECT_MS);
      // Takeover: the next receiver continues where the dead one handed space back; it gets every
      // message sent after the first five (and maybe some of those again: at least once).
      const next = peer(ch.handle, 'receiver', 0, 20, 'terminate'); // reads 20 (over capacity / 8: handed back), then stays
      await next.done;
      await tx.send(sent, { timeout: DEADLINE_MS }); // room again once the new receiver reads
      expect(Atomics.load(words(ch), L.RECEIVER_OWNER_OFFSET >> 2)).not.toBe(0);
    });
  }
});
