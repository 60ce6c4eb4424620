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
import ts from 'typescript';

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

// Globals that are getters on Node's global object, and the module each is imported from.
const GLOBAL_GETTERS = { Buffer: 'node:buffer', performance: 'node:perf_hooks', process: 'node:process' };
for (const f of files) {
  const sf = ts.createSourceFile(f, readFileSync(f, 'utf8'), ts.ScriptTarget.Latest, true);
  const imported = new Set();
  for (const st of sf.statements) {
    if (!ts.isImportDeclaration(st) || !ts.isStringLiteral(st.moduleSpecifier) || st.importClause === undefined) continue;
    const from = st.moduleSpecifier.text;
    const { name, namedBindings } = st.importClause;
    if (name !== undefined && GLOBAL_GETTERS[name.text] === from) imported.add(name.text);
    if (namedBindings !== undefined && ts.isNamedImports(namedBindings)) {
      for (const el of namedBindings.elements) if (GLOBAL_GETTERS[el.name.text] === from) imported.add(el.name.text);
    }
  }
  /** Whether `id` reads a variable (not a property name, a key, a declaration or a type). */
  const isRead = (id) => {
    const p = id.parent;
    if ((ts.isPropertyAccessExpression(p) || ts.isQualifiedName(p)) && p.name === id) return false;
    if ((ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p) || ts.isMethodDeclaration(p) || ts.isPropertySignature(p)) && p.name === id) return false;
    if (ts.isImportSpecifier(p) || ts.isImportClause(p) || ts.isVariableDeclaration(p) || ts.isParameter(p)) return false;
    for (let n = p; n !== undefined; n = n.parent) if (ts.isTypeNode(n) && !ts.isExpressionWithTypeArguments(n)) return false;
    return true;
  };
  const visit = (node) => {
    if (ts.isIdentifier(node) && Object.hasOwn(GLOBAL_GETTERS, node.text) && !imported.has(node.text) && isRead(node)) {
      const { line } = sf.getLineAndCharacterOfPosition(node.getStart());
      const from = GLOBAL_GETTERS[node.text];
      problems.push(`${relative(root, f)}:${line + 1}: the global ${node.text} is a getter: import it from '${from}'`);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
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
