// Persistent log read benchmark: ns per record for LogReader.read() over records already written
// (page cache warm), per codec, about 100 bytes each. Every value owns its memory (a copy out of
// the read-only mapping, at most one per record): this measures what that costs.
//
//   node bench/log-read.mjs      prints a table (needs `npx tsup` and the native addon)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LogReader, LogWriter } from '../dist/index.js';

const N = 200_000;
const RUNS = 5;
const CASES = [
  ['bytes', 'bytes (100 B)', () => Buffer.alloc(100, 7)],
  ['v8', 'v8 (object with a 64 B Uint8Array)', () => ({ id: 1, tag: 'x', data: new Uint8Array(64) })],
  ['v8', 'v8 (plain object)', () => ({ id: 1, level: 30, msg: 'x'.repeat(70) })],
  ['string', 'string (100 B)', () => 's'.repeat(100)],
  ['json', 'json (object, 100 B)', () => ({ level: 30, msg: 'x'.repeat(76) })],
];

const dir = mkdtempSync(join(tmpdir(), 'ringwire-bench-read-'));
try {
  console.log('| codec | ns per record read (median of 5 runs) | min | max |\n| --- | ---: | ---: | ---: |');
  for (const [codec, name, make] of CASES) {
    const d = join(dir, name.replace(/\W+/g, '-'));
    const w = LogWriter.open(d, { codec });
    const value = make();
    for (let i = 0; i < N; i++) w.append(value);
    w.close();
    const times = [];
    for (let run = 0; run <= RUNS; run++) {
      const r = LogReader.open(d);
      let sink = 0;
      const t0 = process.hrtime.bigint();
      for (let e = r.read(); e !== undefined; e = r.read()) sink += e.sequence;
      const ns = Number(process.hrtime.bigint() - t0) / N;
      r.close();
      if (sink !== (N * (N - 1)) / 2) throw new Error('bad read');
      if (run > 0) times.push(ns); // run 0 warms up the JIT
    }
    times.sort((a, b) => a - b);
    console.log(`| ${name} | ${times[RUNS >> 1].toFixed(0)} | ${times[0].toFixed(0)} | ${times[RUNS - 1].toFixed(0)} |`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
