// Log shipping to NATS JetStream: shipLog against plain @nats-io/jetstream publish loops of the
// same records, in the same run, on one local nats-server (loopback, temp store, started here).
//
// All of them share one connection, made with noAsyncTraces (as shipLog makes its own).
//
// 1. Throughput: a log holding N records (100-byte JSON); time until all are acknowledged by the
//    stream: shipLog; a loop awaiting each js.publish; a loop keeping 256 publishes in flight.
// 2. End-to-end lag at a steady rate (RATE records/s for SECONDS s): from the record's creation
//    (its append, or the loop making it) to its arrival at a JetStream consumer of the stream;
//    p50 / p99 in ms. Records are made in 5 ms ticks: shipLog follows the log they are appended
//    to; the plain loop publishes them as they are made, awaiting each ack.
//
//   node bench/nats-ship.mjs        (needs nats-server on PATH, `npx tsup`, the native addon)
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, headers } from '@nats-io/transport-node';
import { LogWriter } from '../dist/index.js';
import { shipLog } from '../dist/nats.js';
import { describeMachine, machine, percentile, QUICK } from './lib/common.mjs';

const N = QUICK ? 20_000 : 200_000;
const RATE = 5_000;
const SECONDS = QUICK ? 2 : 5;
const RECORD = { level: 30, msg: 'x'.repeat(79) }; // 100 bytes of JSON
const PAYLOAD = Buffer.from(JSON.stringify(RECORD));

const root = mkdtempSync(join(tmpdir(), 'ringwire-bench-nats-'));
const port = await new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const server = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', join(root, 'store')], { stdio: ['ignore', 'ignore', 'pipe'] });
await new Promise((resolve, reject) => {
  let log = '';
  const t = setTimeout(() => reject(new Error(`nats-server not ready: ${log}`)), 15_000);
  server.stderr.setEncoding('utf8').on('data', (d) => {
    log += d;
    if (log.includes('Server is ready')) resolve(clearTimeout(t));
  });
  server.once('exit', (code) => reject(new Error(`nats-server exited (${code}): ${log}`)));
});
const url = `nats://127.0.0.1:${port}`;
const nc = await connect({ servers: url, noAsyncTraces: true }); // as shipLog's own connections
const jsm = await jetstreamManager(nc);
const js = jetstream(nc);
let streams = 0;

async function newStream() {
  const name = `bench${++streams}`;
  await jsm.streams.add({ name, subjects: [`bench.${name}`] });
  return { name, subject: `bench.${name}` };
}

/** Polls `cond` every ms until it holds (at most 120 s). */
async function until(cond) {
  const end = Date.now() + 120_000;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 1));
  }
}

function logWith(n) {
  const dir = join(root, `log${streams}-${n}`);
  const w = LogWriter.open(dir);
  for (let i = 0; i < n; i++) w.append(RECORD);
  return { dir, w };
}

async function shipThroughput() {
  const { dir, w } = logWith(N);
  const { name, subject } = await newStream();
  const t0 = performance.now();
  const s = shipLog(dir, { connection: nc, stream: name, subject });
  await until(() => s.stats().nextSequence === N);
  const ms = performance.now() - t0;
  await s.stop();
  w.close();
  return N / (ms / 1000);
}

async function plainThroughput(inFlight) {
  const { subject } = await newStream();
  const t0 = performance.now();
  const pending = new Set();
  for (let i = 0; i < N; i++) {
    const p = js.publish(subject, PAYLOAD, { msgID: `plain:${i}` });
    if (inFlight === 1) await p;
    else {
      pending.add(p);
      p.finally(() => pending.delete(p));
      if (pending.size >= inFlight) await Promise.race(pending);
    }
  }
  await Promise.all(pending);
  return N / ((performance.now() - t0) / 1000);
}

/** Lag samples (ms) of the messages a consumer of `stream` receives after the first `skip`,
 * until `count` arrived. */
async function consumeLag(stream, count, skip = 0) {
  const consumer = await js.consumers.get(stream);
  const lags = [];
  const messages = await consumer.consume();
  for await (const m of messages) {
    if (skip > 0 && skip--) continue;
    lags.push(Date.now() - Number(m.headers.get('Ringwire-Time')));
    if (lags.length === count) break;
  }
  return Float64Array.from(lags).sort();
}

/** Calls make(i, madeAt) for RATE records/s over SECONDS s, in 5 ms ticks: the records of a
 * tick are made at once (madeAt: the tick's time). Resolves with the count. */
async function atRate(make) {
  const total = RATE * SECONDS;
  const t0 = Date.now();
  let i = 0;
  while (i < total) {
    const madeAt = Date.now();
    const due = Math.min(total, Math.floor(((madeAt - t0) * RATE) / 1000));
    while (i < due) await make(i++, madeAt);
    await new Promise((r) => setTimeout(r, 5));
  }
  return total;
}

async function shipLag() {
  const dir = join(root, 'lag-log');
  const w = LogWriter.open(dir);
  const { name, subject } = await newStream();
  const s = shipLog(dir, { connection: nc, stream: name, subject });
  // Steady state only: the shipper's start (stream look-ups, its first publish alone) is over.
  w.append(RECORD);
  await until(() => s.stats().nextSequence === 1);
  const lags = consumeLag(name, RATE * SECONDS, 1);
  await atRate(() => w.append(RECORD));
  const sorted = await lags;
  await s.stop();
  w.close();
  return sorted;
}

async function plainLag() {
  const { name, subject } = await newStream();
  const lags = consumeLag(name, RATE * SECONDS);
  await atRate(async (i, madeAt) => {
    const h = headers();
    h.set('Ringwire-Time', String(madeAt)); // like a log record's append time
    await js.publish(subject, PAYLOAD, { msgID: `lag:${i}`, headers: h });
  });
  return lags;
}

const ms = (x) => x.toFixed(1);
try {
  console.log(`# NATS JetStream shipping (${describeMachine(machine())}; nats-server ${url}, file store in ${tmpdir()})`);
  console.log(`\n${N} records of ${PAYLOAD.length} bytes, acknowledged by the stream:\n`);
  console.log('| publisher | records/s |');
  console.log('| --- | ---: |');
  console.log(`| shipLog (256 in flight) | ${Math.round(await shipThroughput()).toLocaleString('en-US')} |`);
  console.log(`| plain js.publish loop, await each | ${Math.round(await plainThroughput(1)).toLocaleString('en-US')} |`);
  console.log(`| plain js.publish loop, 256 in flight | ${Math.round(await plainThroughput(256)).toLocaleString('en-US')} |`);
  console.log(`\nEnd-to-end lag at ${RATE} records/s for ${SECONDS} s (record made → delivered to a stream consumer):\n`);
  console.log('| publisher | p50 ms | p99 ms | max ms |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const [label, f] of [
    ['shipLog following the log', shipLag],
    ['plain js.publish loop, await each', plainLag],
  ]) {
    const s = await f();
    console.log(`| ${label} | ${ms(percentile(s, 0.5))} | ${ms(percentile(s, 0.99))} | ${ms(s[s.length - 1])} |`);
  }
} finally {
  await nc.close();
  server.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
}
