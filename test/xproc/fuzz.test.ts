// Fuzzing the opener and both sides against damaged channel files: random bytes, bit flips, bad
// positions and record headers, truncated, extended and garbage files, and writes into a mapping
// while it is read (test/xproc/fixtures/fuzz-cases.mjs). 10 000 cases in child processes (a crash
// kills the child by a signal and fails the test) plus a share in this process.
import { mkdtempSync, rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { start } from './helpers.js';
// @ts-expect-error plain JS fixture module (no types)
import { runCases } from './fixtures/fuzz-cases.mjs';

const CHILDREN = 20;
const CASES_PER_CHILD = 500;
const PARALLEL = 3; // the cases mostly wait (1-3 ms timeouts): a little more than the 2 cores
// tmpfs: the cases rewrite files thousands of times.
const dir = mkdtempSync('/dev/shm/ringwire-fuzz-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Summary {
  cases: number;
  outcomes: Record<string, number>;
  failures: { caseSeed: number; kind: string; what: string; error: string }[];
}

function merge(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

function checkOutcomes(outcomes: Record<string, number>, cases: number): void {
  const total = (prefix: string) => Object.entries(outcomes).reduce((n, [k, v]) => (k.startsWith(prefix) ? n + v : n), 0);
  // Every case either opened or was refused with a code.
  expect((outcomes.opened ?? 0) + total('open:')).toBe(cases);
  // The damage reached all the checks: refused files, corrupt records seen by TS and by C++.
  expect(outcomes['open: ERR_NOT_A_CHANNEL']).toBeGreaterThan(cases / 20);
  expect(outcomes.opened).toBeGreaterThan(cases / 4);
  expect(outcomes['receiver: ERR_CORRUPT']).toBeGreaterThan(0);
  expect(outcomes['native consumer: ERR_CORRUPT']).toBeGreaterThan(0);
}

describe('fuzzing damaged channels', () => {
  it(`survives ${CHILDREN * CASES_PER_CHILD} damaged files in ${CHILDREN} child processes`, async () => {
    const outcomes: Record<string, number> = {};
    let cases = 0;
    let next = 0;
    const worker = async () => {
      while (next < CHILDREN) {
        const k = next++;
        const seed = 1 + k * CASES_PER_CHILD;
        const child = start('fuzz.mjs', { dir, seed, cases: CASES_PER_CHILD }, 120_000);
        const e = await child.exit;
        const where = `child ${k} (seeds ${seed}..${seed + CASES_PER_CHILD - 1}); last cases: ${e.stderr.slice(-400)}`;
        expect(e.signal, `crashed: ${where}`).toBeNull();
        expect(e.code, `failed: ${where}`).toBe(0);
        const s = JSON.parse(e.stdout.trim().split('\n').pop()!) as Summary;
        expect(s.failures, where).toEqual([]);
        merge(outcomes, s.outcomes);
        cases += s.cases;
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    expect(cases).toBe(CHILDREN * CASES_PER_CHILD);
    checkOutcomes(outcomes, cases);
  }, 170_000);

  it('survives damaged files in this process too', async () => {
    const s = (await runCases({ dir, seed: 0x70000000, cases: 400 })) as Summary;
    expect(s.failures).toEqual([]);
    checkOutcomes(s.outcomes, s.cases);
  }, 60_000);
});
