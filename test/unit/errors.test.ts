// Misuse throws a typed error naming what was wrong: bad options, things that are not channels,
// and shared memory that holds something the ring never writes (ERR_CORRUPT, never a crash or hang).
import { describe, expect, it } from 'vitest';
import { Channel, RingwireError, RingwireRangeError, RingwireTypeError } from '../../lib/index.js';
import * as L from '../../lib/core/layout.js';
import { native } from '../../lib/native.js';
import { setPositions, words, writeRecordHeader } from '../helpers/ring.js';
import { testing } from '../helpers/testing-addon.js';

const code = (c: string, more: Record<string, unknown> = {}) => expect.objectContaining({ code: c, ...more });

describe('Channel.create options', () => {
  it('capacity: not a power of two, too small, too large, not an integer -> errors naming option and value', () => {
    const range = (v: number) => expect(() => Channel.create({ capacity: v })).toThrow(RingwireRangeError);
    for (const v of [3000, 1536, 1025]) {
      range(v);
      expect(() => Channel.create({ capacity: v })).toThrow(new RegExp(`options\\.capacity.*power of two.*${v}`));
    }
    for (const v of [512, 0, -1024, 2 ** 31]) {
      range(v);
      expect(() => Channel.create({ capacity: v })).toThrow(new RegExp(`options\\.capacity.*${v}`));
    }
    for (const v of [1024.5, NaN, '1024', null]) {
      expect(() => Channel.create({ capacity: v as any })).toThrow(RingwireTypeError);
      expect(() => Channel.create({ capacity: v as any })).toThrow(/options\.capacity/);
    }
    try {
      Channel.create({ capacity: 3000 });
    } catch (err) {
      expect(err).toBeInstanceOf(RangeError);
      expect(err).toMatchObject({ code: 'ERR_OUT_OF_RANGE', name: 'RingwireRangeError' });
    }
    expect(Channel.create({ capacity: L.MIN_CAPACITY }).capacity).toBe(1024);
  });

  it('unknown codec names and non-codec objects -> RingwireTypeError naming options.codec and the value', () => {
    for (const v of ['msgpack', 'V8', 'toString', 'constructor', '']) {
      expect(() => Channel.create({ codec: v as any })).toThrow(RingwireTypeError);
      expect(() => Channel.create({ codec: v as any })).toThrow(new RegExp(`options\\.codec.*${JSON.stringify(v)}`));
    }
    for (const v of [{}, { encode: () => new Uint8Array() }, 42, null]) {
      expect(() => Channel.create({ codec: v as any })).toThrow(expect.objectContaining({ name: 'RingwireTypeError', code: 'ERR_INVALID_ARG', message: expect.stringMatching(/options\.codec/) }));
    }
  });

  it('maxMessageBytes and spinMicros are range-checked', () => {
    expect(() => Channel.create({ maxMessageBytes: 0 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE', message: expect.stringMatching(/options\.maxMessageBytes.*0/) }));
    expect(() => Channel.create({ maxMessageBytes: 2 ** 30 + 1 })).toThrow(RingwireRangeError);
    expect(() => Channel.create({ maxMessageBytes: 1.5 })).toThrow(RingwireTypeError);
    expect(() => Channel.create({ spinMicros: -1 })).toThrow(expect.objectContaining({ message: expect.stringMatching(/options\.spinMicros.*-1/) }));
    expect(() => Channel.create({ spinMicros: 'fast' as any })).toThrow(RingwireTypeError);
    expect(() => Channel.attach(Channel.create({ capacity: 1024 }).handle, { spinMicros: -5 })).toThrow(RingwireRangeError);
  });

  it('unknown option keys (a misspelling) -> RingwireTypeError naming the key; options must be an object', () => {
    expect(() => Channel.create({ capacty: 1024 } as any)).toThrow(expect.objectContaining({ name: 'RingwireTypeError', message: expect.stringMatching(/'capacty'/) }));
    expect(() => Channel.create({ capacity: 1024, timeout: 5 } as any)).toThrow(/'timeout'/);
    const ch = Channel.create({ capacity: 1024 });
    expect(() => Channel.attach(ch.handle, { capacity: 1024 } as any)).toThrow(expect.objectContaining({ name: 'RingwireTypeError', message: expect.stringMatching(/'capacity'/) }));
    expect(() => Channel.create(5 as any)).toThrow(RingwireTypeError);
    expect(() => Channel.create(null as any)).toThrow(RingwireTypeError);
  });

  it('timeouts must be non-negative numbers: RingwireRangeError / RingwireTypeError naming options.timeout', async () => {
    const ch = Channel.create<number>({ capacity: 1024 });
    const rx = ch.receiver();
    const tx = ch.sender();
    const range = (v: number) => expect.objectContaining({ name: 'RingwireRangeError', code: 'ERR_OUT_OF_RANGE', message: expect.stringMatching(new RegExp(`options\\.timeout.*${v}`)) });
    expect(() => rx.recvSync({ timeout: -1 })).toThrow(range(-1));
    expect(() => rx.recvSync({ timeout: NaN })).toThrow(range(NaN));
    expect(() => rx.recvSync({ timeout: '5' as any })).toThrow(expect.objectContaining({ name: 'RingwireTypeError', message: expect.stringMatching(/options\.timeout.*"5"/) }));
    await expect(rx.recv({ timeout: -1 })).rejects.toThrow(RingwireRangeError);
    while (tx.trySend(1));
    expect(() => tx.sendSync(1, { timeout: -1 })).toThrow(range(-1));
    await expect(tx.send(1, { timeout: -1 })).rejects.toThrow(RingwireRangeError);
    await expect(tx.send(1, { timeout: {} as any })).rejects.toThrow(RingwireTypeError);
  });
});

describe('Channel.attach validation -> ERR_NOT_A_CHANNEL', () => {
  const notAChannel = code('ERR_NOT_A_CHANNEL', { name: 'RingwireError' });
  const handleOf = (buffer: SharedArrayBuffer, byteOffset = 0) => ({ kind: 'ringwire.channel' as const, buffer, byteOffset });
  /** A copy of a fresh 1 KiB channel's bytes in a new buffer of `size` bytes, with `edit` applied. */
  function forged(edit: (w: Int32Array) => void, size = L.totalBytes(1024)) {
    const src = Channel.create({ capacity: 1024 });
    const buffer = new SharedArrayBuffer(size);
    new Uint8Array(buffer).set(new Uint8Array(src.handle.buffer).subarray(0, Math.min(size, src.handle.buffer.byteLength)));
    edit(new Int32Array(buffer, 0, Math.floor(size / 4)));
    return handleOf(buffer);
  }

  it('things that are not handles', () => {
    for (const h of [undefined, null, 42, 'handle', {}, { kind: 'ringwire.channel' }, { kind: 'other', buffer: new SharedArrayBuffer(2048), byteOffset: 0 }]) {
      expect(() => Channel.attach(h as any)).toThrow(notAChannel);
    }
    const ab = { kind: 'ringwire.channel', buffer: new ArrayBuffer(2048), byteOffset: 0 };
    expect(() => Channel.attach(ab as any)).toThrow(notAChannel);
    const ch = Channel.create({ capacity: 1024 });
    for (const byteOffset of [-8, 3, 1.5, NaN]) expect(() => Channel.attach({ ...ch.handle, byteOffset } as any)).toThrow(notAChannel);
  });

  it('a garbage or zeroed SharedArrayBuffer', () => {
    expect(() => Channel.attach(handleOf(new SharedArrayBuffer(L.totalBytes(1024))))).toThrow(notAChannel);
    const junk = new SharedArrayBuffer(L.totalBytes(4096));
    const u8 = new Uint8Array(junk);
    for (let k = 0; k < u8.length; k++) u8[k] = (k * 131 + 7) & 0xff;
    expect(() => Channel.attach(handleOf(junk))).toThrow(notAChannel);
    expect(() => Channel.attach(handleOf(new SharedArrayBuffer(16)))).toThrow(notAChannel);
    expect(() => Channel.attach(handleOf(new SharedArrayBuffer(0)))).toThrow(notAChannel);
  });

  it('wrong magic, wrong version, bad capacity, data offset, max message size or codec id', () => {
    const cases: [string, (w: Int32Array) => void, RegExp][] = [
      ['magic', (w) => (w[L.MAGIC_OFFSET >> 2] = 0x31525753), /magic/],
      ['version', (w) => (w[L.VERSION_OFFSET >> 2] = 1), /version 1/],
      ['capacity not a power of two', (w) => (w[L.CAPACITY_OFFSET >> 2] = 1000), /capacity 1000/],
      ['capacity too small', (w) => (w[L.CAPACITY_OFFSET >> 2] = 512), /capacity 512/],
      ['capacity too large', (w) => (w[L.CAPACITY_OFFSET >> 2] = 2 ** 31), /capacity/],
      ['data offset', (w) => (w[L.DATA_OFFSET_OFFSET >> 2] = 512), /data offset 512/],
      ['max message 0', (w) => (w[L.MAX_MESSAGE_OFFSET >> 2] = 0), /max message/],
      ['max message too large', (w) => (w[L.MAX_MESSAGE_OFFSET >> 2] = -1), /max message/],
      ['codec id', (w) => (w[L.CODEC_OFFSET >> 2] = 9), /codec id 9/],
    ];
    for (const [, edit, message] of cases) {
      expect(() => Channel.attach(forged(edit))).toThrow(expect.objectContaining({ code: 'ERR_NOT_A_CHANNEL', message: expect.stringMatching(message) }));
    }
    // The unedited copy attaches: the cases above fail for the field they change, nothing else.
    expect(Channel.attach(forged(() => undefined)).capacity).toBe(1024);
  });

  it('a truncated buffer, or a capacity that disagrees with the size', () => {
    // The first 1 KiB + 512 bytes of a 1 KiB-capacity channel.
    expect(() => Channel.attach(forged(() => undefined, L.CONTROL_BYTES + 512))).toThrow(code('ERR_NOT_A_CHANNEL', { message: expect.stringMatching(/needs 2048 bytes/) }));
    // A header claiming 4 KiB of data in a buffer with room for 1 KiB.
    expect(() => Channel.attach(forged((w) => (w[L.CAPACITY_OFFSET >> 2] = 4096)))).toThrow(code('ERR_NOT_A_CHANNEL', { message: expect.stringMatching(/capacity 4096/) }));
    // Only the control block.
    expect(() => Channel.attach(forged(() => undefined, L.CONTROL_BYTES))).toThrow(notAChannel);
    // An offset that leaves too little.
    const ch = Channel.create({ capacity: 1024 });
    expect(() => Channel.attach({ ...ch.handle, byteOffset: 8 })).toThrow(notAChannel);
  });

  it('a channel at a non-zero offset inside a larger buffer attaches', () => {
    const buffer = new SharedArrayBuffer(64 + L.totalBytes(1024));
    const src = Channel.create({ capacity: 1024, codec: 'json' });
    new Uint8Array(buffer, 64).set(new Uint8Array(src.handle.buffer));
    const ch = Channel.attach<unknown>(handleOf(buffer, 64));
    expect(ch.codec).toBe('json');
    ch.sender().trySend({ a: 1 });
    expect(ch.receiver().tryRecv()).toEqual({ a: 1 });
    expect(new Uint8Array(buffer, 0, 64).every((b) => b === 0)).toBe(true);
  });

  it('the C++ side refuses the same things (NativeProducer / NativeConsumer)', () => {
    const n = testing();
    expect(() => new n.NativeProducer(new Uint8Array(new SharedArrayBuffer(L.totalBytes(1024))))).toThrow(notAChannel);
    expect(() => new n.NativeConsumer(new Uint8Array(forged((w) => (w[L.VERSION_OFFSET >> 2] = 7)).buffer))).toThrow(notAChannel);
    expect(() => new n.NativeConsumer(new Uint8Array(forged(() => undefined, L.CONTROL_BYTES + 512).buffer))).toThrow(notAChannel);
    expect(() => new n.NativeProducer('x' as any)).toThrow(TypeError);
    expect(() => new n.NativeProducer('x' as any)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG', name: 'RingwireTypeError' }));
  });
});

describe('corrupt ring contents -> ERR_CORRUPT', () => {
  const corrupt = code('ERR_CORRUPT', { name: 'RingwireError' });
  function fresh(capacity = 1024) {
    const ch = Channel.create<Uint8Array>({ capacity, codec: 'bytes' });
    return { ch, w: words(ch) };
  }
  const setTail = (w: Int32Array, v: number) => Atomics.store(w, L.TAIL_OFFSET >> 2, v | 0);

  it('a garbage tail (beyond capacity ahead of head, unaligned, behind head) from tryRecv, drain, recvSync and recv', async () => {
    for (const tail of [1032, 4, 0xfffffff8, 0x40000000, 13]) {
      const { ch, w } = fresh();
      const rx = ch.receiver();
      setTail(w, tail);
      expect(() => rx.tryRecv()).toThrow(corrupt);
      expect(() => rx.drain(() => undefined)).toThrow(corrupt);
      expect(() => rx.recvSync({ timeout: 1000 })).toThrow(corrupt);
      await expect(rx.recv({ timeout: 1000 })).rejects.toMatchObject({ code: 'ERR_CORRUPT' });
      // It stays corrupt (no position moved past the bad data).
      expect(() => rx.tryRecv()).toThrow(corrupt);
    }
  });

  it('a garbage head seen by the sender', () => {
    for (const head of [0x10000, 12, 0x80000000]) {
      const { ch, w } = fresh();
      const tx = ch.sender();
      while (tx.trySend(new Uint8Array(100)));
      Atomics.store(w, L.HEAD_OFFSET >> 2, head | 0);
      expect(() => tx.trySend(new Uint8Array(100))).toThrow(corrupt);
      expect(() => tx.sendSync(new Uint8Array(100), { timeout: 100 })).toThrow(corrupt);
    }
  });

  it('garbage record headers: huge length, length past the published bytes, unknown types, padding not at the end', () => {
    const cases: [number, number, number][] = [
      // [length, type, tail]
      [0xffffffff, 2, 64],
      [2048, 2, 64],
      [100, 2, 64], // 112 bytes of record, only 64 published
      [8, 0, 64],
      [8, 6, 64],
      [8, -1, 64],
      [8, 1, 64], // padding in the middle of the ring
      [1100, 1, 1024], // padding longer than the ring
    ];
    for (const [length, type, tail] of cases) {
      const { ch, w } = fresh();
      const rx = ch.receiver();
      writeRecordHeader(ch, 0, length, type);
      setTail(w, tail);
      expect(() => rx.tryRecv()).toThrow(corrupt);
      expect(() => rx.drain(() => undefined)).toThrow(corrupt);
    }
  });

  it('garbage fragments: a continuation without a start, more bytes than announced, no length prefix, a short ending', () => {
    const cases: [number, number, number][][] = [
      [[8, L.TYPE_MESSAGE, 0], [8, L.TYPE_FRAG_MIDDLE, 0]], // MIDDLE after a whole message
      [[16, L.TYPE_FRAG_FIRST, 12], [16, L.TYPE_FRAG_LAST, 0]], // 8 + 16 > 12
      [[4, L.TYPE_FRAG_FIRST, 0]], // no room for the prefix
      [[16, L.TYPE_FRAG_FIRST, 100], [8, L.TYPE_FRAG_LAST, 0]], // ends at 16 of 100
      [[16, L.TYPE_FRAG_FIRST, 8]], // first chunk (8) not smaller than the total (8)
    ];
    for (const records of cases) {
      const { ch, w } = fresh();
      const rx = ch.receiver();
      let off = 0;
      for (const [length, type, total] of records) {
        writeRecordHeader(ch, off, length, type);
        if (type === L.TYPE_FRAG_FIRST) w[(L.CONTROL_BYTES + off + 8) >> 2] = total;
        off += L.recordBytes(length);
      }
      setTail(w, off);
      expect(() => {
        for (let k = 0; k < 10; k++) rx.tryRecv();
      }).toThrow(corrupt);
    }
  });

  it('the C++ consumer and producer report ERR_CORRUPT too', () => {
    const n = testing();
    const { status } = native();
    const { ch, w } = fresh();
    writeRecordHeader(ch, 0, 5000, L.TYPE_MESSAGE);
    setTail(w, 64);
    expect(() => new n.NativeConsumer(new Uint8Array(ch.handle.buffer)).read()).toThrow(corrupt);
    const other = fresh();
    setTail(other.w, 12);
    expect(() => new n.NativeConsumer(new Uint8Array(other.ch.handle.buffer)).read()).toThrow(corrupt);
    const third = fresh();
    const p = new n.NativeProducer(new Uint8Array(third.ch.handle.buffer));
    while (p.tryWrite(new Uint8Array(200)) === status.OK);
    Atomics.store(third.w, L.HEAD_OFFSET >> 2, 0x5000);
    expect(() => p.tryWrite(new Uint8Array(200))).toThrow(corrupt);
  });

  it('a stats region left mid-write (odd sequence) does not hang stats()', () => {
    const ch = Channel.create({ capacity: 1024 });
    const w = words(ch);
    Atomics.store(w, L.TX_STATS_OFFSET >> 2, 1); // a writer that died holding the sequence lock
    Atomics.store(w, (L.TX_STATS_OFFSET + L.STAT_MESSAGES) >> 2, 7);
    expect(ch.stats().sent.messages).toBe(7);
  });

  it('positions near 2^32 are not mistaken for corruption', () => {
    const ch = Channel.create<Uint8Array>({ capacity: 1024, codec: 'bytes' });
    setPositions(ch, 0xfffffff0);
    const tx = ch.sender();
    const rx = ch.receiver();
    for (let i = 0; i < 50; i++) {
      expect(tx.trySend(new Uint8Array([i]))).toBe(true);
      expect(rx.tryRecv()).toEqual(new Uint8Array([i]));
    }
  });

  it('every RingwireError carries a code and is an Error', () => {
    const err = new RingwireError('ERR_CORRUPT', 'x');
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ name: 'RingwireError', code: 'ERR_CORRUPT', message: 'x' });
  });

  it('passing the Channel itself to a worker (instead of channel.handle) fails naming the fix', async () => {
    const { Worker } = await import('node:worker_threads');
    const ch = Channel.create();
    expect(() => new Worker('0', { eval: true, workerData: ch })).toThrow(/pass channel\.handle and Channel\.attach\(\) it there/);
    const { port1, port2 } = new MessageChannel();
    expect(() => port1.postMessage({ ch })).toThrow(/pass channel\.handle/);
    port1.close();
    port2.close();
  });
});
