// Scenario: worker → worker throughput at 1 KiB messages (ringwire, MessagePort, ringbuf.js).
import { runScenario } from './lib/scenario.mjs';
import { throughput } from './lib/throughput.mjs';

await runScenario('throughput 1 KiB', () => throughput({ size: 1024, label: '1 KiB' }));
