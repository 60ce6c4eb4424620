// The persistent log: LogWriter / LogReader over mmap'd segment files (format: cpp/log/format.h).
export { LogWriter } from './writer.js';
export type { Durability, LogWriterOptions } from './options.js';
export type { RecoveryReport } from './recovery.js';
export type { RetentionOptions } from './retention.js';
export { LogReader, type FollowOptions, type LogEntry, type LogReaderOptions } from './reader.js';
export { LogCorruptError, type LogErrorCode } from './errors.js';
export { isLogDir, logStat, statPath, verifyLog, type ChannelFileStat, type LogProblem, type LogStat, type UnfinishedTail, type VerifyReport } from './verify.js';
export { LogDestination, pinoDestination } from './pino.js';
