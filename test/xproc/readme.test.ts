// The README's cross-process example, as written there (its two code blocks, with the channel name
// made unique and 'ringwire' pointed at the built library), run again and again on the same named
// channel in both start orders: a named channel is a rendezvous point (issue #8, item 4).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Channel } from '../../lib/index.js';
import { waitFor } from '../helpers/workers.js';
import { finished, readmeExample, receiverClaimed, start, uniqueName, type Child } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'ringwire-readme-'));
const name = uniqueName('orders');
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  Channel.unlink(name);
});

const consumer = readmeExample('consumer.mjs: start it or the producer first', dir, 'consumer.mjs', name);
const producer = readmeExample('producer.mjs, another process', dir, 'producer.mjs', name);
const expected = Array.from({ length: 1000 }, (_, i) => `{ i: ${i} }`).join('\n');

describe("the README's two-process example, run again and again", () => {
  for (const [run, order] of [[1, 'consumer first'], [2, 'producer first'], [3, 'producer first'], [4, 'consumer first']] as const) {
    it(`run ${run}, ${order}: the consumer gets all 1000 orders and both exit 0`, async () => {
      let c: Child;
      let p: Child;
      if (order === 'consumer first') {
        c = start(consumer, null, 30_000);
        expect(await waitFor(() => receiverClaimed(name), 10_000)).toBe(true);
        p = start(producer, null, 30_000);
      } else {
        p = start(producer, null, 30_000);
        await finished(p);
        c = start(consumer, null, 30_000);
      }
      expect(await finished(c)).toBe(expected);
      await finished(p);
    });
  }
});
