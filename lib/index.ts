// ringwire: shared-memory messaging for Node.js.
export { Channel, DEFAULT_CAPACITY, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_SPIN_MICROS, MAX_MESSAGE_BYTES } from './channel.js';
export type { AttachOptions, ChannelHandle, ChannelOptions, ChannelStats, OpenOptions } from './channel.js';
export { Sender } from './sender.js';
export { Receiver, type DrainCallback } from './receiver.js';
export type { Codec, CodecName, CodecSpec } from './codecs.js';
export { RingwireError, RingwireRangeError, RingwireTypeError, type RingwireErrorCode } from './errors.js';
export type { WaitOptions } from './wait.js';
export { toReadable, toWritable, type ReceiverStreamOptions, type SenderStreamOptions } from './streams.js';
export { channelPath, inspectChannel, listChannels, type ChannelInfo, type NotAChannel } from './inspect.js';
export * from './log/index.js';
export * from './pipeline/index.js';
