// The SPSC ring in TypeScript, operating directly on shared memory (a Node-API call per message
// would cost more than the whole operation). It mirrors cpp/ring/ring.h record for record, and the two
// interoperate over the same memory (test/unit/interop.test.ts).
//
// Ordering: JS Atomics are sequentially consistent, which is at least the acquire/release that
// cpp/ring/ring.h uses. Header and payload are written with plain stores; the Atomics.store of tail
// publishes them (a consumer that Atomics.loads tail sees them). The consumer's Atomics.store of
// head comes after its reads of the released space, and the producer Atomics.loads head before
// reusing it.
//
// Positions are held as int32 (`| 0`; differences as `(a - b) >>> 0`): a uint32 above 2^31 in an
// object field is a heap number in V8, i.e. an allocation on every store.
//
// Every position or length read from shared memory is checked before it is used.
import { Buffer } from 'node:buffer';
import { corruptError } from '../errors.js';
import * as L from './layout.js';

const TAIL = L.W.TAIL;
const HEAD = L.W.HEAD;
const RX_PARKED = L.W.RX_PARKED;
const TX_PARKED = L.W.TX_PARKED;
const FRAG_IN_PROGRESS = L.W.FRAG_IN_PROGRESS;
const DATA = L.CONTROL_BYTES;

export const FULL = -1;

/** How a side sleeps on a word of the ring and wakes the peer (Atomics here; futex for mmap). */
export interface Waiter {
  /** Sleeps while i32[index] === value, up to timeoutMs (Infinity: no limit). */
  waitSync(i32: Int32Array, index: number, value: number, timeoutMs: number): void;
  /**
   * The same without blocking the thread; resolves on wake or timeout. The wait alone does not keep
   * the event loop alive: the caller does (parkAsync, through the side's Liveness).
   */
  waitAsync(i32: Int32Array, index: number, value: number, timeoutMs: number): Promise<unknown>;
  notify(i32: Int32Array, index: number): void;
}

export const atomicsWaiter: Waiter = {
  waitSync(i32, index, value, timeoutMs) {
    Atomics.wait(i32, index, value, timeoutMs);
  },
  waitAsync(i32, index, value, timeoutMs) {
    const r = Atomics.waitAsync(i32, index, value, timeoutMs);
    return r.async ? r.value : Promise.resolve(r.value);
  },
  notify(i32, index) {
    Atomics.notify(i32, index);
  },
};

/** Views of one ring's memory, shared by the writer and reader code. */
export class RingMemory {
  readonly i32: Int32Array;
  readonly buf: Buffer;
  readonly u8: Uint8Array;
  readonly capacity: number;
  readonly mask: number;
  readonly waiter: Waiter;

  constructor(buffer: SharedArrayBuffer | ArrayBuffer, byteOffset: number, capacity: number, waiter = atomicsWaiter) {
    this.i32 = new Int32Array(buffer, byteOffset, L.wordAt(L.totalBytes(capacity)));
    this.buf = Buffer.from(buffer, byteOffset, L.totalBytes(capacity));
    this.u8 = new Uint8Array(buffer, byteOffset, L.totalBytes(capacity));
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.waiter = waiter;
  }
}

/** Producer side. One per ring at a time (the channel's roles enforce it). */
export class RingWriter {
  readonly mem: RingMemory;
  readonly maxPayload: number;
  private readonly i32: Int32Array;
  private readonly capacity: number;
  private readonly mask: number;
  private tail: number;
  private published: number;
  private headCache: number;
  private claimed = 0;
  private claimStart = 0;
  /** While set, commit() appends without publishing (Sender.cork); a full ring publishes anyway. */
  corked = false;
  wakes = 0;

  constructor(mem: RingMemory) {
    this.mem = mem;
    this.i32 = mem.i32;
    this.capacity = mem.capacity;
    this.mask = mem.mask;
    this.maxPayload = L.maxRecordPayload(mem.capacity);
    // Only the producer writes tail; the previous holder of the role published its last value.
    this.tail = Atomics.load(this.i32, TAIL);
    this.published = this.tail;
    // A cache that says "full": the first claim loads head and checks both positions (tail came
    // from shared memory too) before anything is written.
    this.headCache = (this.tail - this.capacity) | 0;
  }

  /**
   * Reserves a record of up to `n` payload bytes (n <= maxPayload). Returns the byte offset in
   * mem.buf where the payload goes, or FULL. Nothing is visible until commit().
   */
  claim(n: number): number {
    const need = L.recordBytes(n);
    let off = this.tail & this.mask;
    const contiguous = this.capacity - off;
    const total = need > contiguous ? need + contiguous : need;
    if (total > this.capacity - ((this.tail - this.headCache) >>> 0)) {
      this.headCache = this.loadHead();
      if (total > this.capacity - ((this.tail - this.headCache) >>> 0)) {
        // Corked records the consumer has not seen could be all that fills the ring: show them.
        if (this.tail !== this.published) this.publish();
        return FULL;
      }
    }
    this.claimStart = this.tail;
    if (need > contiguous) {
      const at = L.wordAt(DATA + off);
      this.i32[at] = contiguous - L.RECORD_HEADER_BYTES;
      this.i32[at + 1] = L.TYPE_PAD;
      this.tail = (this.tail + contiguous) | 0;
      off = 0;
    }
    this.claimed = need;
    return DATA + off + L.RECORD_HEADER_BYTES;
  }

  /** Adds the claimed record (len <= claimed) to the batch and publishes the batch (unless corked). */
  commit(len: number, type: number): void {
    this.append(len, type);
    if (!this.corked) this.publish();
  }

  /** Adds the claimed record to the batch without publishing it. */
  append(len: number, type: number): void {
    const at = L.wordAt(DATA + (this.tail & this.mask));
    this.i32[at] = len;
    this.i32[at + 1] = type;
    this.tail = (this.tail + L.recordBytes(len)) | 0;
    this.claimed = 0;
  }

  /** Drops the claim (and the padding it may have written); earlier appends stay. */
  abort(): void {
    this.claimed = 0;
    this.tail = this.claimStart;
  }

  /** Publishes whatever was appended but not yet published (not an open claim's padding). */
  flush(): void {
    // The padding an open claim wrote is taken back by abort(): publishing it would let tail go
    // backwards past what the consumer has read.
    if (this.claimed !== 0) {
      if (this.claimStart === this.published) return;
      const tail = this.tail;
      this.tail = this.claimStart;
      this.publish();
      this.tail = tail;
      return;
    }
    if (this.tail !== this.published) this.publish();
  }

  /** The producer's position: after claim(), where the claimed record starts (past any pad). */
  get position(): number {
    return this.tail;
  }

  /** The producer's offset in the data region (where the next record goes, before any pad). */
  get offset(): number {
    return this.tail & this.mask;
  }

  /** Makes the appended records visible, and wakes the consumer if it sleeps. */
  publish(): void {
    // Publish point: the header/payload stores above are ordered before this store of tail.
    Atomics.store(this.i32, TAIL, this.tail);
    this.published = this.tail;
    // Wake only a parked consumer. Both this load and the consumer's store of RX_PARKED are
    // seq_cst, and so are its re-check of tail and our store of tail above: one of us sees the other.
    // The park word is left for the sleeper to clear: taking it back to 0 here (one wake per park)
    // loses wakes. If our store of tail lands in the sleeper's re-check window and frees too
    // little, it sleeps anyway, with its park word cleared by us, and no later publish wakes it
    // (test/unit/waits.test.ts, litmus).
    if (Atomics.load(this.i32, RX_PARKED) !== 0) {
      this.wakes++;
      this.mem.waiter.notify(this.i32, TAIL);
    }
  }

  /** Whether claim(n) would succeed now (refreshes the cached head when needed). */
  fits(n: number): boolean {
    const need = L.recordBytes(n);
    const contiguous = this.capacity - (this.tail & this.mask);
    const total = need > contiguous ? need + contiguous : need;
    if (total <= this.capacity - ((this.tail - this.headCache) >>> 0)) return true;
    this.headCache = this.loadHead();
    return total <= this.capacity - ((this.tail - this.headCache) >>> 0);
  }

  /** Free bytes now (refreshes the cached head first). */
  freeBytes(): number {
    this.headCache = this.loadHead();
    return this.capacity - ((this.tail - this.headCache) >>> 0);
  }

  /** The word to sleep on while full, and the value it holds now. */
  headWord(): number {
    return this.headCache;
  }

  private loadHead(): number {
    // Consume point: the consumer stored head after reading the bytes it frees.
    const head = Atomics.load(this.i32, HEAD);
    if (((this.tail - head) >>> 0) > this.capacity || ((head | this.tail) & 7) !== 0) {
      throw corruptError(`consumer position ${head >>> 0} is not within ${this.capacity} bytes behind ${this.tail >>> 0}`);
    }
    return head;
  }
}

/** Called for each record: the bytes are mem.buf[start, start + length). */
export type RecordVisitor = (type: number, start: number, length: number) => void;

/** Consumer side. One per ring at a time. */
export class RingReader {
  readonly mem: RingMemory;
  private readonly i32: Int32Array;
  private readonly capacity: number;
  private readonly mask: number;
  private readonly releaseBatch: number;
  private head: number;
  private publishedHead: number;
  private tailCache: number;
  wakes = 0;

  constructor(mem: RingMemory) {
    this.mem = mem;
    this.i32 = mem.i32;
    this.capacity = mem.capacity;
    this.mask = mem.mask;
    this.releaseBatch = mem.capacity >>> 3;
    // Only the consumer writes head.
    this.head = Atomics.load(this.i32, HEAD);
    this.publishedHead = this.head;
    this.tailCache = this.head;
  }

  /** Whether we hold a message its producer no longer writes (next() then lets go of it). */
  heldAbandoned(): boolean {
    // seq_cst load: pairs with the producer's store of the word and its load of RX_PARKED.
    return this.holding && Atomics.load(this.i32, FRAG_IN_PROGRESS) !== (this.holdFrom | 1);
  }

  /** Whether a record is published and not yet read (re-reads tail only when the cache is empty). */
  available(): boolean {
    return this.head !== this.tailCache || this.refresh();
  }

  /**
   * Reads the next record (padding skipped): returns its type and sets `start`/`length`, or 0 if
   * none is published. The space stays owned by the reader until release().
   */
  next(): number {
    for (;;) {
      if (this.head === this.tailCache && !this.refresh()) {
        // A held message the producer no longer writes (it gave it up, died, or a new producer
        // took over) will never complete: holding it would only leave the producer no room.
        // The producer stores the word before publishing a first fragment (seq_cst, like tail).
        if (this.heldAbandoned()) this.holding = false;
        return 0;
      }
      const off = this.head & this.mask;
      const at = DATA + off;
      const len = this.i32[L.wordAt(at)] >>> 0;
      const type = this.i32[L.wordAt(at) + 1];
      const size = len > this.capacity ? -1 : L.recordBytes(len);
      // Bounds: the record must lie inside the published bytes and inside the data region.
      if (
        size < 0 ||
        size > ((this.tailCache - this.head) >>> 0) ||
        size > this.capacity - off ||
        type < L.TYPE_PAD ||
        type > L.TYPE_FRAG_LAST ||
        (type === L.TYPE_PAD && size !== this.capacity - off)
      ) {
        throw corruptError(`record at position ${this.head >>> 0} has length ${len} and type ${type}`);
      }
      this.head = (this.head + size) | 0;
      if (type !== L.TYPE_PAD) {
        this.start = at + L.RECORD_HEADER_BYTES;
        this.length = len;
        return type;
      }
    }
  }
  start = 0;
  length = 0;

  /**
   * Receiver.drain's loop: calls fn(mem.buf, start, length) for each whole-message record published
   * now, at most `max`, skipping padding, and stops at a fragment (left for next()). The positions
   * stay in locals between callbacks; the checks are next()'s. Returns how many; `drained` and `drainedBytes` are their
   * count and payload total, set even when it throws. A message whose fn throws counts as read.
   */
  drainMessages(fn: (buf: Buffer, start: number, length: number) => void, max: number): number {
    const i32 = this.i32;
    const buf = this.mem.buf;
    const mask = this.mask;
    const capacity = this.capacity;
    let head = this.head;
    let tail = this.tailCache;
    let n = 0;
    let bytes = 0;
    try {
      while (n < max) {
        if (head === tail) {
          this.head = head; // refresh() compares with it
          if (!this.refresh()) break;
          tail = this.tailCache;
        }
        const off = head & mask;
        const at = L.wordAt(DATA + off);
        const len = i32[at]! >>> 0;
        const type = i32[at + 1]!;
        const size = len > capacity ? -1 : L.recordBytes(len);
        if (size < 0 || size > ((tail - head) >>> 0) || size > capacity - off || (type !== L.TYPE_MESSAGE && type !== L.TYPE_PAD)) {
          break; // a fragment, or a bad record: next() handles (or reports) it
        }
        if (type === L.TYPE_PAD) {
          if (size !== capacity - off) break;
          head = (head + size) | 0;
          continue;
        }
        head = (head + size) | 0;
        n++;
        bytes += len;
        this.head = head; // fn may receive too (tryRecv): from after this message, as next() would
        fn(buf, DATA + off + L.RECORD_HEADER_BYTES, len);
        head = this.head;
        tail = this.tailCache;
        if (this.halted) break; // fn closed or released the receiver: nothing more is ours to read
      }
    } finally {
      this.head = head;
      this.drained = n;
      this.drainedBytes = bytes;
    }
    return n;
  }
  drained = 0;
  drainedBytes = 0;
  /** Set when the receiver closes or gives up its role: a drain in progress stops at once. */
  halted = false;

  /**
   * While set, release() hands back nothing from `holdFrom` on: the first fragments of a message
   * being reassembled stay in the ring until it is complete, so a successor of a receiver that dies
   * meanwhile reads the whole message again (Receiver sets it only for messages that fit the ring).
   */
  holding = false;
  holdFrom = 0;

  /**
   * Hands the space of the records read so far back to the producer when enough has accumulated,
   * when the ring looks empty, or when the producer sleeps for space (so it never waits on us).
   */
  releaseLazily(): void {
    const to = this.holding ? this.holdFrom : this.head;
    if (
      ((to - this.publishedHead) >>> 0) >= this.releaseBatch ||
      this.head === this.tailCache ||
      Atomics.load(this.i32, TX_PARKED) !== 0
    ) {
      this.release();
    }
  }

  release(): void {
    const to = this.holding ? this.holdFrom : this.head;
    if (to === this.publishedHead) return;
    // Publish point: our reads of the records before `to` are done before the producer sees it.
    Atomics.store(this.i32, HEAD, to);
    this.publishedHead = to;
    // Same Dekker handshake as RingWriter.publish, with TX_PARKED (left set for the same reason).
    if (Atomics.load(this.i32, TX_PARKED) !== 0) {
      this.wakes++;
      this.mem.waiter.notify(this.i32, HEAD);
    }
  }

  /** The consumer's position: where the next record is read from. */
  get position(): number {
    return this.head;
  }

  /** The word to sleep on while empty, and the value it holds now. */
  tailWord(): number {
    return this.tailCache;
  }

  private refresh(): boolean {
    // Consume point: the producer stored tail after writing every record before it.
    const tail = Atomics.load(this.i32, TAIL);
    if (((tail - this.head) >>> 0) > this.capacity || ((tail | this.head) & 7) !== 0) {
      throw corruptError(`producer position ${tail >>> 0} is not within ${this.capacity} bytes ahead of ${this.head >>> 0}`);
    }
    this.tailCache = tail;
    return tail !== this.head;
  }
}

export const WORD = { TAIL, HEAD, RX_PARKED, TX_PARKED, FRAG_IN_PROGRESS } as const;
