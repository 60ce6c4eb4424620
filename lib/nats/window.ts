// Ordered publishing with a bounded number of publishes in flight, and no message stored after a
// gap. A *run* starts at a point read back from the stream (its last message on the subject):
//
// - every message has the id `${source}:${seq}` (Nats-Msg-Id): a resend of one the stream already
//   has (after a crash or a lost ack) is acknowledged as a duplicate, not stored twice, within the
//   stream's duplicate window;
// - the first message of a run goes alone (nothing else in flight until its ack) and expects the
//   subject's last stream sequence to be the one the run started from
//   (Nats-Expected-Last-Subject-Sequence);
// - every later message expects the stream's last message id to be its predecessor's
//   (Nats-Expected-Last-Msg-Id). Pipelined messages can be lost independently (one written to a
//   socket that died, the next resent from the client's reconnect buffer): the expectation makes
//   the server refuse a message whose predecessor is not stored, so the stream never holds k+1
//   without k. The expectation is per stream, hence one source per stream.
//
// Any failure breaks the run: the caller waits for what is in flight to settle (settle()), reads
// the stream's last message again and starts a new run after it.
import type { JetStreamClient } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';

export interface Outgoing {
  seq: number;
  payload: Uint8Array;
  /** Made into the message's headers at each publish (the client adds the id and expectation
   * headers to the object it is given, so a message sent again needs a fresh one). */
  headers: [string, string][];
}

interface Entry {
  item: Outgoing;
  done: boolean;
  settled: Promise<unknown>;
}

export class OrderedWindow {
  readonly #js: JetStreamClient;
  readonly #subject: string;
  readonly #source: string;
  readonly #window: number;
  readonly #timeout: number;
  readonly #onAck: (item: Outgoing) => void;
  readonly #inflight: Entry[] = [];
  /** Id of the previous message of this run ('' before the first). */
  #prevId = '';
  #startSeq = 0;
  /** While the first message of a run is in flight: nothing else is sent. */
  #gate: Promise<unknown> | undefined;
  #wake: (() => void) | undefined;
  /** The first failure of this run (undefined while it is whole). */
  broken: unknown;
  onBroken: (() => void) | undefined;

  constructor(js: JetStreamClient, o: { subject: string; source: string; window: number; timeout: number; onAck: (item: Outgoing) => void }) {
    this.#js = js;
    this.#subject = o.subject;
    this.#source = o.source;
    this.#window = o.window;
    this.#timeout = o.timeout;
    this.#onAck = o.onAck;
  }

  get inFlight(): number {
    return this.#inflight.length;
  }

  /** A new run after the subject's last stored message `lastStreamSeq` (0: the subject is empty). */
  begin(lastStreamSeq: number): void {
    this.#prevId = '';
    this.#startSeq = lastStreamSeq;
    this.#gate = undefined;
    this.broken = undefined;
  }

  /** Resolves once a send would publish at once; throws the run's failure once it is broken. */
  async room(): Promise<void> {
    // Bounded by the window: each pass waits for one settlement.
    while (this.broken === undefined && (this.#inflight.length >= this.#window || this.#gate !== undefined)) {
      if (this.#gate !== undefined) await this.#gate;
      else await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    if (this.broken !== undefined) throw this.broken;
  }

  /** Publishes `item` once there is room (and the run's first message is acked); throws the
   * run's failure once it is broken. */
  async send(item: Outgoing): Promise<void> {
    await this.room();
    const id = `${this.#source}:${item.seq}`;
    const expect = this.#prevId === '' ? { lastSubjectSequence: this.#startSeq } : { lastMsgID: this.#prevId };
    const first = this.#prevId === '';
    this.#prevId = id;
    const entry: Entry = { item, done: false, settled: Promise.resolve() };
    const h = headers();
    for (const [k, v] of item.headers) h.set(k, v);
    const p = this.#js.publish(this.#subject, item.payload, { msgID: id, expect, headers: h, timeout: this.#timeout });
    entry.settled = p.then(
      () => {
        entry.done = true;
        this.#drainDone();
      },
      (err) => {
        if (this.broken === undefined) {
          this.broken = err;
          this.onBroken?.();
        }
      },
    ).finally(() => {
      if (first) this.#gate = undefined;
      const wake = this.#wake;
      this.#wake = undefined;
      wake?.();
    });
    this.#inflight.push(entry);
    if (first) this.#gate = entry.settled;
  }

  /** Reports acks strictly in publish order (whatever order the promises resolve in). */
  #drainDone(): void {
    while (this.#inflight.length > 0 && this.#inflight[0]!.done) this.#onAck(this.#inflight.shift()!.item);
  }

  /** Waits until every publish in flight has succeeded or failed; forgets the unacknowledged. */
  async settle(): Promise<void> {
    await Promise.all(this.#inflight.map((e) => e.settled));
    this.#inflight.length = 0;
    this.#gate = undefined;
  }
}
