// Checks of the tree's shape that no compiler makes, run by `npm test` (after tsup):
//  - no import cycles among lib/ modules (type-only imports included: a cycle is a cycle to read);
//  - the published types (dist/*.d.ts) show the public API only: no @internal member;
//  - lib/ modules take Buffer, performance and process from their node: modules, never the globals:
//    those are getters on the global object, which V8 does not always inline (the global Buffer in
//    the send path cost ~10 ns per message on Node 20 and made worker-thread throughput erratic).
// Exits 1 and prints each problem.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const problems = [];

function sources(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** The lib/ files `file` imports (relative specifiers; .js names the .ts source). */
function importsOf(file) {
  const text = readFileSync(file, 'utf8');
  const out = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"](\.[^'"]+)['"]/g)) {
    const target = resolve(dirname(file), m[1]).replace(/\.js$/, '.ts');
    if (existsSync(target)) out.push(target);
  }
  return out;
}

const files = sources(join(root, 'lib'));
const graph = new Map(files.map((f) => [f, importsOf(f)]));
// Depth-first search; a back edge closes a cycle.
const state = new Map();
const stack = [];
function visit(f) {
  state.set(f, 'open');
  stack.push(f);
  for (const g of graph.get(f) ?? []) {
    if (state.get(g) === 'open') {
      const cycle = stack.slice(stack.indexOf(g)).concat(g).map((p) => relative(root, p));
      problems.push(`import cycle: ${cycle.join(' -> ')}`);
    } else if (!state.has(g)) visit(g);
  }
  stack.pop();
  state.set(f, 'done');
}
for (const f of files) if (!state.has(f)) visit(f);

const GLOBAL_GETTERS = {
  Buffer: "import { Buffer } from 'node:buffer';",
  performance: "import { performance } from 'node:perf_hooks';",
  process: "import process from 'node:process';",
};
for (const f of files) {
  const text = readFileSync(f, 'utf8');
  // The code without comments and string literals, where a mention is not a use.
  const code = text.replace(/\/\*[\s\S]*?\*\/|\/\/.*|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`/g, "''");
  for (const [name, statement] of Object.entries(GLOBAL_GETTERS)) {
    if (!text.includes(statement) && new RegExp(`(?<![.\\w])${name}\\s*\\.`).test(code)) {
      problems.push(`${relative(root, f)}: uses the global ${name}, a getter: ${statement}`);
    }
  }
}

const dist = join(root, 'dist');
if (!existsSync(dist)) problems.push('dist/ is missing: run tsup first');
else {
  for (const name of readdirSync(dist).filter((n) => n.endsWith('.d.ts') || n.endsWith('.d.cts'))) {
    const text = readFileSync(join(dist, name), 'utf8');
    if (text.includes('@internal')) problems.push(`dist/${name}: an @internal member is published`);
  }
}

for (const p of problems) console.error(`check-tree: ${p}`);
process.exit(problems.length === 0 ? 0 : 1);
