// The envelope's trace block (envelope.ts): written by an OutputLink, read back by an InputLink on
// the same channel, for every kind of key; an untraced record carries no block; a record written
// after a wait for room is stamped when written; unknown flags, or a trace block that does not fit
// its record, are a corrupt record.
import { describe, expect, it } from 'vitest';
import { Channel } from '../../lib/index.js';
import { HEADER_BYTES, KEY_INT, KEY_NONE, KEY_NUMBER, KEY_STRING, newMeta, OTEL_SAMPLED, setKey, TRACE_BYTES, TRACED } from '../../lib/pipeline/envelope.js';
import { InputLink, OutputLink } from '../../lib/pipeline/link.js';
import { clock } from '../../lib/pipeline/trace.js';

function hop() {
  const handle = Channel.create({ capacity: 1 << 12, codec: 'bytes' }).handle;
  const wait = { wait: 'park', spinMicros: 0 } as const;
  return { out: new OutputLink(handle, wait), inp: new InputLink(handle, wait) };
}

/** Writes one record (seq 41, t0 12.5, `key`, `flags`, ids 1, 8, 15, …, stamped 777.25) on a fresh hop and reads it back. */
function roundTrip(key: string | number | undefined, flags: number) {
  const { out, inp } = hop();
  const m = newMeta();
  m.seq = 41;
  m.t0 = 12.5;
  if (key !== undefined) setKey(m, key);
  m.flags = flags;
  m.ids.forEach((_, i) => (m.ids[i] = i * 7 + 1));
  m.stamp = 777.25; // the writer's clock reading, which a traced record carries as `sent`
  expect(out.tryWrite(m, new Uint8Array([1, 2, 3]))).toBe(true);
  out.flush();
  const r = newMeta();
  expect(inp.next(r)).toBe(true);
  return { m, r, payload: [...inp.buf.subarray(inp.payloadStart, inp.payloadEnd)], payloadStart: inp.payloadStart };
}

/** Where a fresh hop's first record starts (every hop() lays its ring out alike). */
const FIRST_RECORD = roundTrip(undefined, 0).payloadStart - HEADER_BYTES;

describe('envelope: the trace block', () => {
  for (const [name, key, kind, keyLen] of [
    ['no key', undefined, KEY_NONE, 0],
    ['an int32 key', 7, KEY_INT, 4],
    ['a string key', 'user-é', KEY_STRING, 7],
    ['a float key', 2.5, KEY_NUMBER, 8],
  ] as const) {
    it(`round-trips with ${name}, traced and not; only a traced record carries the 32-byte block`, () => {
      const untraced = roundTrip(key, 0);
      for (const flags of [0, TRACED, TRACED | OTEL_SAMPLED]) {
        const { m, r, payload, payloadStart } = roundTrip(key, flags);
        expect([r.seq, r.t0, r.hash, r.kind, r.flags]).toEqual([41, 12.5, m.hash, kind, flags]);
        if (kind === KEY_INT || kind === KEY_NUMBER) expect(r.keyNum).toBe(key);
        if (kind === KEY_STRING) expect(Buffer.from(r.keyBytes!).toString()).toBe(key);
        expect(payload).toEqual([1, 2, 3]);
        if (flags !== 0) {
          expect([...r.ids]).toEqual([...m.ids]);
          expect(r.sent).toBe(777.25);
          expect(payloadStart - untraced.payloadStart).toBe(TRACE_BYTES);
        } else {
          expect([...r.ids].every((b) => b === 0)).toBe(true); // nothing read for an untraced record
          expect(payloadStart - FIRST_RECORD).toBe(HEADER_BYTES + keyLen);
        }
      }
    });
  }

  it('a traced record written after a wait for room carries the time it was written, not the time the wait began', async () => {
    const { out, inp } = hop();
    const filler = newMeta();
    let queued = 0;
    while (out.tryWrite(filler, new Uint8Array(64))) queued++; // the ring is full (and published)
    const m = newMeta();
    m.seq = 9;
    m.flags = TRACED;
    m.stamp = 5; // stamped by its writer before the first attempt
    const written = out.write(m, new Uint8Array([1, 2, 3]));
    const waiting = clock(); // after the first attempt failed
    const r = newMeta();
    for (let i = 0; i < queued; i++) expect(inp.next(r)).toBe(true);
    inp.ack(); // room: the writer wakes, stamps again, and writes
    const acked = performance.now();
    await written;
    expect(performance.now() - acked).toBeLessThan(1000); // woken by the ack, not by a timeout slice
    out.flush();
    expect(inp.next(r)).toBe(true);
    expect([r.seq, r.flags]).toEqual([9, TRACED]);
    expect(r.sent).toBeGreaterThanOrEqual(waiting);
    expect(r.sent).toBeLessThanOrEqual(clock());
  });

  it('rejects a traced record too short for its trace block as a corrupt record', () => {
    const { out, inp } = hop();
    expect(out.tryWrite(newMeta(), new Uint8Array(0))).toBe(true); // a bare 24-byte header
    out.i32[(FIRST_RECORD >> 2) + 5]! |= TRACED << 24; // flagged traced afterwards, as a foreign writer could
    out.flush();
    expect(() => inp.next(newMeta())).toThrow(expect.objectContaining({ code: 'ERR_CORRUPT', message: expect.stringMatching(/trace block overruns a 24-byte record/) }));
  });

  it('rejects unknown flags as a corrupt record', () => {
    const { out, inp } = hop();
    const m = newMeta();
    m.flags = TRACED | 4;
    out.tryWrite(m, new Uint8Array(4));
    out.flush();
    expect(() => inp.next(newMeta())).toThrow(expect.objectContaining({ code: 'ERR_CORRUPT' }));
  });
});
