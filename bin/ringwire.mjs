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
//   ringwire ls [--format text|ndjson]                named channels in /dev/shm: state, roles, depth
//   ringwire rm <name | channel-file>                 removes a channel (processes using it go on)
//
// Exit codes: 0 ok, 1 corruption found (verify), a corrupt record met (tail/dump) or no such
// channel (rm), 2 usage, not a log or not a channel.
import { existsSync } from 'node:fs';
import { Channel, LogReader, channelPath, isLogDir, listChannels, statPath, verifyLog } from '../dist/index.js';

const USAGE = `usage:
  ringwire log tail <dir> [-f|--follow] [-n N] [--from start|end|SEQ] [--format ndjson|text]
  ringwire log dump <dir> [--from start|SEQ]
  ringwire log verify <dir>      exit 0: every committed record checks (an unfinished tail left by
                                a crashed writer is reported, not an error); 1: committed records
                                are damaged; 2: usage, or not a log
  ringwire log ship <dir> --server URL [--server URL…] --stream NAME [--subject S] [--replicas N]
                                follows the log and publishes every record to the JetStream stream
                                until SIGINT/SIGTERM; prints its stats as JSON every 10 s and at the end
  ringwire stat <log-dir | channel-file | channel-name>
  ringwire ls [--format text|ndjson]
  ringwire rm <channel-name | channel-file>`;

class UsageError extends Error {}

function parse(args) {
  const out = { positional: [], follow: false, n: 10, from: undefined, format: undefined, servers: [], stream: undefined, subject: undefined, replicas: undefined };
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
    else if (a === '--subject') out.subject = value();
    else if (a === '--replicas') {
      out.replicas = Number(value());
      if (!Number.isSafeInteger(out.replicas) || out.replicas < 1) throw new UsageError(`--replicas must be a positive integer`);
    } else if (a === '-h' || a === '--help') throw new UsageError('');
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
  if (from === undefined) {
    const end = LogReader.open(dir, { raw: true, from: 'end' });
    from = Math.max(0, end.nextSequence - o.n);
    end.close();
  }
  const reader = LogReader.open(dir, { raw: true, from });
  const stop = () => reader.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const source = o.follow ? reader.follow() : reader;
    for await (const e of source) await out(formatEntry(e, codec, o.format ?? 'ndjson'));
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

async function main(argv) {
  const o = parse(argv);
  const [cmd, sub, target] = o.positional;
  if (cmd === 'log' && (sub === 'tail' || sub === 'dump' || sub === 'verify') && target !== undefined && o.positional.length === 3) {
    if (!isLogDir(target)) throw new UsageError(`${target} is not a ringwire log directory`);
    if (sub === 'tail') await tail(target, o);
    else if (sub === 'dump') await dump(target, o);
    else return verify(target);
    return 0;
  }
  if (cmd === 'log' && sub === 'ship' && target !== undefined && o.positional.length === 3) {
    if (!isLogDir(target)) throw new UsageError(`${target} is not a ringwire log directory`);
    return ship(target, o);
  }
  if (cmd === 'stat' && sub !== undefined && o.positional.length === 2) {
    // A path that exists is that path; otherwise a plain name is the named channel.
    const path = existsSync(sub) || sub.includes('/') ? sub : channelPath(sub);
    console.log(JSON.stringify(statPath(path), null, 2));
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
    if (err instanceof UsageError) {
      if (err.message) console.error(`ringwire: ${err.message}`);
      console.error(USAGE);
      process.exitCode = 2;
    } else if (err?.code === 'ERR_CORRUPT') {
      console.error(`ringwire: ${err.message}`);
      process.exitCode = 1;
    } else if (err?.code === 'ERR_NOT_A_LOG' || err?.code === 'ERR_INVALID_ARG' || err?.code === 'ERR_NOT_A_CHANNEL' || err?.code?.startsWith?.('ERR_NATS_')) {
      console.error(`ringwire: ${err.message}`);
      process.exitCode = 2;
    } else {
      console.error(err);
      process.exitCode = 2;
    }
  },
);
