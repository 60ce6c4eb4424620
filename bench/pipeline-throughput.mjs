// Benchmark: a 3-stage worker pipeline with trivial handlers (one worker thread per stage, the
// source and the sink in the main thread), on 32-byte messages and on small JSON objects:
//   - ringwire pipeline: every hop a ringwire channel (lib/pipeline)
//   - piscina run() per message: each message is run() through three piscina task functions
//   - MessagePort workers: three long-lived workers joined by MessageChannels, one postMessage per hop
// Each contender runs `trials` times, interleaved, in this process; rows report the median.
// Also a sweep of the ringwire pipeline's waiting (threads outnumber the cores here): the default
// (wait 'adaptive') next to today's fixed spin ('spin' with spinMicros 0, 2, 5, 20, 100), and the
// cost of tracing on both kinds of message (options.trace: off, 1%, and 1% with traces() read
// every 100 ms, in trios of rotating order, after an untimed one of each, then 100%; each trio's
// ratios to off over the whole run and over its steady state, the messages after the first third;
// and, for 32 B, 1% in alternate windows of one long pipeline, through setTraceSample).
//
//   node bench/pipeline-throughput.mjs           (needs a built library: npx tsup)
//   BENCH_QUICK=1 node bench/pipeline-throughput.mjs
//   node bench/pipeline-throughput.mjs spin|compare|trace   (one part; BENCH_TRIALS=n trials)
//   BENCH_STAGE_WORKERS=2 ...                                (workers per stage in the sweep: 7 threads)
//   BENCH_TRACE_MESSAGES=n ...                               (messages per 32 B pipeline in the tracing part, default 6 M; JSON n / 4)
//
// export run({ quick?, trials?, compare?, spin?, trace?, workers? }) → rows (compare: the
// contenders; spin: the sweep; trace: per kind of message, tracing off / 1% / 1% over the trios
// in the machine's faster and in its slower state / the same three for 1% read / 100%, then for
// 32 B 1% and 0% in alternate windows):
//   { scenario: 'pipeline', label: '32 B' | 'small JSON', impl, messages, seconds?, msgPerSec?,
//     vsPiscina?, wait?, sample?, readEveryMs?, vsOff?, steadyPerSec?, steadyVsOff?, vsOffCI?,
//     steadyVsOffCI?, ratios?, probes?, trials }
//   (vsOffCI: the two 1% rows, steadyVsOffCI: the 1% rows and the alternate-windows rows; [low,
//   high], a 95% bootstrap interval of the median ratio; probes: the 1% rows' cache-line round
//   trips, ns, before and after each pipeline of each trio)
//   (the alternate-windows rows: steadyPerSec is the untraced windows' median rate, steadyVsOff the
//   median of the windows' ratios, ratios each of them, trials how many; the 1% rows' ratios are
//   their trios' steady ratios)
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import { MessageChannel, Worker } from 'node:worker_threads';
import { pipeline } from '../dist/index.js';
import { cacheLineRoundTrip } from './lib/common.mjs';

const STAGE = new URL('./workers/pipeline-stage.mjs', import.meta.url);
const PORT_STAGE = new URL('./workers/pipeline-port.mjs', import.meta.url);
const PISCINA = 'piscina';

const CASES = [
  { label: '32 B', codec: 'bytes', make: () => new Uint8Array(32).fill(7) },
  { label: 'small JSON', codec: 'json', make: () => ({ id: 12345, user: 'user-17', score: 0.75, tags: ['a', 'b'], hops: 0 }) },
];

/**
 * A ringwire pipeline of `n` messages; returns its seconds from the first delivery to the last
 * (worker start-up, module loading, is not throughput, and neither is the teardown after). With
 * `times`, also `times.steady`: msg/s from the first third on, once the workers' code is compiled.
 * With `windows: { w, sample }`: created with trace: { sample: 0 }, its source switches to
 * `sample` in every other window of `w` messages (setTraceSample), and `times.marks` gets the
 * time of every w-th delivery and of the last.
 */
async function ringwire(c, n, { waiting = {}, workers = 1, sample, readEveryMs, times, windows } = {}) {
  const msg = c.make();
  let got = 0;
  let first = 0;
  let steady = 0;
  let end = 0;
  const from = Math.floor(n / 3);
  const marks = [];
  let p;
  function* source() {
    for (let i = 0; i < n; i++) {
      if (windows !== undefined && i % windows.w === 0) p.setTraceSample((i / windows.w) % 2 === 1 ? windows.sample : 0);
      yield msg;
    }
  }
  p = pipeline({
    source: source(),
    stages: [{ module: STAGE, workers }, { module: STAGE, workers }, { module: STAGE, workers }],
    sink: () => {
      const now = performance.now();
      if (got === 0) first = now;
      else if (got === from) steady = now;
      if (windows !== undefined && got % windows.w === 0) marks.push(now);
      if (++got === n) end = now;
    },
    codec: c.codec,
    capacity: 1 << 16,
    ...waiting,
    ...(windows !== undefined ? { trace: { sample: 0 } } : sample === undefined ? {} : { trace: { sample } }),
  });
  // A reader of the traces as it runs (they are assembled when read): a dashboard polling traces().
  const reader = readEveryMs === undefined ? undefined : setInterval(() => p.traces(), readEveryMs);
  try {
    await p.done;
  } finally {
    clearInterval(reader);
  }
  if (got !== n) throw new Error(`ringwire pipeline delivered ${got} of ${n}`);
  if (times !== undefined) {
    times.steady = (n - from) / ((end - steady) / 1000);
    times.marks = [...marks, end];
  }
  return (end - first) / 1000;
}

/** The ratios tracedWindows() gives per pipeline. */
const WINDOW_RATIOS = 3;

/**
 * Tracing in alternate windows of one pipeline (ringwire's `windows`, 10 windows): each traced
 * window's rate over the mean of its two neighbours', for the 4th, 6th and 8th windows (from
 * 3 windows in: past the workers' warm-up). The cost of tracing in the steady state, free of the
 * ±10% between one pipeline and the next; with sample 0, the method's own spread.
 */
async function tracedWindows(c, w, sample) {
  const times = {};
  await ringwire(c, 10 * w, { times, windows: { w, sample } });
  const rate = (k) => w / ((times.marks[k + 1] - times.marks[k]) / 1000);
  const ratios = [];
  const offRates = [];
  for (let k = 3; k < 3 + 2 * WINDOW_RATIOS; k += 2) {
    ratios.push(rate(k) / ((rate(k - 1) + rate(k + 1)) / 2));
    offRates.push(rate(k - 1), rate(k + 1));
  }
  return { ratios, offRates };
}

async function piscina(c, n) {
  const { Piscina } = await import(PISCINA);
  const pool = new Piscina({ filename: STAGE.href, minThreads: 3, maxThreads: 3, idleTimeout: 60_000 });
  const msg = c.make();
  try {
    await Promise.all(['s1', 's2', 's3'].map((name) => pool.run(msg, { name }))); // warm: threads up, module loaded
    let next = 0;
    let done = 0;
    const lane = async () => {
      while (next < n) {
        next++;
        let m = await pool.run(msg, { name: 's1' });
        m = await pool.run(m, { name: 's2' });
        await pool.run(m, { name: 's3' });
        done++;
      }
    };
    const t = performance.now();
    await Promise.all(Array.from({ length: 256 }, lane)); // 256 messages in flight
    if (done !== n) throw new Error(`piscina delivered ${done} of ${n}`);
    return (performance.now() - t) / 1000;
  } finally {
    await pool.destroy();
  }
}

async function ports(c, n) {
  const chans = Array.from({ length: 4 }, () => new MessageChannel());
  const workers = [0, 1, 2].map(
    (k) => new Worker(PORT_STAGE, { workerData: { input: chans[k].port2, output: chans[k + 1].port1 }, transferList: [chans[k].port2, chans[k + 1].port1] }),
  );
  const tx = chans[0].port1;
  const rx = chans[3].port2;
  const msg = c.make();
  const WINDOW = 4096; // messages in flight, like the rings' bound for ringwire
  try {
    // Warm-up: one message through.
    await new Promise((resolve) => {
      rx.once('message', resolve);
      tx.postMessage(msg);
    });
    const t = performance.now();
    await new Promise((resolve) => {
      let sent = 0;
      let got = 0;
      rx.on('message', () => {
        if (++got === n) resolve();
        else if (sent < n) (sent++, tx.postMessage(msg));
      });
      for (; sent < Math.min(WINDOW, n); sent++) tx.postMessage(msg);
    });
    return (performance.now() - t) / 1000;
  } finally {
    rx.close();
    tx.close();
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** The median (of an even count, the mean of the two middle values). */
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 === 1 ? s[h] : (s[h - 1] + s[h]) / 2;
};

/**
 * A 95% interval for the median of `xs` (percentile bootstrap, 4000 resamples, a fixed seed): how
 * far the median moves by chance within this run (between runs it moves more: the machine may
 * spend a run mostly in one of its two states, see cacheLineRoundTrip). `group` consecutive values
 * are drawn together (the alternate windows' three ratios per pipeline share windows and a state,
 * so the pipeline is what is independent, not the ratio).
 */
const medianInterval = (xs, group = 1) => {
  let seed = 0x2545f491;
  const groups = Math.ceil(xs.length / group);
  const meds = [];
  for (let b = 0; b < 4000; b++) {
    const draw = [];
    for (let i = 0; i < groups; i++) {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      const g = Math.floor((seed / 2 ** 32) * groups);
      draw.push(...xs.slice(g * group, (g + 1) * group));
    }
    meds.push(median(draw));
  }
  meds.sort((a, b) => a - b);
  return [meds[100], meds[3899]];
};

/** The sweep: the default, then the fixed spins of before the wait option. */
const SWEEP = [
  { label: "default (wait 'adaptive')", waiting: {} },
  ...[0, 2, 5, 20, 100].map((spinMicros) => ({ label: `wait 'spin', spinMicros ${spinMicros}`, waiting: { wait: 'spin', spinMicros } })),
];

/** How often the tracing part's reader calls traces() (READ below). */
const READ_EVERY_MS = 100;

/**
 * The tracing part for one case: `n`-message pipelines with tracing off, at 1%, and at 1% with
 * traces() read every READ_EVERY_MS, in 2 × trials trios, then (32 B only) 1% and 0% in alternate
 * windows of one pipeline, then 100%.
 */
async function tracing(c, n, trials, quick) {
  const SETTINGS = { off: {}, on: { sample: 0.01 }, read: { sample: 0.01, readEveryMs: READ_EVERY_MS }, all: { sample: 1 } };
  const s = new Map(Object.keys(SETTINGS).map((k) => [k, { secs: [], steady: [] }]));
  const once = async (k) => {
    const times = {};
    const x = s.get(k);
    x.secs.push(await ringwire(c, n, { ...SETTINGS[k], times }));
    x.steady.push(times.steady);
  };
  // Untimed, one of each: the first pipelines of a fresh process often ran up to a quarter slower
  // (with a V8 platform thread busy meantime), and would weigh on the first trios.
  for (const k of ['off', 'on', 'read']) await ringwire(c, Math.min(n, 2_000_000), SETTINGS[k]);
  // Off, 1% and 1% read in 2 × trials trios, in each of the six orders in turn: each setting runs
  // first, second and third as often (when 2 × trials is a multiple of 3), and none follows a run
  // at 100%: those come after, on their own. The 1% rows are the medians of the trios' ratios to
  // off (a trio ran under the same conditions; the same build moves ±10% from one pipeline to the
  // next).
  // A round trip between two threads is timed before and after each pipeline of a trio
  // (cacheLineRoundTrip): the machine's faster state reads it under twice the run's lowest
  // reading, the slower one above. A trio that changed state midway measures the machine more than
  // tracing, and tracing's cost may differ between the states, so each 1% row is followed by the
  // median over the trios entirely in each state (a change within a pipeline goes unseen).
  const ORDERS = [['off', 'on', 'read'], ['on', 'read', 'off'], ['read', 'off', 'on'], ['off', 'read', 'on'], ['read', 'on', 'off'], ['on', 'off', 'read']];
  const ratios = { on: { whole: [], steady: [] }, read: { whole: [], steady: [] }, probes: [] };
  for (let t = 0; t < 2 * trials; t++) {
    const probes = [await cacheLineRoundTrip()];
    for (const k of ORDERS[t % ORDERS.length]) {
      await once(k);
      probes.push(await cacheLineRoundTrip());
    }
    const off = s.get('off');
    for (const k of ['on', 'read']) {
      ratios[k].whole.push(off.secs[t] / s.get(k).secs[t]);
      ratios[k].steady.push(s.get(k).steady[t] / off.steady[t]);
    }
    ratios.probes.push(probes.map(Math.round));
  }
  const lowest = Math.min(...ratios.probes.flat());
  const inState = (xs, fast) => xs.filter((_, t) => ratios.probes[t].every((p) => (p < 2 * lowest) === fast));
  // The same 1% within one pipeline, in alternate windows (3 traced windows per pipeline, trials
  // pipelines), and the same pipelines switching between 0 and 0: what the method reads when
  // nothing changes. In turns, each first as often as second.
  const w = quick ? 20_000 : 800_000;
  const windows = new Map();
  if (c.codec === 'bytes') {
    for (const x of [0.01, 0]) windows.set(x, { ratios: [], offRates: [] });
    for (let t = 0; t < 2 * trials; t++) {
      const sample = (t + (t >> 1)) % 2 === 0 ? 0.01 : 0;
      const r = await tracedWindows(c, w, sample);
      windows.get(sample).ratios.push(...r.ratios);
      windows.get(sample).offRates.push(...r.offRates);
    }
  }
  for (let t = 0; t < trials; t++) await once('all');
  const rows = [];
  const off = s.get('off');
  const LABELS = { off: 'tracing off', on: 'tracing 1%', read: `tracing 1%, traces() read every ${READ_EVERY_MS} ms`, all: 'tracing 100%' };
  for (const k of Object.keys(SETTINGS)) {
    const x = s.get(k);
    const m = median(x.secs);
    const label = `${c.label}, ${LABELS[k]}`;
    const r = ratios[k];
    const vs = r !== undefined
      ? { vsOff: median(r.whole), steadyVsOff: median(r.steady), vsOffCI: medianInterval(r.whole), steadyVsOffCI: medianInterval(r.steady) }
      : { vsOff: median(off.secs) / m, steadyVsOff: median(x.steady) / median(off.steady) };
    const { sample } = SETTINGS[k];
    rows.push({ scenario: 'pipeline', label, impl: 'ringwire pipeline', messages: n, seconds: m, msgPerSec: Math.round(n / m), sample, ...(SETTINGS[k].readEveryMs === undefined ? {} : { readEveryMs: READ_EVERY_MS }), steadyPerSec: Math.round(median(x.steady)), ...vs, ...(r !== undefined ? { ratios: r.steady, probes: ratios.probes } : {}), trials: x.secs.length });
    for (const fast of r !== undefined ? [true, false] : []) {
      const xs = inState(r.steady, fast);
      if (xs.length === 0) continue;
      rows.push({ scenario: 'pipeline', label: `${label}, the ${xs.length} trios in the ${fast ? 'faster' : 'slower'} state`, impl: 'ringwire pipeline', messages: n, sample, steadyVsOff: median(xs), steadyVsOffCI: medianInterval(xs), trials: xs.length });
    }
  }
  for (const [sample, x] of windows) {
    const label = `${c.label}, tracing ${sample * 100}% in alternate windows of ${w.toLocaleString('en-US')} messages (setTraceSample)`;
    rows.push({ scenario: 'pipeline', label, impl: 'ringwire pipeline', messages: 10 * w, sample, steadyPerSec: Math.round(median(x.offRates)), steadyVsOff: median(x.ratios), steadyVsOffCI: medianInterval(x.ratios, WINDOW_RATIOS), ratios: x.ratios, trials: x.ratios.length });
  }
  return rows;
}

export async function run({
  quick = process.env.BENCH_QUICK === '1',
  trials = quick ? 1 : 3,
  compare = true,
  spin = true,
  trace = true,
  workers = Number(process.env.BENCH_STAGE_WORKERS ?? 1),
} = {}) {
  const rows = [];
  const size = (k) => (quick ? Math.max(2000, k / 20) : k);
  for (const c of compare ? CASES : []) {
    const contenders = [
      { impl: 'ringwire pipeline', n: size(c.codec === 'bytes' ? 1_000_000 : 400_000), fn: (n) => ringwire(c, n) },
      { impl: 'piscina run() per message', n: size(30_000), fn: (n) => piscina(c, n) },
      { impl: 'MessagePort workers', n: size(300_000), fn: (n) => ports(c, n) },
    ];
    const secs = new Map(contenders.map((x) => [x.impl, []]));
    for (let t = 0; t < trials; t++) for (const x of contenders) secs.get(x.impl).push(await x.fn(x.n));
    const rate = (x) => x.n / median(secs.get(x.impl));
    const base = rate(contenders[1]);
    for (const x of contenders) {
      const r = rate(x);
      rows.push({ scenario: 'pipeline', label: c.label, impl: x.impl, messages: x.n, seconds: median(secs.get(x.impl)), msgPerSec: Math.round(r), vsPiscina: r / base, trials });
    }
  }
  if (spin) {
    const c = CASES[0];
    const n = size(1_000_000);
    const s = new Map(SWEEP.map((x) => [x, []]));
    // Interleaved, so that a change in the machine's load spreads over every setting.
    // Each trial starts at another setting: no setting always runs first (after the previous part).
    for (let t = 0; t < trials; t++) {
      for (let k = 0; k < SWEEP.length; k++) {
        const x = SWEEP[(k + t) % SWEEP.length];
        s.get(x).push(await ringwire(c, n, { waiting: x.waiting, workers }));
      }
    }
    for (const x of SWEEP) {
      const m = median(s.get(x));
      const label = `${c.label}, ${workers} worker${workers > 1 ? 's' : ''}/stage, ${x.label}`;
      rows.push({ scenario: 'pipeline', label, impl: 'ringwire pipeline', messages: n, seconds: m, msgPerSec: Math.round(n / m), wait: x.waiting, trials });
    }
  }
  if (trace) {
    // Long enough for a steady state: a fresh pipeline's first ~2 M messages run slower while its
    // workers compile (BENCH_TRACE_MESSAGES to change it, for 32 B; small JSON objects run a
    // quarter as many, at a fifth of the rate).
    const given = Number(process.env.BENCH_TRACE_MESSAGES ?? 6_000_000);
    if (!Number.isInteger(given) || given < 12) throw new Error(`BENCH_TRACE_MESSAGES must be an integer of at least 12, got ${process.env.BENCH_TRACE_MESSAGES}`);
    const n32 = Math.floor(size(given));
    for (const c of CASES) rows.push(...(await tracing(c, c.codec === 'bytes' ? n32 : Math.floor(n32 / 4), trials, quick)));
  }
  return rows;
}

/** The rows as a markdown table. */
export function table(rows) {
  const out = ['| messages | implementation | msg/s | vs piscina run() | vs tracing off | steady msg/s | steady vs off |', '| --- | --- | ---: | ---: | ---: | ---: | ---: |'];
  for (const r of rows) {
    const ratio = (x, digits, ci) => (x === undefined ? '' : `${x.toFixed(digits)}x${ci === undefined ? '' : ` (${ci[0].toFixed(digits)}–${ci[1].toFixed(digits)})`}`);
    const steady = r.steadyPerSec === undefined ? '' : r.steadyPerSec.toLocaleString('en-US');
    const rate = r.msgPerSec === undefined ? '' : r.msgPerSec.toLocaleString('en-US');
    out.push(`| ${r.label} | ${r.impl} | ${rate} | ${ratio(r.vsPiscina, 1)} | ${ratio(r.vsOff, 3, r.vsOffCI)} | ${steady} | ${ratio(r.steadyVsOff, 3, r.steadyVsOffCI)} |`);
  }
  return out.join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const load = os.loadavg()[0].toFixed(2);
  const only = process.argv[2]; // 'compare', 'spin' or 'trace' runs only that part
  const rows = await run({ compare: !only || only === 'compare', spin: !only || only === 'spin', trace: !only || only === 'trace', ...(process.env.BENCH_TRIALS ? { trials: Number(process.env.BENCH_TRIALS) } : {}) });
  console.log(table(rows));
  for (const r of rows) {
    if (r.ratios === undefined) continue;
    const probes = r.probes === undefined ? '' : `; cache-line round trips (ns) before and after each pipeline of each trio: ${r.probes.map((p) => p.join('/')).join(' ')}`;
    console.log(`${r.label}, ${r.messages.toLocaleString('en-US')} messages per pipeline, steady ratios: ${r.ratios.map((x) => x.toFixed(3)).join(' ')}${probes}`);
  }
  console.log(`\n${os.cpus().length} cores, Node ${process.version}, load average ${load} before, ${os.loadavg()[0].toFixed(2)} after`);
}
