// Fan-in in the main thread: merges the last stage's channels into the sink (and the dead-letter
// channels into their targets), taking a batch from each input in turn so that no worker's output
// waits behind another's. A sink that returns a promise is awaited: a slow sink is backpressure.
import { Sender } from '../channel/sender.js';
import { keyOf, newMeta, type Meta } from './envelope.js';
import { PipelineError } from './errors.js';
import { isThenable } from './handler.js';
import { waitAny, type InputLink } from './link.js';
import { Patience, type WaitSpec } from '../core/park.js';
import type { AppendTarget, MessageInfo, SinkTarget } from './types.js';

export function isSinkTarget(t: unknown): t is SinkTarget {
  return typeof t === 'function' || t instanceof Sender || (typeof t === 'object' && t !== null && typeof (t as AppendTarget).append === 'function');
}

/** A function that delivers to a sink target; it returns a promise only when it must wait. */
export function deliverer<T>(target: SinkTarget<T>): (value: T, info: MessageInfo) => unknown {
  if (target instanceof Sender) {
    const tx = target;
    return (v) => (tx.trySend(v) ? undefined : tx.send(v));
  }
  if (typeof target === 'function') return target;
  const log = target as AppendTarget<T>;
  return (v) => log.append(v);
}

export interface MergeContext {
  links: InputLink[];
  batch: number;
  wait: WaitSpec;
  signal: AbortSignal;
  /** 'sink' or 'dead-letter target', for errors. */
  what: string;
  /** Handles the record links[i] just read (meta filled in); a promise only when it must wait. */
  deliver(link: InputLink, i: number, meta: Meta, info: MessageInfo): unknown;
}

/** Runs until every input has ended (or abort); closes the inputs on abort. */
export async function merge(c: MergeContext): Promise<void> {
  const { links, batch, signal } = c;
  const n = links.length;
  if (n === 0) return;
  const meta: Meta = newMeta();
  const info: MessageInfo = {
    get seq() {
      return meta.seq;
    },
    get key() {
      return keyOf(meta);
    },
  };
  let rr = 0;
  const patience = new Patience(c.wait);
  try {
    for (;;) {
      let progressed = false;
      for (let k = 0; k < n; k++) {
        const i = (rr + k) % n;
        const link = links[i]!;
        if (link.ended) continue;
        let got = 0;
        while (got < batch && link.next(meta)) {
          got++;
          const r = c.deliver(link, i, meta, info);
          if (isThenable(r)) await r;
          if (signal.aborted) return;
          if (link.unackedBytes() >= link.ackBytes) link.ack();
        }
        if (got > 0) {
          link.ack();
          progressed = true;
        } else {
          link.checkEnded();
        }
      }
      rr++;
      if (signal.aborted) return;
      if (!progressed) {
        if (links.every((l) => l.ended)) return;
        await waitAny(links, undefined, patience, signal);
      }
    }
  } catch (err) {
    if (signal.aborted) return;
    throw err instanceof PipelineError ? err : new PipelineError('ERR_SINK', `the pipeline's ${c.what} failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  } finally {
    if (signal.aborted) for (const l of links) l.close();
  }
}
