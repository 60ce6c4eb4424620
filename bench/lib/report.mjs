// Turns scenario results into markdown: throughput, round trip, GC and the issue's targets. Every
// ratio is computed from peers measured in the same run.
import { describeMachine, fixed, markdownTable, ratio, si } from './common.mjs';

const find = (rs, scenario, impl, size) => rs.find((r) => r.scenario === scenario && r.impl === impl && r.size === size && !r.error);
const tput = (rs, impl, size) => find(rs, 'throughput', impl, size)?.msgsPerSec;
const xproc = (rs, impl, size) => find(rs, 'xproc-throughput', impl, size)?.msgsPerSec;
const times = (v) => `${v.toFixed(1)}x`;
const percent = (v) => `${v >= 0 ? '+' : ''}${(v * 100).toFixed(0)}%`;
const logRow = (rs, name) => rs.find((r) => r.scenario === 'log-append' && r.impl === name && !r.error);
/** a / b, or undefined when either is missing. */
const over = (a, b) => (a !== undefined && b !== undefined ? a / b : undefined);

/** Targets of issues #9 and #14; `measure` picks the number from this run's results (one Node version). */
export const TARGETS = [
  {
    name: '32 B worker → worker, batch API (trySendMany 64) ≥ 25 M msgs/s',
    measure: (rs) => tput(rs, 'ringwire-batch', 32),
    ok: (v) => v >= 25e6,
    show: (v) => `${si(v)} msgs/s`,
  },
  {
    name: '32 B batch API ≥ 40x MessagePort (same run)',
    measure: (rs) => over(tput(rs, 'ringwire-batch', 32), tput(rs, 'messageport', 32)),
    ok: (v) => v >= 40,
    show: times,
  },
  {
    name: '32 B batch API ≥ 10x ringbuf.js (same run)',
    measure: (rs) => over(tput(rs, 'ringwire-batch', 32), tput(rs, 'ringbuf', 32)),
    ok: (v) => v >= 10,
    show: times,
  },
  {
    name: '32 B worker → worker, plain trySend ≥ 8 M msgs/s',
    measure: (rs) => tput(rs, 'ringwire', 32),
    ok: (v) => v >= 8e6,
    show: (v) => `${si(v)} msgs/s`,
  },
  {
    name: '32 B process → process, batch API within 10% of threads',
    measure: (rs) => over(xproc(rs, 'ringwire-xproc-batch', 32), tput(rs, 'ringwire-batch', 32)),
    ok: (v) => v >= 0.9,
    show: (v) => percent(v - 1),
  },
  {
    name: '1 KiB process → process (trySend) within 10% of threads',
    measure: (rs) => over(xproc(rs, 'ringwire-xproc', 1024), tput(rs, 'ringwire', 1024)),
    ok: (v) => v >= 0.9,
    show: (v) => percent(v - 1),
  },
  {
    name: 'log append 100 B, appendBatch ≥ 10 M records/s',
    measure: (rs) => logRow(rs, 'ringwire appendBatch x256 (bytes, 100 B)')?.opsPerSec,
    ok: (v) => v >= 10e6,
    show: (v) => `${si(v)} records/s`,
  },
  {
    name: 'log append 100 B, single append ≥ 6 M/s',
    measure: (rs) => logRow(rs, 'ringwire append (bytes, 100 B)')?.opsPerSec,
    ok: (v) => v >= 6e6,
    show: (v) => `${si(v)} records/s`,
  },
  {
    name: 'log append 100 B, p99 ≤ 1 µs',
    measure: (rs) => logRow(rs, 'ringwire append (bytes, 100 B)')?.p99,
    ok: (v) => v <= 1000,
    show: (v) => `${v.toFixed(0)} ns`,
  },
  {
    name: 'round trip p50 ≤ 1 µs, spinning',
    measure: (rs) => rs.find((r) => r.scenario === 'roundtrip' && r.impl === 'ringwire-spin' && !r.error)?.p50Us,
    ok: (v) => v <= 1,
    show: (v) => `${v.toFixed(2)} µs`,
  },
  {
    name: "gap 5 µs: default p50 within 2x of 'spin'",
    measure: (rs) => gapRatio(rs, 5, 'ringwire-adaptive', 'ringwire-spin'),
    ok: (v) => v <= 2,
    show: (v) => `${v.toFixed(2)}x`,
  },
  {
    name: "every gap: default p50 no worse than 'park' (worst ratio)",
    measure: (rs) => {
      const ratios = [...new Set(rs.filter((r) => r.scenario === 'roundtrip-gap').map((r) => r.gapUs))].map((g) => gapRatio(rs, g, 'ringwire-adaptive', 'ringwire-park'));
      return ratios.length === 0 || ratios.some((x) => x === undefined) ? undefined : Math.max(...ratios);
    },
    ok: (v) => v <= 1,
    show: (v) => `${v.toFixed(2)}x`,
  },
  {
    name: 'idle: default ≤ 1% of a core per waiting side (above the idle process, halved)',
    measure: (rs) => {
      const idle = (impl) => rs.find((r) => r.scenario === 'idle-cpu' && r.impl === impl && !r.error)?.cpuPercent;
      const [both, none] = [idle('ringwire-adaptive'), idle('none')];
      return both === undefined || none === undefined ? undefined : Math.max(0, both - none) / 2;
    },
    ok: (v) => v <= 1,
    show: (v) => `${v.toFixed(2)}%`,
  },
];

/** Process → process rows and the worker-thread case with the same API. */
const XPROC_THREADS = { 'ringwire-xproc': 'ringwire', 'ringwire-xproc-batch': 'ringwire-batch', 'ringwire-xproc-park': 'ringwire' };

/** p50 of impl a ÷ p50 of impl b at gap `gapUs` (undefined if either is missing). */
function gapRatio(rs, gapUs, a, b) {
  const p50 = (impl) => rs.find((r) => r.scenario === 'roundtrip-gap' && r.gapUs === gapUs && r.impl === impl && !r.error)?.p50Us;
  const x = p50(a);
  const y = p50(b);
  return x === undefined || y === undefined ? undefined : x / y;
}

const PEER_NAMES = { messageport: 'MessagePort', ringbuf: 'ringbuf.js' };
const OURS = new Set(['ringwire', 'ringwire-cork', 'ringwire-batch']); // compared with the peers, not with each other
const gcCell = (g) => (g ? `${fixed(g.producer.perMillion, 2)} / ${fixed(g.consumer.perMillion, 2)}` : '—');

export function throughputTable(results) {
  const tp = results.filter((r) => r.scenario === 'throughput');
  if (tp.length === 0) return undefined;
  const rows = tp.map((r) => {
    if (r.error && r.msgsPerSec === undefined) return [r.sizeLabel, r.label, 'FAILED', '', '', '', '', '', ''];
    const rw = tp.find((x) => x.size === r.size && x.impl === 'ringwire');
    return [
      r.sizeLabel,
      r.label + (r.error ? ' (ERROR)' : ''),
      si(r.msgsPerSec),
      fixed(r.mbPerSec, 1),
      `±${fixed(r.rmePercent, 1)}%`,
      String(r.k),
      String(r.samples),
      OURS.has(r.impl) ? '—' : ratio(rw?.msgsPerSec, r.msgsPerSec),
      gcCell(r.gc),
    ];
  });
  return markdownTable(
    ['size', 'implementation', 'msgs/s', 'MB/s', '±', 'K', 'samples', 'ringwire ÷ this', 'GCs per M msgs (prod / cons)'],
    rows,
    ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  );
}

export function ratioLines(results) {
  const tp = results.filter((r) => r.scenario === 'throughput' && !r.error);
  const lines = [];
  for (const size of [...new Set(tp.map((r) => r.size))]) {
    const rw = tp.find((r) => r.size === size && r.impl === 'ringwire');
    if (!rw) continue;
    const parts = tp
      .filter((r) => r.size === size && !OURS.has(r.impl))
      .map((r) => `ringwire / ${PEER_NAMES[r.impl] ?? r.impl} = ${ratio(rw.msgsPerSec, r.msgsPerSec)}`);
    lines.push(`- ${rw.sizeLabel}: ${parts.join(', ')}`);
  }
  const rt = results.filter((r) => r.scenario === 'roundtrip' && !r.error);
  const port = rt.find((r) => r.impl === 'messageport');
  if (port) {
    for (const r of rt.filter((x) => x.impl !== 'messageport')) {
      lines.push(`- round trip p50: MessagePort / ${r.label} = ${ratio(port.p50Us, r.p50Us)} (ringwire faster when > 1)`);
    }
  }
  return lines.join('\n');
}

export function roundtripTable(results) {
  const rt = results.filter((r) => r.scenario === 'roundtrip');
  if (rt.length === 0) return undefined;
  const port = rt.find((r) => r.impl === 'messageport' && !r.error);
  const rows = rt.map((r) =>
    r.error
      ? [r.label, 'FAILED', '', '', '', '', '', '']
      : [
          r.label,
          fixed(r.p50Us, 2),
          fixed(r.p90Us, 2),
          fixed(r.p99Us, 2),
          fixed(r.p999Us, 2),
          fixed(r.meanUs, 2),
          String(r.n),
          r.impl === 'messageport' ? '—' : ratio(port?.p50Us, r.p50Us),
        ],
  );
  return markdownTable(
    ['round trip, 32 B', 'p50 µs', 'p90 µs', 'p99 µs', 'p99.9 µs', 'mean µs', 'round trips', 'MessagePort p50 ÷ this'],
    rows,
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  );
}

/** Latency vs gap: one row per implementation, p50 / p99 per gap. */
export function gapTable(results) {
  const rg = results.filter((r) => r.scenario === 'roundtrip-gap');
  if (rg.length === 0) return undefined;
  const gaps = [...new Set(rg.map((r) => r.gapUs))];
  const impls = [...new Map(rg.map((r) => [r.impl, r.label])).entries()];
  const cell = (impl, g) => {
    const r = rg.find((x) => x.impl === impl && x.gapUs === g);
    return r === undefined ? '—' : r.error ? 'FAILED' : `${fixed(r.p50Us, 1)} / ${fixed(r.p99Us, 0)}`;
  };
  const gapLabel = (g) => (g >= 1000 ? `${g / 1000} ms` : `${g} µs`);
  return markdownTable(
    ['round trip, 32 B, p50 / p99 µs', ...gaps.map((g) => `gap ${gapLabel(g)}`)],
    impls.map(([impl, label]) => [label, ...gaps.map((g) => cell(impl, g))]),
    ['l', ...gaps.map(() => 'r')],
  );
}

export function idleTable(results) {
  const ic = results.filter((r) => r.scenario === 'idle-cpu');
  if (ic.length === 0) return undefined;
  return markdownTable(
    [`waiting, ${ic[0].idleMs / 1000} s idle`, 'process CPU, % of one core'],
    ic.map((r) => [r.label, r.error ? 'FAILED' : fixed(r.cpuPercent, 2)]),
    ['l', 'r'],
  );
}

export function receiveTable(results) {
  const rc = results.filter((r) => r.scenario === 'receive');
  if (rc.length === 0) return undefined;
  const rows = rc.map((r) => {
    const base = rc.find((x) => x.size === r.size && x.codec === r.codec && x.label.startsWith('drain, no decode'));
    return [
      `${r.size} B`,
      r.codec,
      r.label,
      fixed(r.nsPerMsg, 0),
      r === base ? '—' : fixed(r.nsPerMsg - base.nsPerMsg, 0),
      `±${fixed(r.rmePercent, 1)}%`,
    ];
  });
  return markdownTable(
    ['size', 'codec', 'receive path', 'ns/msg (reserve/commit + receive)', 'ns/msg above drain', '±'],
    rows,
    ['l', 'l', 'l', 'r', 'r', 'r'],
  );
}

export function gcLines(results) {
  const rw = results.filter((r) => r.scenario === 'throughput' && r.impl === 'ringwire' && r.gc);
  if (rw.length === 0) return undefined;
  const gib = (messages, size) => ((messages * ((size + 15) & ~7)) / 2 ** 30).toFixed(1);
  return rw
    .map((r) => {
      const p = r.gc.producer;
      const c = r.gc.consumer;
      return (
        `- ${r.sizeLabel}: consumer (drain) ${c.count} GCs (${c.minor} minor, ${c.major} major) in ${si(c.messages)} messages ` +
        `= ${fixed(c.perMillion, 3)} per M; producer (trySend) ${p.count} GCs = ${fixed(p.perMillion, 3)} per M. ` +
        `${gib(c.messages, r.size)} GiB of records went through the ring; the producer found it full ${r.extra?.producer?.fullWaits ?? '?'} times ` +
        `(sendSync), the consumer found it empty and napped ${r.extra?.consumer?.naps ?? '?'} times (allocation-free)`
      );
    })
    .join('\n');
}

export function targetsTable(results) {
  const rows = [];
  for (const t of TARGETS) {
    const v = t.measure(results);
    if (v === undefined) continue;
    rows.push([t.name, t.show(v), t.ok(v) ? 'yes' : 'NO']);
  }
  if (rows.length === 0) return undefined;
  return markdownTable(['target (from the issue)', 'measured', 'met'], rows, ['l', 'r', 'l']);
}

/** One row per case, one column group per Node version: the README's side-by-side tables. */
export function sideBySide(results, versions) {
  const parts = ['## Node versions side by side'];
  const ok = results.filter((r) => !r.error);
  const tp = ok.filter((r) => r.scenario === 'throughput');
  if (tp.length) {
    const keys = [...new Map(tp.map((r) => [`${r.size} ${r.impl}`, r])).values()];
    const rows = keys.map((k) => [
      k.sizeLabel,
      k.label,
      ...versions.flatMap((v) => {
        const r = tp.find((x) => x.node === v && x.size === k.size && x.impl === k.impl);
        const rw = tp.find((x) => x.node === v && x.size === k.size && x.impl === 'ringwire');
        return [r ? si(r.msgsPerSec) : '—', r && !OURS.has(r.impl) ? ratio(rw?.msgsPerSec, r.msgsPerSec) : '—'];
      }),
    ]);
    const head = ['size', 'implementation', ...versions.flatMap((v) => [`msgs/s, Node ${v}`, `ringwire ÷ this, ${v}`])];
    parts.push('### Throughput, worker → worker', markdownTable(head, rows, ['l', 'l', ...versions.flatMap(() => ['r', 'r'])]));
  }
  const xp = ok.filter((r) => r.scenario === 'xproc-throughput');
  if (xp.length) {
    const keys = [...new Map(xp.map((r) => [`${r.size} ${r.impl}`, r])).values()];
    const rows = keys.map((k) => [
      k.sizeLabel,
      k.label,
      ...versions.flatMap((v) => {
        const r = xp.find((x) => x.node === v && x.size === k.size && x.impl === k.impl);
        const of = XPROC_THREADS[k.impl];
        if (of !== undefined) {
          // The same API between worker threads in this run: a ratio under 1 is what processes lose.
          return [r ? si(r.msgsPerSec) : '—', r ? `${fixed((100 * r.msgsPerSec) / tput(ok.filter((x) => x.node === v), of, k.size), 0)}% of threads` : '—'];
        }
        const rw = xp.find((x) => x.node === v && x.size === k.size && x.impl === 'ringwire-xproc');
        return [r ? si(r.msgsPerSec) : '—', r ? `ringwire ${ratio(rw?.msgsPerSec, r.msgsPerSec)}` : '—'];
      }),
    ]);
    const head = ['size', 'implementation', ...versions.flatMap((v) => [`msgs/s, Node ${v}`, `compared, ${v}`])];
    parts.push('### Throughput, process → process', markdownTable(head, rows, ['l', 'l', ...versions.flatMap(() => ['r', 'r'])]));
  }
  const rt = ok.filter((r) => r.scenario === 'roundtrip');
  if (rt.length) {
    const keys = [...new Map(rt.map((r) => [r.impl, r])).values()];
    const rows = keys.map((k) => [k.label, ...versions.map((v) => fixed(rt.find((x) => x.node === v && x.impl === k.impl)?.p50Us, 2))]);
    parts.push('### Round trip p50 (µs), 32 B', markdownTable(['round trip', ...versions.map((v) => `Node ${v}`)], rows, ['l', ...versions.map(() => 'r')]));
  }
  const co = ok.filter((r) => r.scenario === 'cost');
  if (co.length) {
    const keys = [...new Map(co.map((r) => [r.impl, r])).values()];
    const rows = keys.map((k) => [k.label, ...versions.map((v) => fixed(co.find((x) => x.node === v && x.impl === k.impl)?.nsPerMsg, 1))]);
    parts.push('### Cost per 32 B message, one thread (ns)', markdownTable(['step', ...versions.map((v) => `Node ${v}`)], rows, ['l', ...versions.map(() => 'r')]));
  }
  const rg = ok.filter((r) => r.scenario === 'roundtrip-gap');
  if (rg.length) {
    const keys = [...new Map(rg.map((r) => [`${r.impl} ${r.gapUs}`, r])).values()];
    const rows = keys.map((k) => [k.label, `${k.gapUs} µs`, ...versions.map((v) => fixed(rg.find((x) => x.node === v && x.impl === k.impl && x.gapUs === k.gapUs)?.p50Us, 1))]);
    parts.push('### Round trip p50 (µs) by the gap between requests', markdownTable(['round trip', 'gap', ...versions.map((v) => `Node ${v}`)], rows, ['l', 'r', ...versions.map(() => 'r')]));
  }
  const ic = ok.filter((r) => r.scenario === 'idle-cpu');
  if (ic.length) {
    const keys = [...new Map(ic.map((r) => [r.impl, r])).values()];
    const rows = keys.map((k) => [k.label, ...versions.map((v) => fixed(ic.find((x) => x.node === v && x.impl === k.impl)?.cpuPercent, 2))]);
    parts.push(`### CPU while idle (% of one core, whole process, ${ic[0].idleMs / 1000} s)`, markdownTable(['waiting', ...versions.map((v) => `Node ${v}`)], rows, ['l', ...versions.map(() => 'r')]));
  }
  const la = ok.filter((r) => r.scenario === 'log-append');
  if (la.length) {
    const keys = [...new Map(la.map((r) => [r.impl, r])).values()];
    const cell = (r) => (r ? `${si(r.opsPerSec)} / ${fixed(r.p50, 0)} / ${fixed(r.p99, 0)}` : '—');
    const rows = keys.map((k) => [k.label, ...versions.map((v) => cell(la.find((x) => x.node === v && x.impl === k.impl)))]);
    parts.push('### Log append, 100 B records (records/s / p50 ns / p99 ns)', markdownTable(['scenario', ...versions.map((v) => `Node ${v}`)], rows, ['l', ...versions.map(() => 'r')]));
  }
  const rc = ok.filter((r) => r.scenario === 'receive');
  if (rc.length) {
    const keys = [...new Map(rc.map((r) => [`${r.size} ${r.codec} ${r.label}`, r])).values()];
    const rows = keys.map((k) => [
      `${k.size} B`,
      k.codec,
      k.label,
      ...versions.map((v) => fixed(rc.find((x) => x.node === v && x.size === k.size && x.codec === k.codec && x.label === k.label)?.nsPerMsg, 0)),
    ]);
    parts.push('### Receive cost (ns/msg, reserve/commit + receive, one thread)', markdownTable(['size', 'codec', 'receive path', ...versions.map((v) => `Node ${v}`)], rows, ['l', 'l', 'l', ...versions.map(() => 'r')]));
  }
  return parts.join('\n\n');
}

export function fullReport({ machine, results, date, seconds }) {
  const parts = [`Machine: ${describeMachine(machine)}`, `Run: ${date}${seconds ? `, ${seconds.toFixed(0)} s` : ''}`];
  const tp = throughputTable(results);
  if (tp) {
    parts.push(
      '### Throughput, worker → worker',
      'One benny op = the producer and consumer workers move K messages; msgs/s = ops/s × K; MB/s = payload bytes / 1e6.',
      tp,
    );
  }
  const rt = roundtripTable(results);
  if (rt) parts.push('### Round trip (ping-pong, two channels)', rt);
  const co = results.filter((r) => r.scenario === 'cost' && !r.error);
  if (co.length) parts.push('### Cost per 32 B message, one thread (ns)', markdownTable(['step', 'ns'], co.map((r) => [r.label, fixed(r.nsPerMsg, 1)]), ['l', 'r']));
  const rg = gapTable(results);
  if (rg) parts.push('### Round trip vs the gap between requests', 'Ping leaves the gap between a reply and its next request (busy-waited up to 50 µs, slept from 500 µs).', rg);
  const ic = idleTable(results);
  if (ic) parts.push('### CPU while idle', 'The whole process (every thread) while nothing is sent; ringwire rows: one thread in recvSync on an empty channel and one in sendSync on a full one.', ic);
  const rc = receiveTable(results);
  if (rc) parts.push('### Receive cost (one thread)', rc);
  const rl = ratioLines(results);
  if (rl) parts.push('### Ratios (peers measured in the same run)', rl);
  const gc = gcLines(results);
  if (gc) parts.push('### GC during the measured phase (ringwire workers)', gc);
  const tg = targetsTable(results);
  if (tg) parts.push('### Targets', tg);
  const errors = results.filter((r) => r.error).map((r) => `- ${r.scenario} ${r.label}: ${r.error}`);
  if (errors.length) parts.push('### Errors', errors.join('\n'));
  return parts.join('\n\n');
}
