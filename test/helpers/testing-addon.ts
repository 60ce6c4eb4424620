// The test-only addon (NativeProducer / NativeConsumer / initRing) for test files: it throws the
// error classes of lib/errors.ts, as the shipped addon does (lib/native.ts).
import * as errors from '../../lib/errors.js';
import { type TestingAddon, testingAddon } from '../fixtures/testing-addon.mjs';

export const testing = (): TestingAddon => testingAddon(errors);
