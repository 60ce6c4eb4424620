// Benchmark runner (`npm run bench`): runs each scenario file in a fresh Node process, one after
// another, prints a markdown report (machine, throughput, round trip, GC, targets) and saves the
// JSON to bench/results/<timestamp>.json and bench/results/latest.json.
//
//   node bench/run.mjs [scenario-name ...]   e.g. `node bench/run.mjs roundtrip`
//   BENCH_QUICK=1      a short smoke run (numbers not meaningful)
//   BENCH_MAX_TIME=s   benchmark.js maxTime per throughput case (default 10)
//   BENCH_NODES=list   Node versions to run every scenario under, comma-separated: `current` (this
//                      one) and majors from the npm registry (scripts/with-node.mjs); default current,24
//
// With more than one Node version the report puts them side by side, and bench/chart.mjs draws the
// throughput as bench/chart.svg.
import { fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { cacheLineRoundTrip, describeMachine, machine, QUICK, SETTINGS } from './lib/common.mjs';
import { fullReport, sideBySide } from './lib/report.mjs';
import { chart } from './chart.mjs';
import { nodeDir } from '../scripts/with-node.mjs';

const SCENARIOS = ['throughput-32b', 'throughput-1k', 'throughput-64k', 'xproc-throughput', 'roundtrip', 'receive', 'cost', 'log-append'];
const CHILD_LIMIT_MS = 240_000; // a scenario that runs longer than this is killed and reported

const only = process.argv.slice(2);
const chosen = only.length ? SCENARIOS.filter((s) => only.includes(s)) : SCENARIOS;
if (chosen.length === 0) {
  console.error(`unknown scenario(s) ${only.join(', ')}; choose from ${SCENARIOS.join(', ')}`);
  process.exit(2);
}

const NODES = (process.env.BENCH_NODES ?? 'current,24').split(',').map((v) => v.trim());
const execPathOf = (v) => (v === 'current' ? process.execPath : join(nodeDir(v), 'node'));

function runChild(name, execPath) {
  return new Promise((resolve) => {
    const file = fileURLToPath(new URL(`./${name}.mjs`, import.meta.url));
    const child = fork(file, [], { execPath, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let message;
    const timer = setTimeout(() => {
      console.error(`${name}: still running after ${CHILD_LIMIT_MS / 1000} s, killing it`);
      child.kill('SIGKILL');
    }, CHILD_LIMIT_MS);
    child.on('message', (m) => {
      if (m?.type === 'result') message = m;
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (message) resolve(message);
      else resolve({ name, node: execPath === process.execPath ? process.version : execPath, results: [], error: `exited with ${signal ?? `code ${code}`} before reporting` });
    });
  });
}

const m = machine();
const started = new Date();
console.log(`ringwire benchmarks${QUICK ? ' (BENCH_QUICK: smoke run, numbers not meaningful)' : ''}`);
console.log(`Machine: ${describeMachine(m)}`);
if (m.loadavg[0] > 0.5 * m.cores) {
  console.log(`Note: the 1-minute load average is ${m.loadavg[0]} on ${m.cores} cores; other work on the machine will show in the numbers.`);
}
console.log(`benchmark.js: minSamples ${SETTINGS.minSamples}, maxTime ${SETTINGS.maxTime} s, minTime ${SETTINGS.minTime} s per case\n`);

const t0 = performance.now();
const results = [];
const versions = [];
const v8Of = new Map();
for (const v of NODES) {
  const execPath = execPathOf(v);
  for (const name of chosen) {
    console.log(`== ${name} (Node ${v}) ==`);
    // The machine's state for thread-to-thread traffic, around each scenario (cacheLineRoundTrip).
    const before = Math.round(await cacheLineRoundTrip());
    const s = await runChild(name, execPath);
    const after = Math.round(await cacheLineRoundTrip());
    console.log(`cache-line round trip between two threads: ${before} ns before, ${after} ns after`);
    if (s.node && !versions.includes(s.node)) versions.push(s.node);
    if (s.node && s.v8) v8Of.set(s.node, s.v8);
    results.push(...(s.results ?? []).map((r) => ({ ...r, node: s.node, cacheLineNs: [before, after] })));
    if (s.error) results.push({ scenario: s.name, label: '(scenario)', node: s.node, error: s.error });
  }
}
const seconds = (performance.now() - t0) / 1000;

const after = machine();
const report =
  versions.length > 1
    ? [sideBySide(results, versions), ...versions.map((v) => `## Node ${v}\n\n${fullReport({ machine: { ...m, node: v, v8: v8Of.get(v) ?? '?' }, results: results.filter((r) => r.node === v), date: started.toISOString(), seconds })}`)].join('\n\n')
    : fullReport({ machine: m, results, date: started.toISOString(), seconds });
console.log(`\n${report}`);
console.log(`\nLoad average before ${m.loadavg.join(' ')}, after ${after.loadavg.join(' ')}.`);

const dir = new URL('./results/', import.meta.url);
mkdirSync(dir, { recursive: true });
const json = JSON.stringify(
  { date: started.toISOString(), seconds, quick: QUICK, settings: SETTINGS, machine: m, loadavgAfter: after.loadavg, results, markdown: report },
  null,
  2,
);
const stamp = started.toISOString().replace(/[:.]/g, '-');
writeFileSync(new URL(`${stamp}.json`, dir), json);
writeFileSync(new URL('latest.json', dir), json);
if (results.some((r) => r.scenario === 'throughput' && !r.error)) {
  writeFileSync(new URL('./chart.svg', import.meta.url), chart(JSON.parse(json)));
  console.log('Drew bench/chart.svg');
}
console.log(`Saved bench/results/${stamp}.json and bench/results/latest.json`);
if (results.some((r) => r.error)) process.exitCode = 1;
