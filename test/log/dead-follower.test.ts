// A follower killed while asleep in follow() must stop costing the writer: its parked bit would
// otherwise make every append issue a futex wake. Followers are real child processes (SIGKILL)
// and worker threads (terminate()); the writer's `wakes` counter says whether appends still wake.
// A live follower is still woken promptly next to a dead one; the 64 reader slots are enforced;
// a version-1 control file is upgraded by the writer and refused by readers.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { LogReader, LogWriter, logStat } from '../../lib/log/index.js';
import * as F from '../../lib/log/format.js';
import { cleanupDirs, FIXTURES, payloadFor, ROOT, tempDir } from './helpers.js';

afterAll(cleanupDirs);

/** Polls `cond` every 5 ms until it holds; fails after `ms`. Returns the milliseconds it took. */
async function until(what: string, cond: () => boolean, ms = 10_000): Promise<number> {
  const t0 = Date.now();
  for (let i = 0; i < ms / 5 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
  return Date.now() - t0;
}

interface Follower {
  child: ChildProcess;
  out: () => string;
  exited: Promise<string | number | null>;
}

/** A follower child process (test/log/fixtures/follower.mjs) that stops after `count` records. */
function follower(dir: string, count: number): Follower {
  const child = spawn(process.execPath, [`${FIXTURES}follower.mjs`, dir, String(count)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const guard = setTimeout(() => child.kill('SIGKILL'), 30_000); // bounded
  const exited = new Promise<string | number | null>((r) =>
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      r(signal ?? code);
    }),
  );
  return { child, out: () => out, exited };
}

const parked = (dir: string) => logStat(dir).parkedReaders;

describe('followers that die while asleep', () => {
  it('a follower process killed (SIGKILL) while parked stops counting after the next wake; appends stop waking', async () => {
    const dir = tempDir('dead');
    const w = LogWriter.open<string>(dir, { codec: 'string' });
    const f = follower(dir, 1e9);
    await until('the follower to park', () => parked(dir) === 1);
    f.child.kill('SIGKILL');
    expect(await f.exited).toBe('SIGKILL');
    expect(parked(dir)).toBe(1); // its bit is still set: nobody cleared it
    const before = w.stats().wakes;
    w.append(payloadFor(0)); // wakes nobody, finds the sleeper dead, frees its slot
    expect(w.stats().wakes).toBe(before + 1);
    expect(parked(dir)).toBe(0);
    for (let i = 1; i <= 1000; i++) w.append(payloadFor(i));
    expect(w.stats().wakes).toBe(before + 1); // no futex wake per append any more
    w.close();
    expect(logStat(dir)).toMatchObject({ parkedReaders: 0, wakes: before + 1 });
  });

  it('a live parked follower is still woken promptly while a dead one is counted, and the dead one is freed after', async () => {
    const dir = tempDir('dead');
    const w = LogWriter.open<string>(dir, { codec: 'string' });
    const dead = follower(dir, 1e9);
    const live = follower(dir, 1);
    await until('both followers to park', () => parked(dir) === 2);
    dead.child.kill('SIGKILL');
    await dead.exited;
    const t0 = Date.now();
    w.append(payloadFor(0));
    const woken = await until('the live follower to get the record', () => live.out().includes('ok 1 0'));
    expect(Date.now() - t0).toBeLessThan(1000); // against a 10 s deadline: a lost wake fails
    expect(woken).toBeLessThan(1000);
    expect(await live.exited).toBe(0);
    // That wake found the live follower; the next one finds only the dead one and frees it.
    w.append(payloadFor(1));
    expect(parked(dir)).toBe(0);
    const wakes = w.stats().wakes;
    for (let i = 2; i < 500; i++) w.append(payloadFor(i));
    expect(w.stats().wakes).toBe(wakes);
    w.close();
  });

  it('a follower in a worker thread that is terminated while parked is freed too (its thread is gone)', async () => {
    const dir = tempDir('dead');
    const w = LogWriter.open<string>(dir, { codec: 'string' });
    const worker = new Worker(
      `import { LogReader } from ${JSON.stringify(join(ROOT, 'dist', 'index.js'))};
       const r = LogReader.open(${JSON.stringify(dir)}, { codec: 'string' });
       for await (const e of r.follow()) {}`,
      { eval: true, type: 'module' } as never,
    );
    await until('the worker to park', () => parked(dir) === 1);
    await worker.terminate();
    // The terminated thread's futex wait may still be asleep once (a wake finds it); bounded.
    for (let i = 0; i < 50 && parked(dir) !== 0; i++) {
      w.append(payloadFor(i));
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(parked(dir)).toBe(0);
    const wakes = w.stats().wakes;
    for (let i = 0; i < 500; i++) w.append(payloadFor(i));
    expect(w.stats().wakes).toBe(wakes);
    w.close();
  });
});

describe('reader slots', () => {
  it(`at most ${F.READER_SLOTS} follow() at once (ERR_TOO_MANY_READERS); a slot given back is usable again`, async () => {
    const dir = tempDir('slots');
    const w = LogWriter.open<string>(dir, { codec: 'string' });
    const readers = Array.from({ length: F.READER_SLOTS }, () => LogReader.open<string>(dir, { codec: 'string' }));
    const its = readers.map((r) => r.follow());
    const pending = its.map((it) => it.next());
    await until('every follower to park', () => parked(dir) === F.READER_SLOTS);
    const extra = LogReader.open<string>(dir, { codec: 'string' });
    await expect(extra.follow().next()).rejects.toMatchObject({ code: 'ERR_TOO_MANY_READERS' });
    readers[0]!.close();
    expect(await pending[0]).toMatchObject({ done: true });
    const again = extra.follow().next();
    w.append('x');
    expect(await again).toMatchObject({ done: false, value: { sequence: 0, value: 'x' } });
    for (const p of pending.slice(1)) expect(await p).toMatchObject({ done: false, value: { sequence: 0 } });
    for (const r of [...readers, extra]) r.close();
    expect(parked(dir)).toBe(0);
    w.close();
  });

  it('slots left by dead processes are taken by new followers and freed by the writer', async () => {
    const dir = tempDir('slots');
    const w = LogWriter.open<string>(dir, { codec: 'string' });
    // Every slot held, asleep, by a process that no longer exists (as followers killed asleep leave them).
    const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
    const ctl = join(dir, 'log.ctl');
    const fd = openSync(ctl, 'r+');
    const slot = Buffer.alloc(F.READER_SLOT_BYTES);
    slot.writeInt32LE(gone, F.SLOT_OWNER_OFFSET);
    for (let k = 0; k < F.READER_SLOTS; k++) writeSync(fd, slot, 0, slot.length, F.CTL_READERS_OFFSET + k * F.READER_SLOT_BYTES);
    writeSync(fd, Buffer.alloc(4 * F.PARKED_WORDS, 0xff), 0, 4 * F.PARKED_WORDS, F.CTL_PARKED_OFFSET);
    closeSync(fd);
    expect(parked(dir)).toBe(F.READER_SLOTS);
    const r = LogReader.open<string>(dir, { codec: 'string' });
    const next = r.follow().next(); // takes a dead process's slot (clearing its bit) and parks
    await until('the new follower to park', () => parked(dir) === F.READER_SLOTS);
    w.append('a'); // wakes the follower
    expect(await next).toMatchObject({ value: { value: 'a' } });
    w.append('b'); // wakes nobody: frees every dead slot
    expect(parked(dir)).toBe(0);
    r.close();
    w.close();
  });

  it('a version-1 control file: readers refuse it (ERR_NOT_A_LOG), the writer upgrades it', () => {
    const dir = tempDir('v1');
    LogWriter.open<string>(dir, { codec: 'string' }).close();
    const ctl = join(dir, 'log.ctl');
    const fd = openSync(ctl, 'r+');
    const word = Buffer.alloc(4);
    word.writeInt32LE(1);
    writeSync(fd, word, 0, 4, F.CTL_VERSION_OFFSET);
    word.writeInt32LE(3); // version 1's parked count, left by followers that died
    writeSync(fd, word, 0, 4, F.CTL_PARKED_OFFSET);
    closeSync(fd);
    expect(() => LogReader.open(dir)).toThrow(expect.objectContaining({ code: 'ERR_NOT_A_LOG', message: expect.stringContaining('opening it with LogWriter upgrades it') }));
    const w = LogWriter.open<string>(dir, { codec: 'string' });
    const b = Buffer.alloc(4);
    const rfd = openSync(ctl, 'r');
    readSync(rfd, b, 0, 4, F.CTL_VERSION_OFFSET);
    closeSync(rfd);
    expect(b.readInt32LE(0)).toBe(F.CONTROL_VERSION);
    expect(parked(dir)).toBe(0);
    const before = w.stats().wakes;
    w.append('x');
    expect(w.stats().wakes).toBe(before);
    const r = LogReader.open<string>(dir, { codec: 'string' });
    expect(r.read()?.value).toBe('x');
    r.close();
    w.close();
  });
});
