// Persistent log append benchmark: 100-byte records, end to end (open, append N, close/flush),
// ringwire LogWriter (bytes, string, object, batches) against pino with sonic-boom (sync and
// async), pino through the ringwire destination, and fs.writeSync of the same lines.
//
// Throughput is measured in one pass without timers; latency (p50/p99/p999 of single appends, in
// ns, timer overhead included: about 30-60 ns) in a second pass timing every call.
//
//   node bench/log-append.mjs [records]  prints a table (needs `npx tsup` and the native addon);
//                                        also a scenario of `npm run bench` (bench/run.mjs)
//   import { run } from './log-append.mjs'; await run()   -> rows { name, opsPerSec, p50, p99, p999 }
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LogWriter, pinoDestination } from '../dist/index.js';
import { QUICK } from './lib/common.mjs';
import { runScenario } from './lib/scenario.mjs';

const require = createRequire(import.meta.url);
function optional(name) {
  try {
    return require(name);
  } catch {
    return undefined;
  }
}

const RECORD_BYTES = 100;
const LINE = JSON.stringify({ level: 30, i: 0, msg: 'x'.repeat(RECORD_BYTES - 30) }).slice(0, RECORD_BYTES - 2) + '"}';
const OBJECT = { level: 30, msg: 'x'.repeat(RECORD_BYTES - 24) }; // JSON.stringify is 100 bytes
const BYTES = Buffer.from('r'.repeat(RECORD_BYTES));
const STRING = 'r'.repeat(RECORD_BYTES);

function percentiles(samples) {
  samples.sort((a, b) => a - b);
  const at = (q) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))];
  return { p50: at(0.5), p99: at(0.99), p999: at(0.999) };
}

/** Times `count` calls of op(i) one by one (ns each). */
function latency(op, count) {
  const samples = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const t = process.hrtime.bigint();
    op(i);
    samples[i] = Number(process.hrtime.bigint() - t);
  }
  return percentiles(Array.from(samples));
}

/**
 * A scenario: open() -> { op(i), close() }. Throughput: open, N ops, close, timed as a whole.
 * Latency: a second open, timed ops, close.
 */
async function measure(name, n, open) {
  const dir = mkdtempSync(join(tmpdir(), 'ringwire-bench-'));
  try {
    // Warm-up (JIT) in its own instance.
    let s = await open(join(dir, 'warm'));
    for (let i = 0; i < Math.min(n, 20_000); i++) s.op(i);
    await s.close();
    const t0 = process.hrtime.bigint();
    s = await open(join(dir, 'run'));
    for (let i = 0; i < n; i++) s.op(i);
    await s.close();
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    s = await open(join(dir, 'lat'));
    const lat = latency(s.op, Math.min(n, 200_000));
    await s.close();
    return { name, opsPerSec: Math.round(n / seconds), ...lat };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const logScenario = (codec, op) => async (dir) => {
  const w = LogWriter.open(dir, { codec });
  return { op: (i) => op(w, i), close: () => w.close() };
};

export async function run({ records = 1_000_000 } = {}) {
  const rows = [];
  const small = Math.max(10_000, Math.floor(records / 5));
  rows.push(await measure('ringwire append (bytes, 100 B)', records, logScenario('bytes', (w) => w.append(BYTES))));
  rows.push(await measure('ringwire append (string, 100 B)', records, logScenario('string', (w) => w.append(STRING))));
  rows.push(await measure('ringwire append (object via json, 100 B)', records, logScenario('json', (w) => w.append(OBJECT))));
  {
    const batch = Array.from({ length: 256 }, () => BYTES);
    const r = await measure('ringwire appendBatch x256 (bytes, 100 B)', Math.ceil(records / 256), logScenario('bytes', (w) => w.appendBatch(batch)));
    // Per record: one op is 256 records.
    rows.push({ ...r, opsPerSec: r.opsPerSec * 256, p50: r.p50 / 256, p99: r.p99 / 256, p999: r.p999 / 256, note: 'latency per record of a batch' });
  }
  rows.push(
    await measure('fs.writeSync per line (100 B)', small, async (file) => {
      const fd = openSync(file, 'w');
      const line = Buffer.from(LINE + '\n');
      return { op: () => writeSync(fd, line), close: () => closeSync(fd) };
    }),
  );
  const pino = optional('pino');
  if (pino !== undefined) {
    const opts = { base: null, timestamp: false }; // lines close to 100 bytes: {"level":30,"msg":...}
    const msg = 'x'.repeat(RECORD_BYTES - 26);
    const pinoScenario = (makeDest, finish) => async (file) => {
      const dest = makeDest(file);
      const logger = pino(opts, dest);
      return { op: () => logger.info(msg), close: () => finish(dest) };
    };
    rows.push(
      await measure('pino -> sonic-boom sync', small, pinoScenario((f) => pino.destination({ dest: f, sync: true }), (d) => d.end())),
    );
    rows.push(
      await measure(
        'pino -> sonic-boom async (minLength 4096)',
        small,
        pinoScenario(
          (f) => pino.destination({ dest: f, sync: false, minLength: 4096 }),
          (d) =>
            new Promise((resolve) => {
              const finish = () => {
                d.flushSync();
                d.end();
                resolve();
              };
              if (d.fd >= 0) finish();
              else d.once('ready', finish);
            }),
        ),
      ),
    );
    rows.push(await measure('pino -> ringwire destination', small, pinoScenario((f) => pinoDestination(f), (d) => d.end())));
  }
  return rows;
}

function print(rows) {
  const fmt = (v) => (v >= 1000 ? `${(v / 1000).toFixed(2)} µs` : `${v.toFixed(0)} ns`);
  console.log(`node ${process.version}, ${process.platform} ${process.arch}, ${rows.length} scenarios, records of ${RECORD_BYTES} bytes`);
  console.log('scenario'.padEnd(44) + 'M records/s'.padStart(12) + 'p50'.padStart(10) + 'p99'.padStart(10) + 'p999'.padStart(10));
  for (const r of rows) {
    console.log(r.name.padEnd(44) + (r.opsPerSec / 1e6).toFixed(2).padStart(12) + fmt(r.p50).padStart(10) + fmt(r.p99).padStart(10) + fmt(r.p999).padStart(10));
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const records = Number(process.argv[2] ?? (QUICK ? 200_000 : 2_000_000));
  // Under bench/run.mjs: rows go back to the runner (scenario 'log-append'); run by hand: the table.
  await runScenario('log append', async () => (await run({ records })).map((r) => ({ scenario: 'log-append', impl: r.name, label: r.name, ...r })), print);
}
