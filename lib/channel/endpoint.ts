// What a Sender or Receiver needs of its channel: a narrow endpoint the channel hands them, so that
// neither imports channel.ts (the channel imports them, and creates them).
import type { RingMemory } from '../core/ring.js';
import type { WireCodec } from './codecs.js';
import type { WaitSpec } from '../core/park.js';

/** A sender or receiver held in this thread, as its channel sees it. */
export interface LocalEnd {
  /** Stops waiting calls (the channel is closing); resolves when they have given up. */
  abandon(): Promise<unknown> | undefined;
  flushStats(): void;
}

export interface Endpoint {
  readonly mem: RingMemory;
  readonly codecImpl: WireCodec;
  readonly wait: WaitSpec;
  readonly maxMessageBytes: number;
  /** This thread's sender / receiver: set by its constructor, cleared when it lets go of the role. */
  localSender: LocalEnd | undefined;
  localReceiver: LocalEnd | undefined;
}
