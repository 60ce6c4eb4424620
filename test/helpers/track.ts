// Records which test file (and test) each test process starts and finishes, a line each in the
// file named by RINGWIRE_TEST_TRACK (set by global-setup.ts), so that when a test process dies
// (vitest then says only "Worker exited unexpectedly") the end of the run names what it was running.
import { appendFileSync } from 'node:fs';
import process from 'node:process';
import { threadId } from 'node:worker_threads';
import { afterAll, beforeEach, expect } from 'vitest';

const track = process.env.RINGWIRE_TEST_TRACK;
if (track !== undefined) {
  // This file runs before each test file is imported: a death during the import is named too.
  const file = expect.getState().testPath ?? '(unknown file)';
  const note = (what: string, text: string) => appendFileSync(track, `${what} ${process.pid}:${threadId} ${text}\n`);
  note('start', file);
  beforeEach(({ task }) => note('test', task.name));
  afterAll(() => note('end', file));
}
