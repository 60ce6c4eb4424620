// What the NATS parts share: connecting, the headers a shipped record carries, reading back the
// last record a stream holds, and the error codes. The NATS client packages are optional peer
// dependencies: only `ringwire/nats` imports them.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { JetStreamManager, StoredMsg } from '@nats-io/jetstream';
import { describe, RingwireError, RingwireTypeError, type RingwireErrorCode } from '../errors.js';

/** Headers of every message ringwire publishes. */
export const H_SOURCE = 'Ringwire-Source'; // the log (or bridge) identity
export const H_SEQ = 'Ringwire-Seq'; // the record's sequence in its source
export const H_TIME = 'Ringwire-Time'; // ms since the epoch, when the record was written
export const H_CODEC = 'Ringwire-Codec'; // how the payload is encoded
export const H_END = 'Ringwire-End'; // a bridge's end-of-stream marker

export type NatsErrorCode = Extract<RingwireErrorCode, `ERR_NATS_${string}`>;

export const natsError = (code: NatsErrorCode, message: string, cause?: unknown): RingwireError =>
  new RingwireError(code, message, cause === undefined ? undefined : { cause });

/** How to reach NATS: `servers` (we connect, reconnect forever, and close at stop) or an open
 * `connection` (yours: we never close it). */
export interface ConnectOptions {
  servers?: string | string[];
  connection?: NatsConnection;
}

export function checkConnect(o: Record<string, unknown>, what: string): void {
  if (o.connection === undefined && o.servers === undefined) throw new RingwireTypeError(`${what}: options.servers or options.connection is required`);
  const s = o.servers;
  if (s !== undefined && typeof s !== 'string' && !(Array.isArray(s) && s.length > 0 && s.every((x) => typeof x === 'string'))) {
    throw new RingwireTypeError(`${what}: options.servers must be a URL or a list of URLs, got ${describe(s)}`);
  }
}

/** Connects (retrying every `retryMs` until `signal` aborts: undefined then), or takes the
 * caller's connection. Once connected, the client reconnects by itself, forever. */
export async function openConnection(o: ConnectOptions, name: string, signal: AbortSignal, retryMs = 250): Promise<{ nc: NatsConnection; owned: boolean } | undefined> {
  if (o.connection !== undefined) return { nc: o.connection, owned: false };
  // Bounded by `signal`: each failed attempt is followed by a pause.
  while (!signal.aborted) {
    try {
      // noAsyncTraces: no Error (with its stack) made per request just in case it fails: a
      // quarter of the CPU time of shipping otherwise.
      const nc = await connect({ servers: o.servers, name, maxReconnectAttempts: -1, reconnectTimeWait: 250, pingInterval: 5000, noAsyncTraces: true });
      if (!signal.aborted) return { nc, owned: true };
      await nc.close();
    } catch {
      await pause(retryMs, signal);
    }
  }
  return undefined;
}

const MAX_BACKOFF_MS = 2000;

/**
 * Runs `run` again after each failure, with a growing pause (50 ms doubling to 2 s), until it
 * returns true or `signal` aborts. A failure whose error code is in `fatal` is thrown instead
 * (another run would only repeat it); the others are reported to `failed`.
 */
export async function keepRunning(signal: AbortSignal, run: () => Promise<boolean>, fatal: readonly string[], failed: (err: unknown) => void): Promise<void> {
  // Bounded by `signal` or success; every failure is followed by a pause.
  for (let failures = 0; !signal.aborted; ) {
    try {
      if (await run()) return;
      failures = 0;
    } catch (err) {
      if (signal.aborted) return;
      if (fatal.includes((err as { code?: string })?.code ?? '')) throw err;
      failed(err);
      failures++;
      await pause(Math.min(MAX_BACKOFF_MS, 50 * 2 ** Math.min(failures, 6)), signal);
    }
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

export function checkName(what: string, name: string, value: unknown): string {
  if (typeof value !== 'string' || value === '' || /[\s.*>/\\]/.test(value)) {
    throw new RingwireTypeError(`${what}: options.${name} must be a JetStream name (no spaces, '.', '*', '>', '/'), got ${describe(value)}`);
  }
  return value;
}

export function checkSubject(what: string, value: unknown): string {
  if (typeof value !== 'string' || value === '' || /[\s*>]/.test(value) || value.startsWith('.') || value.endsWith('.') || value.includes('..')) {
    throw new RingwireTypeError(`${what}: options.subject must be a subject without wildcards, got ${describe(value)}`);
  }
  return value;
}

/** Creates `stream` capturing `subject` if it does not exist; if it exists it must capture it. */
export async function ensureStream(jsm: JetStreamManager, stream: string, subject: string, replicas: number): Promise<void> {
  let subjects: string[] | undefined;
  try {
    subjects = (await jsm.streams.info(stream)).config.subjects;
  } catch (err) {
    if ((err as { code?: unknown }).code !== 10059 && !/stream not found/i.test(String((err as Error).message))) throw err;
    await jsm.streams.add({ name: stream, subjects: [subject], num_replicas: replicas });
    return;
  }
  if (!subjects?.some((s) => subjectMatches(s, subject))) {
    throw natsError('ERR_NATS_STREAM', `stream ${stream} does not capture subject ${subject} (its subjects: ${(subjects ?? []).join(', ') || 'none'})`);
  }
}

/** Whether NATS subject pattern `pattern` matches the literal `subject`. */
function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

/** The last message `stream` holds on `subject`, read from JetStream itself (null: none). */
export async function lastOnSubject(jsm: JetStreamManager, stream: string, subject: string): Promise<StoredMsg | null> {
  return jsm.streams.getMessage(stream, { last_by_subj: subject });
}

/** The sequence in `source` that the stored message `m` carries; throws if it is another source's. */
export function shippedSequence(m: StoredMsg, source: string, stream: string, subject: string): number {
  const from = m.header.get(H_SOURCE);
  const seq = Number(m.header.get(H_SEQ));
  if (from !== source || !Number.isSafeInteger(seq) || seq < 0) {
    throw natsError(
      'ERR_NATS_FOREIGN',
      `the last message on ${subject} in stream ${stream} (stream sequence ${m.seq}) is from ${from === '' ? 'something that is not ringwire' : `source ${JSON.stringify(from)}`}, not ${JSON.stringify(source)}: give each log its own subject and stream`,
    );
  }
  return seq;
}
