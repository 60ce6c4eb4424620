// Scenario: ping-pong round-trip latency at 32 B (ringwire by wait strategy, MessagePort), back to
// back and with gaps between requests, and the CPU a waiting side uses while nothing comes.
import { runScenario } from './lib/scenario.mjs';
import { gaps, idleCpu, roundtrip } from './lib/roundtrip.mjs';

await runScenario('round trip', async () => [...(await roundtrip()), ...(await gaps()), ...(await idleCpu())]);
