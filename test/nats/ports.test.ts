// The NATS tests' port picker (server.ts): a port handed out for a server must not be one the
// kernel can give to an outgoing connection meanwhile (one did, and a server failed to start).
import { describe, expect, it } from 'vitest';
import { ephemeralRange, freePort } from './server.js';

describe('freePort', () => {
  it('hands out loopback ports outside the ephemeral range, each once', async () => {
    const [low, high] = ephemeralRange();
    const ports: number[] = [];
    for (let i = 0; i < 50; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(50);
    for (const p of ports) expect(p < low || p > high, `port ${p} in ${low}-${high}`).toBe(true);
  });
});
