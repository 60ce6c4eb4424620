// The codec bounds the message type. These lines are checked by `tsc --noEmit` (npm test runs it):
// each @ts-expect-error fails the type check if the line it marks ever compiles.
import { describe, expect, it } from 'vitest';
import { Channel, type Codec, type CodecName } from '../../lib/index.js';

describe('message types follow the codec', () => {
  it('bytes channels carry Uint8Array, string channels strings; json/v8 any type; a run-time codec is unknown', () => {
    const bytes = Channel.create({ codec: 'bytes', capacity: 1024 }); // Channel<Uint8Array>
    const text = Channel.create({ codec: 'string', capacity: 1024 }); // Channel<string>
    const json = Channel.create<{ id: number }>({ codec: 'json', capacity: 1024 });
    const custom: Codec<Date> = { encode: (d) => Buffer.from(d.toISOString()), decode: (b) => new Date(Buffer.from(b).toString()) };
    const dates = Channel.create({ codec: custom, capacity: 1024 }); // Channel<Date>

    const dynamic = 'json' as CodecName;
    // Type errors only (never run: the type check is the assertion).
    const _misuses = () => {
      // @ts-expect-error a string channel of numbers
      Channel.create<number>({ codec: 'string' });
      // @ts-expect-error a bytes channel of strings
      Channel.create<string>({ codec: 'bytes' });
      // @ts-expect-error a custom codec of Dates for a channel of numbers
      Channel.create<number>({ codec: custom });
      // @ts-expect-error sending a number on a string channel
      text.sender().trySend(1);
      // @ts-expect-error with a codec chosen at run time the type is not ours to claim
      Channel.create<number>({ codec: dynamic });
    };

    const got: [Uint8Array | undefined, string | undefined, { id: number } | undefined, Date | undefined] = [
      (bytes.sender().trySend(new Uint8Array([1])), bytes.receiver().tryRecv()),
      (text.sender().trySend('a'), text.receiver().tryRecv()),
      (json.sender().trySend({ id: 1 }), json.receiver().tryRecv()),
      (dates.sender().trySend(new Date(0)), dates.receiver().tryRecv()),
    ];
    expect(got).toEqual([new Uint8Array([1]), 'a', { id: 1 }, new Date(0)]);
    expect(Channel.create({ codec: dynamic, capacity: 1024 }).codec).toBe('json');
  });
});
