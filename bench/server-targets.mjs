// The comparison servers of bench/server.mjs, one per process: node bench/server-targets.mjs NAME
// Certificate, key and port come from BENCH_CERT, BENCH_KEY, BENCH_PORT; the floor also reads BENCH_LOG (file its
// pino lines go to). Every target parses the JSON body (the unavoidable cost) and answers an AdmissionReview that
// echoes the uid and allows the Pod.
//
//   bare-https    node:https (HTTP/1.1 only): the ceiling for HTTP/1.1
//   bare-h2       node:http2 secure server, core 'stream' API, NO allowHTTP1 (h2 only): the ceiling for h2
//   bare-fastify  fastify 5, http2 + allowHTTP1 like the webhook (both protocols), logger off
//   floor         bare-fastify plus what any production webhook pays per request whatever it decides: the webhook's
//                 fastify options and JSON parser (the parsed body released once read, as the webhook's handler
//                 does), one pino line through its logger (redaction, ISO time) and its
//                 metrics (counter + histogram) per request, and the webhook's answering: after the event loop's
//                 turn, all requests read in it together, up to TURN_BYTES of bodies and TURN_ADMISSIONS requests
//                 (src/server/app.ts, ADR 0016).
//                 No admission logic: webhook − floor = the cost of deciding, building the patch and the richer
//                 log line.
//   floor-per-request  the floor answering each request in its handler, as the webhook did before ADR 0016.
//   floor-admit   the floor that also runs the webhook's admit() on each review (the chart's config, BENCH_CONFIG, and
//                 MLRUN_IMAGES_REGISTRY), its result dropped: what deciding costs in a server (admit() builds the
//                 answer's text too), without sending that answer or writing the webhook's line.
//   floor-admit-answer  floor-admit sending admit()'s answer (the patch, record and audit annotations), still with the
//                 floor's line and metrics: webhook − floor-admit-answer is the webhook's line and metrics, less the
//                 floor's, plus its own server code. Each request is decided and answered in turn (the webhook
//                 decides a turn's first passes before answering them: the same for a large review, alone in its
//                 turn).
//
// Adding a target: a new branch below and an entry in TARGETS in server.mjs.
import { readFileSync } from 'node:fs';
import https from 'node:https';
import http2 from 'node:http2';
import { performance } from 'node:perf_hooks';

const [mode] = process.argv.slice(2);
const key = readFileSync(process.env.BENCH_KEY);
const cert = readFileSync(process.env.BENCH_CERT);
const port = Number(process.env.BENCH_PORT);
const host = '127.0.0.1';
// The webhook's TLS floor (src/server/tls.ts TLS_BASE_OPTIONS) and idle/request timeouts (src/server/app.ts).
const tls = { key, cert, minVersion: 'TLSv1.2' };
const timeouts = { keepAliveTimeout: 120_000, requestTimeout: 30_000, headersTimeout: 30_000 };
const BODY_LIMIT = 3 * 1024 * 1024;

const answer = (uid) => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true } });
const uidOf = (text) => JSON.parse(text)?.request?.uid ?? '';
const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' };

function onStop(close) {
  process.on('SIGTERM', () => close().then(() => process.exit(0), () => process.exit(1)));
}

if (mode === 'bare-https') {
  const server = https.createServer({ ...tls, ...timeouts }, (req, res) => {
    if (req.method !== 'POST' || req.url !== '/mutate') return void res.writeHead(404).end();
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let body;
      try {
        body = JSON.stringify(answer(uidOf(Buffer.concat(chunks).toString('utf8'))));
      } catch {
        return void res.writeHead(400, JSON_HEADERS).end('{"error":"Bad Request"}');
      }
      res.writeHead(200, { ...JSON_HEADERS, 'content-length': Buffer.byteLength(body) }).end(body);
    });
  });
  server.listen(port, host);
  onStop(() => new Promise((r) => server.close(r)));
} else if (mode === 'bare-h2') {
  const server = http2.createSecureServer({ ...tls, allowHTTP1: false });
  server.setTimeout(120_000);
  server.on('stream', (stream, headers) => {
    if (headers[':method'] !== 'POST' || headers[':path'] !== '/mutate') {
      stream.respond({ ':status': 404 });
      return void stream.end();
    }
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('end', () => {
      // h2load resets its open streams when its time is up: nothing to answer then.
      if (stream.destroyed || stream.closed) return;
      let body;
      try {
        body = JSON.stringify(answer(uidOf(Buffer.concat(chunks).toString('utf8'))));
      } catch {
        stream.respond({ ':status': 400, ...JSON_HEADERS });
        return void stream.end('{"error":"Bad Request"}');
      }
      stream.respond({ ':status': 200, ...JSON_HEADERS, 'content-length': Buffer.byteLength(body) });
      stream.end(body);
    });
    stream.on('error', () => undefined);
  });
  server.listen(port, host);
  onStop(() => new Promise((r) => server.close(r)));
} else if (['bare-fastify', 'floor', 'floor-per-request', 'floor-admit', 'floor-admit-answer'].includes(mode)) {
  const { default: Fastify } = await import('fastify');
  const floor = mode !== 'bare-fastify';
  // The webhook's HTTP/2 flow-control windows (src/server/app.ts DEFAULT_LIMITS, passed on by bench/server.mjs, so
  // they follow the webhook's): server options, not admission logic, so the floor has them too.
  const windows = floor ? { stream: Number(process.env.BENCH_STREAM_WINDOW), session: Number(process.env.BENCH_SESSION_WINDOW) } : undefined;
  if (windows && !(windows.stream > 0 && windows.session > 0)) throw new Error('floor: BENCH_STREAM_WINDOW and BENCH_SESSION_WINDOW (bytes) are required');
  // Same construction as src/server/app.ts, so the difference to the webhook is what it does per request.
  const app = Fastify({
    http2: true,
    https: { allowHTTP1: true, ...tls, ...(windows ? { settings: { initialWindowSize: windows.stream } } : {}) },
    logger: false,
    bodyLimit: BODY_LIMIT,
    connectionTimeout: 0,
    keepAliveTimeout: 120_000,
    http2SessionTimeout: 120_000,
    requestTimeout: 30_000,
    ...(floor ? { onProtoPoisoning: 'remove', onConstructorPoisoning: 'remove', return503OnClosing: false } : {}),
  });
  Object.assign(app.server, timeouts);
  if (windows) {
    // The connection window (the stream window is the SETTING above), as app.ts sets it per session.
    app.server.on('session', (session) => {
      try {
        session.setLocalWindowSize(windows.session);
      } catch {
        // A session already gone, as in app.ts.
      }
    });
  }
  if (!floor) {
    app.post('/mutate', (request, reply) => reply.send(answer(request.body?.request?.uid ?? '')));
  } else {
    const dist = new URL(process.env.BENCH_DIST ?? '../dist/', import.meta.url);
    const { createLogger, logDestination, onDroppedLines } = await import(new URL('telemetry/logger.js', dist).href);
    const { createMetrics } = await import(new URL('telemetry/metrics.js', dist).href);
    const { floorLine } = await import('./floor-line.mjs');
    // The webhook's logger (its redaction, time and level formats) writing through the webhook's own destination.
    const logger = createLogger({ destination: logDestination({ dest: process.env.BENCH_LOG ?? 1 }) });
    const metrics = createMetrics();
    // Lines dropped for want of a reader (logDestination's bound): told to bench/server.mjs on stderr at the end.
    let dropped = 0;
    if (onDroppedLines) onDroppedLines(logger, () => dropped++);
    process.on('exit', () => dropped > 0 && process.stderr.write(`dropped log lines: ${dropped}\n`));
    // The webhook's parsing (app.ts installJsonParser): its readJsonBody (fastify's rules, one pass for the
    // prototype-key check) on a string body.
    const { readJsonBody } = await import(new URL('server/body.js', dist).href);
    app.removeContentTypeParser('application/json');
    const BYTES = Symbol('bytes');
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
      request[BYTES] = body.length;
      const read = readJsonBody(body);
      if ('problem' in read) done(Object.assign(new Error(read.problem), { statusCode: 400 }), undefined);
      else done(null, read.value);
    });
    const START = Symbol('start');
    // The webhook's bounds on what one turn holds (src/server/app.ts TURN_BYTES, TURN_ADMISSIONS, passed on by
    // bench/server.mjs).
    const turnBytesMax = Number(process.env.BENCH_TURN_BYTES);
    const turnMax = Number(process.env.BENCH_TURN_ADMISSIONS);
    if (!(turnBytesMax > 0 && turnMax > 0)) throw new Error('floor: BENCH_TURN_BYTES and BENCH_TURN_ADMISSIONS are required');
    app.post(
      '/mutate',
      { onRequest: (request, _reply, done) => ((request[START] = performance.now()), done()) },
      (request, reply) => {
        if (mode === 'floor-per-request') return respond(request, reply);
        // As the webhook does: answered once the event loop's turn is over, with the other requests read in it.
        turn.push({ request, reply });
        if (turn.length === 1) setImmediate(answerTurn);
        turnBytes += request[BYTES];
        if (turnBytes > turnBytesMax || turn.length >= turnMax) answerTurn();
        return undefined;
      },
    );
    let turn = [];
    let turnBytes = 0;
    const answerTurn = () => {
      const batch = turn;
      turn = [];
      turnBytes = 0;
      for (const { request, reply } of batch) respond(request, reply);
    };
    // floor-admit, floor-admit-answer: admit() with the webhook's config, as its handler calls it.
    let decide;
    let sendResult;
    if (mode === 'floor-admit' || mode === 'floor-admit-answer') {
      const { admit } = await import(new URL('admission/admit.js', dist).href);
      ({ sendResult } = await import(new URL('server/app.js', dist).href));
      const { loadConfigText } = await import(new URL('config/load.js', dist).href);
      const loaded = loadConfigText(readFileSync(process.env.BENCH_CONFIG, 'utf8'), process.env.BENCH_CONFIG, process.env);
      if (!loaded.ok) throw new Error(`${mode}: config refused: ${JSON.stringify(loaded.problems)}`);
      const context = Object.freeze({ production: false });
      decide = (body) => admit(body, loaded.runtime, context);
    }
    function respond(request, reply) {
      const body = request.body;
      // As the webhook's handler does (src/server/app.ts): the parsed review released once read, so it dies young.
      request.body = undefined;
      const r = body?.request ?? {};
      const result = decide?.(body);
      // floor-admit-answer answers as the webhook does (app.ts sendResult); the others with the floor's own answer.
      if (result && mode === 'floor-admit-answer') sendResult(reply, result);
      else reply.code(200).send(answer(r.uid ?? ''));
      floorLine(logger, metrics, r, (performance.now() - request[START]) / 1000);
      return reply;
    }
  }
  await app.listen({ port, host });
  onStop(() => app.close());
} else {
  console.error(`unknown target ${mode}`);
  process.exit(2);
}
