// Scenario: ping-pong round-trip latency at 32 B (ringwire spinning, ringwire parked, MessagePort).
import { runScenario } from './lib/scenario.mjs';
import { roundtrip } from './lib/roundtrip.mjs';

await runScenario('round trip', roundtrip);
