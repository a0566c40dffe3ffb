import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import type { V1Pod } from '@kubernetes/client-node';
import { Pod } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { admit, admitAfterInternalError } from '../../src/admission/admit.js';
import { podCreateReview } from '../../src/admission/review.js';
import { check } from './check.js';
import { testRuntime } from '../helpers/runtime.js';

type Obj = Record<string, any>;
const fixtures = new URL('../fixtures/', import.meta.url);
const readJson = (rel: string) => JSON.parse(readFileSync(new URL(rel, fixtures), 'utf8')) as Obj;
const podFiles = readdirSync(new URL('mlrun-pods/', fixtures)).filter((f) => f.endsWith('.json'));

const review = (object: unknown, extra: Obj = {}): Obj =>
  podCreateReview(object, { uid: 'e911857d-c318-11e8-bbad-025000000001', namespace: 'mlrun', request: extra });

function images(pod: Obj): string[] {
  return ['containers', 'initContainers', 'ephemeralContainers'].flatMap((k) => (pod.spec?.[k] ?? []).map((c: Obj) => c.image));
}

function validPod(pod: Obj): void {
  const p = structuredClone(pod);
  p.metadata = { name: 'x', ...p.metadata };
  expect(() => new Pod(p as never).validate()).not.toThrow();
}

const stripTag = (image: string) => image.replace(/:[^/@]*$/, '');

describe('MLRun pods (MLRun 1.9.2 rules)', () => {
  const runtime = testRuntime();

  it.each(podFiles)('%s as MLRun created it (already enriched) passes unchanged', (file) => {
    const body = review(readJson(`mlrun-pods/${file}`));
    const result = admit(body, runtime);
    const { patch } = check(result, body);
    expect(patch).toEqual([]);
    expect(result.status === 200 && result.summary.outcome).toBe('unchanged');
  });

  const rawExpected: Record<string, string[]> = {
    'job-pod.json': ['mlrun/mlrun:1.9.2-py39'], // client 1.9.2 / py 3.9.18 from MLRUN_EXEC_CONFIG
    'workflow-runner-pod.json': ['mlrun/mlrun-kfp:1.9.2'], // kfp exempt from -py39 in 1.9
    'dask-worker-pod.json': ['mlrun/ml-base:1.9.2'], // no client version on dask pods: server version
    'kfp-step-pod.json': ['gcr.io/ml-pipeline/argoexec', 'mlrun/mlrun:1.9.2', 'gcr.io/ml-pipeline/argoexec'],
    'kaniko-build-pod.json': ['gcr.io/kaniko-project/executor', 'alpine'],
    'nuclio-serving-pod.json': ['index.docker.io/myorg/processor-fraud-demo-serving'],
  };

  it.each(podFiles)('%s with its images untagged is resolved', (file) => {
    const pod = readJson(`mlrun-pods/${file}`);
    for (const k of ['containers', 'initContainers']) for (const c of pod.spec[k] ?? []) c.image = stripTag(c.image);
    const body = review(pod);
    const { pod: patched } = check(admit(body, runtime), body);
    expect(images(patched)).toEqual(rawExpected[file]);
    validPod(patched);
  });

  it('records each change in one annotation and in audit annotations', () => {
    const pod = readJson('mlrun-pods/job-pod.json');
    pod.spec.containers[0].image = 'mlrun/mlrun';
    const body = review(pod);
    const result = admit(body, runtime);
    const { pod: patched } = check(result, body);
    const record = JSON.parse(patched.metadata.annotations['mlrun-image-webhook/images']);
    expect(record).toEqual({
      'containers/base': { from: 'mlrun/mlrun', to: 'mlrun/mlrun:1.9.2-py39', reason: 'tag from client version 1.9.2 + py39 for python 3.9.18' },
    });
    expect(result.status === 200 && result.body.response.auditAnnotations).toEqual({
      changed: 'containers/base: mlrun/mlrun -> mlrun/mlrun:1.9.2-py39',
    });
  });

  // The API server checks container names only after admission, so a record key can carry any character: the
  // patch is base64 of its UTF-8 bytes whatever they are (an all-ASCII patch takes a shorter way there).
  it.each(['wörker', 'работник', '容器-😀', 'lone-\ud800'])('writes the record of a container named %j as UTF-8 in the patch', (name) => {
    const pod = readJson('mlrun-pods/job-pod.json');
    pod.spec.containers[0].name = name;
    pod.spec.containers[0].image = 'mlrun/mlrun';
    const body = review(pod);
    const result = admit(body, runtime);
    const { pod: patched } = check(result, body);
    // JSON.stringify writes a lone surrogate as an escape, so the record reads back every name as it was.
    expect(Object.keys(JSON.parse(patched.metadata.annotations['mlrun-image-webhook/images']))).toEqual([`containers/${name}`]);
  });

  it('keeps existing annotations and adds the record beside them', () => {
    const pod = readJson('mlrun-pods/dask-worker-pod.json');
    pod.metadata.annotations = { 'a/b': 'c' };
    pod.spec.containers[0].image = 'mlrun/ml-base';
    const body = review(pod);
    const { pod: patched } = check(admit(body, runtime), body);
    expect(patched.metadata.annotations['a/b']).toBe('c');
    expect(Object.keys(patched.metadata.annotations)).toContain('mlrun-image-webhook/images');
  });
});

describe('admission fixtures', () => {
  const runtime = testRuntime({ mlrun: { imagesRegistry: 'datanode-registry.example/' } });
  for (const file of readdirSync(new URL('admission/', fixtures)).filter((f) => f.endsWith('.json'))) {
    it(`${file}: answers like the API server expects, idempotently`, () => {
      const body = readJson(`admission/${file}`);
      const first = admit(body, runtime);
      const { pod } = check(first, body);
      for (const image of images(pod)) {
        if (/^(\S+\/)?mlrun\//.test(image)) expect(image).toMatch(/^datanode-registry\.example\/mlrun\/[a-z-]+:[^:]+$/);
      }
      validPod(pod);
      const again = review(pod);
      const second = admit(again, runtime);
      expect(check(second, again).patch).toEqual([]);
    });
  }
});

describe('what the webhook leaves alone', () => {
  const runtime = testRuntime();
  const simplePod = (image = 'mlrun/mlrun', metadata: Obj = {}): V1Pod => ({
    metadata: { name: 'p', ...metadata },
    spec: { containers: [{ name: 'c', image }] },
  });

  it.each([
    ['another resource', { resource: { group: 'apps', version: 'v1', resource: 'deployments' } }],
    ['a Pod UPDATE', { operation: 'UPDATE' }],
    ['a Pod DELETE', { operation: 'DELETE' }],
    ['pods/status', { subResource: 'status', operation: 'UPDATE' }],
  ])('skips %s', (_name, extra) => {
    const body = review(simplePod(), extra);
    const result = admit(body, runtime);
    expect(check(result, body).patch).toEqual([]);
    expect(result.status === 200 && result.summary.outcome).toBe('skipped');
  });

  it.each([
    ['label', { labels: { 'mlrun-image-webhook/skip': 'true' } }],
    ['annotation', { annotations: { 'mlrun-image-webhook/skip': 'true' } }],
  ])('honours the opt-out %s', (_kind, metadata) => {
    const body = review(simplePod('mlrun/mlrun', metadata));
    const result = admit(body, runtime);
    expect(check(result, body).patch).toEqual([]);
    expect(result.status === 200 && result.summary.detail).toMatch(/opted out/);
  });

  it('report mode decides and warns but patches nothing', () => {
    const body = review(simplePod());
    const result = admit(body, testRuntime({ webhook: { mode: 'report' } }));
    expect(check(result, body).patch).toEqual([]);
    expect(result.status === 200 && result.summary.outcome).toBe('reported');
    expect(result.status === 200 && result.body.response.warnings?.[0]).toMatch(/report-only: containers\/c would change mlrun\/mlrun → mlrun\/mlrun:1.9.2/);
  });

  it('leaves an image MLRun would fail on, with a warning', () => {
    // without a python version, "latest" needs no semver parse: tagged
    const body = review(simplePod());
    const result = admit(body, testRuntime({ mlrun: { imagesTag: 'latest' } }));
    expect(images(check(result, body).pod)).toEqual(['mlrun/mlrun:latest']);
    // with one, MLRun must parse "latest" as semver to pick the suffix, and raises
    const pyPod = simplePod('mlrun/mlrun', { labels: { 'mlrun/client_python_version': '3.9.18' } });
    const body2 = review(pyPod);
    const r2 = admit(body2, testRuntime({ mlrun: { imagesTag: 'latest' } }));
    expect(check(r2, body2).patch).toEqual([]);
    expect(r2.status === 200 && r2.body.response.warnings?.[0]).toMatch(/left unchanged: MLRun would raise ValueError/);
  });

  it('does not write a resolved image that is not a valid reference', () => {
    const pod = simplePod('mlrun/mlrun', { labels: { 'mlrun/client_version': 'Bad Version' } });
    const body = review(pod);
    const result = admit(body, testRuntime());
    expect(check(result, body).patch).toEqual([]);
    expect(result.status === 200 && result.body.response.warnings?.[0]).toMatch(/not a valid reference/);
  });

  it('pods/ephemeralcontainers UPDATE: only the newly added ephemeral containers', () => {
    const old = { ...simplePod('mlrun/mlrun:1.9.2'), spec: { containers: [{ name: 'c', image: 'mlrun/mlrun' }], ephemeralContainers: [{ name: 'dbg1', image: 'mlrun/mlrun' }] } };
    const cur = structuredClone(old) as Obj;
    cur.spec.ephemeralContainers.push({ name: 'dbg2', image: 'mlrun/mlrun' });
    const body = review(cur, { operation: 'UPDATE', subResource: 'ephemeralcontainers', oldObject: old });
    const { pod } = check(admit(body, runtime), body);
    expect(images(pod)).toEqual(['mlrun/mlrun', 'mlrun/mlrun', 'mlrun/mlrun:1.9.2']);
  });

  it('pods/ephemeralcontainers reinvocation: no second rewrite, even where MLRun is not idempotent', () => {
    // The record annotation does not persist on this subresource, but a reinvocation sees it (the API server
    // resets metadata only after admission); without it the new container would be resolved again.
    const rt = testRuntime({ mlrun: { version: '1.4.1', imagesRegistry: 'reg.example/mlrun/' } });
    const old = { ...simplePod('mlrun/mlrun:1.4.1'), spec: { containers: [{ name: 'c', image: 'mlrun/mlrun:1.4.1' }] } };
    const cur = structuredClone(old) as Obj;
    cur.spec.ephemeralContainers = [{ name: 'dbg', image: 'mlrunfoo/x' }];
    const request = { operation: 'UPDATE', subResource: 'ephemeralcontainers', oldObject: old };
    const body = review(cur, request);
    const { pod } = check(admit(body, rt), body);
    expect(images(pod)).toEqual(['mlrun/mlrun:1.4.1', 'reg.example/mlrun/mlrunfoo/x']);
    const again = review(pod, request);
    expect(check(admit(again, rt), again).patch).toEqual([]);
  });

  it('reinvocation: an image equal to what this webhook recorded is left alone, even where MLRun is not idempotent', () => {
    // With a registry ending in /mlrun/, MLRun 1.4 tags its own prefixed output on a second pass.
    const rt = testRuntime({ mlrun: { version: '1.4.1', imagesRegistry: 'reg.example/mlrun/' } });
    const body = review(simplePod('mlrunfoo/x'));
    const { pod } = check(admit(body, rt), body);
    expect(images(pod)).toEqual(['reg.example/mlrun/mlrunfoo/x']);
    const again = review(pod);
    const second = admit(again, rt);
    expect(check(second, again).patch).toEqual([]);
    expect(second.status === 200 && second.summary.decisions[0]?.reasons[0]).toMatch(/this webhook's own result for mlrunfoo\/x/);
    // Without the record (a Pod copied without its annotations) the engine answers as MLRun would.
    delete (pod.metadata as Obj).annotations;
    const copied = review(pod);
    expect(images(check(admit(copied, rt), copied).pod)).toEqual(['reg.example/mlrun/mlrunfoo/x:1.4.1']);
  });

  it('does not let a hand-written record pin an image: the record must be what this config makes of its source', () => {
    const forged = JSON.stringify({ 'containers/c': { from: 'busybox', to: 'mlrun/mlrun', reason: 'x' } });
    const body = review(simplePod('mlrun/mlrun', { annotations: { 'mlrun-image-webhook/images': forged } }));
    expect(images(check(admit(body, runtime), body).pod)).toEqual(['mlrun/mlrun:1.9.2']);
  });

  it('keeps a "__proto__" entry of an earlier record as an entry', () => {
    const earlier = JSON.stringify({ ['__proto__']: { from: 'a', to: 'b', reason: 'r' } });
    const body = review(simplePod('mlrun/mlrun', { annotations: { 'mlrun-image-webhook/images': earlier } }));
    const { pod } = check(admit(body, runtime), body);
    const record = JSON.parse(pod.metadata.annotations['mlrun-image-webhook/images']);
    expect(Object.keys(record).sort()).toEqual(['__proto__', 'containers/c']);
  });

  it('keeps warnings within the API server budget, saying how many were left out', () => {
    const containers = Array.from({ length: 40 }, (_, i) => ({ name: `c${i}`, image: `Bad/Image-${'x'.repeat(150)}-${i}` }));
    const body = review({ metadata: { name: 'p' }, spec: { containers } });
    const result = admit(body, runtime);
    check(result, body);
    const warnings = result.status === 200 ? (result.body.response.warnings ?? []) : [];
    expect(warnings.length).toBeGreaterThan(1);
    expect(warnings.length).toBeLessThan(40);
    expect(warnings.at(-1)).toMatch(new RegExp(`${40 - (warnings.length - 1)} more warnings not shown`));
  });

  it('dryRun changes nothing in behaviour', () => {
    const a = admit(review(simplePod()), runtime);
    const b = admit(review(simplePod(), { dryRun: true }), runtime);
    expect(a.status === 200 && a.body.response.patch).toEqual(expect.any(String));
    // The same answer in every field: no behaviour depends on dryRun.
    expect(b.status === 200 && b.body).toEqual(a.status === 200 && a.body);
  });

  it.each([
    ['no object', { object: undefined }],
    ['a spec that is a string', { object: { metadata: {}, spec: 'x' } }],
    ['containers that is an object', { object: { metadata: {}, spec: { containers: {} } } }],
  ])('admits a Pod it cannot understand (%s) unchanged with a warning', (_n, extra) => {
    const body = review(undefined, extra);
    const result = admit(body, runtime);
    expect(result.status).toBe(200);
    if (result.status !== 200) return;
    expect(result.body.response).toMatchObject({ allowed: true });
    expect(result.body.response.patch).toBeUndefined();
    expect(result.summary.outcome).toBe('error');
    expect(result.body.response.warnings?.[0]).toMatch(/could not understand this Pod/);
  });
});

describe('malformed AdmissionReviews get a 400 with a reason', () => {
  const runtime = testRuntime();
  it.each([
    [null, /JSON object/],
    [[], /JSON object/],
    [{ kind: 'Pod' }, /kind must be AdmissionReview/],
    [{ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1beta1', request: { uid: 'x' } }, /only admission.k8s.io\/v1/],
    [{ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1' }, /request is missing/],
    [{ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', request: { uid: 7 } }, /request.uid/],
  ])('%j', (body, reason) => {
    const result = admit(body, runtime);
    expect(result.status).toBe(400);
    if (result.status === 400) expect(result.error).toMatch(reason);
  });
});

describe('properties', () => {
  const runtimes = [
    testRuntime({ mlrun: { imagesRegistry: 'registry.local/', vendorImagesRegistry: 'vendor.local' } }),
    testRuntime({ mlrun: { version: '1.4.1', imagesRegistry: 'reg.example/mlrun/' } }),
    testRuntime({ mlrun: { version: '1.8.0', imagesRegistry: 'mlrun/', vendorImagesRegistry: 'v.example:5000', imagesToEnrichRegistry: '^mlrun/*,' } }),
    testRuntime({ mlrun: { version: '1.10.0-rc18', imagesRegistry: 'localhost:5000', imagesTag: '1.10.0' } }),
  ];
  const runtime = runtimes[0]!;
  const imageArb = fc.oneof(
    fc.string(),
    fc.constantFrom('mlrun/mlrun', 'mlrun/ml-base', 'python', 'python:3.9', 'busybox', 'mlrun/mlrun-kfp', 'quay.io/mlrun/mlrun', 'localhost:5000/mlrun/mlrun', ' mlrun/mlrun '),
    fc.tuple(fc.constantFrom('mlrun/', 'x/mlrun/', ''), fc.stringMatching(/^[a-z0-9._-]{0,12}$/), fc.constantFrom('', ':1.9.2', ':latest', '@sha256:' + 'a'.repeat(64))).map((p) => p.join('')),
  );
  const containerArb = fc.record({ name: fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/), image: imageArb }, { requiredKeys: ['name'] });
  const labelsArb = fc.dictionary(
    fc.constantFrom('mlrun/client_version', 'mlrun/client_python_version', 'app', 'mlrun-image-webhook/skip'),
    fc.constantFrom('1.9.2', '1.10.0', '3.9.18', '3.11.7', 'true', '', 'x y', '0.0.0+unstable'),
  );
  const podArb = fc.record(
    {
      metadata: fc.record({ name: fc.constant('p'), labels: labelsArb, annotations: fc.dictionary(fc.constantFrom('a', 'mlrun-image-webhook/images'), fc.string()) }, { requiredKeys: ['name'] }),
      spec: fc.record(
        { containers: fc.array(containerArb, { minLength: 1, maxLength: 4 }), initContainers: fc.array(containerArb, { maxLength: 2 }), ephemeralContainers: fc.array(containerArb, { maxLength: 2 }) },
        { requiredKeys: ['containers'] },
      ),
    },
    { requiredKeys: ['spec'] },
  );

  it('random Pods never crash, always get a valid answer, and mutate-twice = mutate-once', () => {
    fc.assert(
      fc.property(podArb, fc.constantFrom(...runtimes), (pod, rt) => {
        const body = review(pod);
        const first = admit(body, rt);
        const { pod: once } = check(first, body);
        const again = review(once);
        // A reinvocation over the patched Pod must answer with no patch at all.
        expect(check(admit(again, rt), again).patch).toEqual([]);
      }),
      { numRuns: 400 },
    );
  });

  it('arbitrary JSON bodies never throw', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), fc.record({ kind: fc.constant('AdmissionReview'), apiVersion: fc.constant('admission.k8s.io/v1'), request: fc.jsonValue() })), (body) => {
        const r = admit(body, runtime);
        expect([200, 400]).toContain(r.status);
        if (r.status === 200) expect(r.json).toBe(JSON.stringify(r.body));
      }),
      { numRuns: 500 },
    );
  });
});

// The server sends result.json as it is, so on every path that writes it, it must be the body byte for byte
// (check() covers the Pods that are decided; these are the other ways out of admit()).
describe('the answer as text (result.json) on the paths that decide nothing', () => {
  const runtime = testRuntime();
  const text = fc.string({ unit: 'binary', maxLength: 40 });
  const pod = { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'mlrun/mlrun' }] } };
  const sameText = (r: ReturnType<typeof admit>) => {
    expect(r.status).toBe(200);
    if (r.status === 200) expect(r.json).toBe(JSON.stringify(r.body));
  };

  it('skipped requests, whatever their uid, namespace, operation and resource', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', minLength: 1, maxLength: 36 }), text, text, text, (uid, namespace, operation, resource) => {
        const body = { kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', request: { uid, namespace, operation, resource: { group: '', resource } } };
        const r = admit(body, runtime);
        sameText(r);
        expect(r.status === 200 && r.summary.outcome).toBe('skipped');
      }),
      { numRuns: 300 },
    );
  });

  it('a Pod it cannot understand', () => {
    sameText(admit(review(undefined, { object: { metadata: {}, spec: { containers: {} } } }), runtime));
  });

  it('an internal error inside admit()', () => {
    const broken = { ...runtime, resolver: { ...runtime.resolver, resolve: () => { throw new Error('boom "\u2028'); } } };
    const r = admit(review(pod), broken);
    sameText(r);
    expect(r.status === 200 && r.summary.outcome).toBe('error');
  });

  it("the server's safety net (admitAfterInternalError)", () => {
    const r = admitAfterInternalError(review(pod), 'internal error: boom');
    sameText(r);
    expect(r.status === 200 && r.body.response.warnings).toEqual([expect.stringContaining('internal error')]);
  });
});

describe('policy warnings', () => {
  it('warns about an image that is not a valid reference, without changing it', () => {
    const body = review({ metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'MyOrg/Thing:1' }] } });
    const result = admit(body, testRuntime());
    expect(check(result, body).patch).toEqual([]);
    expect(result.status === 200 && result.body.response.warnings?.[0]).toMatch(/containers\/c: image "MyOrg\/Thing:1" is not a valid reference \(.*lowercase/);
  });
});
