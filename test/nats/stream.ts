// Reading a whole stream back (an ordered consumer), for the tests' checks.
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';

export interface Stored {
  streamSeq: number;
  source: string;
  seq: number;
  data: Uint8Array;
}

/** Every message `stream` holds now, in stream order. Retried (within 30 s) while the servers
 * answer with errors: a cluster that just lost a server re-elects its leaders first. */
export async function readStream(nc: NatsConnection, stream: string): Promise<Stored[]> {
  const deadline = Date.now() + 30_000;
  // Bounded by the deadline.
  for (;;) {
    try {
      return await readOnce(nc, stream, deadline);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

async function readOnce(nc: NatsConnection, stream: string, deadline: number): Promise<Stored[]> {
  const jsm = await jetstreamManager(nc);
  const total = (await jsm.streams.info(stream)).state.messages;
  const out: Stored[] = [];
  if (total === 0) return out;
  const consumer = await jetstream(nc).consumers.get(stream);
  while (out.length < total && Date.now() < deadline) {
    const batch = await consumer.fetch({ max_messages: Math.min(1000, total - out.length), expires: 2000 });
    for await (const m of batch) {
      out.push({ streamSeq: m.seq, source: m.headers?.get('Ringwire-Source') ?? '', seq: Number(m.headers?.get('Ringwire-Seq')), data: m.data });
    }
  }
  return out;
}

/** Polls `cond` (async) every 20 ms until it holds; false after `limitMs`. */
export async function waitForAsync(cond: () => Promise<boolean>, limitMs: number): Promise<boolean> {
  const end = Date.now() + limitMs;
  // Bounded by limitMs.
  while (Date.now() < end) {
    try {
      if (await cond()) return true;
    } catch {
      // a server restarting: try again
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

/** The sequences of `stored` must be first..first+n-1, each once, in order. */
export function sequenceProblems(stored: Stored[], n: number, first = 0): string[] {
  const problems: string[] = [];
  if (stored.length !== n) problems.push(`${stored.length} messages, expected ${n}`);
  for (let k = 0; k < stored.length && problems.length < 10; k++) {
    if (stored[k]!.seq !== first + k) problems.push(`message ${k} (stream seq ${stored[k]!.streamSeq}) has record ${stored[k]!.seq}, expected ${first + k}`);
  }
  return problems;
}
