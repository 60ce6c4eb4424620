// Loads the native addon (built by cmake-js into build/Release) once per thread, and hands it
// the JS error class so C++ throws RingwireError with a code.
import { createRequire } from 'node:module';
import { RingwireError } from './errors.js';

export interface NativeAddon {
  constants: Record<string, number>;
  status: { OK: number; FULL: number; EMPTY: number; TOO_LARGE: number; CORRUPT: number };
  setErrorClass(cls: unknown): void;
  initRing(memory: Uint8Array, capacity: number, maxMessageBytes: number, codec: number): void;
  NativeProducer: new (memory: Uint8Array) => {
    tryWrite(message: Uint8Array): number;
    produce(first: number, count: number, seed: number, minSize: number, maxSize: number): number;
    consumerParked(): boolean;
  };
  NativeConsumer: new (memory: Uint8Array) => {
    read(): Uint8Array | null;
    consume(first: number, count: number, seed: number, minSize: number, maxSize: number): number;
  };
}

let addon: NativeAddon | undefined;

/** The addon; both lib/ (sources) and dist/ (built) sit one level below the package root. */
export function native(): NativeAddon {
  if (addon === undefined) {
    const require = createRequire(import.meta.url);
    try {
      addon = require('../build/Release/ringwire.node') as NativeAddon;
    } catch (err) {
      throw new RingwireError(
        'ERR_NATIVE',
        'the ringwire native addon is not built (run `npm install` in the package, which runs cmake-js)',
        { cause: err },
      );
    }
    addon.setErrorClass(RingwireError);
  }
  return addon;
}
