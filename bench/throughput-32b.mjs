// Scenario: worker → worker throughput at 32 B messages (ringwire, MessagePort, ringbuf.js).
import { runScenario } from './lib/scenario.mjs';
import { throughput } from './lib/throughput.mjs';

await runScenario('throughput 32 B', () => throughput({ size: 32, label: '32 B' }));
