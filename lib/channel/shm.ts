// Channels between processes: a channel file (a name in /dev/shm, or any path) mapped by C++
// (cpp/shm/shm.h, cpp/addon/shm_binding.cc) and used by the same TS ring as worker channels.
//
// The mapping reaches JS as an external, non-shared ArrayBuffer: Atomics.load/store/
// compareExchange/or work on it, Atomics.wait/notify do not, so the ring sleeps through a
// FutexWaiter (shared futexes on the tail/head words, in C++). Waits are cut into slices of
// SLICE_MS so the waiting side can check, between slices, whether the peer's thread ended
// (lib/core/park.ts, lib/core/roles.ts); the check reads /proc once per slice, never once per message.
import { resolve as resolvePath } from 'node:path';
import { RingwireTypeError } from '../errors.js';
import { native, type NativeShmChannel } from '../native.js';
import type { Waiter } from '../core/ring.js';
import { SLICE_MS } from '../core/park.js';

/** Where named channels live (a tmpfs), and the prefix that keeps them apart from other files. */
export const SHM_DIR = '/dev/shm';
export const NAME_PREFIX = 'ringwire-';
/** Longest name: the file name (prefix included) stays under NAME_MAX (255). */
export const MAX_NAME_LENGTH = 200;
export const DEFAULT_MODE = 0o600;

const NAME = /^[A-Za-z0-9._-]+$/;

export interface ChannelLocation {
  /** Absolute path of the channel file. */
  path: string;
  /** A plain name (a file in SHM_DIR) rather than a path. */
  named: boolean;
}

/**
 * A plain name (letters, digits, '.', '_', '-') is a channel in SHM_DIR; anything with a '/' is a
 * path (use './x' for a file in the current directory).
 */
export function locateChannel(nameOrPath: unknown, what: string): ChannelLocation {
  if (typeof nameOrPath !== 'string' || nameOrPath.length === 0) {
    throw new RingwireTypeError(`${what}: the channel name or path must be a non-empty string, got ${typeof nameOrPath === 'string' ? '""' : typeof nameOrPath}`);
  }
  if (nameOrPath.includes('\0')) throw new RingwireTypeError(`${what}: the channel name or path contains a NUL character`);
  if (nameOrPath.includes('/')) return { path: resolvePath(nameOrPath), named: false };
  if (!NAME.test(nameOrPath) || nameOrPath.includes('..') || nameOrPath.length > MAX_NAME_LENGTH) {
    throw new RingwireTypeError(
      `${what}: invalid channel name ${JSON.stringify(nameOrPath)}: use letters, digits, '.', '_' and '-' ` +
        `(at most ${MAX_NAME_LENGTH}, no '..'), or a path containing '/'`,
    );
  }
  return { path: `${SHM_DIR}/${NAME_PREFIX}${nameOrPath}`, named: true };
}

/** What a channel file goes by: `<name>` for SHM_DIR/ringwire-<name>, else its path. */
export function channelName(path: string): string {
  const prefix = `${SHM_DIR}/${NAME_PREFIX}`;
  return path.startsWith(prefix) && !path.includes('/', prefix.length) ? path.slice(prefix.length) : path;
}

/** Sleeps on words of a mapping with shared futexes; a waiter thread per side for async waits. */
export class FutexWaiter implements Waiter {
  #native: NativeShmChannel | undefined;
  readonly #resolvers = new Map<number, (result: number) => void>();

  /** Called on the JS thread by the native waiter threads when a wait ends. */
  readonly onWake = (offset: number, result: number): void => {
    const resolve = this.#resolvers.get(offset);
    this.#resolvers.delete(offset);
    resolve?.(result);
  };

  attach(n: NativeShmChannel): void {
    this.#native = n;
  }

  waitSync(_i32: Int32Array, index: number, value: number, timeoutMs: number): void {
    // One slice at most: the caller re-checks its condition and the peer's liveness, then waits again.
    this.#native?.wait(index << 2, value, Math.min(timeoutMs, SLICE_MS));
  }

  waitAsync(_i32: Int32Array, index: number, value: number, timeoutMs: number): Promise<unknown> {
    const n = this.#native;
    if (n === undefined) return Promise.resolve(0);
    return new Promise((resolve) => {
      this.#resolvers.get(index << 2)?.(0); // a stale wait on the same word (cannot normally happen)
      // The native thread's thread-safe function does not keep the event loop alive (an idle
      // channel must not); parkAsync holds it while we sleep, for a ref()'d side (Liveness).
      this.#resolvers.set(index << 2, resolve);
      n.waitAsync(index << 2, value, Math.min(timeoutMs, SLICE_MS));
    });
  }

  notify(_i32: Int32Array, index: number): void {
    this.#native?.wake(index << 2);
  }

  /** Ends every pending wait (the native threads are stopped by the mapping's close). */
  close(): void {
    this.#native = undefined;
    for (const resolve of this.#resolvers.values()) resolve(0);
    this.#resolvers.clear();
  }
}

/** A mapped channel file, as Channel.open uses it. */
export interface MappedChannel {
  readonly path: string;
  readonly created: boolean;
  readonly buffer: ArrayBuffer;
  readonly waiter: FutexWaiter;
  /** Stops the waiter threads and detaches the buffer (the memory is unmapped once unreachable). */
  close(): void;
}

export interface MapOptions {
  create: boolean;
  capacity: number;
  maxMessageBytes: number;
  codecId: number;
  mode: number;
}

/** Opens (or creates) and maps the channel file; the caller validates the header in TS too. */
export function mapChannel(where: ChannelLocation, o: MapOptions): MappedChannel {
  const addon = native();
  const waiter = new FutexWaiter();
  const n = new addon.ShmChannel(where.path, o.create, where.named, o.capacity, o.maxMessageBytes, o.codecId, o.mode, waiter.onWake);
  waiter.attach(n);
  const buffer = n.buffer!;
  let closed = false;
  return {
    path: where.path,
    created: n.created,
    buffer,
    waiter,
    close() {
      if (closed) return;
      closed = true;
      waiter.close();
      n.close();
    },
  };
}

/** Removes a channel file: true if removed, false if there was none. A path must hold a channel. */
export function unlinkChannel(where: ChannelLocation): boolean {
  return native().unlinkChannel(where.path, !where.named);
}
