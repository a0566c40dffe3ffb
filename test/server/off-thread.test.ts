/**
 * Large admissions in the admission worker (ADR 0014), over real HTTPS with a real worker thread. The worker script
 * is this tree's own code, compiled into a scratch folder (vitest runs the TypeScript sources; a worker thread needs
 * JavaScript). What must hold: the worker's answer is byte for byte the event loop's, for every fixture, with and
 * without registry knowledge; bad JSON gets the same 400; and whatever happens to the worker (too little heap, a
 * crash, a hang, too many waiting), the server answers and keeps serving.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import tls from 'node:tls';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { podCreateReview } from '../../src/admission/review.js';
import { validateAndBuild } from '../../src/config/load.js';
import type { Runtime } from '../../src/config/runtime.js';
import type { RegistryLookups, RunningServer, StartServerOptions } from '../../src/server/app.js';
import { OffThreadAdmissions, OffThreadFailure, DEFAULT_OFF_THREAD, type OffThreadOptions } from '../../src/server/off-thread.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { h1Request, h2Request, logCapture, metricValue, startTestServer, tempDir } from './helpers.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const JSON_HEADERS = { 'content-type': 'application/json' };
/** Every body over this goes to the worker in these tests (the fixtures are 2-100 KiB). */
const LARGE = 1024;
/** The repository's large AdmissionReview (99 KiB, 20 containers). */
const LARGE_REVIEW = readFileSync(path.join(ROOT, 'test/fixtures/admission/admission-large.json'), 'utf8');

let scratch: { dir: string; cleanup: () => Promise<void> };
let workerUrl: URL;
beforeAll(() => {
  return (async () => {
    // Inside the repository, so that the build resolves this repository's node_modules.
    await mkdir(path.join(ROOT, '.cache'), { recursive: true });
    const dir = await mkdtemp(path.join(ROOT, '.cache/off-thread-build-'));
    scratch = { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
    execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.build.json'), '--outDir', path.join(scratch.dir, 'dist')], {
      cwd: ROOT,
      stdio: 'pipe',
    });
    workerUrl = pathToFileURL(path.join(scratch.dir, 'dist/server/admission-worker.js'));
  })();
});
afterAll(() => scratch?.cleanup());

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function runtimeOf(raw: Record<string, unknown>): Runtime {
  const r = validateAndBuild({ mlrun: { version: '1.9.2', imagesRegistry: 'datanode-registry.example/' }, ...raw });
  if (!r.ok) throw new Error(r.problems.map((p) => `${p.key}: ${p.reason}`).join('; '));
  return r.runtime;
}

async function start(rt: Runtime, options: Omit<StartServerOptions, 'config'> = {}) {
  const tmp = await tempDir('off-thread');
  const logs = logCapture();
  const server: RunningServer = await startTestServer(rt, {
    logger: createLogger({ level: 'info', destination: logs }),
    devCertDir: path.join(tmp.dir, 'dev-certs'),
    limits: { largeBodyBytes: LARGE },
    ...options,
  });
  cleanups.push(tmp.cleanup, () => server.close());
  return { server, ca: readFileSync(server.caFile!), logs };
}

/** A server whose admission worker is `source` (a stand-in that misbehaves on purpose), written into the scratch folder. */
function startWithWorkerScript(name: string, source: string, offThread: Partial<OffThreadOptions> = {}) {
  const file = path.join(scratch.dir, `${name}.mjs`);
  writeFileSync(file, source);
  return start(runtimeOf({}), { offThread: { ...offThread, workerUrl: pathToFileURL(file) } });
}

/** What a stand-in worker sends once loaded. */
const READY = 'parentPort.postMessage({ t: "ready", id: 0 });\n';
const IMPORT_PORT = 'import { parentPort } from "node:worker_threads";\n';

/** Every AdmissionReview the repository has: the admission fixtures and the MLRun Pods as CREATE reviews. */
function bodies(): { name: string; text: string }[] {
  const out: { name: string; text: string }[] = [];
  const admission = path.join(ROOT, 'test/fixtures/admission');
  for (const f of readdirSync(admission).filter((f) => f.endsWith('.json'))) out.push({ name: f, text: readFileSync(path.join(admission, f), 'utf8') });
  const pods = path.join(ROOT, 'test/fixtures/mlrun-pods');
  for (const f of readdirSync(pods).filter((f) => f.endsWith('.json'))) {
    const pod = JSON.parse(readFileSync(path.join(pods, f), 'utf8'));
    out.push({ name: f, text: JSON.stringify(podCreateReview(pod, { uid: `uid-${f}`, namespace: 'mlrun' })) });
  }
  return out;
}

/** The admission log line without what differs between two runs of the same admission. */
function comparable(line: any): any {
  const { time: _t, duration_ms: _d, offThread: _o, pid: _p, hostname: _h, ...rest } = line;
  return rest;
}

/** The registry cache and look-ups, as the MirrorService offers them to the server. */
class Registry implements RegistryLookups {
  readonly states = new Map<string, { state: 'present' | 'missing' | 'unknown'; digest?: string }>();
  readonly calls: string[][] = [];
  constructor(private readonly onLookup: (images: string[], self: Registry) => void = () => undefined) {}
  state(image: string) {
    return this.states.get(image) ?? { state: 'unknown' as const };
  }
  async lookup(images: string[]) {
    this.calls.push(images);
    this.onLookup(images, this);
  }
}

describe('large admissions in the worker', () => {
  it('answer every fixture byte for byte as the event loop does, on both protocols and both paths, and say so in the log', async () => {
    const rt = runtimeOf({ policy: { pinTags: 'warn' } });
    const worker = await start(rt, { offThread: { workerUrl } });
    const loop = await start(rt, { offThread: false });
    for (const { name, text } of bodies()) {
      for (const [send, p] of [
        [h2Request, '/mutate'],
        [h1Request, '/mutate/production'],
      ] as const) {
        const a = await send(worker.server.httpsUrl, { path: p, ca: worker.ca, headers: JSON_HEADERS, body: text });
        const b = await send(loop.server.httpsUrl, { path: p, ca: loop.ca, headers: JSON_HEADERS, body: text });
        expect(a.status, `${name} ${p}`).toBe(b.status);
        expect(a.body, `${name} ${p}`).toBe(b.body);
      }
    }
    const lines = (logs: any[]) => logs.filter((l) => l.msg === 'admission');
    expect(lines(worker.logs.lines).length).toBe(bodies().length * 2);
    expect(lines(worker.logs.lines).every((l) => l.offThread === true)).toBe(true);
    expect(lines(loop.logs.lines).some((l) => 'offThread' in l)).toBe(false);
    expect(lines(worker.logs.lines).map(comparable)).toEqual(lines(loop.logs.lines).map(comparable));
  });

  it('many at once, on both protocols: each waits its turn and is answered (HTTP/1.1 requests read as destroyed once their body is in)', async () => {
    const { server, ca, logs } = await start(runtimeOf({}), { offThread: { workerUrl } });
    const text = LARGE_REVIEW;
    const sends = [];
    for (let i = 0; i < 6; i++) {
      sends.push(h1Request(server.httpsUrl, { ca, headers: JSON_HEADERS, body: text }));
      sends.push(h2Request(server.httpsUrl, { ca, headers: JSON_HEADERS, body: text }));
    }
    const answers = await Promise.all(sends);
    expect(answers.map((a) => a.status)).toEqual(Array(12).fill(200));
    expect(logs.lines.filter((l) => l.msg === 'admission' && l.offThread === true)).toHaveLength(12);
  });

  it('a graceful close lets the large admissions in flight and waiting finish', async () => {
    const { server, ca } = await start(runtimeOf({}), { offThread: { workerUrl } });
    const text = LARGE_REVIEW;
    const sends = Array.from({ length: 5 }, () => h1Request(server.httpsUrl, { ca, headers: JSON_HEADERS, body: text }));
    // The first answer comes after the worker started (tens of ms): by then the other four are in, waiting.
    await Promise.race(sends);
    const closing = server.close();
    expect((await Promise.all(sends)).map((a) => a.status)).toEqual(Array(5).fill(200));
    await closing;
  });

  it('past the waiting cap: 503 with Retry-After, counted as a connection event, no line per request', async () => {
    const { server, ca, logs } = await start(runtimeOf({}), { offThread: { workerUrl, maxWaiting: 0 } });
    const text = LARGE_REVIEW;
    const answers = await Promise.all(Array.from({ length: 4 }, () => h2Request(server.httpsUrl, { ca, headers: JSON_HEADERS, body: text })));
    const busy = answers.filter((a) => a.status === 503);
    expect(busy.length).toBeGreaterThan(0);
    expect(busy[0]!.headers['retry-after']).toBe('1');
    expect(answers.filter((a) => a.status === 200).length).toBe(4 - busy.length);
    expect(logs.lines.filter((l) => l.msg === 'admission request refused')).toEqual([]);
    const metrics = await server.metrics.registry.metrics();
    expect(metricValue(metrics, 'mlrun_image_webhook_connection_events_total{event="busy"}')).toBe(busy.length);
  });

  it('a large body without a declared length (chunked) goes to the worker too, and a declared length that lies is refused', async () => {
    const { server, ca, logs } = await start(runtimeOf({}), { offThread: { workerUrl } });
    const text = LARGE_REVIEW;
    const url = new URL(server.httpsUrl);
    const raw = (head: string, parts: string[]) =>
      new Promise<string>((resolve, reject) => {
        const socket = tls.connect({ host: url.hostname, port: Number(url.port), ca, servername: 'localhost', ALPNProtocols: ['http/1.1'] }, () => {
          socket.write(head);
          for (const p of parts) socket.write(p);
        });
        let got = '';
        socket.on('data', (c: Buffer) => (got += c.toString('utf8')));
        socket.on('error', reject);
        socket.on('close', () => resolve(got));
      });
    const chunked = await raw(
      'POST /mutate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n',
      [text.slice(0, 5000), text.slice(5000)].map((p) => `${Buffer.byteLength(p).toString(16)}\r\n${p}\r\n`).concat('0\r\n\r\n'),
    );
    expect(chunked).toMatch(/^HTTP\/1\.1 200 /);
    expect(logs.lines.find((l) => l.msg === 'admission')).toMatchObject({ offThread: true });
    // Declared shorter than sent: the server reads what was declared, and the JSON it holds then is cut short (400).
    const short = await raw(`POST /mutate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: ${LARGE + 10}\r\nconnection: close\r\n\r\n`, [text]);
    expect(short).toMatch(/^HTTP\/1\.1 400 /);
  });

  it('bodies at or under the large-body size stay on the event loop', async () => {
    const { server, ca, logs } = await start(runtimeOf({}), { offThread: { workerUrl }, limits: { largeBodyBytes: 1_000_000 } });
    const text = readFileSync(path.join(ROOT, 'test/fixtures/admission/admission-typical.json'), 'utf8');
    expect((await h2Request(server.httpsUrl, { ca, headers: JSON_HEADERS, body: text })).status).toBe(200);
    expect(logs.lines.find((l) => l.msg === 'admission').offThread).toBeUndefined();
  });

  it('with a registry: the cache states the event loop would read, look-ups within the budget, the final pass', async () => {
    // Padded past the large-body size with an annotation nobody reads.
    const text = JSON.stringify(podCreateReview({ metadata: { name: 'p', annotations: { pad: 'x'.repeat(2 * LARGE) } }, spec: { containers: [{ name: 'a', image: 'mlrun/mlrun' }, { name: 'b', image: 'mlrun/mlrun-gpu' }] } }, { uid: 'u1' }));
    for (const missing of ['rewrite', 'keep-original']) {
      const runtime = runtimeOf({ mirror: { enabled: true, missing } });
      // A cache that knows one image already and learns the other from the look-up.
      const make = () => {
        const r = new Registry((images, self) => {
          for (const i of images) self.states.set(i, { state: 'missing' });
        });
        r.states.set('datanode-registry.example/mlrun/mlrun:1.9.2', { state: 'present' });
        return r;
      };
      const wr = make();
      const lr = make();
      const worker = await start(runtime, { offThread: { workerUrl }, registry: wr, budgetMs: 5_000 });
      const loop = await start(runtime, { offThread: false, registry: lr, budgetMs: 5_000 });
      const a = await h1Request(worker.server.httpsUrl, { ca: worker.ca, headers: JSON_HEADERS, body: text });
      const b = await h1Request(loop.server.httpsUrl, { ca: loop.ca, headers: JSON_HEADERS, body: text });
      expect(a.body, missing).toBe(b.body);
      expect(wr.calls, missing).toEqual(lr.calls);
      expect(wr.calls, missing).toEqual([['datanode-registry.example/mlrun/mlrun-gpu:1.9.2']]);
      const line = worker.logs.lines.find((l) => l.msg === 'admission');
      expect(line).toMatchObject({ offThread: true, registryLookup: { images: 1, secondPass: true } });
      const same = (l: any) => ({ ...comparable(l), registryLookup: { ...l.registryLookup, ms: 0 } });
      expect(same(line)).toEqual(same(loop.logs.lines.find((l) => l.msg === 'admission')));
    }
  });

  it('with a registry, each large admission gets its look-up budget from its own turn, not from its arrival', async () => {
    const runtime = runtimeOf({ mirror: { enabled: true } });
    const registry = new Registry();
    // Each look-up takes 100 ms of a 250 ms budget: four queued behind one another would have spent theirs waiting.
    registry.lookup = async (images: string[]) => {
      registry.calls.push(images);
      await new Promise((r) => setTimeout(r, 100));
      for (const i of images) registry.states.set(i, { state: 'present' });
    };
    const { server, ca, logs } = await start(runtime, { offThread: { workerUrl }, registry, budgetMs: 250 });
    const bodiesSent = [0, 1, 2, 3].map((i) =>
      JSON.stringify(podCreateReview({ metadata: { name: `p${i}`, annotations: { pad: 'x'.repeat(2 * LARGE) } }, spec: { containers: [{ name: 'a', image: `mlrun/mlrun:1.9.${i}` }] } }, { uid: `u${i}` })),
    );
    const answers = await Promise.all(bodiesSent.map((body) => h2Request(server.httpsUrl, { ca, headers: JSON_HEADERS, body })));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
    const lines = logs.lines.filter((l) => l.msg === 'admission');
    expect(lines).toHaveLength(4);
    for (const l of lines) expect(l.registryLookup, l.uid).toMatchObject({ images: 1, secondPass: true });
  });

  it('a body that is not JSON gets the event loop\'s 400 and reason', async () => {
    const { server, ca } = await start(runtimeOf({}), { offThread: { workerUrl } });
    const loop = await start(runtimeOf({}), { offThread: false, limits: {} });
    const bad = `{"request": ${'['.repeat(10)}${' '.repeat(2000)}}`;
    const a = await h2Request(server.httpsUrl, { ca, headers: JSON_HEADERS, body: bad });
    const b = await h2Request(loop.server.httpsUrl, { ca: loop.ca, headers: JSON_HEADERS, body: bad });
    expect(a.status).toBe(400);
    expect(a.json().message).toMatch(/^request body is not valid JSON: /);
    expect(a.body).toBe(b.body);
    const text = await server.metrics.registry.metrics();
    expect(metricValue(text, 'mlrun_image_webhook_admission_requests_total{outcome="bad_request"}')).toBe(1);
  });

  it('a body that needs more than the worker\'s heap is refused (400); the next is admitted by a new worker', async () => {
    const { server, ca, logs } = await start(runtimeOf({}), { offThread: { workerUrl, heapMb: 8 } });
    // 600,000 empty objects: 1.8 MB of JSON that takes over 30 MiB of heap to parse.
    const heavy = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u"},"x":[${'{},'.repeat(600_000)}{}]}`;
    const res = await h2Request(server.httpsUrl, { ca, headers: JSON_HEADERS, body: heavy });
    expect(res.status).toBe(400);
    expect(res.json().message).toContain('more than the 8 MiB a large admission may use');
    expect(logs.lines.find((l) => l.msg === 'admission request refused')).toMatchObject({ status: 400 });
    const text = readFileSync(path.join(ROOT, 'test/fixtures/admission/admission-typical.json'), 'utf8');
    const next = await h2Request(server.httpsUrl, { ca, headers: JSON_HEADERS, body: text });
    expect(next.status).toBe(200);
    expect(next.json().response.allowed).toBe(true);
    expect(logs.lines.find((l) => l.msg === 'admission')).toMatchObject({ offThread: true });
  });

  it('a worker that cannot start: the admission is decided on the event loop, the same answer, one error line', async () => {
    const { server, ca, logs } = await startWithWorkerScript('broken-worker', 'throw new Error("this worker cannot start");\n');
    const loop = await start(runtimeOf({}), { offThread: false });
    const text = LARGE_REVIEW;
    const a = await h2Request(server.httpsUrl, { ca, headers: JSON_HEADERS, body: text });
    const b = await h2Request(loop.server.httpsUrl, { ca: loop.ca, headers: JSON_HEADERS, body: text });
    expect(a.status).toBe(200);
    expect(a.body).toBe(b.body);
    expect(logs.lines.filter((l) => l.msg.startsWith('admission worker unavailable')).length).toBe(1);
    expect(logs.lines.find((l) => l.msg === 'admission').offThread).toBeUndefined();
  });

  it('a worker that loads but never says so: the admission is decided on the event loop', async () => {
    const { server, ca, logs } = await startWithWorkerScript('mute-worker', `${IMPORT_PORT}parentPort.on("message", () => {});\n`, { callTimeoutMs: 300 });
    const text = LARGE_REVIEW;
    const res = await h2Request(server.httpsUrl, { ca, headers: JSON_HEADERS, body: text });
    expect(res.status).toBe(200);
    expect(res.json().response.allowed).toBe(true);
    expect(logs.lines.some((l) => l.msg.startsWith('admission worker unavailable'))).toBe(true);
    expect(logs.lines.find((l) => l.msg === 'admission').offThread).toBeUndefined();
  });

  it('a worker that ends while it has the request: 500, and the next large body gets a new worker', async () => {
    // Exits on the second message it gets: the first large body's admit pass, after its bytes were sent.
    const { server, ca, logs } = await startWithWorkerScript(
      'dying-worker',
      `${IMPORT_PORT}let n = 0;\nparentPort.on("message", (m) => { if (++n === 2) process.exit(7); parentPort.postMessage(m.t === "open" ? { t: "opened", id: m.id, ok: true, namespace: undefined } : { t: "failed", id: m.id, error: "x" }); });\n${READY}`,
    );
    const text = LARGE_REVIEW;
    const res = await h2Request(server.httpsUrl, { ca, headers: JSON_HEADERS, body: text });
    expect(res.status).toBe(500);
    expect(logs.lines.some((l) => l.msg.startsWith('admission worker failed') && /exited \(code 7\)/.test(l.err.message))).toBe(true);
    // A new worker (the same script) ends the same way: 500 again, no hang, and a second exit (the dead worker was
    // not asked again: it would have timed out, not exited).
    const again = await h2Request(server.httpsUrl, { ca, headers: JSON_HEADERS, body: text });
    expect(again.status).toBe(500);
    expect(logs.lines.filter((l) => l.msg.startsWith('admission worker failed') && /exited \(code 7\)/.test(l.err.message))).toHaveLength(2);
  });

  it('a worker that never answers: 500 after the call timeout, and the server keeps answering', async () => {
    const { server, ca, logs } = await startWithWorkerScript('hanging-worker', `${IMPORT_PORT}parentPort.on("message", () => {});\n${READY}`, { callTimeoutMs: 300 });
    const text = LARGE_REVIEW;
    const res = await h1Request(server.httpsUrl, { ca, headers: JSON_HEADERS, body: text });
    expect(res.status).toBe(500);
    expect(res.json()).toEqual({ error: 'Internal Server Error', message: 'internal error' });
    expect(logs.lines.some((l) => l.msg.startsWith('admission worker timed out'))).toBe(true);
    // A body under the large-body size: decided on the event loop, which the hung worker does not hold.
    const small = JSON.stringify(podCreateReview({ spec: { containers: [{ name: 'a', image: 'mlrun/mlrun' }] } }, { uid: 's' }));
    expect(small.length).toBeLessThanOrEqual(LARGE);
    expect((await h2Request(server.httpsUrl, { ca, headers: JSON_HEADERS, body: small })).status).toBe(200);
  });
});

describe('OffThreadAdmissions', () => {
  const bytes = Buffer.from(JSON.stringify(podCreateReview({ spec: { containers: [{ name: 'a', image: 'mlrun/mlrun' }] } }, { uid: 'u' })));

  it('one session at a time, the rest wait in order; past maxWaiting: busy; a request gone while waiting is skipped', async () => {
    const ot = new OffThreadAdmissions({ ...DEFAULT_OFF_THREAD, workerUrl, maxWaiting: 2 });
    cleanups.push(async () => ot.stop());
    const order: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const first = ot.run(bytes, () => true, async (s) => {
      order.push(`first ${s.namespace ?? '-'}`);
      await held;
      return 1;
    });
    const second = ot.run(bytes, () => false, async () => (order.push('second'), 2));
    const third = ot.run(bytes, () => true, async (s) => (order.push('third'), (await s.admit(runtimeOf({}), false, undefined, false)).result.status));
    await expect(ot.run(bytes, () => true, async () => 4)).rejects.toMatchObject({ kind: 'busy' });
    expect(ot.waiting).toBe(2);
    release();
    expect(await Promise.all([first, second, third])).toEqual([1, undefined, 200]);
    expect(order).toEqual(['first -', 'third']);
    expect(ot.waiting).toBe(0);
  });

  it('bytes that own their memory move to the worker without a copy; a view of a shared pool is copied', async () => {
    const ot = new OffThreadAdmissions({ ...DEFAULT_OFF_THREAD, workerUrl });
    cleanups.push(async () => ot.stop());
    const owned = Buffer.from(new ArrayBuffer(bytes.length));
    bytes.copy(owned);
    const pooled = Buffer.from(bytes.toString('utf8'));
    expect(pooled.buffer.byteLength).toBeGreaterThan(pooled.length);
    for (const b of [owned, pooled]) {
      const r = await ot.run(b, () => true, (s) => s.admit(runtimeOf({}), false, undefined, false));
      expect(r!.result.status).toBe(200);
    }
    expect(owned.byteLength).toBe(0);
    expect(pooled.toString('utf8')).toBe(bytes.toString('utf8'));
  });

  it('an idle worker ends; the next session starts another', async () => {
    const ot = new OffThreadAdmissions({ ...DEFAULT_OFF_THREAD, workerUrl, idleMs: 50 });
    cleanups.push(async () => ot.stop());
    await ot.run(bytes, () => true, async () => undefined);
    expect(ot.running).toBe(true);
    for (let i = 0; i < 200 && ot.running; i++) await new Promise((r) => setTimeout(r, 25));
    expect(ot.running).toBe(false);
    const r = await ot.run(bytes, () => true, (s) => s.admit(runtimeOf({}), false, undefined, false));
    expect(r!.result.status).toBe(200);
  });

  it('stop() fails what is in progress; what waits and what comes later is unavailable (nothing sent)', async () => {
    const ot = new OffThreadAdmissions({ ...DEFAULT_OFF_THREAD, workerUrl });
    let inside!: () => void;
    const entered = new Promise<void>((r) => (inside = r));
    const running = ot.run(bytes, () => true, async (s) => {
      inside();
      await new Promise((r) => setTimeout(r, 50));
      return s.admit(runtimeOf({}), false, undefined, false);
    });
    await entered;
    const waiting = ot.run(bytes, () => true, async () => 2).catch((e: unknown) => e);
    ot.stop();
    await expect(running).rejects.toBeInstanceOf(OffThreadFailure);
    // Nothing of these was sent: 'unavailable', so the server decides them on the event loop.
    expect(await waiting).toMatchObject({ kind: 'unavailable' });
    await expect(ot.run(bytes, () => true, async () => 1)).rejects.toMatchObject({ kind: 'unavailable' });
  });
});
