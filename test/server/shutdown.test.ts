/** Graceful shutdown: readiness drops first, in-flight requests finish, HTTP/2 clients get GOAWAY, then close. */
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { podCreateReview } from '../../src/admission/review.js';
import { testRuntime } from '../helpers/runtime.js';
import { h1Request, httpGet, startTestServer, tempDir } from './helpers.js';

const runtime = testRuntime();
const WAIT = { timeout: 20_000, interval: 50 };
const REVIEW = JSON.stringify(
  podCreateReview({ metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'mlrun/mlrun' }] } }, { uid: 'a0e7b4b2-0000-4000-8000-00000000000a', namespace: 'mlrun' }),
);

async function start(extra: { shutdownTimeoutMs?: number } = {}) {
  const tmp = await tempDir('shutdown');
  const s = await startTestServer(runtime, { devCertDir: path.join(tmp.dir, 'dev-certs'), ...extra });
  return { s, ca: readFileSync(s.caFile!), cleanup: tmp.cleanup };
}

describe('graceful shutdown', () => {
  it('turns readiness to 503, finishes in-flight h2 and HTTP/1.1 requests, sends GOAWAY, then stops accepting', async () => {
    const { s, ca, cleanup } = await start();
    try {
      const half = Math.floor(REVIEW.length / 2);
      // h2: a stream whose body is only half sent when shutdown begins.
      const session = http2.connect(s.httpsUrl, { ca });
      let goaway = false;
      session.on('goaway', () => (goaway = true));
      session.on('error', () => undefined);
      const stream = session.request(
        { ':method': 'POST', ':path': '/mutate', 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(REVIEW)) },
        { endStream: false },
      );
      const h2Done = new Promise<{ status: number; body: string }>((resolve, reject) => {
        let status = 0;
        let body = '';
        stream.on('response', (h) => (status = Number(h[':status'])));
        stream.on('data', (c: Buffer) => (body += c.toString()));
        stream.on('end', () => resolve({ status, body }));
        stream.on('error', reject);
      });
      stream.write(REVIEW.slice(0, half));

      // HTTP/1.1: same, on its own connection.
      const url = new URL('/mutate', s.httpsUrl);
      const req = https.request(url, {
        method: 'POST',
        ca,
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(REVIEW) },
      });
      const h1Done = new Promise<{ status: number; body: string; connection: string | undefined }>((resolve, reject) => {
        req.on('response', (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, connection: res.headers.connection }));
        });
        req.on('error', reject);
      });
      req.write(REVIEW.slice(0, half));
      // Both requests have reached the server before shutdown begins.
      await new Promise((r) => setTimeout(r, 200));

      const closed = s.close();
      await vi.waitFor(async () => {
        const ready = await httpGet(`${s.healthUrl}/readyz`);
        expect(ready.status).toBe(503);
        expect(ready.json()).toEqual({ status: 'not ready', reason: 'shutting down' });
      }, WAIT);
      expect((await httpGet(`${s.healthUrl}/healthz`)).status).toBe(200);
      expect(s.isReady()).toBe(false);
      await vi.waitFor(() => expect(goaway).toBe(true), WAIT);

      stream.end(REVIEW.slice(half));
      req.end(REVIEW.slice(half));
      const [h2, h1] = await Promise.all([h2Done, h1Done]);
      expect(h2.status).toBe(200);
      expect(JSON.parse(h2.body).response.uid).toBe('a0e7b4b2-0000-4000-8000-00000000000a');
      expect(h1.status).toBe(200);
      expect(JSON.parse(h1.body).response.allowed).toBe(true);
      expect(h1.connection).toBe('close');

      await closed;
      await expect(h1Request(s.httpsUrl, { ca, headers: { 'content-type': 'application/json' }, body: REVIEW })).rejects.toThrow(/ECONNREFUSED/);
      await expect(httpGet(`${s.healthUrl}/healthz`)).rejects.toThrow(/ECONNREFUSED/);
      session.destroy();
    } finally {
      await s.close();
      await cleanup();
    }
  });

  it('closes idle keep-alive and h2 connections promptly instead of waiting for their idle timeout', async () => {
    const { s, ca, cleanup } = await start();
    try {
      const session = http2.connect(s.httpsUrl, { ca });
      session.on('error', () => undefined);
      await new Promise<void>((resolve) => session.once('connect', () => resolve()));
      const agent = new https.Agent({ keepAlive: true, ca });
      let keepAliveClosed: Promise<unknown> | undefined;
      await new Promise<void>((resolve, reject) => {
        https
          .request(new URL('/mutate', s.httpsUrl), { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
            res.resume();
            res.on('end', () => resolve());
          })
          .on('socket', (socket) => (keepAliveClosed = new Promise((r) => socket.once('close', r))))
          .on('error', reject)
          .end(REVIEW);
      });
      const sessionClosed = new Promise((r) => session.once('close', r));
      // Far less than the 120 s idle timeouts (and the 60 s test timeout): nothing waits for them.
      await s.close();
      await sessionClosed;
      // The HTTP/1.1 socket stays in the agent's pool: only the server can have closed it.
      await keepAliveClosed;
      expect(keepAliveClosed).toBeDefined();
      agent.destroy();
    } finally {
      await cleanup();
    }
  });

  it('destroys connections still busy when the shutdown timeout is reached', async () => {
    const { s, ca, cleanup } = await start({ shutdownTimeoutMs: 500 });
    try {
      const session = http2.connect(s.httpsUrl, { ca });
      session.on('error', () => undefined);
      const stream = session.request({ ':method': 'POST', ':path': '/mutate', 'content-type': 'application/json' }, { endStream: false });
      const ended = new Promise((resolve) => {
        stream.on('close', resolve);
        stream.on('error', () => undefined);
      });
      stream.write('{"never":"finished"'); // and never ends
      await new Promise((r) => setTimeout(r, 200));
      await s.close();
      await ended;
    } finally {
      await cleanup();
    }
  });
});
