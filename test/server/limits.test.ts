/**
 * Connection limits over real HTTPS (HTTP/1.1 and h2): stream cap, body deadline, write deadline, 413 before the
 * body, body budget, connection cap, and the counters/summary line. Limits are made small through
 * StartServerOptions; no assertion on timings except generous upper bounds (waitFor).
 */
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import path from 'node:path';
import tls from 'node:tls';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { emptySummary } from '../../src/admission/admit.js';
import { podCreateReview } from '../../src/admission/review.js';
import type { AdmissionResult } from '../../src/admission/types.js';
import { BODY_LIMIT, DEFAULT_LIMITS, type RunningServer, type StartServerOptions } from '../../src/server/app.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { testRuntime } from '../helpers/runtime.js';
import { h1Request, h2Request, httpGet, logCapture, metricValue, startTestServer, tempDir } from './helpers.js';

const runtime = testRuntime();
const WAIT = { timeout: 15_000, interval: 50 };
const REVIEW = JSON.stringify(
  podCreateReview({ metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'mlrun/mlrun' }] } }, { uid: '5d7e1f00-0000-4000-8000-000000000001', namespace: 'mlrun' }),
);
const JSON_HEADERS = { 'content-type': 'application/json' };

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function start(options: Omit<StartServerOptions, 'config'> = {}) {
  const tmp = await tempDir('limits');
  cleanups.push(tmp.cleanup);
  const logs = logCapture();
  const s = await startTestServer(runtime, {
    devCertDir: path.join(tmp.dir, 'dev-certs'),
    logger: createLogger({ destination: logs }),
    shutdownTimeoutMs: 1_000,
    ...options,
  });
  cleanups.push(() => s.close());
  return { s, ca: readFileSync(s.caFile!), logs };
}

async function events(s: RunningServer): Promise<(event: string) => number> {
  const text = (await httpGet(`${s.healthUrl}/metrics`)).body;
  return (event) => metricValue(text, `mlrun_image_webhook_connection_events_total{event="${event}"}`) ?? NaN;
}

function connect(s: RunningServer, ca: Buffer, options: http2.SecureClientSessionOptions = {}) {
  const session = http2.connect(s.httpsUrl, { ca, ...options });
  session.on('error', () => undefined);
  cleanups.push(() => session.destroy());
  return session;
}

/** An h2 stream with headers and part of its body sent; resolves with the status (0 if reset without one). */
function halfSent(session: http2.ClientHttp2Session, body = REVIEW, headers: http2.OutgoingHttpHeaders = JSON_HEADERS) {
  const stream = session.request({ ':method': 'POST', ':path': '/mutate', ...headers, 'content-length': String(Buffer.byteLength(body)) }, { endStream: false });
  stream.write(body.slice(0, 10));
  const outcome = new Promise<{ status: number; rstCode: number | undefined; body: string }>((resolve) => {
    let status = 0;
    let text = '';
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.on('data', (c: Buffer) => (text += c.toString()));
    stream.on('error', () => undefined);
    stream.on('close', () => resolve({ status, rstCode: stream.rstCode, body: text }));
  });
  return { stream, rest: body.slice(10), outcome };
}

/** A raw TLS socket speaking HTTP/1.1, for clients that misbehave on purpose. */
function rawH1(s: RunningServer, ca: Buffer): Promise<tls.TLSSocket> {
  const url = new URL(s.httpsUrl);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: url.hostname, port: Number(url.port), ca, servername: 'localhost', ALPNProtocols: ['http/1.1'] }, () => resolve(socket));
    socket.on('error', reject);
    cleanups.push(() => socket.destroy());
  });
}

function closed(socket: tls.TLSSocket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.on('error', () => undefined);
    socket.once('close', () => resolve(text));
  });
}

describe('connection limits', () => {
  it('production defaults stay well above what kube-apiserver sends', () => {
    expect(DEFAULT_LIMITS.maxConcurrentStreams).toBeGreaterThanOrEqual(100); // Go's client assumes 100 before SETTINGS
    expect(DEFAULT_LIMITS.bodyTimeoutMs).toBeGreaterThanOrEqual(30_000); // largest timeoutSeconds
    expect(DEFAULT_LIMITS.writeTimeoutMs).toBeGreaterThanOrEqual(30_000);
    expect(DEFAULT_LIMITS.connectionBodyBytes).toBeGreaterThanOrEqual(2 * BODY_LIMIT);
    expect(DEFAULT_LIMITS.totalBodyBytes).toBeGreaterThanOrEqual(DEFAULT_LIMITS.connectionBodyBytes);
  });

  it('h2: advertises the stream cap and header list size; stream N+1 waits for a free slot', async () => {
    const { s, ca } = await start({ limits: { maxConcurrentStreams: 2 } });
    const session = connect(s, ca);
    await new Promise((r) => session.once('remoteSettings', r));
    expect(session.remoteSettings.maxConcurrentStreams).toBe(2);
    expect(session.remoteSettings.maxHeaderListSize).toBe(DEFAULT_LIMITS.maxHeaderListSize);
    const a = halfSent(session);
    const b = halfSent(session);
    let thirdDone = false;
    const third = h2Request(s.httpsUrl, { ca, session, headers: JSON_HEADERS, body: REVIEW }).then((r) => {
      thirdDone = true;
      return r;
    });
    // Give the third stream every chance to be (wrongly) served while both slots are held.
    await new Promise((r) => setTimeout(r, 300));
    expect(thirdDone).toBe(false);
    a.stream.end(a.rest);
    expect((await a.outcome).status).toBe(200);
    expect((await third).status).toBe(200);
    b.stream.end(b.rest);
    expect((await b.outcome).status).toBe(200);
  });

  it('h2: advertises its stream window and opens its connection window; bodies larger than either still arrive', async () => {
    const defaults = await start();
    const d = connect(defaults.s, defaults.ca);
    await new Promise((r) => d.once('remoteSettings', r));
    expect(d.remoteSettings.initialWindowSize).toBe(DEFAULT_LIMITS.streamWindowBytes);
    // The connection window comes as a WINDOW_UPDATE after the SETTINGS (HTTP/2's own default is 65,535 bytes).
    await vi.waitFor(() => expect(d.state.remoteWindowSize).toBe(DEFAULT_LIMITS.sessionWindowBytes), WAIT);
    expect(DEFAULT_LIMITS.streamWindowBytes).toBeGreaterThan(65_535);

    // Small windows: a body several windows long is read through WINDOW_UPDATEs, on the event loop.
    const { s, ca } = await start({ limits: { streamWindowBytes: 16_384, sessionWindowBytes: 100_000 } });
    const session = connect(s, ca);
    await new Promise((r) => session.once('remoteSettings', r));
    expect(session.remoteSettings.initialWindowSize).toBe(16_384);
    await vi.waitFor(() => expect(session.state.remoteWindowSize).toBe(100_000), WAIT);
    const review = JSON.parse(REVIEW);
    review.request.object.metadata.annotations = { note: 'x'.repeat(200_000) };
    const r = await h2Request(s.httpsUrl, { ca, session, headers: JSON_HEADERS, body: JSON.stringify(review) });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).response.uid).toBe(review.request.uid);
  });

  it('h2: refused bodies (413, 503) are drained as they come, even for a client that never reads its answers', async () => {
    // A refused body is not charged against the body budgets, so only draining bounds it: held, each would keep up to
    // the stream window (1 MiB) for as long as the client keeps the stream open by not reading the answer.
    const { s, ca } = await start({ limits: { connectionBodyBytes: 2_000_000, totalBodyBytes: 2_000_000 } });
    const unread: number[] = [];
    (s.app.server as unknown as http2.Http2SecureServer).on('stream', (st: http2.ServerHttp2Stream) => {
      const i = unread.push(0) - 1;
      const push = st.push.bind(st);
      st.push = (chunk: unknown, encoding?: BufferEncoding) => {
        const r = push(chunk, encoding);
        unread[i] = Math.max(unread[i]!, st.readableLength);
        return r;
      };
    });
    // The client's own receive window is 0: our answers can never be written out, so the streams stay open.
    const session = connect(s, ca, { settings: { initialWindowSize: 0 } });
    await new Promise((r) => session.once('remoteSettings', r));
    const body = Buffer.alloc(1_100_000, 0x20);
    const streams = 10;
    for (let i = 0; i < streams; i++) {
      // Over the body limit: 413. Over the budgets (2 MB, so every one of them): 503 busy.
      const length = i % 2 ? 4_000_000 : 2_500_000;
      const st = session.request({ ':method': 'POST', ':path': '/mutate', ...JSON_HEADERS, 'content-length': String(length) }, { endStream: false });
      st.on('error', () => undefined);
      st.write(body);
    }
    await vi.waitFor(() => expect(unread).toHaveLength(streams), WAIT);
    await new Promise((r) => setTimeout(r, 1_500));
    // Held: ~1 MiB per stream (checked: 10 MiB without the drain). Drained: at most a few chunks each at any moment.
    expect(unread.reduce((a, b) => a + b, 0)).toBeLessThan(streams * 128 * 1024);
    const count = await events(s);
    expect(count('body_too_large')).toBe(streams / 2);
    expect(count('busy')).toBe(streams / 2);
  });

  it('large bodies are handled one at a time (the next waits unread), small ones pass; a full queue answers 503', async () => {
    // Every REVIEW is "large" here; '{}' is small (and answered 400: not an AdmissionReview). One session: the server
    // sees the streams in the order they are opened, so the holder takes the turn first, whatever the machine's speed.
    const { s, ca } = await start({ limits: { largeBodyBytes: 100, largeBodyQueue: 1 } });
    const session = connect(s, ca);
    const holder = halfSent(session);
    let waitingDone = false;
    const waiting = h2Request(s.httpsUrl, { ca, session, headers: JSON_HEADERS, body: REVIEW }).then((r) => {
      waitingDone = true;
      return r;
    });
    // The queue (1) is full: a third large body is refused at once; a small one is served while the turn is held.
    const refused = await h2Request(s.httpsUrl, { ca, session, headers: JSON_HEADERS, body: REVIEW });
    expect(refused.status).toBe(503);
    expect((await h2Request(s.httpsUrl, { ca, session, headers: JSON_HEADERS, body: '{}' })).status).toBe(400);
    await new Promise((r) => setTimeout(r, 200));
    expect(waitingDone).toBe(false);
    holder.stream.end(holder.rest);
    expect((await holder.outcome).status).toBe(200);
    expect((await waiting).status).toBe(200);
    await vi.waitFor(async () => expect((await events(s))('busy')).toBe(1), WAIT);
  });

  it('a large body that times out while waiting for its turn passes the turn on', async () => {
    const { s, ca } = await start({ limits: { largeBodyBytes: 100, bodyTimeoutMs: 300 } });
    const session = connect(s, ca);
    const holder = halfSent(session); // never finished: 408 after 300 ms
    const waiter = halfSent(session); // waits for the turn; its own deadline runs meanwhile
    expect((await holder.outcome).status).toBe(408);
    expect((await waiter.outcome).status).toBe(408);
    // The turn is free again: a complete large body is served.
    expect((await h2Request(s.httpsUrl, { ca, session: connect(s, ca), headers: JSON_HEADERS, body: REVIEW })).status).toBe(200);
  });

  it('h2: a half-sent body is answered 408 and its stream closed after the body deadline; the session lives on', async () => {
    const { s, ca } = await start({ limits: { bodyTimeoutMs: 200 } });
    const session = connect(s, ca);
    const slow = halfSent(session);
    const outcome = await slow.outcome;
    // Closed by the server asking the client to stop sending (RST_STREAM NO_ERROR), not by a later timeout.
    expect(outcome.rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR);
    expect(outcome.status).toBe(408);
    expect(JSON.parse(outcome.body)).toEqual({ error: 'Request Timeout', message: expect.stringContaining('200 ms') });
    // The same session still serves complete requests.
    expect((await h2Request(s.httpsUrl, { ca, session, headers: JSON_HEADERS, body: REVIEW })).status).toBe(200);
    await vi.waitFor(async () => expect((await events(s))('body_timeout')).toBe(1), WAIT);
  });

  it('HTTP/1.1: a half-sent body is answered 408 and the connection closed after the body deadline', async () => {
    const { s, ca } = await start({ limits: { bodyTimeoutMs: 200 } });
    const socket = await rawH1(s, ca);
    const done = closed(socket);
    socket.write(`POST /mutate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: ${REVIEW.length}\r\n\r\n${REVIEW.slice(0, 10)}`);
    const text = await done;
    expect(text).toMatch(/^HTTP\/1\.1 408 /);
    expect(text.toLowerCase()).toContain('connection: close');
    await vi.waitFor(async () => expect((await events(s))('body_timeout')).toBe(1), WAIT);
  });

  it('h2: a client that does not read its answer has the stream reset after the write deadline', async () => {
    const big = bigAnswer(256 * 1024);
    const { s, ca } = await start({ limits: { writeTimeoutMs: 200 }, admit: big });
    // A receive window of 0: the server can send headers but never a byte of the body.
    const session = connect(s, ca, { settings: { initialWindowSize: 0 } });
    const stream = session.request({ ':method': 'POST', ':path': '/mutate', ...JSON_HEADERS });
    stream.on('error', () => undefined);
    stream.end(REVIEW);
    const rstCode = await new Promise((resolve) => stream.on('close', () => resolve(stream.rstCode)));
    expect(rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
    await vi.waitFor(async () => expect((await events(s))('write_timeout')).toBe(1), WAIT);
  });

  it('HTTP/1.1: a client that does not read its answer is disconnected after the write deadline', async () => {
    // Larger than what the loopback socket buffers can hold, so the answer cannot be written out in full.
    const { s, ca } = await start({ limits: { writeTimeoutMs: 200 }, admit: bigAnswer(48 * 1024 * 1024) });
    const socket = await rawH1(s, ca);
    socket.pause(); // never read
    const gone = new Promise((resolve) => socket.once('close', resolve));
    socket.on('error', () => undefined);
    socket.write(`POST /mutate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: ${REVIEW.length}\r\n\r\n${REVIEW}`);
    await vi.waitFor(async () => expect((await events(s))('write_timeout')).toBe(1), WAIT);
    socket.resume(); // drain what is buffered, then see the close
    await gone;
  });

  it.each(['plain', 'expect-100-continue'] as const)('HTTP/1.1 (%s): 413 for a Content-Length over the limit, without the body being sent', async (mode) => {
    const { s, ca } = await start();
    const socket = await rawH1(s, ca);
    const done = closed(socket);
    const expect100 = mode === 'expect-100-continue' ? 'expect: 100-continue\r\n' : '';
    socket.write(`POST /mutate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n${expect100}content-length: ${BODY_LIMIT + 1}\r\n\r\n`);
    const text = await done;
    expect(text).toMatch(/^HTTP\/1\.1 413 /); // no "100 Continue" first
    expect(text).toContain(`request body is larger than ${BODY_LIMIT} bytes`);
    await vi.waitFor(async () => expect((await events(s))('body_too_large')).toBe(1), WAIT);
  });

  it('HTTP/1.1 chunked (no Content-Length): 413 once more than the limit has arrived', async () => {
    const { s, ca } = await start();
    const socket = await rawH1(s, ca);
    const done = closed(socket);
    socket.write(`POST /mutate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n`);
    const chunk = 'x'.repeat(512 * 1024);
    // The server may close as soon as it has answered: later writes fail, which is the point.
    for (let i = 0; i < 8 && !socket.destroyed; i++) socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    const text = await done;
    expect(text).toMatch(/^HTTP\/1\.1 413 /);
    expect(text).toContain(`request body is larger than ${BODY_LIMIT} bytes`);
  });

  it('HTTP/1.1 chunked: a character split between two chunks is read whole', async () => {
    const { s, ca } = await start();
    const review = JSON.parse(REVIEW);
    // In the uid, which the answer echoes: a character decoded chunk by chunk would come back as U+FFFD.
    review.request.uid = 'grüße-✓-𝔘';
    const bytes = Buffer.from(JSON.stringify(review));
    const cut = bytes.indexOf(Buffer.from('✓')) + 1; // inside the three bytes of ✓
    const socket = await rawH1(s, ca);
    const done = closed(socket);
    socket.write(`POST /mutate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n`);
    for (const part of [bytes.subarray(0, cut), bytes.subarray(cut)]) {
      socket.write(`${part.length.toString(16)}\r\n`);
      socket.write(part);
      socket.write('\r\n');
      await new Promise((r) => setTimeout(r, 20));
    }
    socket.write('0\r\n\r\n');
    const text = await done;
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    const answer = JSON.parse(Buffer.from(text.slice(text.indexOf('\r\n\r\n') + 4), 'latin1').toString('utf8'));
    expect(answer.response.uid).toBe('grüße-✓-𝔘');
  });

  it('h2: 413 for a content-length over the limit, before any DATA', async () => {
    const { s, ca } = await start();
    const session = connect(s, ca);
    const { outcome } = halfSent(session, 'x'.repeat(BODY_LIMIT + 1));
    const r = await outcome;
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body).error).toBe('Payload Too Large');
  });

  it('503 when one connection has too many body bytes in flight; other connections are unaffected', async () => {
    const { s, ca } = await start({ limits: { connectionBodyBytes: Buffer.byteLength(REVIEW) + 100 } });
    const session = connect(s, ca);
    const first = halfSent(session);
    const second = halfSent(session);
    const r = await second.outcome;
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body).error).toBe('Service Unavailable');
    expect((await h2Request(s.httpsUrl, { ca, headers: JSON_HEADERS, body: REVIEW })).status).toBe(200);
    first.stream.end(first.rest);
    expect((await first.outcome).status).toBe(200);
    // The budget was given back: the same connection takes a new request.
    expect((await h2Request(s.httpsUrl, { ca, session, headers: JSON_HEADERS, body: REVIEW })).status).toBe(200);
    await vi.waitFor(async () => expect((await events(s))('busy')).toBe(1), WAIT);
  });

  it('closes connections over the connection cap at accept, counts them, and logs one summary line', async () => {
    const { s, ca, logs } = await start({ limits: { maxConnections: 2, eventLogIntervalMs: 100 } });
    const held = [await rawH1(s, ca), await rawH1(s, ca)];
    const refused = [1, 2, 3].map(
      () =>
        new Promise<string>((resolve) => {
          const url = new URL(s.httpsUrl);
          const socket = tls.connect({ host: url.hostname, port: Number(url.port), ca, servername: 'localhost' }, () => resolve('connected'));
          socket.on('error', (err) => resolve(`error ${err.message}`));
          socket.on('close', () => resolve('closed'));
          cleanups.push(() => socket.destroy());
        }),
    );
    for (const r of await Promise.all(refused)) expect(r).not.toBe('connected');
    await vi.waitFor(async () => expect((await events(s))('connection_refused')).toBe(3), WAIT);
    await vi.waitFor(() => {
      const lines = logs.lines.filter((l) => l.msg.startsWith('connection events'));
      expect(lines).toHaveLength(1);
      expect(lines[0].events).toEqual({ connection_refused: 3 });
    }, WAIT);
    for (const h of held) h.destroy();
    // Once they are gone, new connections are served again.
    await vi.waitFor(async () => expect((await h1Request(s.httpsUrl, { ca, headers: JSON_HEADERS, body: REVIEW })).status).toBe(200), WAIT);
  });

  it('h2: an early answer not of ours (415 before the body) also asks the client to stop sending', async () => {
    const { s, ca } = await start();
    const session = connect(s, ca);
    const outcome = await halfSent(session, REVIEW, { 'content-type': 'application/xml' }).outcome;
    expect(outcome.status).toBe(415);
    expect(outcome.rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR);
    expect((await events(s))('stream_reset')).toBe(0);
  });

  it('HTTP/1.1: a client that leaves before the answer is counted as request_aborted', async () => {
    const { s, ca } = await start();
    const socket = await rawH1(s, ca);
    socket.on('error', () => undefined);
    // "100 Continue" comes back once the server has handed the request to its handlers: then the client goes.
    const continued = new Promise((resolve) => socket.once('data', resolve));
    socket.write(`POST /mutate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\nexpect: 100-continue\r\ncontent-length: ${REVIEW.length}\r\n\r\n`);
    expect(String(await continued)).toMatch(/^HTTP\/1\.1 100 /);
    socket.destroy();
    await vi.waitFor(async () => expect((await events(s))('request_aborted')).toBe(1), WAIT);
  });

  it('the large-body turn passes on once the holder is answered, even if its client never reads the answer', async () => {
    // Write deadline far away: the holder's stream stays open (window 0) for the whole test.
    const { s, ca } = await start({ limits: { largeBodyBytes: 100, writeTimeoutMs: 600_000 }, admit: bigAnswer(256 * 1024) });
    const stuck = connect(s, ca, { settings: { initialWindowSize: 0 } });
    const holder = stuck.request({ ':method': 'POST', ':path': '/mutate', ...JSON_HEADERS });
    holder.on('error', () => undefined);
    let headers = false;
    holder.on('response', () => (headers = true));
    holder.end(REVIEW);
    await vi.waitFor(() => expect(headers).toBe(true), WAIT); // answered, never read
    const next = await h2Request(s.httpsUrl, { ca, session: connect(s, ca), headers: JSON_HEADERS, body: REVIEW });
    expect(next.status).toBe(200);
    expect(holder.closed).toBe(false);
  });

  it('HTTP/1.1: pipelined requests queued behind an unread answer give their body budget back when the connection is cut', async () => {
    // Room for exactly two reviews in flight in the whole server.
    const room = 2 * Buffer.byteLength(REVIEW) + 100;
    const { s, ca } = await start({ limits: { writeTimeoutMs: 200, totalBodyBytes: room }, admit: bigAnswer(48 * 1024 * 1024) });
    const socket = await rawH1(s, ca);
    socket.pause(); // never read: the first answer cannot be written out, the second waits behind it
    socket.on('error', () => undefined);
    const head = `POST /mutate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: ${REVIEW.length}\r\n\r\n`;
    socket.write(head + REVIEW + head + REVIEW);
    await vi.waitFor(async () => expect((await events(s))('write_timeout')).toBe(1), WAIT);
    // A body declared as large as the whole budget is taken only when nothing is left charged (else 503).
    const whole = `{}${' '.repeat(room - 2)}`;
    await vi.waitFor(async () => expect((await h2Request(s.httpsUrl, { ca, headers: JSON_HEADERS, body: whole })).status).toBe(400), WAIT);
  });

  it('counts h2 streams reset by the client', async () => {
    const { s, ca } = await start();
    const session = connect(s, ca);
    const { stream, outcome } = halfSent(session);
    await new Promise((r) => setTimeout(r, 100));
    stream.close(http2.constants.NGHTTP2_CANCEL);
    await outcome;
    await vi.waitFor(async () => expect((await events(s))('stream_reset')).toBe(1), WAIT);
  });
});

/** An admit() whose answer is `bytes` long (warnings), to have something a client can refuse to read. */
function bigAnswer(bytes: number) {
  return (body: unknown): AdmissionResult => {
    const uid = (body as { request: { uid: string } }).request.uid;
    const warning = 'w'.repeat(1000);
    return {
      status: 200,
      body: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true, warnings: Array.from({ length: Math.ceil(bytes / 1000) }, () => warning) } },
      summary: { ...emptySummary(uid), namespace: 'mlrun', name: 'p', operation: 'CREATE' },
    };
  };
}
