// Metrics in Prometheus' vocabulary, one for channels, logs and pipelines: every metric's name,
// type, help and labels are defined once, with how it is read from what the object already counts
// (channel.stats(), the log writer's stats(); the pipeline's, from p.stats() and the stages' latency
// histograms in shared memory, are in lib/pipeline/metrics.ts, since the pipeline's modules import
// the channel's, which imports this one). Nothing is counted here and nothing is kept: each scrape
// reads the live counters.
//
// The exposition is prom-client's (an optional peer dependency): registerMetrics() adds collectors
// to a prom-client Registry of yours (objects with the get() its Registry reads of every metric),
// and metricsOf() / .metrics() render one object in a private Registry. A channel file or a log can
// also be named by its path (or a channel by its name): then each scrape reads it with statPath(),
// from any process, as `ringwire stat` does.
import type { ChannelInfo } from './channel/inspect.js';
import { channelName } from './channel/shm.js';
import type { ChannelStats } from './core/stats.js';
import { checkOptions, describe, RingwireError, RingwireTypeError } from './errors.js';
import type { ControlStats } from './log/segments.js';
import { statPath, type LogStat } from './log/verify.js';
import { countsBelowPowersOfTwo } from './pipeline/histogram.js';

export interface MetricsOptions {
  /**
   * The value of the label that names the object: `channel` (default: the channel's name, or its
   * path; '' for a worker channel), `log` (default: the directory), `reader` (a LogReader's; its
   * `log` label is the directory; default ''), `pipeline` (default '').
   */
  name?: string;
}

/** What registerMetrics() uses of a prom-client Registry. */
export interface PromRegistry {
  registerMetric(metric: object): void;
  removeSingleMetric(name: string): void;
  getSingleMetric(name: string): unknown;
}

/** A Channel, LogWriter, LogReader or Pipeline, or a channel's name, a channel file or a log directory. */
export type MetricsTarget = { metrics(options?: MetricsOptions): Promise<string> } | string;

/** @internal */
export type Labels = Record<string, string>;
/** Latency samples as lib/pipeline/histogram.ts counts them (log-linear buckets over ns) and their sum. */
export interface RawHistogram {
  counts: ArrayLike<number>;
  sumNs: number;
}
/** @internal */
export type Value = number | RawHistogram;
/** @internal */
export type MetricType = 'counter' | 'gauge' | 'histogram';

/** @internal A metric: its name, type and help, and how its samples are read. */
export interface Family<R> {
  name: string;
  help: string;
  type: MetricType;
  /** The family's samples in one reading of an object: extra labels and a value each. */
  values(reading: R): Array<[Labels, Value]>;
}

/** @internal One ringwire object as a source of samples: its families, its labels, and a reader of its live state. */
export interface MetricsSource {
  kind: string;
  labels: Labels;
  families: ReadonlyArray<Family<never>>;
  /** The object's state now; undefined once it is closed (it then reports nothing). */
  read(): unknown;
}

const single =
  <R>(type: MetricType, name: string, help: string, get: (r: R) => number): Family<R> => ({ name, help, type, values: (r) => [[{}, get(r)]] });
/** @internal */
export const counter = <R>(name: string, help: string, get: (r: R) => number) => single<R>('counter', name, help, get);
/** @internal */
export const gauge = <R>(name: string, help: string, get: (r: R) => number) => single<R>('gauge', name, help, get);

// ---- channels: channel.stats(), the ring's depth and capacity -------------------------------------

type ChannelReading = Pick<ChannelInfo, 'stats' | 'depthBytes' | 'capacity'>;
const OTHER_SIDE = "each side's count is exact in its own thread, elsewhere as of its last flush (every 1024 messages, when it parks, finds the ring full or closes)";
const sent = (get: (s: ChannelStats['sent']) => number) => (r: ChannelReading) => get(r.stats.sent);
const received = (get: (s: ChannelStats['received']) => number) => (r: ChannelReading) => get(r.stats.received);

const CHANNEL: Array<Family<ChannelReading>> = [
  counter('ringwire_channel_sent_messages_total', `Messages sent; ${OTHER_SIDE}.`, sent((s) => s.messages)),
  counter('ringwire_channel_sent_bytes_total', 'Payload bytes sent.', sent((s) => s.bytes)),
  counter('ringwire_channel_send_full_total', 'Times the sender found the ring full.', sent((s) => s.full)),
  counter('ringwire_channel_sender_parks_total', 'Times the sender went to sleep waiting for room.', sent((s) => s.parks)),
  counter('ringwire_channel_received_messages_total', `Messages received; ${OTHER_SIDE}.`, received((s) => s.messages)),
  counter('ringwire_channel_received_bytes_total', 'Payload bytes received.', received((s) => s.bytes)),
  counter('ringwire_channel_receiver_parks_total', 'Times the receiver went to sleep waiting for a message.', received((s) => s.parks)),
  counter('ringwire_channel_dropped_messages_total', 'Fragmented messages the receiver dropped because their sender gave them up part-way.', received((s) => s.dropped)),
  gauge('ringwire_channel_depth_bytes', 'Ring bytes published and not yet handed back by the receiver.', (r) => r.depthBytes),
  gauge('ringwire_channel_capacity_bytes', 'Ring bytes of the channel.', (r) => r.capacity),
];

// ---- logs: the writer's counters; `ringwire stat` adds what the files and the control file say ---

const LOG: Array<Family<ControlStats>> = [
  counter('ringwire_log_records_total', "Records appended (the log's next sequence number; sequences start at 0 and continue across writers).", (s) => s.nextSequence),
  counter('ringwire_log_bytes_total', 'Payload bytes appended.', (s) => s.bytes),
  counter('ringwire_log_rolls_total', 'Segments the writer moved on from.', (s) => s.rolls),
  counter('ringwire_log_flushes_total', 'Flushes (msync) of the log.', (s) => s.flushes),
  counter('ringwire_log_wakes_total', 'Wake-ups of followers parked in follow().', (s) => s.wakes),
  gauge('ringwire_log_segment', 'Index of the segment being written.', (s) => s.segment),
];
const LOG_FILES: Array<Family<LogStat>> = [
  gauge('ringwire_log_segments', 'Segment files in the log directory.', (s) => s.segments),
  gauge('ringwire_log_disk_bytes', 'Bytes of the segment files.', (s) => s.diskBytes),
  gauge('ringwire_log_parked_readers', 'Followers asleep in follow().', (s) => s.parkedReaders),
  gauge('ringwire_log_writer_alive', 'Whether the process of the last writer that opened the log is running (1) or not (0).', (s) => Number(s.writerAlive)),
];

interface ReaderReading {
  nextSequence: number;
  skipped: number;
}
const LOG_READER: Array<Family<ReaderReading>> = [
  gauge('ringwire_log_reader_next_sequence', 'The sequence number of the next record the reader returns.', (r) => r.nextSequence),
  counter('ringwire_log_reader_skipped_records_total', 'Records retention deleted before the reader reached them.', (r) => r.skipped),
];

// ---- sources -------------------------------------------------------------------------------------

/** @internal */
export const source = <R>(kind: string, labels: Labels, families: Array<Family<R>>, read: () => R | undefined): MetricsSource => ({
  kind,
  labels,
  families: families as ReadonlyArray<Family<never>>,
  read,
});

/** @internal A channel: `read` gives its counters, or undefined once the channel object is closed. */
export const channelSource = (name: string, read: () => ChannelReading | undefined) => source('channel', { channel: name }, CHANNEL, read);
/** @internal A LogWriter. */
export const logWriterSource = (name: string, read: () => ControlStats | undefined) => source('log', { log: name }, LOG, read);
/** @internal A LogReader of the log in `dir`. */
export const logReaderSource = (dir: string, name: string, read: () => ReaderReading | undefined) => source('log reader', { log: dir, reader: name }, LOG_READER, read);

/**
 * A channel file or a log directory (or a channel's name), read with statPath() at each scrape, as
 * `ringwire stat` reads it: what the writer and the channel's sides last published. It must be one
 * now (statPath's error if not); if it goes away later, it reports nothing.
 */
function fileSource(nameOrPath: string, name: string | undefined): MetricsSource {
  const first = statPath(nameOrPath);
  const read = () => {
    try {
      const now = statPath(nameOrPath);
      return now.kind === first.kind ? now : undefined;
    } catch {
      return undefined;
    }
  };
  if (first.kind === 'channel') return channelSource(name ?? channelName(first.path), read as () => ChannelReading | undefined);
  return source('log', { log: name ?? first.dir }, [...LOG, ...LOG_FILES], read as () => LogStat | undefined);
}

/** The source of a target (see MetricsTarget), its options checked. */
function sourceOf(target: MetricsTarget, options: MetricsOptions | undefined, what: string): MetricsSource {
  const o = checkOptions(options, new Set(['name']), what);
  if (o.name !== undefined && typeof o.name !== 'string') throw new RingwireTypeError(`${what}: options.name must be a string, got ${describe(o.name)}`);
  const name = o.name as string | undefined;
  if (typeof target === 'string') return fileSource(target, name);
  const t = target as { metricsSource?: (name?: string) => MetricsSource } | null;
  if (typeof t?.metricsSource === 'function') return t.metricsSource(name);
  throw new RingwireTypeError(`${what}: expected a Channel, LogWriter, LogReader, Pipeline, or a channel's name or a channel file or log directory, got ${describe(target)}`);
}

// ---- prom-client ---------------------------------------------------------------------------------

/** Each source read once per scrape: a Registry asks all its metrics in one synchronous loop, so a
 * reading is kept until the microtask after it (and the families of one object agree). */
const readings = new Map<MetricsSource, unknown>();
function readingOf(s: MetricsSource): unknown {
  if (readings.size === 0) queueMicrotask(() => readings.clear());
  if (!readings.has(s)) readings.set(s, s.read());
  return readings.get(s);
}

/** Prometheus' `le` bounds: powers of two of nanoseconds (exact bucket edges), 256 ns to 1.07 s. */
const LE_FROM = 8;
const LE_TO = 30;
const LE = Array.from({ length: LE_TO - LE_FROM + 1 }, (_, k) => String(2 ** (LE_FROM + k) / 1e9));

interface PromValue {
  value: number;
  labels: Labels;
  metricName?: string;
}

function histogramValues(name: string, labels: Labels, h: RawHistogram, out: PromValue[]): void {
  const below = countsBelowPowersOfTwo(h.counts, LE_FROM, LE_TO);
  let count = 0;
  for (let i = 0; i < h.counts.length; i++) count += h.counts[i]!;
  for (let k = 0; k < LE.length; k++) out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: LE[k]! }, value: below[k]! });
  out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: count });
  out.push({ metricName: `${name}_sum`, labels, value: h.sumNs / 1e9 });
  out.push({ metricName: `${name}_count`, labels, value: count });
}

/** One metric family in a prom-client Registry, over every ringwire object registered in it. */
class Collector {
  /** prom-client renames counters for OpenMetrics output, so this is read at each scrape. */
  name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly aggregator = 'sum';
  readonly sources = new Set<MetricsSource>();
  readonly #family: Family<unknown>;

  constructor(family: Family<unknown>) {
    this.#family = family;
    this.name = family.name;
    this.help = family.help;
    this.type = family.type;
  }

  /** What prom-client's Registry reads of a metric (its own metrics return the same shape). */
  async get(): Promise<{ name: string; help: string; type: MetricType; aggregator: string; values: PromValue[] }> {
    const values: PromValue[] = [];
    for (const s of this.sources) {
      const reading = readingOf(s);
      if (reading === undefined) continue;
      for (const [extra, v] of this.#family.values(reading)) {
        const labels = { ...s.labels, ...extra };
        if (typeof v === 'number') values.push({ value: v, labels });
        else histogramValues(this.#family.name, labels, v, values);
      }
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** registry.resetMetrics(): the counts are the objects' own; there is nothing to reset here. */
  reset(): void {}
}

/** The collectors ringwire added to each Registry, by metric name. */
const registries = new WeakMap<PromRegistry, Map<string, Collector>>();

function addSource(registry: PromRegistry, s: MetricsSource, what: string): () => void {
  let collectors = registries.get(registry);
  if (collectors === undefined) registries.set(registry, (collectors = new Map()));
  const key = JSON.stringify(s.labels);
  for (const other of collectors.get(s.families[0]!.name)?.sources ?? []) {
    if (JSON.stringify(other.labels) === key) {
      throw new RingwireTypeError(`${what}: a ${s.kind} labelled ${key} is in this registry already; give each one its own options.name`);
    }
  }
  for (const family of s.families) {
    let c = collectors.get(family.name);
    if (c === undefined) collectors.set(family.name, (c = new Collector(family as Family<unknown>)));
    // Also after registry.clear(), which drops every metric.
    if (registry.getSingleMetric(family.name) !== c) registry.registerMetric(c);
    c.sources.add(s);
  }
  return () => {
    for (const family of s.families) {
      const c = collectors.get(family.name);
      if (c === undefined || !c.sources.delete(s) || c.sources.size > 0) continue;
      collectors.delete(family.name);
      if (registry.getSingleMetric(family.name) === c) registry.removeSingleMetric(family.name);
    }
  };
}

/**
 * Adds `target`'s metrics to a prom-client Registry: at every scrape (`registry.metrics()`) they
 * are read from the object's live counters. Returns a function that takes them out again. A
 * closed channel, log writer or reader reports nothing; a pipeline reports its final counts.
 */
export function registerMetrics(registry: PromRegistry, target: MetricsTarget, options?: MetricsOptions): () => void {
  const what = 'registerMetrics';
  if (typeof registry?.registerMetric !== 'function' || typeof registry.getSingleMetric !== 'function') {
    throw new RingwireTypeError(`${what}: expected a prom-client Registry, got ${describe(registry)}`);
  }
  return addSource(registry, sourceOf(target, options, what), what);
}

/** `target`'s metrics now, in Prometheus' text format (rendered by prom-client in a registry of its own). */
export async function metricsOf(target: MetricsTarget, options?: MetricsOptions): Promise<string> {
  const s = sourceOf(target, options, 'metrics');
  const registry = new (await promClient()).Registry();
  addSource(registry, s, 'metrics');
  return registry.metrics();
}

interface PromClient {
  Registry: new () => PromRegistry & { metrics(): Promise<string> };
}
/** Loaded on first use, by a specifier the bundler leaves alone: prom-client is an optional peer. */
const PROM_CLIENT: string = 'prom-client';
let loaded: Promise<PromClient> | undefined;
function promClient(): Promise<PromClient> {
  loaded ??= import(PROM_CLIENT).then(
    (m: PromClient & { default?: PromClient }) => (typeof m.Registry === 'function' ? m : m.default!),
    (err: { code?: string }) => {
      loaded = undefined; // installed later: try again
      if (err?.code !== 'ERR_MODULE_NOT_FOUND' && err?.code !== 'MODULE_NOT_FOUND') throw err;
      throw new RingwireError('ERR_MISSING_DEPENDENCY', 'metrics need prom-client, an optional peer dependency of ringwire: npm install prom-client', { cause: err });
    },
  );
  return loaded;
}
