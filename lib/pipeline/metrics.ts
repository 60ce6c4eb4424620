// A pipeline's metrics (the vocabulary and its machinery: lib/metrics.ts): p.stats(), and the
// latency histograms behind its p50/p99, per stage (label `stage`) and source to sink.
import { counter, source, type Family, type Labels, type MetricType, type RawHistogram, type Value } from '../metrics.js';
import type { TraceStats } from './trace.js';
import type { PipelineStats, StageStats } from './types.js';

interface PipelineReading {
  stats: PipelineStats;
  /** Source to sink. */
  latency: RawHistogram;
  /** Each stage's, in the order of stats.stages. */
  stages: RawHistogram[];
}
const perStage =
  (type: MetricType, name: string, help: string, get: (s: StageStats, latency: RawHistogram) => Value): Family<PipelineReading> => ({
    name,
    help,
    type,
    values: (r) => r.stats.stages.map((s, i) => [{ stage: s.name }, get(s, r.stages[i]!)]),
  });

/** A number of stats().trace: no sample without options.trace. */
const ofTrace = (type: MetricType, name: string, help: string, get: (t: TraceStats) => Array<[Labels, number]>): Family<PipelineReading> => ({
  name,
  help,
  type,
  values: (r) => (r.stats.trace === undefined ? [] : get(r.stats.trace)),
});

const PIPELINE: Array<Family<PipelineReading>> = [
  counter('ringwire_pipeline_source_messages_total', 'Messages taken from the source and written to the first stage.', (r) => r.stats.produced),
  counter('ringwire_pipeline_sink_messages_total', 'Messages delivered to the sink.', (r) => r.stats.consumed),
  counter('ringwire_pipeline_dead_lettered_messages_total', 'Dead letters delivered to their targets.', (r) => r.stats.deadLettered),
  { name: 'ringwire_pipeline_latency_seconds', help: 'Source to sink, per message delivered to the sink.', type: 'histogram', values: (r) => [[{}, r.latency]] },
  perStage('gauge', 'ringwire_pipeline_stage_workers', 'Workers of the stage.', (s) => s.workers),
  perStage('counter', 'ringwire_pipeline_stage_messages_in_total', 'Messages the stage read (a message delivered again after a crash counts again).', (s) => s.in),
  perStage('counter', 'ringwire_pipeline_stage_messages_out_total', "Messages the stage's handlers produced and wrote on.", (s) => s.out),
  perStage('counter', 'ringwire_pipeline_stage_errors_total', 'Messages whose handler threw.', (s) => s.errors),
  perStage('counter', 'ringwire_pipeline_stage_skipped_messages_total', "Failed messages skipped (onError: 'skip').", (s) => s.skipped),
  perStage('counter', 'ringwire_pipeline_stage_dead_lettered_messages_total', "Failed messages sent to the dead-letter target (onError: 'dead-letter').", (s) => s.deadLettered),
  perStage('counter', 'ringwire_pipeline_stage_restarts_total', 'Workers of the stage that died and were replaced.', (s) => s.restarts),
  perStage('counter', 'ringwire_pipeline_stage_swaps_total', 'Hot swaps of the stage.', (s) => s.swaps),
  perStage('counter', 'ringwire_pipeline_stage_rollbacks_total', 'Rollbacks of the stage to an earlier version, asked for or automatic (rollbackOn).', (s) => s.rollbacks),
  perStage('gauge', 'ringwire_pipeline_stage_version', "The version the stage runs: its index in p.versions(stage) (0: the pipeline's own).", (s) => s.version),
  perStage('gauge', 'ringwire_pipeline_stage_queued_messages', "Messages waiting in the stage's inputs (from the counters, up to a batch behind).", (s) => s.queued.messages),
  perStage('gauge', 'ringwire_pipeline_stage_queued_bytes', "Ring bytes waiting in the stage's inputs.", (s) => s.queued.bytes),
  ofTrace('gauge', 'ringwire_pipeline_trace_sample_ratio', 'The fraction of messages traced now (options.trace.sample, or setTraceSample()).', (t) => [[{}, t.sample]]),
  ofTrace('counter', 'ringwire_pipeline_traced_messages_total', 'Messages sampled for tracing at the source.', (t) => [[{}, t.sampled]]),
  ofTrace('counter', 'ringwire_pipeline_traces_total', 'Traces closed: complete="true" with every report in, "false" without.', (t) => [
    [{ complete: 'true' }, t.complete],
    [{ complete: 'false' }, t.incomplete],
  ]),
  ofTrace('counter', 'ringwire_pipeline_traces_expired_total', 'Traces not kept because notes or reports of theirs (or of traces sampled after them) were overwritten before anything read them (traces(), stats(), an OpenTelemetry tracer provider).', (t) => [[{}, t.expired]]),
  ofTrace('counter', 'ringwire_pipeline_trace_reports_dropped_total', 'Hop reports workers dropped because their report ring was full.', (t) => [[{}, t.droppedReports]]),
  perStage('histogram', 'ringwire_pipeline_stage_latency_seconds', 'Service time of each message handled without error: read, decode, handler, outputs written (waits for room downstream included).', (_, h) => h),
];

/** @internal A Pipeline: `read` gives p.stats() and the histograms behind it. */
export const pipelineSource = (name: string, read: () => PipelineReading) => source('pipeline', { pipeline: name }, PIPELINE, read);
