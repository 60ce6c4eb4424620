// pino's transport form: pino.transport({ target: 'ringwire/pino', options: { dir } }) runs the
// destination in pino's worker thread, where lines arrive in batches cut anywhere (a long line
// spans several): every line still becomes exactly one record, in order, and a bad option is an
// error naming it.
import { once } from 'node:events';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { LogReader } from '../../lib/log/index.js';
import { pinoDestination } from '../../lib/log/pino.js';
import { cleanupDirs, tempDir } from './helpers.js';

afterAll(cleanupDirs);

describe('pino transport', () => {
  it("pino.transport({ target: 'ringwire/pino', options: { dir } }): every line one record, in order, long ones whole", async () => {
    const dir = tempDir('pino-transport');
    const transport = pino.transport({ target: 'ringwire/pino', options: { dir } });
    const logger = pino(transport);
    const N = 5000;
    for (let i = 0; i < N; i++) logger.info({ i, pad: 'x'.repeat(i % 97 === 0 ? 20_000 : i % 50) }, 'line');
    transport.end();
    await once(transport, 'close');
    const r = LogReader.open<{ i: number; pad: string; msg: string }>(dir);
    const got: number[] = [];
    let bad = 0;
    for (let e = r.read(); e !== undefined; e = r.read()) {
      got.push(e.value.i);
      if (e.value.msg !== 'line' || e.value.pad.length !== (e.value.i % 97 === 0 ? 20_000 : e.value.i % 50)) bad++;
    }
    r.close();
    expect(bad).toBe(0);
    expect(got).toEqual(Array.from({ length: N }, (_, i) => i));
  }, 60_000);

  it('the options object is checked like LogWriter.open options', () => {
    expect(() => pinoDestination({ dir: tempDir('pino-bad'), segmentBytes: 3 } as never)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => pinoDestination({ directory: '/tmp/x' } as never)).toThrow(/pinoDestination takes a directory, a LogWriter, or \(as a pino transport\) \{ dir/);
  });
});
