// A stage worker's loop, once it holds its channels: read a batch from each input in turn → decode
// → handler → write the outputs → acknowledge, until every input has ended (then close the outputs)
// or the coordinator asks for a hand-over (hot swap).
import { performance } from 'node:perf_hooks';
import * as v8 from 'node:v8';
import type { WireCodec } from '../channel/codecs.js';
import { RingwireError } from '../errors.js';
import { C_DEAD, C_ERRORS, C_IN, C_MAX_NS, C_OUT, C_SKIPPED, C_SUM_NS, CMD, CMD_GO, CMD_PAUSE, CMD_RUN, type ControlBlock } from './control.js';
import { keyOf, type Meta } from './envelope.js';
import { serializeError, type SerializedError } from './errors.js';
import { drainResult, isMulti, isThenable, type StageContext, type StageHandler } from './handler.js';
import { record } from './histogram.js';
import { waitAny, type InputLink, type OutputLink } from './link.js';
import { Patience, type WaitSpec } from '../core/park.js';
import { clock, HOP_DEAD_LETTER, HOP_ERROR, HOP_OK, type HopTracer } from './trace.js';

export type ErrorPolicy = 'fail' | 'skip' | 'dead-letter';

export interface ErrorRecord {
  seq: number;
  key: string | number | undefined;
  error: SerializedError;
}

export type StageResult =
  | { status: 'done' | 'paused' | 'abandoned'; errors: ErrorRecord[] }
  | { status: 'failed'; error: SerializedError; seq: number; key: string | number | undefined; errors: ErrorRecord[] }
  | { status: 'load-failed'; phase: 'load' | 'health'; error: SerializedError; errors: ErrorRecord[] };

/** Everything the loop works with. */
export interface StageLoop {
  stage: string;
  partition: number;
  /** 'key': outputs[hash % n] (a key keeps its path and order); 'round-robin': in turn. */
  route: 'key' | 'round-robin';
  onError: ErrorPolicy;
  /** Messages taken from one input before turning to the next. */
  batch: number;
  /** How the worker waits for its inputs (and its outputs for room). */
  wait: WaitSpec;
  ctl: ControlBlock;
  codec: WireCodec;
  handler: StageHandler;
  /** The envelope of the message in hand (ctx reads its seq and key). */
  meta: Meta;
  ctx: StageContext;
  inputs: InputLink[];
  outputs: OutputLink[];
  dead: OutputLink | undefined;
  /** The first few handler errors (filled in). */
  errors: ErrorRecord[];
  /** Reports traced messages' hops (options.trace), else undefined. */
  tracer: HopTracer | undefined;
}

const MAX_ERROR_RECORDS = 10;

/** The worker's counters, kept in locals and written to the control block by flush(). */
class Counters {
  readonly #f: Float64Array;
  in: number;
  out: number;
  errors: number;
  skipped: number;
  dead: number;
  maxNs: number;
  sumNs: number;
  constructor(ctl: ControlBlock) {
    const f = (this.#f = ctl.f64);
    this.in = f[C_IN]!;
    this.out = f[C_OUT]!;
    this.errors = f[C_ERRORS]!;
    this.skipped = f[C_SKIPPED]!;
    this.dead = f[C_DEAD]!;
    this.maxNs = f[C_MAX_NS]!;
    this.sumNs = f[C_SUM_NS]!;
  }
  flush(): void {
    const f = this.#f;
    f[C_IN] = this.in;
    f[C_OUT] = this.out;
    f[C_ERRORS] = this.errors;
    f[C_SKIPPED] = this.skipped;
    f[C_DEAD] = this.dead;
    f[C_MAX_NS] = this.maxNs;
    f[C_SUM_NS] = this.sumNs;
  }
}

/** Runs the loop until every input has ended ('done'), a hand-over ('paused') or a 'fail' policy failure. */
export async function runStage(l: StageLoop): Promise<StageResult> {
  const { ctl, codec, handler, meta, ctx, inputs, outputs, dead, errors, tracer } = l;
  // The command word while running: RUN, or GO for a swapped-in version (also after a restart).
  const runWord = ctl.cmd === CMD_GO ? CMD_GO : CMD_RUN;
  const c = new Counters(ctl);
  const hist = ctl.hist;
  const patience = new Patience(l.wait);

  const nOut = outputs.length;
  const keyed = l.route === 'key';
  let turn = 0;
  /** Writes one output; returns a promise only when it must wait for room. */
  const emit = (value: unknown): Promise<void> | undefined => {
    const wire = codec.toWire(value);
    const out = outputs[nOut === 1 ? 0 : keyed ? (meta.hash >>> 0) % nOut : turn++ % nOut]!;
    if (meta.flags !== 0) meta.stamp = clock(); // a traced output's trace block says when it was written
    if (out.tryWrite(meta, wire)) {
      c.out++;
      return undefined;
    }
    c.flush(); // the counters stay live while we wait for room
    return out.write(meta, wire).then(() => {
      c.out++;
    });
  };
  const deadLetter = async (value: unknown, err: unknown): Promise<void> => {
    const rec = { stage: l.stage, partition: l.partition, seq: meta.seq, key: keyOf(meta), error: serializeError(err), message: value };
    let bytes: Uint8Array;
    try {
      bytes = v8.serialize(rec);
    } catch {
      bytes = v8.serialize({ ...rec, message: undefined });
    }
    if (meta.flags !== 0) meta.stamp = clock(); // nothing reads it (dead letters are not traced), but never a stale time
    if (!dead!.tryWrite(meta, bytes)) {
      c.flush();
      await dead!.write(meta, bytes);
    }
  };

  // Publishes every output, then acknowledges the input: what was read is done only once its
  // outputs are visible downstream.
  const publish = () => {
    for (let i = 0; i < nOut; i++) outputs[i]!.flush();
    dead?.flush();
  };
  const settle = (link: InputLink) => {
    publish();
    link.ack();
  };

  const n = inputs.length;
  let rr = 0;
  try {
    for (;;) {
      let progressed = false;
      for (let k = 0; k < n; k++) {
        const link = inputs[(rr + k) % n]!;
        if (link.ended) continue;
        let got = 0;
        // One clock reading per message: a message's service time ends where the next one's starts
        // (each covers reading its record, so the first starts before the read).
        let t = performance.now();
        while (got < l.batch && link.next(meta)) {
          got++;
          c.in++;
          let value: unknown;
          // A traced message (the others pay this check, and the two below): its hop started at t.
          const traced = meta.flags !== 0 && tracer !== undefined;
          const outs = c.out;
          try {
            value = codec.decode(link.buf, link.payloadStart, link.payloadEnd, false, link.u8);
            let r = traced && tracer.wraps !== false ? tracer.call(handler, value, ctx) : handler(value, ctx);
            if (isThenable(r)) {
              publish(); // never hold outputs back while waiting
              c.flush();
              r = await r;
            }
            if (r !== undefined) {
              if (isMulti(r)) await drainResult(r, emit);
              else {
                // The common case, without a promise: one output, written now if there is room.
                const wait = emit(r);
                if (wait !== undefined) await wait;
              }
            }
            // Service time: read → decode → handler → outputs written.
            const now = performance.now();
            if (traced) tracer.hop(meta, c.out - outs, HOP_OK, t, now);
            const ns = (now - t) * 1e6;
            t = now;
            record(hist, ns);
            c.sumNs += ns;
            if (ns > c.maxNs) c.maxNs = ns;
          } catch (err) {
            if (err instanceof RingwireError && (err.code === 'ERR_CHANNEL_CLOSED' || err.code === 'ERR_CORRUPT')) throw err;
            if (traced) tracer.hop(meta, c.out - outs, l.onError === 'dead-letter' && dead !== undefined ? HOP_DEAD_LETTER : HOP_ERROR, t, performance.now());
            c.errors++;
            if (errors.length < MAX_ERROR_RECORDS) errors.push({ seq: meta.seq, key: keyOf(meta), error: serializeError(err) });
            if (l.onError === 'fail') {
              c.flush();
              return { status: 'failed', error: serializeError(err), seq: meta.seq, key: keyOf(meta), errors };
            }
            if (l.onError === 'dead-letter' && dead !== undefined) {
              await deadLetter(value, err);
              c.dead++;
            } else {
              c.skipped++;
            }
            t = performance.now(); // a failed message's time is nobody's service time
          }
          if (link.unackedBytes() >= link.ackBytes) {
            settle(link);
            t = performance.now(); // the next record is read after this (a traced one's hop starts here)
          }
        }
        if (got > 0) {
          settle(link);
          progressed = true;
          c.flush();
        } else {
          link.checkEnded();
        }
      }
      rr++;
      if (ctl.cmd === CMD_PAUSE) {
        // Hand-over (hot swap): everything read is acknowledged; the successor starts after it.
        c.flush();
        for (const link of inputs) link.release();
        for (const out of outputs) out.release();
        dead?.release();
        return { status: 'paused', errors };
      }
      if (!progressed) {
        let all = true;
        for (let i = 0; i < n; i++) if (!inputs[i]!.ended) all = false;
        if (all) break;
        publish();
        await waitAny(inputs, { i32: ctl.i32, index: CMD, value: runWord }, patience);
      }
    }
  } finally {
    c.flush();
  }
  for (const out of outputs) out.close();
  dead?.close();
  return { status: 'done', errors };
}
