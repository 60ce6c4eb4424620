// Failure policies (fail / skip / dead-letter) and worker crashes (replaced, re-attached to their
// channels, the message in hand delivered again).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Channel, LogReader, LogWriter, pipeline, PipelineError, type DeadLetter } from '../../lib/index.js';

const fixture = (name: string) => new URL(`./fixtures/${name}.mjs`, import.meta.url);
type Msg = { i: number; bad?: boolean };
const messages = (n: number, badEvery = 0): Msg[] =>
  Array.from({ length: n }, (_, i) => (badEvery > 0 && i % badEvery === badEvery - 1 ? { i, bad: true } : { i }));
const rejection = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);

describe('handler errors', () => {
  it("'fail' rejects the pipeline with the stage, the error and the message's sequence and key", async () => {
    const source = messages(2000);
    source[1234]!.bad = true;
    let sunk = 0;
    const p = pipeline<Msg, Msg>({
      source,
      stages: [{ module: fixture('identity') }, { module: fixture('faulty'), name: 'checker', workers: 2 }],
      sink: () => void sunk++,
      key: (m) => `k${m.i % 10}`,
    });
    const err = (await rejection(p.done)) as PipelineError;
    expect(err).toBeInstanceOf(PipelineError);
    expect(err.code).toBe('ERR_STAGE_FAILED');
    expect(err.stage).toBe('checker');
    expect(err.seq).toBe(1234);
    expect(err.key).toBe('k4');
    expect((err.cause as Error).message).toBe('bad message 1234');
    expect(err.message).toMatch(/stage 'checker' failed on message 1234 \(key "k4"\): bad message 1234/);
    expect(p.stats().state).toBe('failed');
    expect(sunk).toBeLessThan(2000);
  });

  it("'skip' counts the failures and delivers the rest", async () => {
    const N = 5000;
    const got: number[] = [];
    const summary = await pipeline<Msg, Msg>({
      source: messages(N, 100),
      stages: [{ module: fixture('faulty'), name: 'checker', workers: 2, onError: 'skip' }],
      sink: (m) => void got.push(m.i),
    }).done;
    expect(got.length).toBe(N - N / 100);
    expect(got.every((i) => i % 100 !== 99)).toBe(true);
    const st = summary.stages[0]!;
    expect([st.in, st.out, st.errors, st.skipped, st.deadLettered]).toEqual([N, N - N / 100, N / 100, N / 100, 0]);
    // The first few errors of each worker are kept, with their message's sequence number.
    expect(summary.errors.length).toBeGreaterThan(0);
    for (const e of summary.errors) {
      expect(e.stage).toBe('checker');
      expect(e.seq % 100).toBe(99);
      expect(e.error.message).toBe(`bad message ${e.seq}`);
    }
  });

  it("'dead-letter' forwards failed messages to a ringwire channel", async () => {
    const N = 3000;
    const dlq = Channel.create<DeadLetter<Msg>>();
    const rx = dlq.receiver();
    const got: number[] = [];
    const summary = await pipeline<Msg, Msg>({
      source: messages(N, 30),
      stages: [{ module: fixture('identity') }, { module: fixture('faulty'), name: 'checker', workers: 3, onError: 'dead-letter', deadLetter: dlq.sender() }],
      sink: (m) => void got.push(m.i),
      key: (m) => m.i % 7,
    }).done;
    expect(got.length).toBe(N - N / 30);
    const dead: DeadLetter<Msg>[] = [];
    for (let m = rx.tryRecv(); m !== undefined; m = rx.tryRecv()) dead.push(m);
    expect(dead.length).toBe(N / 30);
    for (const d of dead) {
      expect(d.stage).toBe('checker');
      expect(d.seq % 30).toBe(29);
      expect(d.key).toBe(d.seq % 7);
      expect(d.message).toEqual({ i: d.seq, bad: true });
      expect(d.error.message).toBe(`bad message ${d.seq}`);
      expect(d.partition).toBeGreaterThanOrEqual(0);
    }
    expect(summary.deadLettered).toBe(N / 30);
    expect(summary.stages[1]!.deadLettered).toBe(N / 30);
  });

  describe('to a ringwire log', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ringwire-dlq-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it("'dead-letter' appends failed messages to a LogWriter", async () => {
      const log = LogWriter.open<DeadLetter<Msg>>(dir, { codec: 'json', segmentBytes: 1 << 16 });
      await pipeline<Msg, Msg>({
        source: messages(500, 50),
        stages: [{ module: fixture('faulty'), onError: 'dead-letter' }],
        sink: () => {},
        deadLetter: log,
      }).done;
      log.close();
      const reader = LogReader.open<DeadLetter<Msg>>(dir);
      const seqs: number[] = [];
      for (let e = reader.read(); e !== undefined; e = reader.read()) seqs.push(e.value.seq);
      reader.close();
      expect(seqs.sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, k) => 50 * k + 49));
    });
  });
});

describe('worker crashes', () => {
  for (const how of ['exit', 'uncaught', 'oom'] as const) {
    it(`a worker that dies (${how}) is replaced, re-attaches, and the message in hand is delivered again`, async () => {
      const N = 20_000;
      const at = 7_000;
      const flag = new SharedArrayBuffer(4);
      const seen = new Uint16Array(N);
      let last = -1;
      let ordered = true;
      const summary = await pipeline<Msg, Msg>({
        source: messages(N),
        stages: [
          { module: fixture('identity') },
          {
            module: fixture('crash'),
            options: { at, how, flag },
            ...(how === 'oom' ? { resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 8 } } : {}),
          },
          { module: fixture('identity') },
        ],
        sink: (m) => {
          seen[m.i]!++;
          if (m.i <= last) ordered = false;
          last = m.i;
        },
      }).done;
      expect(Atomics.load(new Int32Array(flag), 0)).toBe(1); // it did crash
      expect(summary.stages[1]!.restarts).toBe(1);
      // At-least-once: every message arrived; the redelivered batch (which includes the message
      // the worker died on) may arrive twice, nothing else does.
      let missing = 0;
      let twice = 0;
      for (let i = 0; i < N; i++) {
        if (seen[i] === 0) missing++;
        if (seen[i]! > 1) twice++;
      }
      expect(missing).toBe(0);
      expect(seen[at]).toBe(1); // it died before writing the output for `at`, which came once, later
      expect(twice).toBeLessThanOrEqual(256);
      expect(summary.consumed).toBe(N + twice);
      if (twice === 0) expect(ordered).toBe(true);
    });
  }

  it('a stage whose workers keep dying fails the pipeline after maxRestarts', async () => {
    const err = (await rejection(
      pipeline<Msg, Msg>({
        source: messages(1000),
        stages: [{ module: fixture('crash'), name: 'doomed', options: { at: 10, how: 'exit', flag: new SharedArrayBuffer(4), always: true } }],
        sink: () => {},
        maxRestarts: 2,
      }).done,
    )) as PipelineError;
    expect(err).toBeInstanceOf(PipelineError);
    expect(err.code).toBe('ERR_WORKER_DIED');
    expect(err.stage).toBe('doomed');
    expect(err.message).toMatch(/died 3 times \(maxRestarts 2\)/);
  });
});
