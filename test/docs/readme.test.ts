// Every JavaScript block of the README runs as written. Each is written to a folder of its own
// inside the package (so `import 'ringwire'` resolves to this package by its name, as in a user's
// project, and 'pino' from our node_modules), with the files it names beside it: another README
// block (producer.mjs, stages/parse.mjs) or a small fixture (test/docs/fixtures: stages the
// pipeline example names but does not show). It must exit 0 within its time limit, with nothing on
// stderr. The two-process example is run by test/xproc/readme.test.ts (in both start orders, many
// times), the NATS ones by test/nats/readme.test.ts; shell blocks are the commands CI itself runs
// (.ci/run) and the package test's install.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!);
const work = join(root, 'build', `doctest-${process.pid}`);
afterAll(() => rmSync(work, { recursive: true, force: true }));

const firstLine = (b: string) => b.split('\n', 1)[0]!;
/** Blocks that are files other blocks use: `// name.mjs` alone, or followed by ` — what it is`. */
const FILE = /^\/\/ ([\w/.-]+\.mjs)(?: —.*)?$/;
const files = new Map<string, string>();
for (const b of blocks) {
  const m = FILE.exec(firstLine(b));
  if (m) files.set(m[1]!, b);
}
/** Blocks another test runs, with what they need: the two-process example (test/xproc/readme.test.ts)
 * and the NATS examples, against a nats-server it starts (test/nats/readme.test.ts). */
const RUN_ELSEWHERE = ['// consumer.mjs: start it or the producer first', '// producer.mjs, another process', '// ship.mjs:', '// bridge.mjs:'];
const runnable = blocks.filter((b) => !FILE.test(firstLine(b)) && !RUN_ELSEWHERE.some((p) => b.startsWith(p)));

/** What a block needs beside it: the README files it imports or names, and the fixtures. */
function layout(dir: string, block: string): void {
  if (block.includes('./stages/')) cpSync(fileURLToPath(new URL('./fixtures/stages', import.meta.url)), join(dir, 'stages'), { recursive: true });
  for (const [name, text] of files) if (block.includes(`./${name}`)) writeAt(join(dir, name), text);
}
function writeAt(path: string, text: string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
}

describe('README code blocks', () => {
  it('has the blocks this test knows how to run (a new block is run too, as a script)', () => {
    expect(files.size).toBeGreaterThanOrEqual(2); // producer.mjs, stages/parse.mjs
    expect(runnable.length).toBeGreaterThanOrEqual(4);
    for (const p of RUN_ELSEWHERE) expect(blocks.some((b) => b.startsWith(p)), p).toBe(true);
  });

  runnable.forEach((block, k) => {
    it(`block ${k + 1}: ${firstLine(block).slice(0, 80)}`, () => {
      const dir = join(work, `block-${k + 1}`);
      mkdirSync(dir, { recursive: true });
      layout(dir, block);
      writeFileSync(join(dir, 'main.mjs'), block);
      const r = spawnSync(process.execPath, ['main.mjs'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
      expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
      if (block.includes("new URL('./producer.mjs'")) {
        // The worker example prints the 1000 messages the producer sent, in order.
        const lines = r.stdout.trim().split('\n');
        expect(lines).toHaveLength(1000);
        expect(lines[999]).toBe('{ i: 999 }');
      }
      if (block.includes('/metrics endpoint')) {
        // The metrics example prints the lines its comments show (three messages through one stage).
        const shown = [...block.matchAll(/^\/\/ (ringwire_\S+ \d+)$/gm)].map((m) => m[1]);
        expect(shown).toHaveLength(3);
        expect(r.stdout.trim().split('\n')).toEqual(shown);
      }
    }, 90_000);
  });
});
