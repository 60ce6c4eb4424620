// Channel.open / Channel.unlink / close: names and paths, permissions, race-free creation, what an
// opener accepts (and the clear errors for everything else), role takeover from a dead process.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Channel, RingwireError } from '../../lib/index.js';
import * as L from '../../lib/core/layout.js';
import { native } from '../../lib/native.js';
import { roleHolder, roleHolderDead, threadIdentity } from '../../lib/core/roles.js';
import { removeQuietly, start, uniqueName } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'ringwire-open-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const shmPath = (name: string) => `/dev/shm/ringwire-${name}`;
const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
};
/** The bytes of a valid channel file of `capacity`, made by the library. */
function validFile(capacity = 1024): Buffer {
  const p = join(dir, `template-${capacity}`);
  removeQuietly(p);
  const ch = Channel.open(p, { create: true, capacity, codec: 'bytes' });
  void ch.close();
  const bytes = readFileSync(p);
  removeQuietly(p);
  return bytes;
}

describe('names and paths', () => {
  it('maps a plain name to /dev/shm/ringwire-<name> and a path to that file', async () => {
    const name = uniqueName('name');
    const a = Channel.open(name, { create: true, capacity: 1024 });
    expect(a.path).toBe(shmPath(name));
    expect(a.created).toBe(true);
    expect(statSync(shmPath(name)).size).toBe(L.totalBytes(1024));
    const b = Channel.open(name);
    expect(b.created).toBe(false);
    expect(b.capacity).toBe(1024);
    await a.close();
    await b.close();
    expect(Channel.unlink(name)).toBe(true);
    expect(Channel.unlink(name)).toBe(false);

    const p = join(dir, 'by-path.chan');
    const c = Channel.open(p, { create: true, capacity: 2048 });
    expect(c.path).toBe(p);
    expect(statSync(p).size).toBe(L.totalBytes(2048));
    await c.close();
    expect(Channel.unlink(p)).toBe(true);
  });

  it('rejects invalid names with ERR_INVALID_ARG', () => {
    for (const bad of ['', '..', 'a..b', 'a b', 'tab\there', 'é', 'x'.repeat(201), 'nul\0', 'semi;colon', '*']) {
      expect(codeOf(() => Channel.open(bad, { create: true })), JSON.stringify(bad)).toBe('ERR_INVALID_ARG');
      expect(codeOf(() => Channel.unlink(bad)), JSON.stringify(bad)).toBe('ERR_INVALID_ARG');
    }
    expect(codeOf(() => Channel.open(42 as unknown as string))).toBe('ERR_INVALID_ARG');
    const ok = `ok.Name_with-${process.pid}`;
    const ch = Channel.open(ok, { create: true, capacity: 1024 });
    void ch.close();
    Channel.unlink(ok);
  });

  it('validates options', () => {
    const name = uniqueName('opts');
    expect(codeOf(() => Channel.open(name, { create: true, capcity: 1024 } as never))).toBe('ERR_INVALID_ARG');
    expect(codeOf(() => Channel.open(name, { create: 'yes' } as never))).toBe('ERR_INVALID_ARG');
    expect(codeOf(() => Channel.open(name, { create: true, capacity: 1000 }))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => Channel.open(name, { create: true, mode: 0o1777 }))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => Channel.open(name))).toBe('ERR_NO_SUCH_CHANNEL');
  });

  it('does not follow a symlink planted at a channel name', () => {
    const name = uniqueName('symlink');
    const target = join(dir, 'symlink-target');
    writeFileSync(target, validFile());
    symlinkSync(target, shmPath(name));
    try {
      expect(codeOf(() => Channel.open(name))).toBe('ERR_NOT_A_CHANNEL');
    } finally {
      removeQuietly(shmPath(name));
    }
  });
});

describe('permissions', () => {
  it('creates files 0600 by default and exactly `mode` otherwise, whatever the umask', async () => {
    const old = process.umask(0o077);
    try {
      const a = join(dir, 'mode-default');
      const b = join(dir, 'mode-0644');
      const ca = Channel.open(a, { create: true, capacity: 1024 });
      const cb = Channel.open(b, { create: true, capacity: 1024, mode: 0o644 });
      expect(statSync(a).mode & 0o777).toBe(0o600);
      expect(statSync(b).mode & 0o777).toBe(0o644);
      await ca.close();
      await cb.close();
      Channel.unlink(a);
      Channel.unlink(b);
    } finally {
      process.umask(old);
    }
    const name = uniqueName('mode');
    const c = Channel.open(name, { create: true, capacity: 1024 });
    expect(statSync(shmPath(name)).mode & 0o777).toBe(0o600);
    await c.close();
    Channel.unlink(name);
  });

  it('reports an OS error (ERR_SYSTEM) for a directory it cannot create in', () => {
    expect(codeOf(() => Channel.open(join(dir, 'no-such-dir', 'x'), { create: true }))).toBe('ERR_SYSTEM');
  });
});

describe('bad files', () => {
  const at = (name: string, bytes: Uint8Array) => {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    return p;
  };
  const template = validFile(1024);
  const withWord = (offset: number, value: number) => {
    const b = Buffer.from(template);
    b.writeUInt32LE(value >>> 0, offset);
    return b;
  };

  it('rejects with ERR_NOT_A_CHANNEL, never a crash', () => {
    const cases: Record<string, Uint8Array> = {
      empty: new Uint8Array(0),
      text: Buffer.from('hello, this is not a channel\n'.repeat(100)),
      zeros: new Uint8Array(L.totalBytes(1024)),
      truncatedHeader: template.subarray(0, 100),
      truncatedData: template.subarray(0, template.length - 8),
      tooLong: Buffer.concat([template, Buffer.alloc(1024)]),
      wrongVersion: withWord(L.VERSION_OFFSET, 1),
      capacityNotPow2: withWord(L.CAPACITY_OFFSET, 1536),
      capacityDisagreesWithSize: withWord(L.CAPACITY_OFFSET, 4096),
      capacityHuge: withWord(L.CAPACITY_OFFSET, 0x80000000),
      dataOffset: withWord(L.DATA_OFFSET_OFFSET, 512),
      maxMessageZero: withWord(L.MAX_MESSAGE_OFFSET, 0),
      codec: withWord(L.CODEC_OFFSET, 77),
    };
    for (const [name, bytes] of Object.entries(cases)) {
      const p = at(name, bytes);
      let err: unknown;
      try {
        Channel.open(p);
      } catch (e) {
        err = e;
      }
      expect(err, name).toBeInstanceOf(RingwireError);
      expect((err as RingwireError).code, name).toBe('ERR_NOT_A_CHANNEL');
    }
    expect(codeOf(() => Channel.open(dir))).toBe('ERR_NOT_A_CHANNEL'); // a directory
  });

  it('unlinks a path only if it holds a channel', () => {
    const p = at('precious.txt', Buffer.from('do not delete'));
    expect(codeOf(() => Channel.unlink(p))).toBe('ERR_NOT_A_CHANNEL');
    expect(readFileSync(p, 'utf8')).toBe('do not delete');
    expect(Channel.unlink(join(dir, 'nothing-here'))).toBe(false);
  });

  it('rejects options that disagree with an existing channel', async () => {
    const name = uniqueName('mismatch');
    const a = Channel.open(name, { create: true, capacity: 2048, codec: 'json' });
    expect(codeOf(() => Channel.open(name, { capacity: 4096 }))).toBe('ERR_CHANNEL_MISMATCH');
    expect(codeOf(() => Channel.open(name, { create: true, maxMessageBytes: 10 }))).toBe('ERR_CHANNEL_MISMATCH');
    expect(codeOf(() => Channel.open(name, { codec: 'string' }))).toBe('ERR_INVALID_ARG');
    const b = Channel.open(name, { capacity: 2048, codec: 'json' });
    expect(b.codec).toBe('json');
    await a.close();
    await b.close();
    Channel.unlink(name);
  });
});

describe('close', () => {
  it('detaches the memory and makes stray use fail cleanly', async () => {
    const name = uniqueName('close');
    const ch = Channel.open(name, { create: true, capacity: 1024, codec: 'json' });
    const s = ch.sender();
    const view = ch.mem.u8;
    expect(view.byteLength).toBe(L.totalBytes(1024));
    s.trySend({ a: 1 });
    await ch.close();
    expect(view.byteLength).toBe(0);
    expect(ch.mem.i32.length).toBe(0);
    expect(codeOf(() => s.trySend({ a: 2 }))).toBe('ERR_CHANNEL_CLOSED');
    expect(codeOf(() => ch.receiver())).toBe('ERR_CHANNEL_CLOSED');
    expect(codeOf(() => ch.handle)).toBe('ERR_NOT_SHAREABLE');
    // The role was given back and the message is still there for the next opener.
    const again = Channel.open(name);
    const r = again.receiver();
    expect(r.tryRecv()).toEqual({ a: 1 });
    await again.close();
    Channel.unlink(name);
  });

  it('rejects pending waits with ERR_CHANNEL_CLOSED and unmaps after they settle', async () => {
    const name = uniqueName('close-pending');
    const ch = Channel.open(name, { create: true, capacity: 1024, codec: 'json' });
    const r = ch.receiver();
    const pending = r.recv();
    await new Promise((res) => setTimeout(res, 20)); // parked on the futex by now
    const closed = ch.close();
    await expect(pending).rejects.toMatchObject({ code: 'ERR_CHANNEL_CLOSED' });
    await closed;
    expect(ch.mem.u8.byteLength).toBe(0);
    Channel.unlink(name);
  });

  it('keeps the file for others after unlink (processes that have it open go on)', async () => {
    const name = uniqueName('unlinked');
    const ch = Channel.open(name, { create: true, capacity: 1024, codec: 'json' });
    const s = ch.sender();
    const r = ch.receiver();
    expect(Channel.unlink(name)).toBe(true);
    s.trySend('still works');
    expect(r.tryRecv()).toBe('still works');
    expect(codeOf(() => Channel.open(name))).toBe('ERR_NO_SUCH_CHANNEL');
    await ch.close();
  });
});

describe('concurrent create', () => {
  it('gives every concurrent creator the same valid channel; exactly one creates it', async () => {
    for (let round = 0; round < 3; round++) {
      const name = uniqueName(`race${round}`);
      const at = Date.now() + 400;
      const kids = Array.from({ length: 4 }, (_, k) => start('create.mjs', { name, at, capacity: 4096, k }, 30_000));
      const results = await Promise.all(
        kids.map(async (kid) => {
          const e = await kid.exit;
          expect(e.signal, e.stderr).toBeNull();
          expect(e.code, e.stderr).toBe(0);
          return JSON.parse(e.stdout.trim());
        }),
      );
      expect(results.filter((x) => x.created).length).toBe(1);
      expect(new Set(results.map((x) => x.ino)).size).toBe(1);
      // Every child sent its index; the channel holds all of them.
      const ch = Channel.open(name, { codec: 'json' });
      const r = ch.receiver();
      const got: number[] = [];
      for (let v = r.tryRecv(); v !== undefined; v = r.tryRecv()) got.push(v as number);
      expect(got.sort()).toEqual([0, 1, 2, 3]);
      await ch.close();
      Channel.unlink(name);
    }
  });
});

describe('roles across processes', () => {
  /** A pid that no longer exists: a child that has exited (and been reaped). */
  const deadPid = (): number => Number(execFileSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' }).trim());

  it('takes over a role whose holder died, refuses one whose holder lives', async () => {
    const name = uniqueName('takeover');
    const ch = Channel.open(name, { create: true, capacity: 1024, codec: 'json' });
    const w = ch.mem.i32;
    // Held by a live process that is not us (our parent: the vitest main process).
    Atomics.store(w, L.SENDER_OWNER_OFFSET >> 2, process.ppid);
    expect(codeOf(() => ch.sender())).toBe('ERR_ROLE_TAKEN');
    // Held by a dead process.
    const dead = deadPid();
    Atomics.store(w, L.SENDER_OWNER_OFFSET >> 2, dead);
    Atomics.store(w, L.SENDER_PID_OFFSET >> 2, dead);
    const s = ch.sender();
    expect(Atomics.load(w, L.SENDER_OWNER_OFFSET >> 2)).toBe(threadIdentity()!.tid);
    expect(Atomics.load(w, L.SENDER_ECHO_OFFSET >> 2)).toBe(threadIdentity()!.tid);
    expect(Atomics.load(w, L.SENDER_PID_OFFSET >> 2)).toBe(process.pid);
    expect(codeOf(() => ch.sender())).toBe('ERR_ROLE_TAKEN'); // we hold it now
    s.release();
    // A live thread recorded with a different start time: the tid was reused, the holder is dead.
    Atomics.store(w, L.RECEIVER_OWNER_OFFSET >> 2, process.ppid);
    Atomics.store(w, L.RECEIVER_PID_OFFSET >> 2, process.ppid);
    Atomics.store(w, L.RECEIVER_START_OFFSET >> 2, 12345);
    Atomics.store(w, (L.RECEIVER_START_OFFSET >> 2) + 1, 0);
    // ...but only once its identity is complete (the echo word): until then it is a claim in progress.
    Atomics.store(w, L.RECEIVER_ECHO_OFFSET >> 2, 0);
    expect(codeOf(() => ch.receiver())).toBe('ERR_ROLE_TAKEN');
    Atomics.store(w, L.RECEIVER_ECHO_OFFSET >> 2, process.ppid);
    const r = ch.receiver();
    r.release();
    // Garbage in the owner word (not a pid) counts as a dead holder.
    Atomics.store(w, L.RECEIVER_OWNER_OFFSET >> 2, -7);
    ch.receiver().release();
    await ch.close();
    Channel.unlink(name);
  });

  it('a role held by a thread that ended in a live process is found dead and taken over', async () => {
    const name = uniqueName('thread-holder');
    const ch = Channel.open<number>(name, { create: true, capacity: 4096, codec: 'json' });
    const kid = start('thread-holder.mjs', { name, count: 5 }, 30_000);
    try {
      const rx = ch.receiver();
      const got: number[] = [];
      for (let i = 0; i < 5; i++) got.push(await rx.recv({ timeout: 10_000 }));
      expect(got).toEqual([0, 1, 2, 3, 4]);
      expect((await kid.waitFor((m) => m.workerExited !== undefined, 20_000)).workerExited).toBe(0);
      const t0 = performance.now();
      await expect(rx.recv({ timeout: 10_000 })).rejects.toMatchObject({ code: 'ERR_PEER_DEAD' });
      expect(performance.now() - t0).toBeLessThan(2_000);
      expect(() => process.kill(kid.pid, 0)).not.toThrow(); // its process lives on
      expect(roleHolder(ch.mem.i32, 'sender')).toMatchObject({ pid: kid.pid, alive: false });
      const tx = ch.sender(); // takeover from the dead thread
      expect(tx.trySend(99)).toBe(true);
      expect(await rx.recv({ timeout: 10_000 })).toBe(99);
    } finally {
      kid.kill();
      await kid.exit;
      await ch.close();
      Channel.unlink(name);
    }
  });

  it('C++ HolderDead and the TS liveness check agree: live, ended, tid reused, identity incomplete', async () => {
    const name = uniqueName('holder-agree');
    const ch = Channel.open(name, { create: true, capacity: 1024, codec: 'json' });
    const n = new (native().ShmChannel)(ch.path!, false, false, 1024, 1 << 20, 0, 0o600, () => undefined);
    const w = ch.mem.i32;
    const verdicts = () => [roleHolderDead(w, 'sender'), n.holderDead(0, Atomics.load(w, L.SENDER_OWNER_OFFSET >> 2))];
    try {
      const tx = ch.sender(); // held by this thread: alive
      expect(verdicts()).toEqual([false, false]);
      const began = Atomics.load(w, L.SENDER_START_OFFSET >> 2);
      Atomics.store(w, L.SENDER_START_OFFSET >> 2, began + 1); // as if another thread had reused our tid
      expect(verdicts()).toEqual([true, true]);
      Atomics.store(w, L.SENDER_ECHO_OFFSET >> 2, 0); // identity being written: not judged yet
      expect(verdicts()).toEqual([false, false]);
      tx.release();
      // A worker thread of another (live) process that claimed the role and ended.
      const kid = start('thread-holder.mjs', { name, count: 0 }, 30_000);
      await kid.waitFor((m) => m.workerExited !== undefined, 20_000);
      expect(verdicts()).toEqual([true, true]);
      kid.kill();
      await kid.exit;
    } finally {
      n.close();
      await ch.close();
      Channel.unlink(name);
    }
  });

  it('one sender across processes: a second process gets ERR_ROLE_TAKEN', async () => {
    const name = uniqueName('one-sender');
    const ch = Channel.open(name, { create: true, capacity: 1024 });
    const s = ch.sender();
    const kid = start('claim.mjs', { name, role: 'sender' }, 30_000);
    const e = await kid.exit;
    expect(e.code, e.stderr).toBe(0);
    expect(JSON.parse(e.stdout.trim())).toEqual({ code: 'ERR_ROLE_TAKEN' });
    await s.close();
    await ch.close();
    Channel.unlink(name);
  });

  it('stays usable from a second Channel object in the same process', async () => {
    const p = join(dir, 'two-objects');
    mkdirSync(dir, { recursive: true });
    const a = Channel.open(p, { create: true, capacity: 1024, codec: 'string' });
    const b = Channel.open(p);
    const s = a.sender();
    const r = b.receiver();
    s.trySend('x');
    expect(r.recvSync({ timeout: 1000 })).toBe('x');
    await a.close();
    await b.close();
    Channel.unlink(p);
  });
});
