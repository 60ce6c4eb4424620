// Round-trip peer (bench/xproc-roundtrip.mjs), Unix domain socket via node:net: ping writes `size`
// bytes and waits until `size` bytes came back; pong echoes what it reads. argv[2] = JSON { role,
// path, size, n?, warmup?, budgetMs? }. Ping reports the latency summary.
import net from 'node:net';
import { unlinkSync } from 'node:fs';
import { timeRoundTrips } from '../lib/xproc.mjs';

const a = JSON.parse(process.argv[2]);
if (a.role === 'pong') {
  try {
    unlinkSync(a.path);
  } catch {}
  const server = net.createServer((sock) => {
    sock.setNoDelay(true);
    sock.on('data', (d) => sock.write(d));
    sock.on('end', () => {
      server.close();
      process.send({ type: 'result' }, () => process.disconnect());
    });
  });
  server.listen(a.path, () => process.send({ type: 'ready' }));
} else {
  const sock = net.connect(a.path);
  await new Promise((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  let waiting;
  let have = 0;
  sock.on('data', (d) => {
    have += d.length;
    if (have >= a.size && waiting) {
      have -= a.size;
      const w = waiting;
      waiting = undefined;
      w();
    }
  });
  const msg = Buffer.alloc(a.size);
  const once = () =>
    new Promise((resolve) => {
      waiting = resolve;
      sock.write(msg);
    });
  const summary = await timeRoundTrips(once, a);
  sock.end();
  process.send({ type: 'result', ...summary }, () => process.disconnect());
}
