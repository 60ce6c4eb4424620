// A strict reader of Prometheus' text exposition format (version 0.0.4), for the metrics tests: every
// line must be a comment (# HELP / # TYPE) or a sample `name{label="value",...} number`; anything
// else throws, so a malformed exposition fails the test that reads it.

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  /** Metric family name → its # TYPE. */
  types: Map<string, string>;
  samples: PromSample[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/;

const number = (s: string): number => {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  const v = Number(s);
  if (s === '' || (Number.isNaN(v) && s !== 'NaN')) throw new Error(`not a sample value: ${s}`);
  return v;
};

export function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: PromSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
      if (!m) throw new Error(`bad comment line: ${line}`);
      if (m[1] === 'TYPE') types.set(m[2]!, m[3]!);
      continue;
    }
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`bad sample line: ${line}`);
    const labels: Record<string, string> = {};
    let rest = m[2] ?? '';
    for (let guard = 0; rest !== '' && guard < 100; guard++) {
      const l = LABEL.exec(rest);
      if (!l) throw new Error(`bad labels in: ${line}`);
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      rest = rest.slice(l[0].length);
    }
    samples.push({ name: m[1]!, labels, value: number(m[3]!) });
  }
  return { types, samples };
}

/** The samples named `name` whose labels include `labels`. */
export const samplesOf = (e: Exposition, name: string, labels: Record<string, string> = {}): PromSample[] =>
  e.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));

/** The value of the one sample named `name` with these labels (throws unless there is exactly one). */
export function valueOf(e: Exposition, name: string, labels: Record<string, string> = {}): number {
  const found = samplesOf(e, name, labels);
  if (found.length !== 1) throw new Error(`${found.length} samples of ${name} ${JSON.stringify(labels)}`);
  return found[0]!.value;
}

/** A histogram's series: cumulative buckets by upper bound (+Inf last), _sum and _count. */
export function histogramOf(e: Exposition, name: string, labels: Record<string, string> = {}) {
  const buckets = samplesOf(e, `${name}_bucket`, labels)
    .map((s) => ({ le: number(s.labels.le!), count: s.value }))
    .sort((a, b) => a.le - b.le);
  return { buckets, sum: valueOf(e, `${name}_sum`, labels), count: valueOf(e, `${name}_count`, labels) };
}
