// Worker fixtures (test/fixtures/*.mjs) import the built library in dist/, while the tests
// themselves import lib/ directly. A dist/ older than the sources it was built from means the two
// threads of a test run different code: say so up front rather than leave a confusing failure.
// At the end of the run, names the test files whose process died before they finished
// (test/helpers/track.ts records them).
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'ringwire-track-'));
  const track = join(dir, 'files');
  process.env.RINGWIRE_TEST_TRACK = track;
  checkDist();
  return () => {
    const lines = existsSync(track) ? readFileSync(track, 'utf8').split('\n').filter(Boolean) : [];
    const [running, lastTest] = [new Map<string, string>(), new Map<string, string>()];
    for (const line of lines) {
      const [what, pid = '', ...rest] = line.split(' ');
      const text = rest.join(' ');
      if (what === 'start') {
        running.set(pid, text);
        lastTest.delete(pid);
      }
      else if (what === 'test') lastTest.set(pid, text);
      else if (what === 'end') running.delete(pid);
    }
    for (const [pid, file] of running) {
      console.error(`[ringwire tests] ${file} (test process:thread ${pid}) never finished: its process died during '${lastTest.get(pid) ?? '(before its first test)'}'`);
    }
    rmSync(dir, { recursive: true, force: true });
  };
}

function checkDist(): void {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const dist = join(root, 'dist', 'index.js');
  if (!existsSync(dist) || !existsSync(`${dist}.map`)) {
    console.warn('[ringwire tests] dist/index.js is missing: run `npx tsup` (worker fixtures import the built library)');
    return;
  }
  const built = statSync(dist).mtimeMs;
  // The sources the bundle was made from, as its source maps (entries and shared chunks) list them.
  const maps = readdirSync(dirname(dist)).filter((f) => f.endsWith('.js.map'));
  const sources = maps.flatMap((m): string[] => JSON.parse(readFileSync(join(dirname(dist), m), 'utf8')).sources ?? []);
  const newer = [...new Set(sources)]
    .map((s) => resolve(dirname(dist), s))
    .filter((f) => existsSync(f) && statSync(f).mtimeMs > built);
  if (newer.length > 0) {
    console.warn(`[ringwire tests] dist/ is older than ${newer[0]}: run \`npx tsup\` so worker fixtures run the current code`);
  }
}
