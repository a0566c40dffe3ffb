/**
 * The server's side of wave 2's contracts, over real HTTPS: the production path, the namespace handed to the
 * runtime source, and registry look-ups within the per-admission budget (a second admit() pass when they resolve,
 * never a delay beyond the budget, never a failure because of the registry).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { admit } from '../../src/admission/admit.js';
import { podCreateReview } from '../../src/admission/review.js';
import type { AdmissionResult } from '../../src/admission/types.js';
import { validateAndBuild } from '../../src/config/load.js';
import type { Runtime } from '../../src/config/runtime.js';
import { requestNamespace, waitAtMost, type AdmitFunction, type RegistryLookups, type RunningServer } from '../../src/server/app.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { testRuntime } from '../helpers/runtime.js';
import { decodePatch, h1Request, h2Request, logCapture, metricValue, startTestServer, tempDir } from './helpers.js';

const JSON_HEADERS = { 'content-type': 'application/json' };
const runtime = testRuntime({ mlrun: { imagesRegistry: 'datanode-registry.example/' } });

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function start(options: Parameters<typeof startTestServer>[1] & { runtimeSource?: { current(ns?: string): Runtime } } = {}) {
  const tmp = await tempDir('routes');
  const logs = logCapture();
  const { runtimeSource, ...rest } = options;
  const server: RunningServer = await startTestServer(runtime, {
    logger: createLogger({ level: 'info', destination: logs }),
    devCertDir: path.join(tmp.dir, 'dev-certs'),
    ...rest,
    ...(runtimeSource ? { config: runtimeSource } : {}),
  } as never);
  cleanups.push(tmp.cleanup, () => server.close());
  const ca = readFileSync(server.caFile!);
  return { server, ca, logs };
}

function review(images: string[], namespace = 'mlrun', uid = '00000000-0000-4000-8000-00000000abcd'): string {
  return JSON.stringify(
    podCreateReview({ metadata: { name: 'p' }, spec: { containers: images.map((image, i) => ({ name: `c${i}`, image })) } }, { uid, namespace }),
  );
}

/** The images of a patched Pod's containers. */
function patchedImages(body: any): string[] {
  return (decodePatch(body) ?? []).filter((op: any) => /^\/spec\/containers\/\d+\/image$/.test(op.path)).map((op: any) => op.value);
}

describe('routes', () => {
  it('POST /mutate/production admits with context.production = true; /mutate without', async () => {
    const seen: (boolean | undefined)[] = [];
    const recording: AdmitFunction = (body, rt, context) => {
      seen.push(context?.production);
      return (admit as AdmitFunction)(body, rt, context);
    };
    const { server, ca } = await start({ admit: recording });
    for (const [p, send] of [['/mutate/production', h2Request], ['/mutate', h1Request], ['/mutate/production', h1Request]] as const) {
      const res = await send(server.httpsUrl, { path: p, ca, headers: JSON_HEADERS, body: review(['mlrun/mlrun']) });
      expect(res.status, p).toBe(200);
      expect(patchedImages(res.json())).toEqual(['datanode-registry.example/mlrun/mlrun:1.9.2']);
    }
    expect(seen).toEqual([true, false, true]);
    const wrong = await h1Request(server.httpsUrl, { path: '/mutate/production', method: 'GET', ca });
    expect(wrong.status).toBe(405);
    expect(wrong.headers['allow']).toBe('POST');
    expect(wrong.json().message).toBe('use POST /mutate/production');
    // Both paths count as admissions.
    const metrics = await server.metrics.registry.metrics();
    expect(metricValue(metrics, 'mlrun_image_webhook_admission_requests_total{outcome="mutated"}')).toBe(3);
  });

  it("the request's namespace picks the runtime; anything that cannot be a namespace picks the default", async () => {
    const tenant = testRuntime({ mlrun: { imagesRegistry: 'tenant-registry.example/', version: '1.8.0' } });
    const asked: (string | undefined)[] = [];
    const runtimeSource = {
      current(ns?: string) {
        asked.push(ns);
        return ns === 'tenant-a' ? tenant : runtime;
      },
    };
    const { server, ca } = await start({ runtimeSource });
    const send = (body: string) => h1Request(server.httpsUrl, { ca, headers: JSON_HEADERS, body });
    expect(patchedImages((await send(review(['mlrun/mlrun'], 'tenant-a'))).json())).toEqual(['tenant-registry.example/mlrun/mlrun:1.8.0']);
    expect(patchedImages((await send(review(['mlrun/mlrun'], 'mlrun'))).json())).toEqual(['datanode-registry.example/mlrun/mlrun:1.9.2']);
    const long = 'n'.repeat(64);
    await send(review(['mlrun/mlrun'], long));
    const odd = JSON.parse(review(['mlrun/mlrun']));
    odd.request.namespace = { name: 'tenant-a' };
    await send(JSON.stringify(odd));
    // Readiness also asks current(): only the admissions' calls are checked.
    expect(asked.filter((a) => a !== undefined)).toEqual(['tenant-a', 'mlrun']);
    expect(asked).toContain(undefined);
    expect(asked).not.toContain(long);
  });

  it('requestNamespace reads only a namespace-sized string', () => {
    expect(requestNamespace({ request: { namespace: 'mlrun' } })).toBe('mlrun');
    expect(requestNamespace({ request: { namespace: 'x'.repeat(63) } })).toBe('x'.repeat(63));
    for (const body of [null, 'x', 1, [], {}, { request: null }, { request: 'mlrun' }, { request: { namespace: '' } }, { request: { namespace: 7 } }, { request: { namespace: 'x'.repeat(64) } }]) {
      expect(requestNamespace(body), JSON.stringify(body)).toBeUndefined();
    }
  });
});

/**
 * A registry double and an admission that uses it the way the mirror checks do (the real mirror admission is
 * tested in test/admission; here only the server's part of the contract is): an image whose state is unknown is
 * listed in summary.lookups; a missing one gets a warning.
 */
class FakeRegistry implements RegistryLookups {
  readonly states = new Map<string, 'present' | 'missing'>();
  readonly calls: { images: string[]; budgetMs: number }[] = [];
  constructor(private readonly behave: (images: string[]) => Promise<void>) {}
  state(image: string) {
    return { state: this.states.get(image) ?? ('unknown' as const) };
  }
  lookup(images: string[], budgetMs: number): Promise<void> {
    this.calls.push({ images, budgetMs });
    return this.behave(images);
  }
}

const mirrorAdmit: AdmitFunction = (body, rt, context) => {
  const result: AdmissionResult = admit(body, rt);
  if (result.status !== 200 || !context?.registry) return result;
  const lookups: string[] = [];
  const warnings: string[] = [];
  for (const d of result.summary.decisions) {
    if (!d.changed) continue;
    const s = context.registry.state(d.image).state;
    if (s === 'unknown') lookups.push(d.image);
    if (s === 'missing') warnings.push(`image ${d.image} is missing from the mirror`);
  }
  (result.summary as { lookups?: string[] }).lookups = lookups;
  if (warnings.length > 0) result.body.response.warnings = [...(result.body.response.warnings ?? []), ...warnings];
  // body changed: admit()'s text no longer says the same (the server serialises body instead).
  return { ...result, json: undefined };
};

describe('registry look-ups within the budget', () => {
  it('a look-up that resolves: admit runs again with the warmer cache; the admission is counted and logged once', async () => {
    let registry!: FakeRegistry;
    registry = new FakeRegistry(async (images) => {
      for (const i of images) registry.states.set(i, 'missing');
    });
    let passes = 0;
    const counting: AdmitFunction = (b, r, c) => (passes++, mirrorAdmit(b, r, c));
    const { server, ca, logs } = await start({ admit: counting, registry, budgetMs: 5_000 });
    const res = await h2Request(server.httpsUrl, { ca, headers: JSON_HEADERS, body: review(['mlrun/mlrun']) });
    expect(res.status).toBe(200);
    expect(res.json().response.warnings).toEqual(['image datanode-registry.example/mlrun/mlrun:1.9.2 is missing from the mirror']);
    expect(passes).toBe(2);
    expect(registry.calls).toHaveLength(1);
    expect(registry.calls[0]!.images).toEqual(['datanode-registry.example/mlrun/mlrun:1.9.2']);
    expect(registry.calls[0]!.budgetMs).toBeGreaterThan(0);
    expect(registry.calls[0]!.budgetMs).toBeLessThanOrEqual(5_000);
    // Whole milliseconds (AbortSignal.timeout refuses fractions: the real service would give up at once).
    expect(Number.isInteger(registry.calls[0]!.budgetMs)).toBe(true);
    const lines = logs.lines.filter((l) => l.msg === 'admission');
    expect(lines).toHaveLength(1);
    expect(lines[0].registryLookup).toMatchObject({ images: 1, secondPass: true });
    const metrics = await server.metrics.registry.metrics();
    expect(metricValue(metrics, 'mlrun_image_webhook_admission_requests_total{outcome="mutated"}')).toBe(1);
    expect(metricValue(metrics, 'mlrun_image_webhook_admission_duration_seconds_count')).toBe(1);

    // Warm cache: nothing to look up, one pass.
    passes = 0;
    await h1Request(server.httpsUrl, { ca, headers: JSON_HEADERS, body: review(['mlrun/mlrun']) });
    expect(passes).toBe(1);
    expect(registry.calls).toHaveLength(1);
  });

  it('a look-up that never settles does not hold the answer beyond the budget (generous bound); the Pod is admitted', async () => {
    const registry = new FakeRegistry(() => new Promise<void>(() => {}));
    const budgetMs = 200;
    const { server, ca, logs } = await start({ admit: mirrorAdmit, registry, budgetMs: () => budgetMs });
    const t0 = performance.now();
    const res = await h1Request(server.httpsUrl, { ca, headers: JSON_HEADERS, body: review(['mlrun/mlrun', 'mlrun/mlrun-gpu']) });
    const elapsed = performance.now() - t0;
    expect(res.status).toBe(200);
    expect(res.json().response.allowed).toBe(true);
    expect(patchedImages(res.json())).toEqual(['datanode-registry.example/mlrun/mlrun:1.9.2', 'datanode-registry.example/mlrun/mlrun-gpu:1.9.2']);
    expect(res.json().response.warnings).toBeUndefined();
    // Generous: a shared 2-core machine may be slow, but a server waiting for the look-up would never answer.
    expect(elapsed).toBeLessThan(budgetMs + 10_000);
    expect(registry.calls[0]!.budgetMs).toBeLessThanOrEqual(budgetMs);
    const line = logs.lines.find((l) => l.msg === 'admission');
    expect(line.registryLookup.images).toBe(2);
    // Waited for the timer (the budget left after the first pass), not for the look-up.
    expect(line.registryLookup.ms).toBeGreaterThanOrEqual(registry.calls[0]!.budgetMs - 2);
  });

  it('a look-up that throws or rejects is the same as a timeout: the first pass answers', async () => {
    for (const behave of [
      () => Promise.reject(new Error('registry down')),
      () => {
        throw new Error('bug');
      },
    ]) {
      const registry = new FakeRegistry(behave as never);
      const { server, ca, logs } = await start({ admit: mirrorAdmit, registry, budgetMs: 60_000 });
      const res = await h1Request(server.httpsUrl, { ca, headers: JSON_HEADERS, body: review(['mlrun/mlrun']) });
      expect(res.status).toBe(200);
      expect(patchedImages(res.json())).toEqual(['datanode-registry.example/mlrun/mlrun:1.9.2']);
      expect(logs.lines.filter((l) => l.level === 'error')).toEqual([]);
    }
  });

  it('no registry configured: admit gets no registry and nothing is looked up', async () => {
    const contexts: unknown[] = [];
    const { server, ca } = await start({ admit: (b, r, c) => (contexts.push(c), mirrorAdmit(b, r, c)) });
    await h1Request(server.httpsUrl, { ca, headers: JSON_HEADERS, body: review(['mlrun/mlrun']) });
    expect(contexts).toEqual([{ production: false }]);
  });

  it('waitAtMost: resolves with the look-up, or at the budget', async () => {
    expect(await waitAtMost({ lookup: async () => undefined }, ['a'], 60_000)).toBeLessThan(60_000);
    const never = await waitAtMost({ lookup: () => new Promise(() => {}) }, ['a'], 50);
    expect(never).toBeGreaterThanOrEqual(45);
  });
});

/** A runtime from a config document through the real loader (schema defaults, validation, compilation). */
function runtimeOf(raw: Record<string, unknown>): Runtime {
  const r = validateAndBuild({ mlrun: { version: '1.9.2', imagesRegistry: 'datanode-registry.example/' }, ...raw });
  if (!r.ok) throw new Error(r.problems.map((p) => `${p.key}: ${p.reason}`).join('; '));
  return r.runtime;
}

describe('the real admission behind the routes', () => {
  it('/mutate/production applies the production policy (deny: 403 naming the image); /mutate does not; counted and logged', async () => {
    const rt = runtimeOf({ policy: { pinTags: 'deny' } });
    const { server, ca, logs } = await start({ runtimeSource: { current: () => rt } });
    const prod = await h2Request(server.httpsUrl, { path: '/mutate/production', ca, headers: JSON_HEADERS, body: review(['nginx'], 'shop') });
    expect(prod.status).toBe(200);
    const response = prod.json().response;
    expect(response.allowed).toBe(false);
    expect(response.status.code).toBe(403);
    expect(response.status.message).toContain('nginx');
    const dev = await h2Request(server.httpsUrl, { path: '/mutate', ca, headers: JSON_HEADERS, body: review(['nginx'], 'shop') });
    expect(dev.json().response.allowed).toBe(true);

    const text = await server.metrics.registry.metrics();
    expect(metricValue(text, 'mlrun_image_webhook_admission_requests_total{outcome="denied"}')).toBe(1);
    expect(metricValue(text, 'mlrun_image_webhook_policy_decisions_total{policy="pin-tags",action="deny"}')).toBe(1);
    const denied = logs.lines.find((l) => l.msg === 'admission' && l.outcome === 'denied');
    expect(denied).toMatchObject({ level: 'warn', production: true, policyMode: 'enforce' });
    expect(denied.policy).toEqual([expect.objectContaining({ policy: 'pin-tags', container: 'containers/c0', verdict: 'floating', action: 'deny', image: 'nginx' })]);
  });

  it('a namespace listed in policy.namespaces is production on /mutate too', async () => {
    const rt = runtimeOf({ policy: { pinTags: 'deny', namespaces: ['shop'] } });
    const { server, ca } = await start({ runtimeSource: { current: () => rt } });
    const listed = await h1Request(server.httpsUrl, { ca, headers: JSON_HEADERS, body: review(['nginx'], 'shop') });
    expect(listed.json().response.allowed).toBe(false);
    const other = await h1Request(server.httpsUrl, { ca, headers: JSON_HEADERS, body: review(['nginx'], 'dev') });
    expect(other.json().response.allowed).toBe(true);
  });

  it('mirror: an unknown image is looked up within the budget and the second pass warns that it is missing', async () => {
    const rt = runtimeOf({ mirror: { enabled: true } });
    let registry!: FakeRegistry;
    registry = new FakeRegistry(async (images) => {
      for (const i of images) registry.states.set(i, 'missing');
    });
    const { server, ca, logs } = await start({ runtimeSource: { current: () => rt }, registry, budgetMs: 5_000 });
    const res = await h1Request(server.httpsUrl, { ca, headers: JSON_HEADERS, body: review(['mlrun/mlrun']) });
    const body = res.json();
    expect(patchedImages(body)).toEqual(['datanode-registry.example/mlrun/mlrun:1.9.2']);
    expect(registry.calls.map((c) => c.images)).toEqual([['datanode-registry.example/mlrun/mlrun:1.9.2']]);
    expect(body.response.warnings.join('\n')).toContain('datanode-registry.example/mlrun/mlrun:1.9.2');
    const text = await server.metrics.registry.metrics();
    expect(metricValue(text, 'mlrun_image_webhook_mirror_decisions_total{state="missing"}')).toBe(1);
    expect(metricValue(text, 'mlrun_image_webhook_mirror_decisions_total{state="unknown"}')).toBe(0);
    expect(logs.lines.find((l) => l.msg === 'admission').registryLookup).toMatchObject({ images: 1, secondPass: true });

    // keep-original: the same knowledge keeps the Pod's own image.
    const keep = runtimeOf({ mirror: { enabled: true, missing: 'keep-original' } });
    const second = await start({ runtimeSource: { current: () => keep }, registry, budgetMs: 5_000 });
    const kept = await h1Request(second.server.httpsUrl, { ca: second.ca, headers: JSON_HEADERS, body: review(['mlrun/mlrun']) });
    expect(patchedImages(kept.json())).not.toContain('datanode-registry.example/mlrun/mlrun:1.9.2');
    expect(registry.calls).toHaveLength(1);
  });

  it('mirror with a registry that never answers: unknown, admitted within the budget, counted as unknown', async () => {
    const rt = runtimeOf({ mirror: { enabled: true } });
    const registry = new FakeRegistry(() => new Promise<void>(() => {}));
    const { server, ca } = await start({ runtimeSource: { current: () => rt }, registry, budgetMs: 100 });
    const res = await h1Request(server.httpsUrl, { ca, headers: JSON_HEADERS, body: review(['mlrun/mlrun']) });
    expect(res.json().response.allowed).toBe(true);
    expect(patchedImages(res.json())).toEqual(['datanode-registry.example/mlrun/mlrun:1.9.2']);
    const text = await server.metrics.registry.metrics();
    expect(metricValue(text, 'mlrun_image_webhook_mirror_decisions_total{state="unknown"}')).toBe(1);
  });
});
