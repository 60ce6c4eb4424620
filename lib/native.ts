// Loads the native addon (a cmake-js build, or the package's prebuilt one) once per thread, and hands it
// the JS error class so C++ throws RingwireError with a code.
import process from 'node:process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { RingwireError, RingwireRangeError, RingwireTypeError } from './errors.js';

export interface NativeAddon {
  constants: Record<string, number>;
  status: { OK: number; FULL: number; EMPTY: number; TOO_LARGE: number; CORRUPT: number };
  /** Registers the classes C++ throws: RingwireError(code, message), RingwireTypeError, RingwireRangeError. */
  setErrorClass(error: unknown, typeError: unknown, rangeError: unknown): void;
  /** A channel file mapped by C++ (cpp/addon/shm_binding.cc; lib/channel/shm.ts wraps it). */
  ShmChannel: new (
    path: string,
    create: boolean,
    noFollow: boolean,
    capacity: number,
    maxMessageBytes: number,
    codec: number,
    mode: number,
    onWake: (offset: number, result: number) => void,
  ) => NativeShmChannel;
  unlinkChannel(path: string, checkMagic: boolean): boolean;
}

export interface NativeShmChannel {
  /** The mapping (an external ArrayBuffer); undefined after close(). */
  readonly buffer: ArrayBuffer | undefined;
  readonly created: boolean;
  /** 0: woken (or the word differs), 1: timed out. */
  wait(offset: number, value: number, timeoutMs: number): number;
  waitAsync(offset: number, value: number, timeoutMs: number): void;
  wake(offset: number): number;
  /** cpp/shm/shm.h HolderDead: whether `owner` (a tid), found holding role 0 (sender) / 1 (receiver), ended. */
  holderDead(role: 0 | 1, owner: number): boolean;
  close(): void;
}

let addon: NativeAddon | undefined;

/**
 * The addon (once per thread): a source build (build/Release) or the prebuilt one for this
 * platform (prebuilds/<platform>-<arch>/), found by node-gyp-build from the package root, which
 * both lib/ (sources) and dist/ (built) sit one level below.
 */
export function native(): NativeAddon {
  if (addon === undefined) {
    const require = createRequire(import.meta.url);
    const root = fileURLToPath(new URL('..', import.meta.url));
    try {
      addon = (require('node-gyp-build') as (dir: string) => NativeAddon)(root);
    } catch (err) {
      throw new RingwireError(
        'ERR_NATIVE',
        `the ringwire native addon is not available for ${process.platform}-${process.arch} (no prebuilt addon fits and none was built): ` +
          'channel files and the log need it; worker-thread channels and pipelines do not. To build it: apt-get install cmake g++ ' +
          '(macOS: xcode-select --install && brew install cmake), then npm rebuild ringwire',
        { cause: err },
      );
    }
    addon.setErrorClass(RingwireError, RingwireTypeError, RingwireRangeError);
  }
  return addon;
}
