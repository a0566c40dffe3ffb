/** POST /mutate and the health port, over real HTTPS (HTTP/1.1 and h2) on 127.0.0.1. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import http2 from 'node:http2';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admit } from '../../src/admission/admit.js';
import { startServer, TURN_ADMISSIONS, TURN_BYTES, type RunningServer } from '../../src/server/app.js';
import { ensureDevCertificates } from '../../src/server/tls.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { testRuntime } from '../helpers/runtime.js';
import { h1Request, h2Request, httpGet, logCapture, metricValue, startTestServer, tempDir } from './helpers.js';

const fixturesDir = fileURLToPath(new URL('../fixtures/admission/', import.meta.url));
const fixtures = readdirSync(fixturesDir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => ({ name: f, text: readFileSync(path.join(fixturesDir, f), 'utf8') }));

const runtime = testRuntime({ mlrun: { imagesRegistry: 'datanode-registry.example/' } });
const JSON_HEADERS = { 'content-type': 'application/json' };

let server: RunningServer;
let ca: Buffer;
const logs = logCapture();
let cleanup: () => Promise<void>;

beforeAll(async () => {
  const tmp = await tempDir('mutate');
  cleanup = tmp.cleanup;
  server = await startTestServer(runtime, {
    logger: createLogger({ level: 'debug', destination: logs }),
    devCertDir: path.join(tmp.dir, 'dev-certs'),
  });
  ca = readFileSync(server.caFile!);
});

afterAll(async () => {
  await server?.close();
  await cleanup?.();
});

describe('POST /mutate', () => {
  it('has fixtures to send', () => {
    expect(fixtures.map((f) => f.name)).toEqual(expect.arrayContaining(['admission-small.json', 'admission-typical.json', 'admission-large.json']));
  });

  for (const protocol of ['http/1.1', 'h2'] as const) {
    describe(`over ${protocol}`, () => {
      for (const fixture of fixtures) {
        it(`answers ${fixture.name} with the AdmissionReview admit() computes`, async () => {
          const send = protocol === 'h2' ? h2Request : h1Request;
          const res = await send(server.httpsUrl, { ca, headers: JSON_HEADERS, body: fixture.text });
          expect(res.protocol).toBe(protocol);
          expect(res.status).toBe(200);
          // The same content type fastify gives a serialised object (the answer goes out as admit() wrote it).
          expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
          const body = res.json();
          const request = JSON.parse(fixture.text);
          expect(body.apiVersion).toBe('admission.k8s.io/v1');
          expect(body.kind).toBe('AdmissionReview');
          expect(body.response.uid).toBe(request.request.uid);
          expect(body.response.allowed).toBe(true);
          const expected = admit(request, runtime);
          expect(expected.status).toBe(200);
          if (expected.status === 200) {
            expect(body).toEqual(expected.body);
            expect(res.body).toBe(JSON.stringify(expected.body));
          }
        });
      }
    });
  }

  it('serves many requests on one h2 session, concurrently', async () => {
    const session = http2.connect(server.httpsUrl, { ca });
    try {
      const small = fixtures.find((f) => f.name === 'admission-small.json')!;
      const results = await Promise.all(
        Array.from({ length: 20 }, () => h2Request(server.httpsUrl, { ca, session, headers: JSON_HEADERS, body: small.text })),
      );
      expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
    } finally {
      session.close();
    }
  });

  it('accepts application/json with a charset parameter', async () => {
    const small = fixtures.find((f) => f.name === 'admission-small.json')!;
    const res = await h1Request(server.httpsUrl, { ca, headers: { 'content-type': 'application/json; charset=utf-8' }, body: small.text });
    expect(res.status).toBe(200);
  });

  it('admits a Pod carrying __proto__ / constructor keys instead of failing it', async () => {
    const review = JSON.parse(fixtures.find((f) => f.name === 'admission-small.json')!.text);
    const text = JSON.stringify(review).replace(
      '"metadata":{',
      '"metadata":{"annotations":{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}}},',
    );
    expect(text).toContain('__proto__');
    const res = await h2Request(server.httpsUrl, { ca, headers: JSON_HEADERS, body: text });
    expect(res.status).toBe(200);
    expect(res.json().response).toMatchObject({ uid: review.request.uid, allowed: true });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('logs one line per admission with a summary, never the Pod or env values', async () => {
    const typical = fixtures.find((f) => f.name === 'admission-typical.json')!;
    const uid = JSON.parse(typical.text).request.uid as string;
    await h1Request(server.httpsUrl, { ca, headers: JSON_HEADERS, body: typical.text });
    const lines = logs.lines.filter((l) => l.msg === 'admission' && l.uid === uid);
    expect(lines.length).toBeGreaterThan(0);
    const line = lines.at(-1);
    expect(line).toMatchObject({ level: 'info', uid, operation: 'CREATE' });
    expect(typeof line.outcome).toBe('string');
    expect(typeof line.duration_ms).toBe('number');
    expect(Array.isArray(line.changes)).toBe(true);
    expect(Array.isArray(line.warnings)).toBe(true);
    expect(line.changes).toEqual([
      { container: 'containers/base', from: 'mlrun/mlrun', to: expect.stringMatching(/^datanode-registry\.example\/mlrun\/mlrun:/), reasonCode: 'tag+prefix' },
    ]);
    const text = JSON.stringify(logs.lines);
    expect(text).not.toContain('"object"');
    expect(text).not.toContain('"env"');
    // No request/response lines from fastify itself: one line per admission.
    expect(logs.lines.filter((l) => l.msg === 'incoming request' || l.msg === 'request completed')).toEqual([]);
  });

  for (const protocol of ['http/1.1', 'h2'] as const) {
    const send = protocol === 'h2' ? h2Request : h1Request;
    describe(`errors over ${protocol}`, () => {
      it('answers malformed JSON with 400 and a JSON reason, no stack', async () => {
        const res = await send(server.httpsUrl, { ca, headers: JSON_HEADERS, body: '{"apiVersion": "admission.k8s.io/v1", ' });
        expect(res.status).toBe(400);
        const body = res.json();
        expect(body).toEqual({ error: 'Bad Request', message: expect.stringMatching(/^request body is not valid JSON: .*(end of JSON input|Expected)/) });
        expect(res.body).not.toMatch(/\bat [\w.<>]+ \(|node_modules|\.js:\d+/);
      });

      it('gives the parser\'s reason without quoting the body (it may carry secrets)', async () => {
        const res = await send(server.httpsUrl, { ca, headers: JSON_HEADERS, body: '{"kind": "AdmissionReview", "password": s3cr3tvalue}' });
        expect(res.status).toBe(400);
        expect(res.json().message).toMatch(/^request body is not valid JSON: Unexpected token/);
        expect(res.body).not.toMatch(/s3cr3t|password/);
      });

      it('answers a body that is not an AdmissionReview with 400 and the reason', async () => {
        const res = await send(server.httpsUrl, { ca, headers: JSON_HEADERS, body: '{"kind":"Pod"}' });
        expect(res.status).toBe(400);
        expect(res.json()).toEqual({ error: 'Bad Request', message: expect.stringContaining('AdmissionReview') });
      });

      it('answers an empty JSON body with 400', async () => {
        const res = await send(server.httpsUrl, { ca, headers: JSON_HEADERS, body: '' });
        expect(res.status).toBe(400);
        expect(res.json().error).toBe('Bad Request');
      });

      it('answers a wrong content-type with 415 and a reason', async () => {
        const res = await send(server.httpsUrl, { ca, headers: { 'content-type': 'application/xml' }, body: '<review/>' });
        expect(res.status).toBe(415);
        expect(res.json()).toEqual({ error: 'Unsupported Media Type', message: expect.stringContaining('application/json') });
      });

      it('answers a body above 3 MiB with 413 and a reason', async () => {
        const big = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', pad: 'x'.repeat(3 * 1024 * 1024 + 10) });
        const res = await send(server.httpsUrl, { ca, headers: JSON_HEADERS, body: big });
        expect(res.status).toBe(413);
        expect(res.json()).toEqual({ error: 'Payload Too Large', message: expect.stringContaining(String(3 * 1024 * 1024)) });
      });

      it('accepts a body just under 3 MiB', async () => {
        const review = JSON.parse(fixtures.find((f) => f.name === 'admission-small.json')!.text);
        review.request.object.metadata.annotations = { pad: 'x'.repeat(3 * 1024 * 1024 - 4096) };
        const res = await send(server.httpsUrl, { ca, headers: JSON_HEADERS, body: JSON.stringify(review) });
        expect(res.status).toBe(200);
        expect(res.json().response.uid).toBe(review.request.uid);
      });

      it('answers GET /mutate with 405 and Allow: POST', async () => {
        const res = await send(server.httpsUrl, { ca, method: 'GET' });
        expect(res.status).toBe(405);
        expect(res.headers['allow']).toBe('POST');
        expect(res.json().error).toBe('Method Not Allowed');
      });

      it('answers an unknown path with 404 JSON', async () => {
        const res = await send(server.httpsUrl, { ca, path: '/validate', headers: JSON_HEADERS, body: '{}' });
        expect(res.status).toBe(404);
        expect(res.json()).toEqual({ error: 'Not Found', message: expect.stringContaining('/validate') });
      });
    });
  }

  it('refuses a TLS 1.1 client', async () => {
    const url = new URL(server.httpsUrl);
    const err = await new Promise<Error | undefined>((resolve) => {
      const socket = tls.connect({
        host: url.hostname,
        port: Number(url.port),
        ca,
        servername: 'localhost',
        minVersion: 'TLSv1',
        maxVersion: 'TLSv1.1',
        // OpenSSL 3 would refuse TLS 1.1 on the client side at the default security level; we test the server.
        ciphers: 'DEFAULT@SECLEVEL=0',
      });
      socket.on('secureConnect', () => {
        socket.destroy();
        resolve(undefined);
      });
      socket.on('error', resolve);
    });
    expect(err).toBeInstanceOf(Error);
    expect(String((err as NodeJS.ErrnoException).code ?? err?.message)).toMatch(/PROTOCOL_VERSION|protocol version|WRONG_VERSION|UNSUPPORTED_PROTOCOL/i);
  });

  it('negotiates TLS 1.2 and TLS 1.3', async () => {
    const url = new URL(server.httpsUrl);
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      const protocol = await new Promise<string | null>((resolve, reject) => {
        const socket = tls.connect({ host: url.hostname, port: Number(url.port), ca, servername: 'localhost', minVersion: version, maxVersion: version }, () => {
          resolve(socket.getProtocol());
          socket.end();
        });
        socket.on('error', reject);
      });
      expect(protocol).toBe(version);
    }
  });
});

describe('admissions read in one turn of the event loop (ADR 0016)', () => {
  const typical = JSON.parse(fixtures.find((f) => f.name === 'admission-typical.json')!.text);
  /** The typical review with its own uid and first container image: distinct answers per request. */
  const variant = (i: number) => {
    const body = structuredClone(typical);
    body.request.uid = `0000000${i}-aaaa-bbbb-cccc-${String(i).padStart(12, '0')}`;
    body.request.object.spec.containers[0].image = ['mlrun/mlrun', 'mlrun/ml-base', 'mlrun/mlrun:1.7.0', 'nginx'][i % 4];
    return body;
  };

  /**
   * A server that records, in order, each admit() call and each line logged (`answered <uid>`: written as it is
   * logged), and keeps the lines parsed; `admitFn` stands in for admit().
   */
  const recordingServer = async (prefix: string, admitFn: typeof admit = admit) => {
    const tmp = await tempDir(prefix);
    const events: string[] = [];
    const lines: any[] = [];
    const record = (line: string) => {
      const parsed = JSON.parse(line);
      lines.push(parsed);
      events.push(`answered ${parsed.uid}`);
    };
    const s = await startTestServer(runtime, {
      logger: createLogger({ destination: { write: record } }),
      devCertDir: path.join(tmp.dir, 'dev-certs'),
      admit: (body, rt, context) => {
        events.push(`admit ${(body as any)?.request?.uid}`);
        return admitFn(body, rt, context);
      },
    });
    const close = async () => {
      await s.close();
      await tmp.cleanup();
    };
    return { s, events, lines, caPem: readFileSync(s.caFile!), close };
  };

  it('are decided together, then answered, each with its own decision', async () => {
    const { s, events, caPem, close } = await recordingServer('turn');
    try {
      const session = http2.connect(s.httpsUrl, { ca: caPem });
      const bodies = Array.from({ length: 24 }, (_, i) => variant(i));
      const h2 = bodies.slice(0, 16).map((b) => h2Request(s.httpsUrl, { ca: caPem, session, headers: JSON_HEADERS, body: JSON.stringify(b) }));
      const h1 = bodies.slice(16).map((b) => h1Request(s.httpsUrl, { ca: caPem, headers: JSON_HEADERS, body: JSON.stringify(b) }));
      const answers = await Promise.all([...h2, ...h1]);
      session.close();
      answers.forEach((res, i) => {
        expect(res.status).toBe(200);
        const expected = admit(bodies[i], runtime);
        expect(res.body).toBe(expected.status === 200 ? expected.json : undefined);
      });
      // Every admission was decided before it was answered, once.
      for (const b of bodies) {
        const uid = b.request.uid;
        expect(events.filter((e) => e === `admit ${uid}`)).toHaveLength(1);
        expect(events.indexOf(`admit ${uid}`)).toBeLessThan(events.indexOf(`answered ${uid}`));
      }
      // Streams of one h2 session arrive in one read: their admissions were decided back to back.
      expect(events.some((e, i) => e.startsWith('admit ') && events[i + 1]?.startsWith('admit '))).toBe(true);
    } finally {
      await close();
    }
  });

  it(`once a turn holds more than ${TURN_BYTES} bytes of bodies it is decided at once: a large body is not held`, async () => {
    const { s, events, caPem, close } = await recordingServer('turn-bytes');
    try {
      const large = JSON.parse(fixtures.find((f) => f.name === 'admission-large.json')!.text);
      const texts = Array.from({ length: 6 }, (_, i) => JSON.stringify({ ...large, request: { ...large.request, uid: `large-${i}` } }));
      expect(Buffer.byteLength(texts[0]!)).toBeGreaterThan(TURN_BYTES);
      const session = http2.connect(s.httpsUrl, { ca: caPem });
      const answers = await Promise.all(texts.map((body) => h2Request(s.httpsUrl, { ca: caPem, session, headers: JSON_HEADERS, body })));
      session.close();
      expect(answers.map((r) => r.status)).toEqual(Array(6).fill(200));
      // Each large admission is answered before the next is decided: no parsed large body waits for a turn's end.
      const order = events.filter((e) => e.includes('large-'));
      expect(order).toHaveLength(12);
      for (let i = 0; i < order.length; i += 2) expect(order[i + 1]).toBe(order[i]!.replace('admit', 'answered'));
    } finally {
      await close();
    }
  });

  /** The longest run of admit() calls with no answer between them. */
  const longestRun = (events: string[]) => {
    let run = 0;
    let longest = 0;
    for (const e of events) longest = Math.max(longest, (run = e.startsWith('admit ') ? run + 1 : 0));
    return longest;
  };

  it(`a turn holds at most ${TURN_ADMISSIONS} admissions, however small`, async () => {
    const { s, events, caPem, close } = await recordingServer('turn-count');
    try {
      const tiny = (i: number) =>
        JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: `tiny-${i}`, kind: { kind: 'Pod' }, operation: 'CREATE', object: { spec: { containers: [{ name: 'c', image: 'mlrun/mlrun' }] } } } });
      const session = http2.connect(s.httpsUrl, { ca: caPem });
      const answers = await Promise.all(Array.from({ length: 3 * TURN_ADMISSIONS }, (_, i) => h2Request(s.httpsUrl, { ca: caPem, session, headers: JSON_HEADERS, body: tiny(i) })));
      session.close();
      expect(answers.every((r) => r.status === 200)).toBe(true);
      expect(longestRun(events)).toBeGreaterThan(1);
      expect(longestRun(events)).toBeLessThanOrEqual(TURN_ADMISSIONS);
    } finally {
      await close();
    }
  });

  it('a body the JSON parser did not read (another content type) is decided at once, not held', async () => {
    const { s, events, caPem, close } = await recordingServer('turn-text');
    try {
      const session = http2.connect(s.httpsUrl, { ca: caPem });
      const text = 'x'.repeat(100_000);
      const answers = await Promise.all(Array.from({ length: 6 }, () => h2Request(s.httpsUrl, { ca: caPem, session, headers: { 'content-type': 'text/plain' }, body: text })));
      session.close();
      expect(answers.map((r) => r.status)).toEqual(Array(6).fill(400));
      expect(events.filter((e) => e.startsWith('admit '))).toHaveLength(6);
      expect(longestRun(events)).toBe(1);
    } finally {
      await close();
    }
  });

  it('a throw in one of them answers that one and the others as usual, whatever was thrown', async () => {
    const [throwsInAdmit, unreadable, unreadableOdd] = [1, 2, 3].map((i) => variant(i).request.uid);
    // A result the server cannot read: its status throws (an Error, or a value String() cannot print) when answered.
    const unreadableResult = (thrown: unknown) =>
      ({
        get status(): number {
          throw thrown;
        },
      }) as never;
    const { s, lines, caPem, close } = await recordingServer('turn-throw', (body, rt, context) => {
      const uid = (body as any).request.uid;
      if (uid === throwsInAdmit) throw Object.create(null);
      if (uid === unreadable) return unreadableResult(new Error('unreadable result'));
      if (uid === unreadableOdd) return unreadableResult(Object.create(null));
      return admit(body, rt, context);
    });
    try {
      const session = http2.connect(s.httpsUrl, { ca: caPem });
      const bodies = Array.from({ length: 8 }, (_, i) => variant(i));
      const answers = await Promise.all(bodies.map((b) => h2Request(s.httpsUrl, { ca: caPem, session, headers: JSON_HEADERS, body: JSON.stringify(b) })));
      session.close();
      answers.forEach((res, i) => {
        const uid = bodies[i].request.uid;
        if (uid === unreadable || uid === unreadableOdd) expect(res.status).toBe(500);
        else if (uid === throwsInAdmit) {
          // admit() threw (a value String() cannot print): the safety net admits the Pod unchanged, as for any throw.
          expect(res.status).toBe(200);
          expect(res.json().response).toMatchObject({ uid, allowed: true, warnings: [expect.stringContaining('internal error')] });
        } else expect([res.status, res.json().response.uid]).toEqual([200, uid]);
      });
      expect(lines.some((l) => l.level === 'error' && JSON.stringify(l).includes('unreadable result'))).toBe(true);
      expect(lines.some((l) => l.level === 'error' && l.uid === throwsInAdmit && /cannot be printed/.test(l.err?.message))).toBe(true);
    } finally {
      await close();
    }
  });
});

describe('safety net', () => {
  it('admits unchanged with a warning when admit() throws, never a 500', async () => {
    const tmp = await tempDir('safety');
    const logs2 = logCapture();
    const s = await startTestServer(runtime, {
      logger: createLogger({ destination: logs2 }),
      devCertDir: path.join(tmp.dir, 'dev-certs'),
      admit: () => {
        throw new Error('boom');
      },
    });
    try {
      const caPem = readFileSync(s.caFile!);
      const small = fixtures.find((f) => f.name === 'admission-small.json')!;
      const uid = JSON.parse(small.text).request.uid;
      for (const send of [h1Request, h2Request]) {
        const res = await send(s.httpsUrl, { ca: caPem, headers: JSON_HEADERS, body: small.text });
        expect(res.status).toBe(200);
        const body = res.json();
        expect(body.response).toMatchObject({ uid, allowed: true });
        expect(body.response.patch).toBeUndefined();
        expect(body.response.warnings).toEqual([expect.stringContaining('internal error')]);
      }
      const metrics = (await httpGet(`${s.healthUrl}/metrics`)).body;
      expect(metricValue(metrics, 'mlrun_image_webhook_admission_requests_total{outcome="error"}')).toBe(2);
      expect(logs2.lines.some((l) => l.level === 'error' && /unexpectedly/.test(l.msg))).toBe(true);
    } finally {
      await s.close();
      await tmp.cleanup();
    }
  });
});

describe('health port', () => {
  it('/healthz answers 200', async () => {
    const res = await httpGet(`${server.healthUrl}/healthz`);
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('/readyz answers 200 with config and certificate loaded', async () => {
    const res = await httpGet(`${server.healthUrl}/readyz`);
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ status: 'ready' });
  });

  it('/readyz answers 503 with a reason when the config source fails', async () => {
    const tmp = await tempDir('ready');
    let broken = false;
    const s = await startServer({
      config: {
        current: () => {
          if (broken) throw new Error('no config');
          return runtime;
        },
      },
      logger: createLogger({ level: 'silent' }),
      host: '127.0.0.1',
      port: 0,
      healthPort: 0,
      devCertDir: path.join(tmp.dir, 'dev-certs'),
    });
    try {
      expect((await httpGet(`${s.healthUrl}/readyz`)).status).toBe(200);
      broken = true;
      const res = await httpGet(`${s.healthUrl}/readyz`);
      expect(res.status).toBe(503);
      expect(res.json()).toEqual({ status: 'not ready', reason: expect.stringContaining('no config') });
    } finally {
      await s.close();
      await tmp.cleanup();
    }
  });

  it('/metrics exposes the webhook metrics after requests', async () => {
    const small = fixtures.find((f) => f.name === 'admission-small.json')!;
    await h1Request(server.httpsUrl, { ca, headers: JSON_HEADERS, body: small.text });
    const res = await httpGet(`${server.healthUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(String(res.headers['content-type'])).toMatch(/^text\/plain/);
    for (const name of [
      'mlrun_image_webhook_admission_requests_total',
      'mlrun_image_webhook_images_changed_total',
      'mlrun_image_webhook_image_warnings_total',
      'mlrun_image_webhook_admission_duration_seconds_bucket',
      'mlrun_image_webhook_config_reloads_total',
      'mlrun_image_webhook_config_last_reload_success_timestamp_seconds',
      'mlrun_image_webhook_tls_certificate_expiry_timestamp_seconds',
      'mlrun_image_webhook_tls_reloads_total',
      'mlrun_image_webhook_rules_info',
      'process_resident_memory_bytes',
    ]) {
      expect(res.body).toContain(name);
    }
    for (const outcome of ['mutated', 'unchanged', 'reported', 'skipped', 'error', 'bad_request']) {
      expect(res.body).toContain(`mlrun_image_webhook_admission_requests_total{outcome="${outcome}"}`);
    }
    const count = (outcome: string) => metricValue(res.body, `mlrun_image_webhook_admission_requests_total{outcome="${outcome}"}`) ?? 0;
    expect(count('mutated') + count('unchanged') + count('skipped')).toBeGreaterThan(0);
    expect(count('bad_request')).toBeGreaterThan(0);
    expect(metricValue(res.body, 'mlrun_image_webhook_admission_duration_seconds_count')).toBeGreaterThan(0);
    const expiry = metricValue(res.body, 'mlrun_image_webhook_tls_certificate_expiry_timestamp_seconds')!;
    expect(expiry * 1000).toBeGreaterThan(Date.now());
    expect(res.body).toMatch(/mlrun_image_webhook_rules_info\{mlrun_version="1\.9\.2",family="E",mode="enforce"\} 1/);
  });

  it('counts changed images by reason', async () => {
    const typical = fixtures.find((f) => f.name === 'admission-typical.json')!;
    const res = await h1Request(server.httpsUrl, { ca, headers: JSON_HEADERS, body: typical.text });
    const expected = admit(JSON.parse(typical.text), runtime);
    const metrics = (await httpGet(`${server.healthUrl}/metrics`)).body;
    if (expected.status === 200 && expected.summary.outcome === 'mutated') {
      for (const d of expected.summary.decisions.filter((x) => x.changed)) {
        expect(metricValue(metrics, `mlrun_image_webhook_images_changed_total{reason="${d.reasonCode}"}`)).toBeGreaterThan(0);
      }
    }
    expect(res.status).toBe(200);
  });

  it('/healthz ignores unknown paths with a JSON 404', async () => {
    const res = await httpGet(`${server.healthUrl}/nope`);
    expect(res.status).toBe(404);
    expect(res.json().error).toBe('Not Found');
  });
});

describe('development certificates', () => {
  it('are generated once and reused while valid', async () => {
    const tmp = await tempDir('devcerts');
    try {
      const dir = path.join(tmp.dir, 'certs');
      const first = await ensureDevCertificates(dir);
      expect(first.reused).toBe(false);
      const second = await ensureDevCertificates(dir);
      expect(second.reused).toBe(true);
      expect(readFileSync(second.certFile, 'utf8')).toBe(readFileSync(first.certFile, 'utf8'));
      // Concurrent first starts converge on one usable set.
      const dir2 = path.join(tmp.dir, 'race');
      const all = await Promise.all([ensureDevCertificates(dir2), ensureDevCertificates(dir2), ensureDevCertificates(dir2)]);
      for (const d of all) {
        const x = new (await import('node:crypto')).X509Certificate(readFileSync(d.certFile));
        const caCert = new (await import('node:crypto')).X509Certificate(readFileSync(d.caFile));
        expect(x.verify(caCert.publicKey)).toBe(true);
      }
    } finally {
      await tmp.cleanup();
    }
  });

  it('the running server logs where the CA is', () => {
    const line = logs.lines.find((l) => typeof l.caFile === 'string');
    expect(line?.caFile).toBe(server.caFile);
    expect(line?.try).toContain('--cacert');
    // Copy-pastable from the repo root: the file it posts exists, the URL names the certificate's host and our port.
    const file = /--data @(\S+)/.exec(line.try)![1]!;
    expect(existsSync(fileURLToPath(new URL(`../../${file}`, import.meta.url)))).toBe(true);
    expect(line.try).toContain(`https://localhost:${new URL(server.httpsUrl).port}/mutate`);
    expect(line.try).not.toContain('127.0.0.1');
  });
});
