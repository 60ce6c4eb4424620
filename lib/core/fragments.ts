// Fragmentation in the ring layer, as cpp/ring/ring.h does it (WriteFragment, ReadMessage): a
// message larger than one record goes out as FIRST (with an 8-byte prefix holding the total
// length), MIDDLE..., LAST records, each published as it is written so the reader can make room.
// The writer stores the fragment-in-progress word before publishing a first fragment; a reader
// keeps the fragments of a message that fits the ring whole until it is complete (at-least-once:
// a successor of a reader that dies reads it again) and drops what can never complete.
import { Buffer } from 'node:buffer';
import { corruptError } from '../errors.js';
import * as L from './layout.js';
import { FULL, type RingMemory, type RingReader, type RingWriter } from './ring.js';

/** writeFragments' result when the whole message is out. */
export const DONE = -1;

/** A message being written in fragments: `done` bytes of `bytes` are in the ring. */
export interface FragmentJob {
  bytes: Uint8Array;
  done: number;
}

/**
 * Writes fragments of `job` while they fit, publishing each (unless corked). Returns DONE when the
 * message is complete, or the payload bytes of the record it needs room for next.
 */
export function writeFragments(w: RingWriter, job: FragmentJob): number {
  const { i32, u8, capacity } = w.mem;
  const n = job.bytes.byteLength;
  while (job.done < n) {
    const first = job.done === 0;
    const chunk = L.fragmentChunk(capacity, w.offset, n - job.done, first);
    const size = first ? chunk + L.FRAG_PREFIX_BYTES : chunk;
    const at = w.claim(size);
    if (at === FULL) return size;
    let dst = at;
    if (first) {
      i32[L.wordAt(at)] = n;
      i32[L.wordAt(at) + 1] = 0;
      dst += L.FRAG_PREFIX_BYTES;
      // The message in progress, for a reader that keeps its fragments until it is complete;
      // stored before the fragment is published (commit's Atomics.store of tail).
      Atomics.store(i32, L.W.FRAG_IN_PROGRESS, w.position | 1);
    }
    u8.set(job.bytes.subarray(job.done, job.done + chunk), dst);
    job.done += chunk;
    w.commit(size, first ? L.TYPE_FRAG_FIRST : job.done === n ? L.TYPE_FRAG_LAST : L.TYPE_FRAG_MIDDLE);
  }
  return DONE;
}

/** A fragmented message abandoned part-way (timeout, abort, close): the reader need not keep it. */
export function abandonFragments(w: RingWriter, job: FragmentJob): void {
  if (job.done > 0 && job.done < job.bytes.byteLength) noFragmentInProgress(w.mem);
}

/**
 * No fragmented message is being written any more (given up part-way, or a new producer took the
 * role over): a receiver keeping one lets go of it, and one parked while keeping it is woken.
 */
export function noFragmentInProgress(mem: RingMemory): void {
  Atomics.store(mem.i32, L.W.FRAG_IN_PROGRESS, 0);
  // seq_cst store, then load of the receiver's park word: the handshake of RingWriter.publish.
  if (Atomics.load(mem.i32, L.W.RX_PARKED) !== 0) mem.waiter.notify(mem.i32, L.W.TAIL);
}

/** The reader's half: reassembles fragments read with RingReader.next() into an owned Buffer. */
export class Reassembly {
  #assembly: Buffer | undefined;
  #assembled = 0;
  #expected = 0;
  /** Nothing read yet: continuation fragments are the rest of a message an earlier reader started. */
  #fresh = true;
  /** Messages given up: abandoned by the writer, or begun before this reader. */
  dropped = 0;
  readonly #r: RingReader;
  readonly #maxMessage: number;

  constructor(r: RingReader, maxMessage: number) {
    this.#r = r;
    this.#maxMessage = maxMessage;
  }

  /** A whole (unfragmented) message was read: a message in progress was abandoned. */
  onMessage(): void {
    if (this.#expected !== 0) this.drop();
    this.#fresh = false;
  }

  /** The stream ended: a message in progress will never complete. */
  onEnd(): void {
    if (this.#expected !== 0) this.drop();
  }

  /** Adds the fragment just read (of `type`); true when it completed a message (take() it). */
  add(type: number): boolean {
    const r = this.#r;
    const buf = r.mem.buf;
    if (type === L.TYPE_FRAG_FIRST) {
      this.onMessage();
      if (r.length < L.FRAG_PREFIX_BYTES) throw corruptError(`first fragment of ${r.length} bytes has no length prefix`);
      const total = buf.readUInt32LE(r.start);
      const chunk = r.length - L.FRAG_PREFIX_BYTES;
      if (total > this.#maxMessage || chunk >= total) {
        throw corruptError(`fragmented message claims ${total} bytes (first fragment ${chunk}, limit ${this.#maxMessage})`);
      }
      this.#assembly = Buffer.allocUnsafeSlow(total);
      buf.copy(this.#assembly, 0, r.start + L.FRAG_PREFIX_BYTES, r.start + r.length);
      this.#assembled = chunk;
      this.#expected = total;
      // A message that fits the ring whole stays there until it is complete (a successor reads
      // it again if we die); a larger one must hand its fragments back as it goes.
      r.holdFrom = (r.position - L.recordBytes(r.length)) | 0;
      r.holding = L.fitsAtOnce(r.mem.capacity, total);
      r.releaseLazily();
      return false;
    }
    if (this.#expected === 0) {
      if (this.#fresh) {
        // The rest of a message an earlier reader had started: it cannot be completed.
        if (type === L.TYPE_FRAG_LAST) this.dropped++;
        r.releaseLazily();
        return false;
      }
      throw corruptError(`a continuation fragment arrived without a first fragment`);
    }
    if (r.length > this.#expected - this.#assembled) {
      throw corruptError(`fragments add up to more than the announced ${this.#expected} bytes`);
    }
    buf.copy(this.#assembly!, this.#assembled, r.start, r.start + r.length);
    this.#assembled += r.length;
    if (type === L.TYPE_FRAG_LAST) {
      if (this.#assembled !== this.#expected) {
        throw corruptError(`fragmented message ended at ${this.#assembled} of ${this.#expected} bytes`);
      }
      return true;
    }
    r.releaseLazily();
    return false;
  }

  /** The message add() completed; the reassembly starts over. */
  take(): Buffer {
    const whole = this.#assembly!;
    this.#reset();
    return whole;
  }

  /** Gives up the message in progress (counted in `dropped`). */
  drop(): void {
    this.#reset();
    this.dropped++;
  }

  #reset(): void {
    this.#r.holding = false;
    this.#assembly = undefined;
    this.#expected = 0;
    this.#assembled = 0;
  }
}
