// unref() / ref() on a sender or receiver: a pending recv() or send() keeps the process alive by
// default, as a MessagePort does; after unref() the process exits when nothing else keeps it, and
// ref() undoes that. Worker channels (Atomics.waitAsync) and channel files (futex thread) alike.
import { describe, expect, it } from 'vitest';
import { Channel } from '../../lib/index.js';
import { start, uniqueName } from './helpers.js';

describe('unref() and ref() of pending waits', () => {
  for (const kind of ['sab', 'file'] as const) {
    for (const side of ['rx', 'tx'] as const) {
      it(`${kind}, ${side === 'rx' ? 'recv()' : 'send()'} pending: unref() lets the process exit; ref() keeps it alive`, async () => {
        const name = uniqueName(`unref-${kind}-${side}`);
        try {
          const t0 = performance.now();
          const gone = start('unref.mjs', { kind, side, mode: 'unref', name }, 20_000);
          const e = await gone.exit;
          expect({ code: e.code, signal: e.signal }).toEqual({ code: 0, signal: null });
          expect(e.stdout).toBe('waiting\nexit\n');
          expect(performance.now() - t0).toBeLessThan(10_000); // exited by itself, not at the limit
          Channel.unlink(name);
          const kept = start('unref.mjs', { kind, side, mode: 'unref-ref', name }, 20_000);
          await kept.waitFor(() => false, 1500).catch(() => undefined); // a second and a half of its life
          let exited = false;
          void kept.exit.then(() => (exited = true));
          await new Promise((r) => setImmediate(r));
          expect(exited).toBe(false); // still waiting: its pending call keeps it alive
          kept.kill();
          await kept.exit;
        } finally {
          Channel.unlink(name);
        }
      });
    }
  }
});
