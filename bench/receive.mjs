// Scenario: what receiving costs per message in one thread, and what giving the user a value that
// owns its memory adds. Each op writes K pre-encoded messages with reserve/commit (the same cheap
// send in every case) and receives them; the cost of a receive path is its ns per message minus
// the "drain, no decode" baseline's. The v8 cases carry { i, buf: Buffer(size) }:
// - tryRecv: the v8 codec as users get it (deserializes from a private copy of the message);
// - drain + deserialize(view): what 0.1's tryRecv did (values were views of the ring: unsafe);
// - drain + deserialize(exact-size copy): with a fresh ArrayBuffer per message instead of the
//   codec's pooled copy — why the codec copies into Buffer.allocUnsafe memory.
import * as v8 from 'node:v8';
import b from 'benny';
import { Channel } from '../dist/index.js';
import { SETTINGS } from './lib/common.mjs';
import { runScenario } from './lib/scenario.mjs';

const K = 256;
const CAPACITY = 1 << 20;

function cases(size) {
  const v8Msg = v8.serialize({ i: 1, buf: Buffer.alloc(size, 7) });
  const raw = Buffer.alloc(size, 7);
  const make = (codec, bytes) => {
    const ch = Channel.create({ capacity: CAPACITY, codec });
    const tx = ch.sender();
    const rx = ch.receiver();
    const fill = () => {
      for (let k = 0; k < K; k++) {
        const view = tx.reserve(bytes.length);
        view.set(bytes);
        tx.commit(bytes.length);
      }
    };
    return { tx, rx, fill };
  };
  let sink = 0;
  const noop = () => {};
  const list = [
    ['bytes', 'drain, no decode (baseline)', make('bytes', raw), (c) => c.rx.drain(noop)],
    ['bytes', 'tryRecv (a copy the user owns)', make('bytes', raw), (c) => {
      while (c.rx.tryRecv() !== undefined) sink++;
    }],
    ['v8', 'drain, no decode (baseline)', make('v8', v8Msg), (c) => c.rx.drain(noop)],
    ['v8', 'tryRecv (deserialized from a private copy)', make('v8', v8Msg), (c) => {
      while (c.rx.tryRecv() !== undefined) sink++;
    }],
    ['v8', 'drain + deserialize(view) (0.1: values alias the ring)', make('v8', v8Msg), (c) =>
      c.rx.drain((view, off, len) => void (sink += v8.deserialize(view.subarray(off, off + len)).i))],
    ['v8', 'drain + deserialize(exact-size copy)', make('v8', v8Msg), (c) =>
      c.rx.drain((view, off, len) => void (sink += v8.deserialize(new Uint8Array(view.buffer, view.byteOffset + off, len).slice()).i))],
  ];
  return list.map(([codec, label, c, receive]) => ({ codec, label, size, run: () => (c.fill(), receive(c)), sink: () => sink }));
}

async function receiveCosts() {
  const results = [];
  for (const size of [32, 1024]) {
    const list = cases(size);
    const summary = await b.suite(
      `receive ${size} B`,
      ...list.map((c) => b.add(`${c.codec} ${c.label}`, c.run)),
      b.configure({ cases: { minSamples: SETTINGS.minSamples, maxTime: SETTINGS.maxTime / 2, minTime: SETTINGS.minTime } }),
    );
    summary.results.forEach((r, k) => {
      const c = list[k];
      results.push({ scenario: 'receive', codec: c.codec, label: c.label, size, nsPerMsg: 1e9 / (r.ops * K), rmePercent: r.margin });
    });
  }
  return results;
}

await runScenario('receive', receiveCosts);
