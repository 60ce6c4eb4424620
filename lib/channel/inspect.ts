// What `ringwire ls` shows: the channel files in /dev/shm, read from the page cache (the same bytes
// the processes map) without mapping them, with their stream state and role holders.
import { closeSync, constants, fstatSync, openSync, readdirSync, readSync } from 'node:fs';
import { codecNameOf } from './codecs.js';
import * as L from '../core/layout.js';
import { roleHolder, streamState, type Holder, type StreamState } from '../core/roles.js';
import { locateChannel, NAME_PREFIX, SHM_DIR } from './shm.js';
import { depthBytes, readChannelStats, type ChannelStats } from '../core/stats.js';

/** The file of a channel: a plain name is SHM_DIR/ringwire-<name>, a string with '/' a path. */
export const channelPath = (nameOrPath: string): string => locateChannel(nameOrPath, 'channelPath').path;

export interface ChannelInfo {
  /** The channel name (Channel.open(name)). */
  name: string;
  path: string;
  capacity: number;
  codec: string;
  /** 'open', 'sender closed', 'receiver closed', 'ended' (the next claims start a new stream). */
  state: StreamState;
  /** Streams started on this channel before the current one (mod 2^29). */
  epoch: number;
  sender: Holder | undefined;
  receiver: Holder | undefined;
  /** Bytes published and not yet handed back by the receiver. */
  depthBytes: number;
  /** channel.stats(): each side's counters as of its last flush (every 1024 messages, parks, close). */
  stats: ChannelStats;
}

export interface NotAChannel {
  name: string;
  path: string;
  /** Why the file is not a usable channel (another layout version, truncated, ...). */
  problem: string;
}

/** Reads the control block of the channel file at `path` (every field checked before use). */
export function inspectChannel(path: string, name = path): ChannelInfo | NotAChannel {
  const bad = (problem: string): NotAChannel => ({ name, path, problem });
  const block = new Int32Array(L.W.DATA);
  let size: number;
  try {
    // O_NONBLOCK: a FIFO (or any file someone put at a channel's name) must not block the reader,
    // and only a regular file is read at all.
    const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) return bad('not a regular file');
      size = st.size;
      if (readSync(fd, new Uint8Array(block.buffer), 0, L.CONTROL_BYTES, 0) < L.CONTROL_BYTES) return bad('shorter than a control block');
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    return bad((err as Error).message); // gone meanwhile, a symlink, no permission, ...
  }
  const word = (off: number) => block[L.wordAt(off)]! >>> 0;
  if (word(L.MAGIC_OFFSET) !== L.MAGIC) return bad('no ringwire magic');
  if (word(L.VERSION_OFFSET) !== L.VERSION) return bad(`layout version ${word(L.VERSION_OFFSET)} (this build reads ${L.VERSION})`);
  const capacity = word(L.CAPACITY_OFFSET);
  if (capacity < L.MIN_CAPACITY || capacity > L.MAX_CAPACITY || (capacity & (capacity - 1)) !== 0 || size !== L.totalBytes(capacity)) {
    return bad(`capacity ${capacity} does not match the file's ${size} bytes`);
  }
  return {
    name,
    path,
    capacity,
    codec: codecNameOf(word(L.CODEC_OFFSET)) ?? `unknown (${word(L.CODEC_OFFSET)})`,
    state: streamState(block),
    epoch: word(L.CLOSED_OFFSET) >>> L.EPOCH_SHIFT,
    sender: roleHolder(block, 'sender'),
    receiver: roleHolder(block, 'receiver'),
    depthBytes: depthBytes(block, capacity),
    stats: readChannelStats(block),
  };
}

/** Every named channel (SHM_DIR/ringwire-*), by name. */
export function listChannels(): Array<ChannelInfo | NotAChannel> {
  return readdirSync(SHM_DIR)
    .filter((f) => f.startsWith(NAME_PREFIX))
    .sort()
    .map((f) => inspectChannel(`${SHM_DIR}/${f}`, f.slice(NAME_PREFIX.length)));
}
