// Records which test file (and test) each test process starts and finishes, a line each in the
// file named by RINGWIRE_TEST_TRACK (set by global-setup.ts), so that when a test process dies
// (vitest then says only "Worker exited unexpectedly") the end of the run names what it was running.
import { appendFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach } from 'vitest';

const track = process.env.RINGWIRE_TEST_TRACK;
if (track !== undefined) {
  let file = '?';
  const note = (what: string, text: string) => appendFileSync(track, `${what} ${process.pid} ${text}\n`);
  beforeAll(({}, suite) => {
    file = suite.file.filepath;
    note('start', file);
  });
  beforeEach(({ task }) => note('test', task.name));
  afterAll(() => note('end', file));
}
