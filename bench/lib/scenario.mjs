// Runs one scenario file. Under bench/run.mjs (a forked child with an IPC channel) the results go
// back to the runner; run directly (`node bench/throughput-32b.mjs`) it prints its own report (or
// calls `print(results)`, e.g. the xproc scenarios' row printer).
import { machine } from './common.mjs';
import { fullReport } from './report.mjs';

export async function runScenario(name, fn, print) {
  const t0 = performance.now();
  let results = [];
  let error;
  try {
    results = await fn();
  } catch (err) {
    error = String(err?.stack ?? err);
    console.error(`${name} failed: ${error}`);
  }
  const seconds = (performance.now() - t0) / 1000;
  if (process.send) {
    await new Promise((resolve) => process.send({ type: 'result', name, node: process.version, v8: process.versions.v8, seconds, results, error }, resolve));
    process.disconnect();
  } else if (print) {
    print(results);
  } else {
    console.log(`\n${fullReport({ machine: machine(), results, date: new Date().toISOString(), seconds })}`);
  }
  if (error) process.exitCode = 1;
}
