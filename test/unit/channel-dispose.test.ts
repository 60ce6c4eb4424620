// Explicit resource management for channels: `using` / `await using` close receivers, senders and channels at
// the end of their scope (in reverse order), as close() would.
import { describe, expect, it } from 'vitest';
import { Channel } from '../../lib/index.js';

describe('using and await using', () => {
  it('a sender closes (the stream ends) and a receiver closes at the end of their scopes', async () => {
    const ch = Channel.create<number>({ capacity: 1024 });
    {
      await using tx = ch.sender();
      tx.trySend(1);
    }
    expect(ch.senderClosed).toBe(true);
    let rxRef;
    {
      using rx = ch.receiver();
      rxRef = rx;
      expect(rx.tryRecv()).toBe(1);
    }
    expect(rxRef.closed).toBe(true);
    expect(ch.receiverClosed).toBe(true);
  });

  it('await using a channel file closes it: its roles go back and its memory is unmapped from this thread', async () => {
    const name = `dispose-${process.pid}`;
    let sender;
    {
      await using ch = Channel.open<string>(name, { create: true, codec: 'string' });
      sender = ch.sender();
      sender.trySend('x');
    }
    expect(sender.closed).toBe(true); // gave the role back (the stream did not end)
    const again = Channel.open<string>(name);
    expect(again.receiver().tryRecv()).toBe('x');
    expect(again.senderClosed).toBe(false);
    await again.close();
    Channel.unlink(name);
  });
});
