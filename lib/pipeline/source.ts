// The source end of a pipeline (main thread): reads the source, stamps each message (sequence
// number, time, key), and deals it to the first stage's workers, by key hash or in turn. It reads
// the source only as fast as the rings take messages: a full ring is backpressure on the source.
import { performance } from 'node:perf_hooks';
import type { WireCodec } from '../channel/codecs.js';
import { RingwireError } from '../errors.js';
import { Receiver } from '../channel/receiver.js';
import { newMeta, setKey } from './envelope.js';
import { PipelineError } from './errors.js';
import type { OutputLink } from './link.js';
import { clock, type PipelineTracer } from './trace.js';
import type { PipelineSource } from './types.js';

export interface PumpContext<I> {
  source: PipelineSource<I>;
  /** One per first-stage worker. */
  links: OutputLink[];
  codec: WireCodec;
  key: ((m: I) => string | number) | undefined;
  /** 'key': links[hash % n]; 'round-robin': in turn. */
  keyed: boolean;
  /** abort(): stop now. */
  signal: AbortSignal;
  /** close() and abort(): stop waiting for a Receiver source. */
  closeSignal: AbortSignal;
  closing(): boolean;
  /** Messages written so far; the next one's sequence number. */
  produced: { n: number };
  /** Samples messages for tracing (options.trace), else undefined. */
  tracer: PipelineTracer | undefined;
}

/** Runs until the source ends, close() or abort(); then closes the links (unless aborted). */
export async function pump<I>(c: PumpContext<I>): Promise<void> {
  const { links, codec, key, keyed, signal, produced, tracer } = c;
  const n = links.length;
  const meta = newMeta();
  let turn = 0;
  let last = 0;
  // Writes one message; a promise only when its ring is full.
  const write = (value: I): Promise<void> | undefined => {
    meta.seq = produced.n;
    const t0 = (meta.t0 = performance.now());
    if (key !== undefined) setKey(meta, key(value));
    if (tracer !== undefined) tracer.sample(meta, t0);
    const wire = codec.toWire(value);
    if (meta.flags !== 0) meta.stamp = clock(); // a traced record's trace block says when it was written
    last = n === 1 ? 0 : keyed ? (meta.hash >>> 0) % n : turn++ % n;
    const link = links[last]!;
    if (link.tryWrite(meta, wire)) {
      produced.n++;
      return undefined;
    }
    return link.write(meta, wire, signal).then(() => {
      produced.n++;
    });
  };
  const src = c.source;
  try {
    if (src instanceof Receiver) {
      while (!c.closing() && !signal.aborted) {
        let v = src.tryRecv();
        if (v === undefined) {
          for (const l of links) l.flush(); // nothing held back while the source is empty
          try {
            v = await src.recv({ signal: c.closeSignal });
          } catch (err) {
            // The end of the stream, or close()/abort() while waiting (nothing was taken then).
            if (err instanceof RingwireError && (err.code === 'ERR_CHANNEL_CLOSED' || err.code === 'ERR_ABORTED')) break;
            throw err;
          }
        }
        const p = write(v as I);
        if (p !== undefined) await p;
      }
    } else if (typeof (src as Iterable<I>)[Symbol.iterator] === 'function') {
      for (const v of src as Iterable<I>) {
        if (signal.aborted) break;
        const p = write(v); // a value taken from the source is always written, even while closing
        if (p !== undefined) await p;
        if (c.closing()) break; // before taking the next one
      }
    } else {
      for await (const v of src as AsyncIterable<I>) {
        if (signal.aborted) break;
        const p = write(v); // a message the source produced is always written, even while closing
        if (p !== undefined) await p;
        links[last]!.flush(); // the next value may take a while
        if (c.closing()) break;
      }
    }
  } catch (err) {
    if (signal.aborted) return;
    throw err instanceof PipelineError || (err instanceof RingwireError && err.code === 'ERR_ABORTED')
      ? err
      : new PipelineError('ERR_SOURCE', `the pipeline's source failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
  if (signal.aborted) return;
  for (const link of links) link.close();
}
