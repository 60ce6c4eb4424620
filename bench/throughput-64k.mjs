// Scenario: worker → worker throughput at 64 KiB messages (ringwire, MessagePort, ringbuf.js).
import { runScenario } from './lib/scenario.mjs';
import { throughput } from './lib/throughput.mjs';

await runScenario('throughput 64 KiB', () => throughput({ size: 65536, label: '64 KiB' }));
