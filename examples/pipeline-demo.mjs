// Pipeline demo: sentences → words (2 workers) → per-user counts (3 workers, partitioned by user)
// → formatted lines (1 worker), every hop a ringwire channel between worker threads (piscina hosts
// the workers). Midway the format stage is hot-swapped to a new version; a message that makes a
// handler throw goes to a dead-letter callback. Takes 2-5 seconds.
//
//   npx tsup && node examples/pipeline-demo.mjs
//
// examples/demo.mjs calls runPipelineDemo() at its end.
import { pathToFileURL } from 'node:url';
import { pipeline, stages } from '../dist/index.js';

const here = (f) => new URL(`./pipeline/${f}`, import.meta.url);
stages.register('words', here('words.mjs'), { workers: 2 });
stages.register('count', here('count.mjs'), { workers: 3, onError: 'dead-letter' });
stages.register('format', here('format.mjs'));

const USERS = ['ada', 'bob', 'cy', 'dee', 'eve'];
const TEXT = 'the quick brown fox jumps over the lazy dog while the ring buffer hums along';

export async function runPipelineDemo({ sentences = 8_000, log = console.log } = {}) {
  const dead = [];
  let lines = 0;
  let sample = [];
  let swapped = false;
  async function* source() {
    for (let i = 0; i < sentences; i++) {
      yield { user: USERS[i % USERS.length], text: i === 777 ? 'this one goes boom' : TEXT };
      if (i % 1000 === 999) await new Promise((r) => setImmediate(r)); // a live source, not a burst
    }
  }
  const started = performance.now();
  const p = pipeline({
    source: source(),
    stages: ['words', 'count', 'format'],
    sink: (line) => {
      lines++;
      if (line.startsWith('[v2]') !== swapped) return;
      if (sample.length < 6 && lines % 997 === 0) sample.push(line);
    },
    key: (m) => m.user,
    codec: 'json',
    deadLetter: (d) => dead.push(`${d.stage} dead-lettered message ${d.seq} (key ${d.key}): ${d.error.message}`),
  });
  log('pipeline: words ×2 → count ×3 (by user) → format ×1, each hop a ringwire channel');
  for (let k = 0; k < 1500 && lines < sentences * 5; k++) await new Promise((r) => setTimeout(r, 2));
  const live = p.stats();
  log(`  live: ${live.produced.toLocaleString('en-US')} sentences in, ${live.consumed.toLocaleString('en-US')} lines out; queued at count: ${live.stages[1].queued.messages} messages (${live.stages[1].queued.bytes} bytes)`);
  const before = sample.slice(0, 2);
  sample = [];
  swapped = true;
  const { version } = await p.swap('format', here('format-v2.mjs'));
  log(`  hot swap: format → format-v2 (version ${version}), no message lost or reordered per user`);
  const s = await p.done;
  const secs = (performance.now() - started) / 1000;
  for (const line of [...before, ...sample.slice(0, 2)]) log(`    ${line}`);
  for (const d of dead) log(`  ${d}`);
  log(`  done: ${s.consumed.toLocaleString('en-US')} lines in ${secs.toFixed(2)} s (${Math.round(s.consumed / secs).toLocaleString('en-US')} lines/s)`);
  for (const st of s.stages) {
    log(`    ${st.name.padEnd(7)} ×${st.workers}  in ${String(st.in).padStart(8)}  out ${String(st.out).padStart(8)}  errors ${st.errors}  p50 ${(st.latency.p50 * 1000).toFixed(1)} µs  p99 ${(st.latency.p99 * 1000).toFixed(1)} µs  swaps ${st.swaps}`);
  }
  log(`    source → sink latency p50 ${s.latency.p50.toFixed(2)} ms, p99 ${s.latency.p99.toFixed(2)} ms`);
  return s;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await runPipelineDemo();
