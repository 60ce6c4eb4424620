// Throughput peer (bench/xproc-throughput.mjs), Unix domain socket via node:net. Each message is
// one write of [u32 length][payload] (the producer waits for 'drain' when write() says so); the
// consumer parses the stream, checks the sequence tag and times first → last message.
// argv[2] = JSON { role, path, size, count }.
import net from 'node:net';
import { unlinkSync } from 'node:fs';

const { role, path, size, count } = JSON.parse(process.argv[2]);
if (role === 'producer') {
  const sock = net.connect(path);
  await new Promise((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  for (let i = 0; i < count; i++) {
    const frame = Buffer.allocUnsafe(4 + size).fill(0x5a);
    frame.writeUInt32LE(size, 0);
    frame[4] = i & 255;
    if (!sock.write(frame)) await new Promise((resolve) => sock.once('drain', resolve));
  }
  await new Promise((resolve) => sock.end(resolve));
  process.send({ type: 'result' });
  process.disconnect();
} else {
  const server = net.createServer((sock) => {
    let got = 0;
    let bad = 0;
    let t0 = 0;
    let pending = Buffer.alloc(0);
    sock.on('data', (chunk) => {
      if (got === 0 && t0 === 0) t0 = performance.now();
      let buf = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      let at = 0;
      while (buf.length - at >= 4) {
        const n = buf.readUInt32LE(at);
        if (buf.length - at < 4 + n) break;
        if (n !== size || buf[at + 4] !== (got & 255)) bad++;
        got++;
        at += 4 + n;
      }
      pending = buf.subarray(at);
      if (got === count) {
        const seconds = (performance.now() - t0) / 1000;
        process.send({ type: 'result', messages: got - 1, seconds, bad }, () => {
          server.close();
          sock.destroy();
          process.disconnect();
        });
      }
    });
  });
  try {
    unlinkSync(path);
  } catch {}
  server.listen(path, () => process.send({ type: 'ready' }));
  server.on('close', () => {
    try {
      unlinkSync(path);
    } catch {}
  });
}
