// Pipeline failures: one class with a stable `code`, the stage involved and, for a handler's
// failure, the message's source sequence number and key.

export type PipelineErrorCode =
  | 'ERR_STAGE_FAILED' // a handler threw under the 'fail' policy
  | 'ERR_STAGE_LOAD' // a stage module could not be loaded
  | 'ERR_WORKER_DIED' // a stage's workers died more often than maxRestarts
  | 'ERR_SWAP_FAILED' // a hot swap was rolled back
  | 'ERR_ROLLBACK_FAILED' // a rollback failed: the current version keeps running
  | 'ERR_SOURCE' // the source threw
  | 'ERR_SINK' // the sink (or the dead-letter target) threw
  | 'ERR_ABORTED'
  | 'ERR_PIPELINE_STATE'; // a call that the pipeline's state does not allow

export class PipelineError extends Error {
  readonly code: PipelineErrorCode;
  readonly stage: string | undefined;
  readonly seq: number | undefined;
  readonly key: string | number | undefined;
  /** ERR_SWAP_FAILED: the old version kept running. */
  readonly rolledBack: boolean | undefined;

  constructor(
    code: PipelineErrorCode,
    message: string,
    details: { stage?: string; seq?: number; key?: string | number; cause?: unknown; rolledBack?: boolean } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'PipelineError';
    this.code = code;
    this.stage = details.stage;
    this.seq = details.seq;
    this.key = details.key;
    this.rolledBack = details.rolledBack;
  }
}

/** An error as a worker sends it to the coordinator (structured-clonable). */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { name: err.name, message: err.message, stack: err.stack, ...(typeof code === 'string' ? { code } : {}) };
  }
  return { name: 'Error', message: String(err) };
}

/** An Error rebuilt from a worker's serialized one (for `cause`). */
export function reviveError(e: SerializedError): Error {
  const err = new Error(e.message);
  err.name = e.name;
  if (e.stack !== undefined) err.stack = e.stack;
  if (e.code !== undefined) (err as Error & { code?: string }).code = e.code;
  return err;
}
