// Worker-thread pipelines over ringwire channels (hosted by piscina).
export { pipeline, Pipeline } from './pipeline.js';
export type {
  AppendTarget, DeadLetter, MessageInfo, PipelineEvents, PipelineOptions, PipelineSource, PipelineStats, PipelineSummary,
  RollbackOn, RollbackOptions, RollbackResult, SinkTarget, StageSpec, StageStats, StageVersion, SwapOptions, SwapResult, VersionChange,
} from './types.js';
export { many } from './handler.js';
export type { StageContext, StageHandler, TraceContext } from './handler.js';
export type { ErrorPolicy, ErrorRecord } from './stage-loop.js';
export { StageRegistry, stages } from './registry.js';
export type { Registration, StageDefaults } from './registry.js';
export { PipelineError, type PipelineErrorCode } from './errors.js';
export type { LatencySummary } from './histogram.js';
export type { HopTrace, MessageTrace, TraceOptions, TraceStats } from './trace.js';
