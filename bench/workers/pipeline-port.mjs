// One stage of the MessagePort pipeline: every message from `input` goes, handled, to `output`.
import { workerData } from 'node:worker_threads';
import { handler } from './pipeline-stage.mjs';

const { input, output } = workerData;
input.on('message', (m) => output.postMessage(handler(m)));
input.on('close', () => output.close());
