/** Real-network helpers for the server tests: HTTPS/1.1 and h2 clients, log capture, temp dirs, certificates. */
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type { AdmissionSummary } from '../../src/admission/types.js';
import type { Runtime } from '../../src/config/runtime.js';
import { startServer, type RunningServer, type StartServerOptions } from '../../src/server/app.js';
import { generateDevCa, generateServingCert, type GeneratedPair } from '../../src/server/tls.js';
import { createLogger } from '../../src/telemetry/logger.js';

export interface Response {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json: () => any;
  /** ALPN result: h2 or http/1.1 (false when none was negotiated). */
  protocol: string | false;
}

function response(status: number, headers: Response['headers'], body: string, protocol: string | false): Response {
  return { status, headers, body, protocol, json: () => JSON.parse(body) };
}

export interface RequestOptions {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  ca: string | Buffer;
}

/** One HTTP/1.1 request on a fresh TLS connection (no ALPN h2 offered). */
export function h1Request(baseUrl: string, o: RequestOptions): Promise<Response> {
  const url = new URL(o.path ?? '/mutate', baseUrl);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...o.headers };
    if (o.body !== undefined) headers['content-length'] = Buffer.byteLength(o.body);
    const req = https.request(
      url,
      { method: o.method ?? 'POST', headers, ca: o.ca, agent: false, ALPNProtocols: ['http/1.1'] } as https.RequestOptions,
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const socket = res.socket as tls.TLSSocket;
          resolve(response(res.statusCode ?? 0, res.headers, Buffer.concat(chunks).toString('utf8'), socket.alpnProtocol ?? false));
        });
        res.on('error', reject);
      },
    );
    // The server may answer (413) and close before the whole body is written: the response is what counts.
    req.on('error', (err) => reject(err));
    if (o.body !== undefined) req.end(o.body);
    else req.end();
  });
}

/** One h2 request; opens and closes its own session unless one is given. */
export async function h2Request(baseUrl: string, o: RequestOptions & { session?: http2.ClientHttp2Session }): Promise<Response> {
  const session = o.session ?? http2.connect(baseUrl, { ca: o.ca });
  let onSessionError: ((err: Error) => void) | undefined;
  try {
    return await new Promise<Response>((resolve, reject) => {
      const headers: http2.OutgoingHttpHeaders = {
        ':method': o.method ?? 'POST',
        ':path': o.path ?? '/mutate',
        ...o.headers,
      };
      if (o.body !== undefined) headers['content-length'] = Buffer.byteLength(o.body);
      const stream = session.request(headers, { endStream: o.body === undefined });
      let status = 0;
      let responseHeaders: Response['headers'] = {};
      const chunks: Buffer[] = [];
      stream.on('response', (h) => {
        status = Number(h[':status']);
        responseHeaders = h as Response['headers'];
      });
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => resolve(response(status, responseHeaders, Buffer.concat(chunks).toString('utf8'), session.alpnProtocol ?? false)));
      stream.on('error', (err) => (status ? resolve(response(status, responseHeaders, Buffer.concat(chunks).toString('utf8'), 'h2')) : reject(err)));
      // A shared session's errors reach its streams; only our own session needs a listener.
      if (!o.session) {
        onSessionError = reject;
        session.on('error', onSessionError);
      }
      if (o.body !== undefined) stream.end(o.body);
    });
  } finally {
    if (onSessionError) session.off('error', onSessionError);
    if (!o.session) session.close();
  }
}

export function httpGet(url: string): Promise<Response> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(response(res.statusCode ?? 0, res.headers, Buffer.concat(chunks).toString('utf8'), false)));
      })
      .on('error', reject);
  });
}

/** The certificate the server presents on a new TLS connection (no session reuse). */
export function peerCertificate(baseUrl: string, ca: string | Buffer): Promise<tls.PeerCertificate> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port), ca, servername: 'localhost', ALPNProtocols: ['h2'] },
      () => {
        const cert = socket.getPeerCertificate();
        socket.end();
        resolve(cert);
      },
    );
    socket.on('error', reject);
  });
}

/** A pino destination that keeps parsed lines. */
export function logCapture(): { write(line: string): void; lines: any[] } {
  const lines: any[] = [];
  return {
    lines,
    write(line: string) {
      for (const l of line.split('\n')) if (l.trim()) lines.push(JSON.parse(l));
    },
  };
}

export async function tempDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `miw-test-${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Atomic replace, as an editor or a Secret update would do. */
export async function writeAtomic(file: string, content: string | Buffer): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  await writeFile(tmp, content);
  await rename(tmp, file);
}

export interface TestPki {
  ca: GeneratedPair;
  leaf(name?: string): Promise<GeneratedPair>;
}

export async function testPki(): Promise<TestPki> {
  const ca = await generateDevCa('mlrun-image-webhook test CA');
  return { ca, leaf: (name = 'localhost') => generateServingCert(ca, { commonName: name }) };
}

/** A temp dir with tls.crt/tls.key for `name`, signed by a fresh test CA (pki.ca.cert is the client's CA). */
export async function servingFiles(prefix: string, name?: string) {
  const tmp = await tempDir(prefix);
  const pki = await testPki();
  const leaf = await pki.leaf(name);
  const certFile = path.join(tmp.dir, 'tls.crt');
  const keyFile = path.join(tmp.dir, 'tls.key');
  await writeFile(certFile, leaf.cert);
  await writeFile(keyFile, leaf.key);
  return { ...tmp, pki, leaf, certFile, keyFile };
}

/** The server on loopback with ephemeral ports, a fixed runtime and a silent log, unless `options` say otherwise. */
export function startTestServer(runtime: Runtime, options: Omit<StartServerOptions, 'config'> = {}): Promise<RunningServer> {
  return startServer({
    config: { current: () => runtime },
    logger: createLogger({ level: 'silent' }),
    host: '127.0.0.1',
    port: 0,
    healthPort: 0,
    ...options,
  });
}

/** Value of one sample in Prometheus text format, e.g. metric('x_total{result="success"}'). */
export function metricValue(text: string, sample: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${sample} `)) return Number(line.slice(sample.length + 1));
  }
  return undefined;
}

export function decodePatch(body: any): any[] | undefined {
  const p = body?.response?.patch;
  return typeof p === 'string' ? JSON.parse(Buffer.from(p, 'base64').toString('utf8')) : undefined;
}

/** The summary fields of wave 2 (policy, mirror, look-ups) for a request where none of them applied. */
export const NOTHING_WAVE2: Pick<
  AdmissionSummary,
  'production' | 'policyMode' | 'policy' | 'policyOmitted' | 'policyCounts' | 'mirrorCounts' | 'lookups' | 'lookupsOmitted'
> = Object.freeze({
  production: false,
  policyMode: 'off',
  policy: [],
  policyOmitted: 0,
  policyCounts: {},
  mirrorCounts: { present: 0, missing: 0, unknown: 0 },
  lookups: [],
  lookupsOmitted: 0,
}) as never;

/** 0, 1, …, n − 1: the line indexes a test expects back, in order. */
export const upTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
