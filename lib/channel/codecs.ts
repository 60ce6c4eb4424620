// Codecs: how a message value becomes bytes in the ring and back. A codec turns a value into its
// "wire" form, a string (written as UTF-8 straight into the ring, no intermediate buffer) or bytes,
// and decodes from a range of ring (or log segment) memory before that space is handed back.
//
// What decode returns owns its memory: it never aliases the range it was decoded from (which is
// shared memory that the producer reuses, or a read-only mapping that goes away). Strings are
// copies by nature; bytes, v8 and custom codecs copy the range once — unless the caller says the
// range is already a private buffer (a reassembled fragmented message), when no copy is needed.
import { Buffer } from 'node:buffer';
import * as v8 from 'node:v8';
import { describe, RingwireError, RingwireTypeError } from '../errors.js';

/** A user codec: `decode` receives a copy it may keep. */
export interface Codec<T = unknown> {
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

export type CodecName = 'bytes' | 'string' | 'json' | 'v8';
export type CodecSpec = CodecName | Codec<any>;

export interface WireCodec {
  readonly id: number;
  readonly name: CodecName | 'custom';
  toWire(value: unknown): string | Uint8Array;
  /**
   * Decodes buf[start, end) into a value that owns its memory. buf may be shared memory reused after
   * this returns; `owned` says buf[start, end) is a private buffer the value may keep instead.
   * `view`, when given, is a plain Uint8Array over exactly buf's memory, which the caller keeps for
   * every decode from that memory: the bytes codecs copy from it (see ownBytes).
   */
  decode(buf: Buffer, start: number, end: number, owned?: boolean, view?: Uint8Array): unknown;
}

export const CODEC_IDS = { bytes: 1, string: 2, json: 3, v8: 4, custom: 255 } as const;

const u8slice = Uint8Array.prototype.slice;

/**
 * buf[start, end) as a Uint8Array with an ArrayBuffer of its own (one copy), or a view when
 * `owned`. From the caller's `view` when it has one: a view made per message read the Buffer's
 * `buffer` and `byteOffset`, and the view's `slice`, through V8's generic property lookup (calls to
 * LoadIC in the stage loop's optimized code, Node 20) and made two typed arrays; now the copy is the
 * only allocation (a 3-stage pipeline of 32-byte messages: +11%, and +3% for calling slice directly).
 */
function ownBytes(buf: Buffer, start: number, end: number, owned: boolean | undefined, view: Uint8Array | undefined): Uint8Array {
  const u8 = view ?? new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  return owned === true ? u8.subarray(start, end) : u8slice.call(u8, start, end);
}

/**
 * v8.deserialize returns Buffers and typed arrays that are views of its input, so it gets a private
 * copy, which they then keep alive. The copy is a Buffer.allocUnsafe one (Node's pool for small
 * sizes, as any small Buffer): a fresh exact-size ArrayBuffer would cost ~1.3 µs more per message,
 * since V8 keeps small typed arrays on its heap and must move them off it for deserialize's views.
 */
function v8Decode(buf: Buffer, start: number, end: number, owned: boolean | undefined): unknown {
  if (owned === true) return v8.deserialize(buf.subarray(start, end));
  const copy = Buffer.allocUnsafe(end - start);
  buf.copy(copy, 0, start, end);
  return v8.deserialize(copy);
}

const notBytes = (value: unknown) =>
  new RingwireTypeError(`the 'bytes' codec sends Uint8Array or Buffer messages, got ${describe(value)}`);

const BUILTIN: Record<CodecName, WireCodec> = {
  bytes: {
    id: CODEC_IDS.bytes,
    name: 'bytes',
    toWire(value) {
      if (!(value instanceof Uint8Array)) throw notBytes(value);
      return value;
    },
    decode: ownBytes,
  },
  string: {
    id: CODEC_IDS.string,
    name: 'string',
    toWire(value) {
      if (typeof value !== 'string') throw new RingwireTypeError(`the 'string' codec sends strings, got ${describe(value)}`);
      return value;
    },
    decode: (buf, start, end) => buf.toString('utf8', start, end),
  },
  json: {
    id: CODEC_IDS.json,
    name: 'json',
    toWire(value) {
      let s: string | undefined;
      try {
        s = JSON.stringify(value);
      } catch (err) {
        // BigInt, a cycle, a toJSON that throws.
        throw new RingwireError('ERR_CODEC', `the 'json' codec cannot encode ${describe(value)}: ${(err as Error).message}`, { cause: err });
      }
      if (s === undefined) throw new RingwireTypeError(`the 'json' codec cannot encode ${describe(value)}`);
      return s;
    },
    decode: (buf, start, end) => JSON.parse(buf.toString('utf8', start, end)),
  },
  v8: {
    id: CODEC_IDS.v8,
    name: 'v8',
    toWire(value) {
      try {
        return v8.serialize(value);
      } catch (err) {
        // A function, a symbol, a class instance with private state: not structured-clonable.
        throw new RingwireError('ERR_CODEC', `the 'v8' codec cannot encode ${describe(value)}: ${(err as Error).message}`, { cause: err });
      }
    },
    decode: v8Decode,
  },
};

export function resolveCodec(spec: unknown, option = 'options.codec'): WireCodec {
  if (spec === undefined) return BUILTIN.v8;
  if (typeof spec === 'string') {
    const c = BUILTIN[spec as CodecName];
    if (c === undefined || !Object.hasOwn(BUILTIN, spec)) {
      throw new RingwireTypeError(`${option} must be one of 'bytes', 'string', 'json', 'v8' or { encode, decode }, got ${JSON.stringify(spec)}`);
    }
    return c;
  }
  if (
    typeof spec === 'object' &&
    spec !== null &&
    typeof (spec as Codec).encode === 'function' &&
    typeof (spec as Codec).decode === 'function'
  ) {
    const user = spec as Codec;
    return {
      id: CODEC_IDS.custom,
      name: 'custom',
      toWire(value) {
        const bytes = user.encode(value);
        if (!(bytes instanceof Uint8Array)) {
          throw new RingwireError('ERR_CODEC', `the custom codec's encode() must return a Uint8Array, got ${describe(bytes)}`);
        }
        return bytes;
      },
      decode: (buf, start, end, owned, view) => user.decode(ownBytes(buf, start, end, owned, view)),
    };
  }
  throw new RingwireTypeError(`${option} must be one of 'bytes', 'string', 'json', 'v8' or { encode, decode }, got ${describe(spec)}`);
}

export function codecNameOf(id: number): CodecName | 'custom' | undefined {
  for (const [name, value] of Object.entries(CODEC_IDS)) if (value === id) return name as CodecName | 'custom';
  return undefined;
}
