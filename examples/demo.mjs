// ringwire demo: two worker threads exchange messages over a shared-memory ring, next to the
// same exchange over a worker_threads MessagePort. Takes about 10 seconds.
//
//   npx tsup && node examples/demo.mjs
//
// The worker code is in examples/demo-worker.mjs.
import os from 'node:os';
import { MessageChannel, Worker } from 'node:worker_threads';
import { Channel } from '../dist/index.js';

const SMALL = 2_000_000; // small messages
const SMALL_SIZE = 32; // bytes each
const OBJECTS = 200_000; // JSON objects
const ROUND_TRIPS = 20_000;
const PORT_BUDGET_MS = 3_000; // the MessagePort runs stop (and say so) after this long
const WORKER_LIMIT_MS = 30_000; // any worker still busy after this is a bug: stop the demo

const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);
const num = (n) => Math.round(n).toLocaleString('en-US');
const rate = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : `${(n / 1e3).toFixed(0)} k`);

/** Starts a worker on `task`; resolves with its result and the time from "go" to its result. */
function spawn(task, data = {}, transferList = []) {
  const worker = new Worker(new URL('./demo-worker.mjs', import.meta.url), { workerData: { task, ...data }, transferList });
  let ready;
  const isReady = new Promise((resolve) => (ready = resolve));
  let t0 = 0;
  const done = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${task}: no result after ${WORKER_LIMIT_MS} ms`)), WORKER_LIMIT_MS);
    worker.on('message', (m) => {
      if (m.ready) return ready();
      clearTimeout(timer);
      if (m.ok) resolve({ ...m, ms: performance.now() - t0 });
      else reject(new Error(`${task}: ${m.error}`));
    });
    worker.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
  return {
    isReady,
    go() {
      t0 = performance.now();
      worker.postMessage('go');
    },
    done: done.finally(() => worker.terminate()),
    terminate: () => worker.terminate(),
  };
}

/** Runs a sender and a receiver worker; the time is from "go" until the receiver has everything. */
async function exchange(sendTask, recvTask, sendData, recvData, transferList = [[], []]) {
  const sender = spawn(sendTask, sendData, transferList[0]);
  const receiver = spawn(recvTask, recvData, transferList[1]);
  try {
    await Promise.all([sender.isReady, receiver.isReady]);
    const t0 = performance.now();
    receiver.go();
    sender.go();
    const [sent, got] = await Promise.all([sender.done, receiver.done]);
    return { sent, got, ms: performance.now() - t0 };
  } finally {
    await Promise.all([sender.terminate(), receiver.terminate()]);
  }
}

function portPair() {
  const { port1, port2 } = new MessageChannel();
  return { send: { port: port1 }, recv: { port: port2 }, transfer: [[port1], [port2]] };
}

function line(name, count, ms, bytesEach) {
  const perSec = (count / ms) * 1000;
  const mb = bytesEach ? `  ${((perSec * bytesEach) / 1e6).toFixed(0).padStart(5)} MB/s` : '';
  return `   ${name.padEnd(12)} ${rate(perSec).padStart(8)} msgs/s${mb}   ${dim(`(${num(count)} in ${(ms / 1000).toFixed(2)} s)`)}`;
}

/** rw and port are "higher is better" figures measured just now. */
function compare(rw, port, what = 'faster') {
  const times = (x) => (x >= 10 ? x.toFixed(0) : x.toFixed(1));
  if (rw >= port) return `   ${bold(`→ ringwire is ${times(rw / port)}x ${what}`)}`;
  return `   ${bold(`→ MessagePort is ${times(port / rw)}x ${what} in this run`)} ${dim('(a busy machine hurts spinning threads most)')}`;
}

function check(name, sent, got, expected) {
  if (got.received !== sent.sent || (expected !== undefined && got.checksum !== expected)) {
    throw new Error(`${name}: sent ${sent.sent}, received ${got.received}, checksum ${got.checksum} (expected ${expected})`);
  }
}

const median = (times) => {
  const s = Float64Array.from(times).sort();
  return s[s.length >> 1];
};

async function main() {
  const cpu = os.cpus();
  console.log(bold('\nringwire demo: two worker threads, one shared-memory ring'));
  console.log(dim(`${cpu[0]?.model?.trim()}, ${cpu.length} cores, Node ${process.version}\n`));

  // 1) Small binary messages.
  console.log(bold(`1) ${num(SMALL)} messages of ${SMALL_SIZE} bytes ('bytes' codec; the receiver uses drain())`));
  const bytesChannel = Channel.create({ codec: 'bytes' });
  const rw1 = await exchange(
    'ringwire-send-bytes', 'ringwire-recv-bytes',
    { handle: bytesChannel.handle, count: SMALL, size: SMALL_SIZE }, { handle: bytesChannel.handle, count: SMALL },
  );
  let expected = 0;
  for (let i = 0; i < SMALL; i++) expected = (expected + (i & 255)) | 0;
  check('ringwire bytes', rw1.sent, rw1.got, expected);
  console.log(line('ringwire', SMALL, rw1.ms, SMALL_SIZE));
  const p1 = portPair();
  const mp1 = await exchange(
    'port-send', 'port-recv',
    { ...p1.send, count: SMALL, size: SMALL_SIZE, json: false, budgetMs: PORT_BUDGET_MS }, p1.recv, p1.transfer,
  );
  check('MessagePort bytes', mp1.sent, mp1.got);
  console.log(line('MessagePort', mp1.got.received, mp1.ms, SMALL_SIZE) + (mp1.sent.stoppedEarly ? dim('  stopped early to keep the demo short') : ''));
  console.log(compare(SMALL / rw1.ms, mp1.got.received / mp1.ms));

  // 2) Objects.
  console.log(bold(`\n2) ${num(OBJECTS)} order objects ('json' codec, received with recvSync)`));
  const jsonChannel = Channel.create({ codec: 'json' });
  const rw2 = await exchange('ringwire-send-json', 'ringwire-recv-json', { handle: jsonChannel.handle, count: OBJECTS }, { handle: jsonChannel.handle });
  check('ringwire json', rw2.sent, rw2.got);
  console.log(line('ringwire', OBJECTS, rw2.ms));
  const p2 = portPair();
  const mp2 = await exchange(
    'port-send', 'port-recv',
    { ...p2.send, count: OBJECTS, size: 0, json: true, budgetMs: PORT_BUDGET_MS }, p2.recv, p2.transfer,
  );
  check('MessagePort json', mp2.sent, mp2.got);
  console.log(line('MessagePort', mp2.got.received, mp2.ms) + dim('  (structured clone)'));
  console.log(compare(OBJECTS / rw2.ms, mp2.got.received / mp2.ms));

  // 3) Round trip.
  console.log(bold(`\n3) Round trip: ${SMALL_SIZE} bytes there and back, median of ${num(ROUND_TRIPS)}`));
  const there = Channel.create({ codec: 'bytes', capacity: 1 << 16 }).handle;
  const back = Channel.create({ codec: 'bytes', capacity: 1 << 16 }).handle;
  const ping = { count: ROUND_TRIPS, warmup: 2_000, size: SMALL_SIZE };
  const rw3 = await exchange('ringwire-ping', 'ringwire-pong', { there, back, ...ping }, { there, back });
  const p3 = portPair();
  const mp3 = await exchange('port-ping', 'port-pong', { ...p3.send, ...ping }, p3.recv, p3.transfer);
  const rwRt = median(rw3.sent.times);
  const mpRt = median(mp3.sent.times);
  console.log(`   ${'ringwire'.padEnd(12)} ${rwRt.toFixed(1).padStart(6)} µs   ${dim('(both sides block in recvSync: spin briefly, then park)')}`);
  console.log(`   ${'MessagePort'.padEnd(12)} ${mpRt.toFixed(1).padStart(6)} µs`);
  console.log(compare(mpRt, rwRt, 'quicker'));
  // 4) A pipeline: stages in worker threads joined by ringwire channels.
  const { runPipelineDemo } = await import('./pipeline-demo.mjs');
  await runPipelineDemo();
  console.log(dim('\nFor careful numbers (several runs, p99, GC counts, ringbuf.js): npm run bench\n'));
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
