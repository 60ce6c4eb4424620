// Real nats-server processes for the NATS tests: loopback only, free ports, JetStream stores in
// temp directories, hard time limits. A test that starts servers stops them (stopAll in afterAll).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A port free on 127.0.0.1 now, outside the kernel's ephemeral range. A port the OS picks (listen on
 * port 0) comes from that range, and so do the source ports of outgoing connections (the cluster's
 * route dials, the clients of tests running alongside): one can take a port handed out for a
 * server before the server binds it, and the server exits with "address already in use" (a CI run
 * failed so). Outside the range only another listener can take it; each port is handed out once
 * per process.
 */
export async function freePort(): Promise<number> {
  const [low, high] = ephemeralRange();
  // Below the range when there is room (the default range starts at 32768), else above it.
  const [from, to] = low - 10_000 >= 2_000 ? [10_000, low] : [high + 1, 65_536];
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = from + Math.floor(Math.random() * (to - from));
    if (handedOut.has(port) || !(await canListen(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free loopback port in [${from}, ${to}) after 100 tries`);
}

const handedOut = new Set<number>();

/** The kernel's range for the source ports of outgoing connections (Linux), else IANA's dynamic range. */
export function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high)) return [low!, high!];
  } catch {
    // not Linux: the IANA dynamic range
  }
  return [49_152, 65_535];
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

export class NatsServer {
  readonly port: number;
  readonly storeDir: string;
  readonly args: string[];
  proc: ChildProcess | undefined;
  log = '';

  constructor(port: number, storeDir: string, args: string[]) {
    this.port = port;
    this.storeDir = storeDir;
    this.args = args;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Starts the process and resolves once it says it is ready (at most 15 s). */
  async start(): Promise<void> {
    const proc = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(this.port), '-sd', this.storeDir, ...this.args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.proc = proc;
    this.log = '';
    // A wedged server must not outlive the test file.
    const limit = setTimeout(() => proc.kill('SIGKILL'), 300_000);
    limit.unref();
    proc.on('exit', () => clearTimeout(limit));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nats-server on ${this.port} not ready within 15 s:\n${this.log.slice(-2000)}`)), 15_000);
      proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
        this.log = (this.log + d).slice(-20_000);
        if (this.log.includes('Server is ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`nats-server on ${this.port} exited (${signal ?? code}) before it was ready:\n${this.log.slice(-2000)}`));
      });
    });
  }

  /** Resolves once the server's log matches `re` (read as it arrives, no polling), at most `ms`. */
  waitForLog(re: RegExp, ms: number): Promise<void> {
    const stderr = this.proc!.stderr!;
    return new Promise<void>((resolve, reject) => {
      // After start()'s listener, which appends to this.log first.
      const onData = () => {
        if (!re.test(this.log)) return;
        done();
        resolve();
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`nats-server on ${this.port}: no ${re} in its log within ${ms} ms:\n${this.log.slice(-2000)}`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        stderr.off('data', onData);
      };
      stderr.on('data', onData);
      onData();
    });
  }

  /** Stops the process (SIGKILL by default: a crash) and waits for it to exit. */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const proc = this.proc;
    this.proc = undefined;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill(signal);
    const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }
}

const started: NatsServer[] = [];
const dirs: string[] = [];

function storeDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'ringwire-nats-'));
  dirs.push(d);
  return d;
}

/** One JetStream server on a free loopback port. */
export async function startServer(): Promise<NatsServer> {
  const s = new NatsServer(await freePort(), storeDir(), []);
  started.push(s);
  await s.start();
  return s;
}

/**
 * Three JetStream servers on loopback with routes between them (one cluster). A cluster that has
 * not elected its meta leader within CLUSTER_READY_MS is stopped and started afresh, once: a CI run
 * saw the three routed to each other and no leader after 30 s (nats-server 2.9), which is the
 * server's start-up, not what the tests test.
 */
export async function startCluster(): Promise<NatsServer[]> {
  for (let attempt = 1; ; attempt++) {
    const servers = await newCluster();
    try {
      await Promise.all(servers.map((s) => s.start()));
      // Listening is not serving JetStream: the three must first elect a meta leader, which can
      // take seconds on a loaded machine. Each server logs the leader once it knows it.
      await Promise.all(servers.map((s) => s.waitForLog(/metadata leader/, CLUSTER_READY_MS)));
      return servers;
    } catch (err) {
      await Promise.all(servers.map((s) => s.stop()));
      if (attempt === 2) throw err;
      console.warn(`startCluster: starting afresh: ${(err as Error).message.split('\n')[0]}`);
    }
  }
}

let clusters = 0;

async function newCluster(): Promise<NatsServer[]> {
  const ports = [await freePort(), await freePort(), await freePort()];
  const routes = [await freePort(), await freePort(), await freePort()];
  const name = `rw${process.pid}c${++clusters}`;
  const servers = ports.map(
    (p, k) =>
      new NatsServer(p, storeDir(), [
        '-n', `${name}-${k}`,
        '--cluster_name', name,
        '--cluster', `nats://127.0.0.1:${routes[k]}`,
        '--routes', routes.filter((_, j) => j !== k).map((r) => `nats://127.0.0.1:${r}`).join(','),
      ]),
  );
  started.push(...servers);
  return servers;
}

const CLUSTER_READY_MS = 30_000;

/** Stops every server this file started and removes their stores. */
export async function stopAll(): Promise<void> {
  await Promise.all(started.splice(0).map((s) => s.stop()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** A temp directory removed by stopAll(). */
export function tempDir(): string {
  return storeDir();
}
