// The persistent log: LogWriter / LogReader over mmap'd segment files (format: cpp/log/format.h).
export { LogWriter, type Durability, type LogWriterOptions, type RecoveryReport, type RetentionOptions } from './writer.js';
export { LogReader, type FollowOptions, type LogEntry, type LogReaderOptions } from './reader.js';
export { LogCorruptError, type LogErrorCode } from './errors.js';
export { isLogDir, logStat, statPath, verifyLog, type ChannelFileStat, type LogProblem, type LogStat, type UnfinishedTail, type VerifyReport } from './verify.js';
export { LogDestination, pinoDestination } from './pino.js';
