// A stage's handler as the worker sees it: finding it in its module, the context it receives, and
// what it may return (undefined, one value, many([...]), a generator or an async generator).
import { RingwireTypeError } from '../errors.js';

/** What a handler receives besides the message. */
export interface StageContext {
  readonly stage: string;
  readonly partition: number;
  readonly workers: number;
  /** The stage's `options` from the pipeline definition. */
  readonly options: unknown;
  /** The source sequence number of the message being handled (NaN for a swap's probe messages, which come from no source). */
  readonly seq: number;
  /** Its key (when the pipeline has a key function). */
  readonly key: string | number | undefined;
  /** The message's trace context when it is traced (options.trace), else undefined. */
  readonly trace: TraceContext | undefined;
}

/** The span context a traced message carries (the message's span, W3C / OpenTelemetry ids). */
export interface TraceContext {
  /** 32 hex digits. */
  readonly traceId: string;
  /** 16 hex digits: the message's span, the parent of every stage span. */
  readonly spanId: string;
  /** The span context's sampled flag. */
  readonly sampled: boolean;
}

export type StageHandler = (message: any, ctx: StageContext) => unknown;

/** Marks an array returned by a handler as several outputs (`return many([a, b])`). */
export const MANY = Symbol.for('ringwire.pipeline.many');
export function many<T>(outputs: T[]): T[] {
  (outputs as unknown as Record<symbol, boolean>)[MANY] = true;
  return outputs;
}

export function pickHandler(mod: Record<string, unknown>, exportName: string | undefined): StageHandler {
  const name = exportName ?? 'handler';
  let h = mod[name];
  if (h === undefined && exportName === undefined) h = mod.default;
  if (typeof h === 'object' && h !== null && typeof (h as { handler?: unknown }).handler === 'function') h = (h as { handler: unknown }).handler;
  if (typeof h !== 'function') {
    throw new RingwireTypeError(`the stage module exports no function '${name}'${exportName === undefined ? ' (nor a default export)' : ''}`);
  }
  return h as StageHandler;
}

export const isThenable = (r: unknown): r is PromiseLike<unknown> =>
  r !== null && (typeof r === 'object' || typeof r === 'function') && typeof (r as { then?: unknown }).then === 'function';

const tagOf = (r: object): string => Object.prototype.toString.call(r);

/** many([...]), a generator or an async generator: several outputs. */
export function isMulti(r: unknown): boolean {
  if (typeof r !== 'object' || r === null) return false;
  if ((r as Record<symbol, unknown>)[MANY] === true) return true;
  if (typeof (r as { next?: unknown }).next !== 'function') return false;
  const tag = tagOf(r);
  return tag === '[object Generator]' || tag === '[object AsyncGenerator]';
}

/** Writes a handler's result: undefined (nothing), many([...]), a generator, or one value. Without
 * `write` the outputs are only produced (health-check probes). */
export async function drainResult(r: unknown, write?: (v: unknown) => Promise<void> | undefined): Promise<void> {
  if (isThenable(r)) r = await r;
  if (r === undefined) return;
  if (typeof r === 'object' && r !== null) {
    if ((r as Record<symbol, unknown>)[MANY] === true) {
      if (write) for (const v of r as unknown[]) await write(v);
      return;
    }
    const tag = tagOf(r);
    if (tag === '[object Generator]') {
      for (const v of r as Iterable<unknown>) if (write) await write(v);
      return;
    }
    if (tag === '[object AsyncGenerator]') {
      for await (const v of r as AsyncIterable<unknown>) if (write) await write(v);
      return;
    }
  }
  if (write) await write(r);
}
