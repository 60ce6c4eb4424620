// Child processes for the cross-process tests: node scripts in test/xproc/fixtures (they import the
// built library, dist/), with stdout/stderr collected, an IPC channel to wait on, and a hard time
// limit so that a wedged child fails the test instead of hanging it.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { expect } from 'vitest';
import { Channel } from '../../lib/index.js';
import * as L from '../../lib/core/layout.js';

export const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Child {
  readonly proc: ChildProcess;
  readonly pid: number;
  /** Settles when the process exits (never rejects). */
  readonly exit: Promise<Exit>;
  /** IPC messages received so far, in order. */
  readonly messages: any[];
  /** Resolves with the first IPC message (from `from` on) that matches, or rejects after `ms`. */
  waitFor(match: (m: any) => boolean, ms: number, from?: number): Promise<any>;
  kill(signal?: NodeJS.Signals): void;
}

/** Runs `node fixtures/<script> <JSON args>` (or an absolute path); SIGKILLed after `limitMs`. */
export function start(script: string, args: unknown, limitMs = 60_000): Child {
  return launch(process.execPath, [isAbsolute(script) ? script : fixture(script), JSON.stringify(args)], limitMs, script, true);
}

/** Runs a native program (no IPC channel: waitFor never matches); SIGKILLed after `limitMs`. */
export function startProgram(path: string, argv: string[], limitMs = 60_000): Child {
  return launch(path, argv, limitMs, `${path} ${argv[0] ?? ''}`, false);
}

function launch(command: string, argv: string[], limitMs: number, script: string, ipc: boolean): Child {
  const proc = spawn(command, argv, { stdio: ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const messages: any[] = [];
  const listeners = new Set<() => void>();
  proc.on('message', (m) => {
    messages.push(m);
    for (const l of listeners) l();
  });
  const limit = setTimeout(() => proc.kill('SIGKILL'), limitMs);
  const exit = new Promise<Exit>((resolve) => {
    proc.on('exit', (code, signal) => {
      clearTimeout(limit);
      // stdio may still hold buffered output: wait for it to close (bounded).
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        for (const l of listeners) l();
        resolve({ code, signal, stdout, stderr });
      };
      proc.on('close', finish);
      setTimeout(finish, 2000).unref();
    });
  });
  let exited = false;
  void exit.then(() => (exited = true));
  return {
    proc,
    pid: proc.pid!,
    exit,
    messages,
    kill: (signal = 'SIGKILL') => proc.kill(signal),
    waitFor(match, ms, from = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          for (let k = from; k < messages.length; k++) {
            if (match(messages[k])) {
              cleanup();
              resolve(messages[k]);
              return;
            }
          }
          if (exited) {
            cleanup();
            reject(new Error(`${script} (pid ${proc.pid}) exited before sending the expected message; stderr: ${stderr.slice(-2000)}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`${script} (pid ${proc.pid}): no expected message within ${ms} ms; got ${JSON.stringify(messages.slice(from)).slice(-500)}; stderr: ${stderr.slice(-2000)}`));
        }, ms);
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
  };
}

/** Runs a fixture to completion; its last stdout line is parsed as JSON. Fails on a signal or non-zero exit. */
export async function run(script: string, args: unknown, limitMs = 60_000): Promise<any> {
  const e = await start(script, args, limitMs).exit;
  if (e.signal !== null || e.code !== 0) {
    throw new Error(`${script} exited with ${e.signal ?? `code ${e.code}`}\nstdout: ${e.stdout.slice(-2000)}\nstderr: ${e.stderr.slice(-4000)}`);
  }
  const lines = e.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!);
}

/**
 * The end of a consumer kill loop: a last consumer (`script` with `args`) takes over, the producer
 * (a progress-producer.mjs) is told to stop and close, and the consumer must start no later than
 * the message after `last` (nothing skipped) and end exactly at the last message sent. Returns how
 * many were sent.
 */
export async function lastConsumerFinishes(producer: Child, script: string, args: unknown, last: number): Promise<number> {
  const consumer = start(script, args, 60_000);
  await consumer.waitFor((m) => m.type === 'ready', 30_000);
  producer.proc.send({ type: 'stop' });
  const done = await producer.waitFor((m) => m.type === 'done', 30_000);
  const end = await consumer.waitFor((m) => m.type === 'end', 30_000);
  expect(end.first).toBeLessThanOrEqual(last + 1);
  expect(end.last).toBe(done.sent - 1);
  expect((await consumer.exit).code).toBe(0);
  expect((await producer.exit).code).toBe(0);
  return done.sent;
}

/** A channel name no other test (or run) uses. */
export const uniqueName = (what: string): string => `test-${what}-${process.pid}-${randomBytes(4).toString('hex')}`;

export function removeQuietly(path: string): void {
  try {
    if (existsSync(path)) unlinkSync(path);
  } catch {
    // best effort
  }
}

const readme = (): string => readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
const dist = pathToFileURL(fileURLToPath(new URL('../../dist/index.js', import.meta.url))).href;

/**
 * The README's cross-process example block that starts with `// <first>`, written runnable as
 * `dir/file`: its channel 'orders' renamed to `name`, and 'ringwire' pointed at the built library.
 */
export function readmeExample(first: string, dir: string, file: string, name: string): string {
  const block = [...readme().matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.startsWith(`// ${first}`));
  if (block === undefined) throw new Error(`README has no code block starting with // ${first}`);
  const path = join(dir, file);
  writeFileSync(path, block.replaceAll("'orders'", JSON.stringify(name)).replaceAll("from 'ringwire'", `from '${dist}'`));
  return path;
}

/** Waits for `kid` to exit and expects exit code 0, no signal and nothing on stderr; its stdout, trimmed. */
export async function finished(kid: Child): Promise<string> {
  const e = await kid.exit;
  expect({ code: e.code, signal: e.signal, stderr: e.stderr }).toEqual({ code: 0, signal: null, stderr: '' });
  return e.stdout.trim();
}

/** Whether a receiver holds the channel `name` (a consumer waiting for the next stream). */
export function receiverClaimed(name: string): boolean {
  try {
    const ch = Channel.open(name);
    const held = Atomics.load(ch.mem.i32, L.RECEIVER_OWNER_OFFSET >> 2) !== 0;
    void ch.close();
    return held;
  } catch {
    return false; // not created yet
  }
}
