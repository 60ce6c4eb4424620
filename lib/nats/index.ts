// ringwire/nats: logs and channels beyond one machine, through NATS JetStream. Needs the optional
// peer dependencies @nats-io/transport-node and @nats-io/jetstream.
export { LogShipper, shipLog, type ShipOptions, type ShipStats } from './ship.js';
export type { ConnectOptions, NatsErrorCode } from './common.js';
export { LogReplica, replicate, type ReplicaOptions, type ReplicaStats } from './replica.js';
export { Feeder, feed, Forwarder, forward, type BridgeStats, type FeedOptions, type ForwardOptions } from './bridge.js';
