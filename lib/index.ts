// ringwire: shared-memory messaging for Node.js.
export { Channel, DEFAULT_CAPACITY, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_SPIN_MICROS, MAX_MESSAGE_BYTES } from './channel/channel.js';
export type { AttachOptions, ChannelHandle, ChannelOptions, ChannelStats, OpenOptions } from './channel/channel.js';
export { Sender } from './channel/sender.js';
export { Receiver, type DrainCallback } from './channel/receiver.js';
export type { Codec, CodecName, CodecSpec } from './channel/codecs.js';
export { RingwireError, RingwireRangeError, RingwireTypeError, type RingwireErrorCode } from './errors.js';
export type { WaitOptions, WaitStrategy } from './core/park.js';
export { toReadable, toWritable, type ReceiverStreamOptions, type SenderStreamOptions } from './channel/streams.js';
export { channelPath, inspectChannel, listChannels, type ChannelInfo, type NotAChannel } from './channel/inspect.js';
export * from './log/index.js';
export { metricsOf, registerMetrics, type MetricsOptions, type MetricsTarget, type PromRegistry } from './metrics.js';
export * from './pipeline/index.js';
