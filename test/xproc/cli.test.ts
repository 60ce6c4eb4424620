// `ringwire ls`, `ringwire rm` and `ringwire stat <name>` on named channels (issue #8, item 4), run
// as the CLI itself (a child process).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Channel } from '../../lib/index.js';
import { start, uniqueName } from './helpers.js';

const BIN = fileURLToPath(new URL('../../bin/ringwire.mjs', import.meta.url));
const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 30_000 });
const listed = (name: string) =>
  cli('ls', '--format', 'ndjson')
    .stdout.trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l))
    .find((c) => c.name === name);

describe('ringwire ls / rm / stat on named channels', () => {
  it('ls shows a channel with its state, role holders (alive or dead) and depth; the text table too', async () => {
    const name = uniqueName('cli-ls');
    const ch = Channel.open<number>(name, { create: true, capacity: 4096, codec: 'json' });
    try {
      const tx = ch.sender();
      expect(tx.trySend(1)).toBe(true);
      expect(tx.trySend(2)).toBe(true);
      let c = listed(name);
      expect(c).toMatchObject({ name, capacity: 4096, codec: 'json', state: 'open', depthBytes: 32 });
      expect(c.receiver).toBeUndefined();
      expect(c.sender).toMatchObject({ pid: process.pid, alive: true });
      await tx.close();
      expect(listed(name)).toMatchObject({ state: 'sender closed', depthBytes: 32 });
      // Another process claims the receiver role and gives it back unread: the stream is as it was.
      const kid = start('claim.mjs', { name, role: 'receiver' }, 30_000);
      expect((await kid.exit).code).toBe(0);
      c = listed(name);
      expect(c).toMatchObject({ state: 'sender closed', depthBytes: 32 });
      expect(c.receiver).toBeUndefined();
      const rx = ch.receiver();
      expect([await rx.recv(), await rx.recv()]).toEqual([1, 2]);
      await expect(rx.recv()).rejects.toMatchObject({ code: 'ERR_CHANNEL_CLOSED' });
      c = listed(name);
      expect(c).toMatchObject({ state: 'ended', depthBytes: 0 });
      expect([c.sender, c.receiver]).toEqual([undefined, undefined]);
      const text = cli('ls');
      expect(text.status).toBe(0);
      expect(text.stdout.split('\n')[0]).toMatch(/^NAME\s+CAPACITY\s+CODEC\s+STATE\s+SENDER\s+RECEIVER\s+DEPTH$/);
      expect(text.stdout).toMatch(new RegExp(`^${name}\\s+4096\\s+json\\s+ended\\s+-\\s+-\\s+0 B$`, 'm'));
    } finally {
      await ch.close();
      Channel.unlink(name);
    }
  });

  it('ls reports a dead holder as dead', async () => {
    const name = uniqueName('cli-dead');
    const ch = Channel.open(name, { create: true, capacity: 1024, codec: 'json' });
    try {
      const kid = start('thread-holder.mjs', { name, count: 0 }, 30_000);
      await kid.waitFor((m) => m.workerExited !== undefined, 20_000);
      expect(listed(name).sender).toMatchObject({ pid: kid.pid, alive: false });
      kid.kill();
      await kid.exit;
    } finally {
      await ch.close();
      Channel.unlink(name);
    }
  });

  it('ls lists what else it finds under the prefix (a directory, a FIFO, a symlink, a short file) as not a channel, without blocking', () => {
    const base = `/dev/shm/ringwire-${uniqueName('cli-odd')}`;
    const odd = { dir: `${base}-dir`, fifo: `${base}-fifo`, link: `${base}-link`, short: `${base}-short` };
    mkdirSync(odd.dir);
    spawnSync('mkfifo', [odd.fifo]);
    symlinkSync('/etc/hostname', odd.link);
    writeFileSync(odd.short, 'x');
    try {
      const r = cli('ls', '--format', 'ndjson');
      expect(r.status, r.stderr).toBe(0);
      const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
      for (const path of Object.values(odd)) {
        expect(rows.find((c) => c.path === path), path).toMatchObject({ problem: expect.any(String) });
      }
    } finally {
      for (const path of Object.values(odd)) rmSync(path, { recursive: true, force: true });
    }
  });

  it('stat takes a plain name as well as a path; rm removes a channel, exit 1 when there is none', async () => {
    const name = uniqueName('cli-rm');
    const ch = Channel.open(name, { create: true, capacity: 2048 });
    await ch.close();
    const byName = cli('stat', name);
    expect(byName.status).toBe(0);
    expect(JSON.parse(byName.stdout)).toMatchObject({ kind: 'channel', path: `/dev/shm/ringwire-${name}`, capacity: 2048 });
    expect(JSON.parse(cli('stat', `/dev/shm/ringwire-${name}`).stdout)).toMatchObject({ capacity: 2048 });
    const rm = cli('rm', name);
    expect(rm.status).toBe(0);
    expect(existsSync(`/dev/shm/ringwire-${name}`)).toBe(false);
    const again = cli('rm', name);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(new RegExp(`no channel ${name}`));
    expect(cli('rm').status).toBe(2);
    expect(cli('rm', 'bad..name').status).toBe(2);
  });

  it('stat shows the counters channel.stats() shows, once each side flushed them (here: closed)', async () => {
    const name = uniqueName('cli-stat');
    const ch = Channel.open(name, { create: true, capacity: 8192, codec: 'json' });
    try {
      const tx = ch.sender();
      const rx = ch.receiver();
      for (let i = 0; i < 1000; i++) {
        expect(tx.trySend({ i })).toBe(true);
        expect(rx.tryRecv()).toEqual({ i });
      }
      await tx.close();
      rx.close();
      const r = cli('stat', name);
      expect(r.status, r.stderr).toBe(0);
      const stat = JSON.parse(r.stdout);
      expect(stat.stats).toEqual(ch.stats());
      expect(stat.stats.received).toMatchObject({ messages: 1000, dropped: 0 });
    } finally {
      await ch.close();
      Channel.unlink(name);
    }
  });
});
