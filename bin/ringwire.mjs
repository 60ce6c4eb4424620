#!/usr/bin/env node
// The ringwire command: inspect persistent logs and channel files.
//
//   ringwire log tail <dir> [-f] [-n N] [--from start|end|SEQ] [--format ndjson|text]
//   ringwire log dump <dir> [--from start|SEQ]        every record, NDJSON with sequence and time
//   ringwire log verify <dir>                         checks every CRC; exit 1 on damage to committed
//                                                     records (an unfinished tail after a crash is not)
//   ringwire log ship <dir> --server URL --stream S   publishes the log to a JetStream stream until
//                                                     SIGINT/SIGTERM (ringwire/nats: needs the NATS client)
//   ringwire stat <log-dir | channel-file | name>     counters read from shared memory, as JSON
//                                                     (--prometheus: in Prometheus' text format)
//   ringwire ls [--format text|ndjson]                named channels in /dev/shm: state, roles, depth
//   ringwire rm <name | channel-file>                 removes a channel (processes using it go on)
//
// Exit codes: 0 ok, 1 corruption found (verify), a corrupt record met (tail/dump) or no such
// channel (rm), 2 usage, not a log or not a channel. `ringwire [<command>] --help` says it all.
import { readFileSync } from 'node:fs';
import { Channel, LogReader, channelPath, isLogDir, listChannels, metricsOf, statPath, verifyLog } from '../dist/index.js';

const VERSION = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;

/** Every command: its usage line and what it does, for `ringwire --help` and `ringwire <command> --help`. */
const COMMANDS = {
  'log tail': {
    usage: 'ringwire log tail <dir> [-f|--follow] [-n N] [--from start|end|SEQ] [--format ndjson|text]',
    help: `The last N records of the log in <dir> (default 10), one per line: NDJSON (json logs as stored,
string logs as JSON strings, others as {"base64": ...}) or text ("SEQ TIME PAYLOAD").
  -f, --follow    keep printing records as they are appended (also by other processes) until Ctrl-C
  -n N            how many: the last N; with --from, at most N from there
  --from WHERE    start at the first record (start), after the last (end) or at sequence SEQ
  --format F      ndjson (default) or text
Exit: 0 ok; 1 a corrupt record was met; 2 usage, or <dir> is not a log.`,
  },
  'log dump': {
    usage: 'ringwire log dump <dir> [--from start|SEQ]',
    help: `Every record from the start (or SEQ), as NDJSON {"sequence", "timestamp", "value"}.
Exit: 0 ok; 1 a corrupt record was met; 2 usage, or <dir> is not a log.`,
  },
  'log verify': {
    usage: 'ringwire log verify <dir>',
    help: `Checks every record's CRC32C, length, type and sequence, in every segment.
Exit: 0 every committed record checks (an unfinished tail left by a crashed writer is reported,
not an error: the next LogWriter.open repairs it); 1 committed records are damaged; 2 usage, or
<dir> is not a log.`,
  },
  'log ship': {
    usage: 'ringwire log ship <dir> --server URL [--server URL...] --stream NAME [--subject S] [--replicas N]',
    help: `Follows the log in <dir> and publishes every record, in order and exactly once, to the NATS
JetStream stream NAME (created with N replicas if missing; one stream per log) until SIGINT or
SIGTERM; prints its stats (lag in records and bytes) as JSON every 10 s and at the end. Needs the
optional packages @nats-io/transport-node and @nats-io/jetstream.
  --server URL    a NATS server (repeat for a cluster)
  --stream NAME   the JetStream stream
  --subject S     the subject (default: ringwire.log.<stream>)
  --replicas N    replicas of a stream it creates
Exit: 0 stopped by a signal; 2 usage, <dir> is not a log, or the NATS client is missing.`,
  },
  stat: {
    usage: 'ringwire stat [--prometheus] <log-dir | channel-file | channel-name>',
    help: `The counters of a log or a channel, read from its shared memory, as JSON. A plain name is the
channel /dev/shm/ringwire-<name>.
  --prometheus    the same counters in Prometheus' text format, with the names and labels of
                  channel.metrics() and a log writer's metrics() (needs the package prom-client)
Exit: 0 ok; 2 usage, neither a log nor a channel, or prom-client is missing.`,
  },
  ls: {
    usage: 'ringwire ls [--format text|ndjson]',
    help: `The named channels in /dev/shm: name, capacity, codec, stream state, the sender and receiver
(pid, thread, alive or dead) and the bytes waiting.
Exit: 0 ok; 2 usage.`,
  },
  rm: {
    usage: 'ringwire rm <channel-name | channel-file>',
    help: `Removes a channel file (processes that have it open go on using it).
Exit: 0 removed; 1 no such channel; 2 usage, or the file is not a channel.`,
  },
};

const USAGE = `usage:\n${Object.values(COMMANDS).map((c) => `  ${c.usage}`).join('\n')}
  ringwire --version
  ringwire [<command>] --help`;

class UsageError extends Error {
  /** Whether the usage of every command follows the message (not when it names the command's own). */
  constructor(message, all = true) {
    super(message);
    this.all = all;
  }
}
/** `--help`: the usage of the command named before it (or of all), on stdout, exit 0. */
class HelpRequest extends Error {}

function parse(args) {
  const out = { positional: [], follow: false, prometheus: false, n: undefined, from: undefined, format: undefined, servers: [], stream: undefined, subject: undefined, replicas: undefined };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const value = () => {
      if (i + 1 >= args.length) throw new UsageError(`${a} needs a value`);
      return args[++i];
    };
    if (a === '-f' || a === '--follow') out.follow = true;
    else if (a === '-n') {
      out.n = Number(value());
      if (!Number.isSafeInteger(out.n) || out.n < 0) throw new UsageError(`-n must be a non-negative integer`);
    } else if (a === '--from') {
      const v = value();
      out.from = v === 'start' || v === 'end' ? v : Number(v);
      if (typeof out.from === 'number' && !(Number.isSafeInteger(out.from) && out.from >= 0)) {
        throw new UsageError(`--from must be start, end or a sequence number, got ${v}`);
      }
    } else if (a === '--format') {
      out.format = value();
      if (out.format !== 'ndjson' && out.format !== 'text') throw new UsageError(`--format must be ndjson or text`);
    } else if (a === '--server') out.servers.push(value());
    else if (a === '--stream') out.stream = value();
    else if (a === '--prometheus') out.prometheus = true;
    else if (a === '--subject') out.subject = value();
    else if (a === '--replicas') {
      out.replicas = Number(value());
      if (!Number.isSafeInteger(out.replicas) || out.replicas < 1) throw new UsageError(`--replicas must be a positive integer`);
    } else if (a === '-h' || a === '--help') throw new HelpRequest(out.positional.join(' '));
    else if (a === '--version') out.version = true;
    else if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`);
    else out.positional.push(a);
  }
  return out;
}

// Writes to stdout, waiting when the pipe is full (and stopping quietly if it closes: `| head`).
let stdoutClosed = false;
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') {
    stdoutClosed = true;
    process.exit(0);
  }
  throw err;
});
function out(line) {
  if (stdoutClosed) return Promise.resolve();
  if (process.stdout.write(line + '\n')) return undefined;
  return new Promise((resolve) => process.stdout.once('drain', resolve));
}

const decoder = new TextDecoder();
/** A record as one line: the payload text for json/string logs (as stored), base64 for bytes. */
function payloadText(bytes, codec) {
  if (codec === 'json' || codec === 'string') return decoder.decode(bytes);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64');
}

function formatEntry(e, codec, format) {
  const text = payloadText(e.value, codec);
  if (format === 'text') return `${e.sequence} ${new Date(e.timestamp).toISOString()} ${text}`;
  if (codec === 'json') return text; // already one JSON document per record
  return JSON.stringify(codec === 'string' ? text : { base64: text });
}

function codecOf(dir) {
  const probe = LogReader.open(dir, { raw: true, from: 'end' });
  probe.close();
  return probe.codec;
}

async function tail(dir, o) {
  const codec = codecOf(dir);
  let from = o.from;
  // -n alone: the last N; with --from, at most N from there.
  let limit = o.from === undefined || o.n === undefined ? Infinity : o.n;
  if (from === undefined) {
    const end = LogReader.open(dir, { raw: true, from: 'end' });
    from = Math.max(0, end.nextSequence - (o.n ?? 10));
    end.close();
  }
  const reader = LogReader.open(dir, { raw: true, from });
  const stop = () => reader.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const source = o.follow ? reader.follow() : reader;
    for await (const e of source) {
      if (limit-- <= 0) break;
      await out(formatEntry(e, codec, o.format ?? 'ndjson'));
    }
  } finally {
    reader.close();
  }
}

async function dump(dir, o) {
  const codec = codecOf(dir);
  const reader = LogReader.open(dir, { raw: true, from: o.from ?? 'start' });
  try {
    for (let e = reader.read(); e !== undefined; e = reader.read()) {
      const text = payloadText(e.value, codec);
      const value = codec === 'json' ? text : JSON.stringify(codec === 'string' ? text : { base64: text });
      await out(`{"sequence":${e.sequence},"timestamp":${e.timestamp},"value":${value}}`);
    }
  } finally {
    reader.close();
  }
}

function verify(dir) {
  const r = verifyLog(dir);
  const span = r.records > 0 ? `sequences ${r.firstSequence}..${r.nextSequence - 1}` : 'no records';
  console.log(`${dir}: ${r.segments} segment(s), ${r.records} record(s), ${span}, ${r.payloadBytes} payload bytes`);
  const t = r.unfinishedTail;
  if (t !== undefined) {
    const where = `${t.segment} from offset ${t.offset}${t.rollInterrupted ? ' (a segment roll interrupted before this segment was sealed)' : ''}`;
    if (t.writerRunning) console.log(`tail: a record being written by the running writer (${t.bytes} bytes) at ${where}`);
    else console.log(`unfinished tail after a crash (${t.bytes} bytes), repaired when the log is next opened for writing: ${where}`);
  }
  if (r.ok) {
    console.log(t === undefined ? 'ok: every record CRC32C checks' : 'ok: every committed record CRC32C checks');
    return 0;
  }
  const p = r.problems[0];
  console.log(`CORRUPT ${p.segment} at offset ${p.offset}: ${p.problem}`);
  if (r.problems.length > 1) console.log(`(${r.problems.length - 1} more problem(s) in later segments)`);
  return 1;
}

const holderText = (h) => (h === undefined ? '-' : `pid ${h.pid} tid ${h.tid} ${h.alive ? 'alive' : 'dead'}`);

async function list(format) {
  const rows = listChannels();
  if (format === 'ndjson') {
    for (const c of rows) await out(JSON.stringify(c));
    return;
  }
  const table = [['NAME', 'CAPACITY', 'CODEC', 'STATE', 'SENDER', 'RECEIVER', 'DEPTH']];
  for (const c of rows) {
    if ('problem' in c) table.push([c.name, '-', '-', `not a channel: ${c.problem}`, '', '', '']);
    else table.push([c.name, String(c.capacity), c.codec, c.state, holderText(c.sender), holderText(c.receiver), `${c.depthBytes} B`]);
  }
  const widths = table[0].map((_, k) => Math.max(...table.map((r) => r[k].length)));
  for (const r of table) await out(r.map((cell, k) => cell.padEnd(widths[k])).join('  ').trimEnd());
}

async function ship(dir, o) {
  if (o.servers.length === 0 || o.stream === undefined) throw new UsageError('log ship needs --server and --stream');
  let nats;
  try {
    nats = await import('../dist/nats.js');
  } catch (err) {
    if (err?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
    throw new UsageError(`log ship needs the NATS client: npm install @nats-io/transport-node @nats-io/jetstream (${err.message})`);
  }
  const shipper = nats.shipLog(dir, { servers: o.servers, stream: o.stream, subject: o.subject, replicas: o.replicas });
  console.error(`ringwire: shipping ${dir} to stream ${shipper.stream}, subject ${shipper.subject}, as ${shipper.source}`);
  const report = () => console.log(JSON.stringify(shipper.stats()));
  const timer = setInterval(report, 10_000);
  const stop = () => void shipper.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await shipper.done;
  } finally {
    clearInterval(timer);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  report();
  return 0;
}

/** The usage error for a known command given the wrong arguments: says what is missing. */
function argumentsError(name, given) {
  const wanted = COMMANDS[name].usage.match(/<[^>]+>/g) ?? [];
  const what = given < wanted.length ? `missing ${wanted[given]}` : 'too many arguments';
  return new UsageError(`${name}: ${what}\nusage: ${COMMANDS[name].usage}`, false);
}

async function main(argv) {
  const o = parse(argv);
  if (o.version) {
    console.log(VERSION);
    return 0;
  }
  const [cmd, sub, target] = o.positional;
  const known = cmd === 'log' ? `log ${sub}` : cmd;
  if (known in COMMANDS) {
    const arity = (COMMANDS[known].usage.match(/<[^>]+>/g) ?? []).length + known.split(' ').length;
    if (o.positional.length !== arity) throw argumentsError(known, o.positional.length - known.split(' ').length);
  } else if (cmd === 'log') {
    throw new UsageError(sub === undefined ? 'log: missing a subcommand (tail, dump, verify or ship)' : `log: unknown subcommand ${sub} (tail, dump, verify or ship)`);
  }
  if (cmd === 'log' && (sub === 'tail' || sub === 'dump' || sub === 'verify') && target !== undefined && o.positional.length === 3) {
    if (!isLogDir(target)) throw new UsageError(`${target} is not a ringwire log directory`);
    if (sub === 'tail') await tail(target, o);
    else if (sub === 'dump') await dump(target, o);
    else return verify(target);
    return 0;
  }
  if (cmd === 'log' && sub === 'ship') {
    if (!isLogDir(target)) throw new UsageError(`${target} is not a ringwire log directory`);
    return ship(target, o);
  }
  if (cmd === 'stat' && sub !== undefined && o.positional.length === 2) {
    // A path that exists is that path; otherwise a plain name is the named channel.
    if (o.prometheus) process.stdout.write(await metricsOf(sub));
    else console.log(JSON.stringify(statPath(sub), null, 2));
    return 0;
  }
  if (cmd === 'ls' && o.positional.length === 1) {
    await list(o.format ?? 'text');
    return 0;
  }
  if (cmd === 'rm' && sub !== undefined && o.positional.length === 2) {
    if (Channel.unlink(sub)) return 0;
    console.error(`ringwire: no channel ${sub} (${channelPath(sub)})`);
    return 1;
  }
  throw new UsageError(o.positional.length === 0 ? '' : `unknown command: ${o.positional.join(' ')}`);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    if (err instanceof HelpRequest) {
      const name = err.message.startsWith('log ') ? err.message.split(' ').slice(0, 2).join(' ') : err.message.split(' ')[0];
      const c = COMMANDS[name];
      console.log(c === undefined ? `ringwire ${VERSION}: inspect ringwire logs and channels\n${USAGE}\n\nringwire <command> --help describes a command and its exit codes.` : `usage: ${c.usage}\n\n${c.help}`);
      process.exitCode = 0;
    } else if (err instanceof UsageError) {
      if (err.message) console.error(`ringwire: ${err.message}`);
      if (err.all) console.error(USAGE);
      process.exitCode = 2;
    } else if (err?.code === 'ERR_CORRUPT') {
      console.error(`ringwire: ${err.message}`);
      process.exitCode = 1;
    } else if (err?.code === 'ERR_NOT_A_LOG' || err?.code === 'ERR_INVALID_ARG' || err?.code === 'ERR_MISSING_DEPENDENCY' || err?.code === 'ERR_NOT_A_CHANNEL' || err?.code?.startsWith?.('ERR_NATS_')) {
      console.error(`ringwire: ${err.message}`);
      process.exitCode = 2;
    } else {
      console.error(err);
      process.exitCode = 2;
    }
  },
);
