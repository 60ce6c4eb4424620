// The README's "Beyond one machine" examples, as written there (the server's port and the
// 'ringwire' imports pointed at this run's server and the built library), against a real server.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, stopAll, tempDir, type NatsServer } from './server.js';

const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
const dist = (f: string) => pathToFileURL(fileURLToPath(new URL(`../../dist/${f}`, import.meta.url))).href;

let server: NatsServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(stopAll);

/** Runs the README block that starts with `// <first>` in `cwd`; its stdout lines. */
function runExample(first: string, cwd: string): string[] {
  const block = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.startsWith(`// ${first}`));
  if (block === undefined) throw new Error(`README has no code block starting with // ${first}`);
  const file = join(cwd, first);
  const code = block
    .replaceAll("from 'ringwire/nats'", `from '${dist('nats.js')}'`)
    .replaceAll("from 'ringwire'", `from '${dist('index.js')}'`)
    .replaceAll('nats://127.0.0.1:4222', server.url);
  writeFileSync(file, code);
  const r = spawnSync(process.execPath, [file], { cwd, encoding: 'utf8', timeout: 60_000 });
  expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  return r.stdout.trim().split('\n');
}

describe("the README's NATS examples", () => {
  it('ship.mjs ships and replicates, and a second run continues where the first stopped', () => {
    const cwd = tempDir();
    expect(runExample('ship.mjs', cwd)).toEqual(['1000', "{ i: 0, msg: 'event 0' }"]);
    expect(runExample('ship.mjs', cwd)).toEqual(['2000', "{ i: 0, msg: 'event 0' }"]);
  });

  it('bridge.mjs carries 100 messages and the end of the stream through a subject', () => {
    const cwd = tempDir();
    expect(runExample('bridge.mjs', cwd)).toEqual(['100']);
    expect(runExample('bridge.mjs', cwd)).toEqual(['100']);
  });
});
