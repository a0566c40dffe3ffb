// Servers for bench/server.mjs, one per process: node bench/server-targets.mjs bare-node|bare-fastify
// Certificate, key and port come from BENCH_CERT, BENCH_KEY, BENCH_PORT. The baselines parse the JSON body (the
// unavoidable cost) and answer a fixed AdmissionReview echoing the uid: the floor any webhook sits on.
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';

const [mode] = process.argv.slice(2);
const key = readFileSync(process.env.BENCH_KEY);
const cert = readFileSync(process.env.BENCH_CERT);
const port = Number(process.env.BENCH_PORT);
const host = '127.0.0.1';
// The webhook's TLS settings (src/server/tls.ts TLS_BASE_OPTIONS) and timeouts (src/server/app.ts).
const tlsOptions = { key, cert, minVersion: 'TLSv1.2', allowHTTP1: true };

const answer = (uid) => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true } });

if (mode === 'bare-node') {
  const server = http2.createSecureServer(tlsOptions, (req, res) => {
    if (req.method !== 'POST' || req.url !== '/mutate') {
      res.writeHead(404).end();
      return;
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let uid = '';
      try {
        uid = JSON.parse(Buffer.concat(chunks).toString('utf8'))?.request?.uid ?? '';
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"Bad Request"}');
        return;
      }
      const body = JSON.stringify(answer(uid));
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) }).end(body);
    });
  });
  Object.assign(server, { keepAliveTimeout: 120_000, requestTimeout: 30_000, headersTimeout: 30_000 });
  server.listen(port, host);
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
} else if (mode === 'bare-fastify') {
  const { default: Fastify } = await import('fastify');
  const app = Fastify({
    http2: true,
    https: tlsOptions,
    logger: false,
    bodyLimit: 3 * 1024 * 1024,
    keepAliveTimeout: 120_000,
    http2SessionTimeout: 120_000,
    requestTimeout: 30_000,
  });
  app.post('/mutate', (request, reply) => reply.send(answer(request.body?.request?.uid ?? '')));
  await app.listen({ port, host });
  process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
