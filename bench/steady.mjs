// A steady stream of normal admissions for bench/abuse.mjs, in its own process (pinned next to the attacker, not
// the server): open loop, RATE requests per second of BODY over one HTTP/2 connection (as kube-apiserver sends),
// each with a TIMEOUT; a request that waits on a stalled server counts its full wait (no coordinated omission).
// Prints "connected" once its connection is up, then one JSON line: latencies (ms, sorted) of the 200 answers and
// the failures by kind.
//
//   node bench/steady.mjs URL BODY_FILE SECONDS [RATE=100] [TIMEOUT_MS=10000]
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';

const [url, bodyFile, seconds, rate = '100', timeoutMs = '10000'] = process.argv.slice(2);
const body = readFileSync(bodyFile);
const lat = [];
// Every request's wait, failures included (a timed-out request waited TIMEOUT_MS): p99 over all that were sent.
const all = [];
const failures = { timeout: 0, error: 0, status: 0, notAllowed: 0 };
let session;
const connect = () => {
  session = http2.connect(url, { rejectUnauthorized: false });
  session.on('error', () => undefined);
  session.on('close', () => (session = undefined));
};

function one() {
  return new Promise((resolve) => {
    if (!session || session.destroyed || session.closed) connect();
    const t0 = performance.now();
    let done = false;
    const finish = (kind) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const waited = performance.now() - t0;
      all.push(waited);
      if (kind === 'ok') lat.push(waited);
      else failures[kind]++;
      resolve();
    };
    const timer = setTimeout(() => {
      finish('timeout');
      req.close(http2.constants.NGHTTP2_CANCEL);
    }, Number(timeoutMs));
    let req;
    try {
      // content-length as kube-apiserver sends it (Go's client sets it for a byte body); the server budgets by it.
      req = session.request({ ':method': 'POST', ':path': '/mutate', 'content-type': 'application/json', 'content-length': String(body.length) });
    } catch {
      return finish('error');
    }
    let status = 0;
    let text = '';
    req.on('response', (h) => (status = h[':status']));
    req.setEncoding('utf8');
    req.on('data', (d) => (text += d));
    req.on('end', () => finish(status !== 200 ? 'status' : text.includes('"allowed":true') ? 'ok' : 'notAllowed'));
    req.on('error', () => finish('error'));
    req.on('close', () => finish(status === 200 && text.includes('"allowed":true') ? 'ok' : status ? 'status' : 'error'));
    req.end(body);
  });
}

// Connected before the first request is due, as kube-apiserver's connection is before any attack: the caller starts
// its attack when it reads this line (a new TLS connection dialled during a connection flood waits its turn behind
// the flood's, which is not what is measured here).
connect();
await new Promise((resolve) => {
  session.once('connect', resolve);
  session.once('close', resolve);
  setTimeout(resolve, 5000).unref();
});
process.stdout.write('connected\n');

const pending = [];
const interval = 1000 / Number(rate);
const start = performance.now();
const total = Math.round(Number(seconds) * Number(rate));
for (let i = 0; i < total; i++) {
  const due = start + i * interval;
  const wait = due - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  pending.push(one());
}
await Promise.all(pending);
session?.close();
lat.sort((a, b) => a - b);
all.sort((a, b) => a - b);
process.stdout.write(`${JSON.stringify({ sent: total, ok: lat.length, failures, lat, all })}\n`);
process.exit(0);
