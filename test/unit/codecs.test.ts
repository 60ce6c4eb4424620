// Codecs: 'bytes', 'string', 'json', 'v8' (the default) and custom { encode, decode }, in one
// thread and across a worker (where a custom codec must be passed again to attach).
import { afterEach, describe, expect, it } from 'vitest';
import { Channel, type Codec } from '../../lib/index.js';
import * as L from '../../lib/core/layout.js';
import { Actor } from '../helpers/workers.js';

/** Sends each value with trySend and receives it with tryRecv. */
function roundTripAll<T>(ch: Channel<T>, values: T[]): T[] {
  const tx = ch.sender();
  const rx = ch.receiver();
  const out: T[] = [];
  for (const v of values) {
    expect(tx.trySend(v)).toBe(true);
    out.push(rx.tryRecv() as T);
  }
  expect(rx.tryRecv()).toBeUndefined();
  return out;
}

describe('built-in codecs', () => {
  it("'bytes': Uint8Array and Buffer in, independent Uint8Array copies out", () => {
    const ch = Channel.create<Uint8Array>({ codec: 'bytes', capacity: 1024 });
    expect(ch.codec).toBe('bytes');
    const values = [new Uint8Array(0), new Uint8Array([1, 2, 3]), Buffer.from('hello'), new Uint8Array(504).fill(9)];
    const out = roundTripAll(ch, values);
    out.forEach((m, k) => {
      expect(m).toBeInstanceOf(Uint8Array);
      expect(Buffer.from(m)).toEqual(Buffer.from(values[k]!));
      expect(m.buffer).not.toBe(ch.handle.buffer); // a copy, not a view of ring memory
    });
  });

  it("'bytes' refuses anything but bytes with a RingwireTypeError", () => {
    const tx = Channel.create<any>({ codec: 'bytes', capacity: 1024 }).sender();
    for (const bad of ['str', 1, { a: 1 }, null, new Uint16Array(2), new ArrayBuffer(4)]) {
      expect(() => tx.trySend(bad)).toThrow(expect.objectContaining({ name: 'RingwireTypeError', code: 'ERR_INVALID_ARG' }));
    }
  });

  it("'string': ASCII, multi-byte UTF-8, surrogate pairs, empty", () => {
    const values = ['', 'a', 'héllo wörld', '日本語テキスト', '😀🎉 emoji', 'x'.repeat(168), '\u0000nul\u0000'];
    expect(roundTripAll(Channel.create<string>({ codec: 'string', capacity: 1024 }), values)).toEqual(values);
    const tx = Channel.create<any>({ codec: 'string', capacity: 1024 }).sender();
    expect(() => tx.trySend(42)).toThrow(expect.objectContaining({ name: 'RingwireTypeError' }));
  });

  it("'string': trySend sizes by the exact UTF-8 length when 3 bytes per character would not fit", () => {
    const ch = Channel.create<string>({ capacity: 1024, codec: 'string' });
    const tx = ch.sender();
    const rx = ch.receiver();
    expect(tx.trySend('x'.repeat(400))).toBe(true); // 408 of 1024 bytes in use
    expect(tx.trySend('y'.repeat(200))).toBe(true); // bound 600 does not fit; 200 bytes do
    expect(tx.trySend('é'.repeat(210))).toBe(false); // 420 bytes: neither bound nor exact fits the 408 left
    expect([rx.tryRecv(), rx.tryRecv(), rx.tryRecv()]).toEqual(['x'.repeat(400), 'y'.repeat(200), undefined]);
    expect(tx.trySend('é'.repeat(210))).toBe(true);
    expect(rx.tryRecv()).toBe('é'.repeat(210));
  });

  it("'json': plain data round-trips; what JSON cannot carry is refused", () => {
    const values = [{ a: 1, b: [true, null, 'x'] }, [1, 2, 3], 'text', 0, null, { nested: { deep: { ü: '€' } } }];
    expect(roundTripAll(Channel.create<unknown>({ codec: 'json', capacity: 1024 }), values)).toEqual(values);
    const tx = Channel.create<unknown>({ codec: 'json', capacity: 1024 }).sender();
    expect(() => tx.trySend(undefined)).toThrow(expect.objectContaining({ name: 'RingwireTypeError' }));
    expect(() => tx.trySend(() => 1)).toThrow(expect.objectContaining({ name: 'RingwireTypeError' }));
    // A cycle or a BigInt: ERR_CODEC (the next test).
  });

  it("'v8' (the default): Map, Set, Date, RegExp, BigInt, typed arrays, nested structures, undefined", () => {
    const ch = Channel.create<unknown>({ capacity: 4096 });
    expect(ch.codec).toBe('v8');
    const values: unknown[] = [
      new Map<unknown, unknown>([['a', 1], [2, { b: [3] }]]),
      new Set([1, 'two', 3n]),
      new Date(1_700_000_000_123),
      /ab+c/gi,
      2n ** 100n,
      new Float64Array([1.5, -0, NaN, Infinity]),
      new Int32Array([-1, 2, -3]),
      new BigUint64Array([2n ** 64n - 1n]),
      { when: new Date(0), data: new Uint8Array([1, 2, 3]), list: [undefined, null, { m: new Map([[1, new Set([2])]]) }] },
      undefined,
      'a string',
    ];
    const out = roundTripAll(ch, values);
    expect(out).toEqual(values);
    expect(out[0]).toBeInstanceOf(Map);
    expect(out[2]).toBeInstanceOf(Date);
    expect((out[2] as Date).getTime()).toBe(1_700_000_000_123);
    expect(out[5]).toBeInstanceOf(Float64Array);
    expect(Object.is((out[5] as Float64Array)[1], -0)).toBe(true);
  });

  it("'v8' refuses what structured clone refuses (functions, symbols)", () => {
    const tx = Channel.create<unknown>({ capacity: 1024 }).sender();
    expect(() => tx.trySend({ f: () => 1 })).toThrow();
    expect(() => tx.trySend(Symbol('s'))).toThrow();
  });

  it("what 'json' or 'v8' cannot encode (BigInt, a cycle, a function) is ERR_CODEC with the cause, and nothing is sent", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const [codec, value] of [['json', 1n], ['json', cyclic], ['v8', () => 1], ['v8', { f: Symbol('s') }]] as const) {
      const ch = Channel.create<unknown>({ codec, capacity: 1024 });
      const tx = ch.sender();
      let err: any;
      try {
        tx.trySend(value);
      } catch (e) {
        err = e;
      }
      expect(err, `${codec} ${String(typeof value)}`).toMatchObject({ name: 'RingwireError', code: 'ERR_CODEC', message: expect.stringContaining(`the '${codec}' codec cannot encode`) });
      expect(err.cause).toBeInstanceOf(Error);
      expect(ch.receiver().tryRecv()).toBeUndefined();
    }
  });

  it('a message the codec cannot decode (bytes committed raw) is ERR_CODEC, and the next one still arrives', () => {
    for (const codec of ['json', 'v8'] as const) {
      const ch = Channel.create<unknown>({ codec, capacity: 1024 });
      const tx = ch.sender();
      const rx = ch.receiver();
      const view = tx.reserve(4)!;
      view.set([0xff, 0xfe, 0x7b, 0x00]);
      tx.commit(4);
      expect(tx.trySend({ ok: true })).toBe(true);
      expect(() => rx.tryRecv()).toThrow(expect.objectContaining({ code: 'ERR_CODEC' }));
      expect(rx.tryRecv()).toEqual({ ok: true });
    }
  });
});

describe('custom codecs', () => {
  interface Point { x: number; y: number }
  const pointCodec: Codec<Point> = {
    encode: (p) => new Uint8Array(new Float64Array([p.x, p.y]).buffer),
    decode: (b) => {
      const f = new Float64Array(b.buffer, b.byteOffset, 2);
      return { x: f[0]!, y: f[1]! };
    },
  };

  it('round-trips through encode/decode; decode gets a copy it may keep', () => {
    const kept: Uint8Array[] = [];
    const codec: Codec<Point> = { encode: pointCodec.encode, decode: (b) => (kept.push(b), pointCodec.decode(b)) };
    const ch = Channel.create<Point>({ codec, capacity: 1024 });
    expect(ch.codec).toBe('custom');
    const values = Array.from({ length: 100 }, (_, i) => ({ x: i, y: -i / 3 }));
    expect(roundTripAll(ch, values)).toEqual(values);
    // The ring wrapped several times since the first message; a kept copy is unchanged.
    expect(pointCodec.decode(kept[0]!)).toEqual({ x: 0, y: -0 });
    expect(kept[0]!.buffer).not.toBe(ch.handle.buffer);
  });

  it("encode() returning something other than a Uint8Array is ERR_CODEC; encode's own error propagates", () => {
    const tx = Channel.create<unknown>({ codec: { encode: () => 'nope' as any, decode: () => 0 }, capacity: 1024 }).sender();
    expect(() => tx.trySend(1)).toThrow(expect.objectContaining({ code: 'ERR_CODEC' }));
    const boom = new Error('boom');
    const tx2 = Channel.create<unknown>({ codec: { encode: () => { throw boom; }, decode: () => 0 }, capacity: 1024 }).sender();
    expect(() => tx2.trySend(1)).toThrow(boom);
  });

  it('decode() throwing is ERR_CODEC with the cause', () => {
    const boom = new Error('bad bytes');
    const ch = Channel.create<unknown>({ codec: { encode: () => new Uint8Array(1), decode: () => { throw boom; } }, capacity: 1024 });
    ch.sender().trySend(1);
    expect(() => ch.receiver().tryRecv()).toThrow(expect.objectContaining({ code: 'ERR_CODEC', cause: boom }));
  });

  it('attach needs the custom codec again; a built-in codec must match the channel', () => {
    const ch = Channel.create<Point>({ codec: pointCodec, capacity: 1024 });
    expect(() => Channel.attach(ch.handle)).toThrow(expect.objectContaining({ name: 'RingwireTypeError', message: expect.stringMatching(/custom codec/) }));
    expect(() => Channel.attach(ch.handle, { codec: 'json' })).toThrow(expect.objectContaining({ name: 'RingwireTypeError' }));
    const again = Channel.attach<Point>(ch.handle, { codec: pointCodec });
    again.sender().trySend({ x: 1, y: 2 });
    expect(ch.receiver().tryRecv()).toEqual({ x: 1, y: 2 });

    const json = Channel.create({ codec: 'json', capacity: 1024 });
    expect(Channel.attach(json.handle).codec).toBe('json');
    expect(Channel.attach(json.handle, { codec: 'json' }).codec).toBe('json');
    expect(() => Channel.attach(json.handle, { codec: 'v8' })).toThrow(expect.objectContaining({ name: 'RingwireTypeError', message: expect.stringMatching(/json/) }));
    expect(() => Channel.attach(json.handle, { codec: pointCodec })).toThrow(expect.objectContaining({ name: 'RingwireTypeError' }));
  });

  it('the codec id is stored in the header (custom = 255)', () => {
    const ids = { bytes: 1, string: 2, json: 3, v8: 4 } as const;
    for (const [name, id] of Object.entries(ids)) {
      const ch = Channel.create({ codec: name as keyof typeof ids, capacity: 1024 });
      expect(new Int32Array(ch.handle.buffer)[L.CODEC_OFFSET >> 2]).toBe(id);
    }
    expect(new Int32Array(Channel.create({ codec: pointCodec, capacity: 1024 }).handle.buffer)[L.CODEC_OFFSET >> 2]).toBe(255);
  });
});

describe('codecs across a worker', () => {
  let actor: Actor | undefined;
  afterEach(async () => {
    await actor?.terminate();
    actor = undefined;
  });

  it('a worker attaching without options uses the channel codec (json, v8 with Map/Date/typed arrays)', async () => {
    const json = Channel.create<unknown>({ codec: 'json', capacity: 4096 });
    actor = new Actor(json.handle);
    await actor.call('claim', ['sender']);
    await actor.call('sendSync', [[{ a: [1, 'b'] }, 'text']]);
    const rx = json.receiver();
    expect(rx.recvSync({ timeout: 5000 })).toEqual({ a: [1, 'b'] });
    expect(rx.recvSync({ timeout: 5000 })).toBe('text');
    await actor.terminate();

    const v8 = Channel.create<unknown>({ capacity: 4096 });
    actor = new Actor(v8.handle);
    await actor.call('claim', ['receiver']);
    const value = { m: new Map([['k', new Date(5)]]), t: new Int16Array([-2, 7]), big: 10n ** 20n };
    v8.sender().sendSync(value);
    expect(await actor.call('recvSync', [{ timeout: 5000 }])).toEqual(value);
  });
});
