// Draws the throughput results of a bench run as an SVG bar chart (msgs/s, log scale, by message
// size and implementation, one group per Node version): `node bench/chart.mjs [results.json]`
// writes bench/chart.svg, which the README shows. npm run bench runs it after the scenarios.
import { readFileSync, writeFileSync } from 'node:fs';
import { si } from './lib/common.mjs';

const COLORS = { ringwire: '#1f6feb', 'ringwire-cork': '#8250df', 'ringwire-batch': '#0a7f6f', messageport: '#d1242f', ringbuf: '#9a6700' };
const NAMES = { ringwire: 'ringwire trySend → drain', 'ringwire-cork': 'ringwire corked', 'ringwire-batch': 'ringwire trySendMany', messageport: 'MessagePort', ringbuf: 'ringbuf.js' };

export function chart(run) {
  const tp = run.results.filter((r) => r.scenario === 'throughput' && !r.error && r.msgsPerSec > 0);
  const versions = [...new Set(tp.map((r) => r.node ?? run.machine.node))];
  const sizes = [...new Map(tp.map((r) => [r.size, r.sizeLabel])).entries()].sort((a, b) => a[0] - b[0]);
  const impls = Object.keys(COLORS).filter((k) => tp.some((r) => r.impl === k));
  const bar = 14;
  const gap = 10;
  const groupW = impls.length * bar + gap;
  const left = 60;
  const top = 40;
  const h = 220;
  const width = Math.max(left + versions.length * (sizes.length * groupW + 30) + 20, left + impls.length * 170, 760);
  const height = top + h + 90;
  const lo = 3; // 1 k msgs/s
  const hi = Math.ceil(Math.log10(Math.max(...tp.map((r) => r.msgsPerSec))));
  const y = (v) => top + h - ((Math.log10(v) - lo) / (hi - lo)) * h;
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(`<text x="${left}" y="18" font-size="13" font-weight="bold">Worker → worker throughput (msgs/s, log scale) — ${run.date.slice(0, 10)}, ${run.machine.cpu}, ${run.machine.cores} cores</text>`);
  for (let e = lo; e <= hi; e++) {
    out.push(`<line x1="${left}" x2="${width - 10}" y1="${y(10 ** e)}" y2="${y(10 ** e)}" stroke="#ddd"/>`);
    out.push(`<text x="${left - 6}" y="${y(10 ** e) + 4}" text-anchor="end">${si(10 ** e, 0)}</text>`);
  }
  let x = left + 10;
  for (const v of versions) {
    const x0 = x;
    for (const [size, label] of sizes) {
      impls.forEach((impl, k) => {
        const r = tp.find((t) => (t.node ?? run.machine.node) === v && t.size === size && t.impl === impl);
        if (!r) return;
        const bx = x + k * bar;
        out.push(`<rect x="${bx}" y="${y(r.msgsPerSec)}" width="${bar - 2}" height="${top + h - y(r.msgsPerSec)}" fill="${COLORS[impl]}"><title>${NAMES[impl]}, ${label}, Node ${v}: ${si(r.msgsPerSec)} msgs/s</title></rect>`);
      });
      out.push(`<text x="${x + (impls.length * bar) / 2}" y="${top + h + 14}" text-anchor="middle">${label}</text>`);
      x += groupW;
    }
    out.push(`<text x="${(x0 + x - gap) / 2}" y="${top + h + 32}" text-anchor="middle" font-weight="bold">Node ${v}</text>`);
    x += 30;
  }
  impls.forEach((impl, k) => {
    const lx = left + k * 170;
    out.push(`<rect x="${lx}" y="${top + h + 50}" width="10" height="10" fill="${COLORS[impl]}"/><text x="${lx + 14}" y="${top + h + 59}">${NAMES[impl]}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

if (process.argv[1] === new URL(import.meta.url).pathname) {
  const file = process.argv[2] ?? new URL('./results/latest.json', import.meta.url);
  const run = JSON.parse(readFileSync(file, 'utf8'));
  writeFileSync(new URL('./chart.svg', import.meta.url), chart(run));
  console.log('wrote bench/chart.svg');
}
