/**
 * Each admission limit (src/admission/limits.ts, docs/reliability.md) with a small input at the limit and one past
 * it: past it the Pod is still admitted, with a warning and a limit code, and the answer stays small.
 */
import { describe, expect, it } from 'vitest';
import { admit } from '../../src/admission/admit.js';
import { ADMISSION_LIMITS as L } from '../../src/admission/limits.js';
import { podCreateReview } from '../../src/admission/review.js';
import { LIMIT_CODES, type AdmissionResult, type AdmissionSummary } from '../../src/admission/types.js';
import { DISCOVERY_LIMITS } from '../../src/mlrun/discovery.js';
import { testRuntime } from '../helpers/runtime.js';
import { annotationBytes, check } from './check.js';

type Obj = Record<string, any>;
const RECORD = 'mlrun-image-webhook/images';
const runtime = testRuntime();

const review = (object: unknown, extra: Obj = {}): Obj => podCreateReview(object, { uid: 'u-limits', namespace: 'mlrun', request: extra });
const podWith = (containers: Obj[], metadata: Obj = {}, more: Obj = {}): Obj => ({ metadata: { name: 'p', ...metadata }, spec: { containers, ...more } });
const containers = (n: number, image = 'mlrun/mlrun', prefix = 'c') => Array.from({ length: n }, (_, i) => ({ name: `${prefix}${i}`, image }));

function ok(result: AdmissionResult): { summary: AdmissionSummary; warnings: string[] } {
  expect(result.status).toBe(200);
  if (result.status !== 200) throw new Error('unreachable');
  return { summary: result.summary, warnings: result.body.response.warnings ?? [] };
}
const images = (pod: Obj): string[] => ['containers', 'initContainers', 'ephemeralContainers'].flatMap((k) => (pod.spec?.[k] ?? []).map((c: Obj) => c.image));

describe('dispatch on request.kind', () => {
  it.each([
    ['a Deployment sent on the pods resource', { group: 'apps', version: 'v1', kind: 'Deployment' }],
    ['another version', { group: '', version: 'v2', kind: 'Pod' }],
    ['a Pod of another group', { group: 'example.com', version: 'v1', kind: 'Pod' }],
    ['no kind at all', undefined],
    ['a kind that is a string', 'Pod'],
  ])('%s is allowed untouched (skipped)', (_name, kind) => {
    const body = review(podWith(containers(1)), { kind });
    const result = admit(body, runtime);
    expect(check(result, body).patch).toEqual([]);
    const { summary, warnings } = ok(result);
    expect(summary.outcome).toBe('skipped');
    expect(summary.detail).toMatch(/request.kind is not v1 Pod/);
    expect(warnings).toEqual([]);
  });

  it('a core/v1 Pod is processed, on CREATE and on the pods/ephemeralcontainers UPDATE', () => {
    const body = review(podWith(containers(1)));
    expect(images(check(admit(body, runtime), body).pod)).toEqual(['mlrun/mlrun:1.9.2']);
    const old = podWith(containers(1, 'mlrun/mlrun:1.9.2'));
    const cur = { ...old, spec: { ...old.spec, ephemeralContainers: [{ name: 'dbg', image: 'mlrun/mlrun' }] } };
    const update = { operation: 'UPDATE', subResource: 'ephemeralcontainers', oldObject: old };
    const upd = review(cur, update);
    expect(images(check(admit(upd, runtime), upd).pod)).toEqual(['mlrun/mlrun:1.9.2', 'mlrun/mlrun:1.9.2']);
    // The same UPDATE naming another kind (the alpha API's EphemeralContainers object) is not read as a Pod.
    const other = review(cur, { ...update, kind: { group: '', version: 'v1', kind: 'EphemeralContainers' } });
    expect(check(admit(other, runtime), other).patch).toEqual([]);
  });
});

describe(`containers per Pod: ${L.maxContainers}`, () => {
  it('at the cap (across the three lists): every image is resolved, one op per changed image plus the record', () => {
    const body = review(podWith(containers(L.maxContainers - 2), {}, { initContainers: containers(2, 'mlrun/mlrun', 'i') }));
    const result = admit(body, runtime);
    const { pod, patch } = check(result, body);
    expect(images(pod).every((i) => i === 'mlrun/mlrun:1.9.2')).toBe(true);
    expect(patch).toHaveLength(L.maxContainers + 1);
    expect(ok(result).summary.limits).not.toContain('too-many-containers');
  });

  it('one past the cap: admitted unchanged with a warning and the limit code', () => {
    const body = review(podWith(containers(L.maxContainers - 1), {}, { initContainers: containers(1, 'mlrun/mlrun', 'i'), ephemeralContainers: containers(1, 'x', 'e') }));
    const result = admit(body, runtime);
    expect(check(result, body).patch).toEqual([]);
    const { summary, warnings } = ok(result);
    expect(summary).toMatchObject({ outcome: 'skipped', limits: ['too-many-containers'], decisions: [], imagesSeen: 0 });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(new RegExp(`${L.maxContainers + 1} containers, more than the ${L.maxContainers}.*admitted unchanged`));
  });
});

describe(`image length: ${L.maxImageLength} characters`, () => {
  it('at the cap: resolved (here: whitespace stripped as MLRun does, then tagged)', () => {
    const image = `${' '.repeat(L.maxImageLength - 'mlrun/mlrun'.length)}mlrun/mlrun`;
    expect(image).toHaveLength(L.maxImageLength);
    const body = review(podWith([{ name: 'c', image }]));
    expect(images(check(admit(body, runtime), body).pod)).toEqual(['mlrun/mlrun:1.9.2']);
  });

  it('one past the cap: that image left unchanged with a warning, the others still resolved', () => {
    const long = `mlrun/${'a'.repeat(L.maxImageLength - 5)}`;
    const body = review(podWith([{ name: 'long', image: long }, { name: 'ok', image: 'mlrun/mlrun' }]));
    const result = admit(body, runtime);
    expect(images(check(result, body).pod)).toEqual([long, 'mlrun/mlrun:1.9.2']);
    const { summary, warnings } = ok(result);
    expect(summary.limits).toEqual(['image-too-long']);
    expect(warnings[0]).toMatch(new RegExp(`containers/long: image of ${L.maxImageLength + 1} characters is longer than ${L.maxImageLength}; left unchanged`));
    // Only a preview of the image reaches the summary (and so the log line).
    expect(summary.decisions[0]).toMatchObject({ reasonCode: 'limit', changed: false });
    expect(summary.decisions[0]!.original.length).toBeLessThanOrEqual(64);
  });

  it('the attack image ("a" + 120,000 spaces + "b") is refused by length before any string work', () => {
    const body = review(podWith([{ name: 'c', image: `a${' '.repeat(120_000)}b` }]));
    const result = admit(body, runtime);
    expect(check(result, body).patch).toEqual([]);
    expect(ok(result).summary.limits).toEqual(['image-too-long']);
  });
});

describe('the 256 KiB annotation total of the API server', () => {
  // Other annotations sized so that exactly `room` bytes are left for the record's key and value.
  const filler = (room: number): Obj => {
    const key = 'example.com/big';
    return { [key]: 'x'.repeat(L.maxAnnotationsBytes - room - key.length) };
  };

  it('a record that fits is written whole', () => {
    const body = review(podWith(containers(2), { annotations: filler(4096) }));
    const result = admit(body, runtime);
    const { pod } = check(result, body);
    expect(annotationBytes(pod)).toBeLessThanOrEqual(L.maxAnnotationsBytes);
    expect(JSON.parse(pod.metadata.annotations[RECORD])['containers/c0']).toHaveProperty('reason');
    expect(ok(result).summary.limits).toEqual([]);
  });

  it('a record that fits only without reasons is written without them, with a warning', () => {
    const full = JSON.stringify({ 'containers/c0': { from: 'mlrun/mlrun', to: 'mlrun/mlrun:1.9.2', reason: 'tag from server version 1.9.2' } });
    const body = review(podWith(containers(1), { annotations: filler(RECORD.length + full.length - 1) }));
    const result = admit(body, runtime);
    const { pod } = check(result, body);
    expect(images(pod)).toEqual(['mlrun/mlrun:1.9.2']);
    expect(annotationBytes(pod)).toBeLessThanOrEqual(L.maxAnnotationsBytes);
    expect(JSON.parse(pod.metadata.annotations[RECORD])).toEqual({ 'containers/c0': { from: 'mlrun/mlrun', to: 'mlrun/mlrun:1.9.2' } });
    const { summary, warnings } = ok(result);
    expect(summary.limits).toEqual(['record-trimmed']);
    expect(warnings.join('\n')).toMatch(/written without reasons, 1 of 1 entries/);
  });

  it('with no room left the images are still patched and no record is written: the Pod is never pushed over', () => {
    const body = review(podWith(containers(2), { annotations: filler(RECORD.length + 10) }));
    const result = admit(body, runtime);
    const { pod, patch } = check(result, body);
    expect(images(pod)).toEqual(['mlrun/mlrun:1.9.2', 'mlrun/mlrun:1.9.2']);
    expect(patch).toHaveLength(2);
    expect(pod.metadata.annotations[RECORD]).toBeUndefined();
    const { summary, warnings } = ok(result);
    expect(summary.limits).toEqual(['record-omitted']);
    expect(warnings.join('\n')).toMatch(/not written: it would not fit/);
  });

  it('an existing record is replaced, so its own size counts as room', () => {
    const earlier = JSON.stringify({ 'containers/gone': { from: 'a', to: 'b', reason: 'y'.repeat(2000) } });
    // Together exactly at the API server's total: the record's own bytes are the only room.
    const annotations: Obj = { ...filler(RECORD.length + earlier.length), [RECORD]: earlier };
    const body = review(podWith(containers(1), { annotations }));
    expect(annotationBytes(body.request.object)).toBe(L.maxAnnotationsBytes);
    const result = admit(body, runtime);
    const { pod } = check(result, body);
    expect(images(pod)).toEqual(['mlrun/mlrun:1.9.2']);
    // Both entries do not fit whole; this pass's entry goes first.
    expect(Object.keys(JSON.parse(pod.metadata.annotations[RECORD]))).toContain('containers/c0');
    expect(annotationBytes(pod)).toBeLessThanOrEqual(L.maxAnnotationsBytes);
  });

  it(`the record has a cap of its own (${L.maxRecordBytes} bytes): past it, fewer entries, this pass's first`, () => {
    const names = containers(200, 'mlrun/mlrun', `container-with-a-long-name-${'n'.repeat(100)}-`);
    const body = review(podWith(names));
    const result = admit(body, runtime);
    const { pod } = check(result, body);
    expect(images(pod).every((i) => i === 'mlrun/mlrun:1.9.2')).toBe(true);
    const value: string = pod.metadata.annotations[RECORD];
    expect(Buffer.byteLength(value)).toBeLessThanOrEqual(L.maxRecordBytes);
    const kept = Object.keys(JSON.parse(value)).length;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(200);
    expect(ok(result).warnings.join('\n')).toMatch(new RegExp(`without reasons, ${kept} of 200 entries`));
  });
});

describe(`existing record: read only up to ${L.maxRecordBytes} characters`, () => {
  // A 1.4 rule set under which MLRun is not idempotent: only a trusted record keeps the second pass from tagging.
  const rt = testRuntime({ mlrun: { version: '1.4.1', imagesRegistry: 'reg.example/mlrun/' } });
  const recordOfLength = (n: number) => {
    const entry = { 'containers/c': { from: 'mlrunfoo/x', to: 'reg.example/mlrun/mlrunfoo/x', reason: '' } };
    const base = JSON.stringify(entry);
    entry['containers/c'].reason = 'r'.repeat(n - base.length);
    return JSON.stringify(entry);
  };

  it('at the cap: read and trusted', () => {
    const value = recordOfLength(L.maxRecordBytes);
    expect(value).toHaveLength(L.maxRecordBytes);
    const body = review(podWith([{ name: 'c', image: 'reg.example/mlrun/mlrunfoo/x' }], { annotations: { [RECORD]: value } }));
    const result = admit(body, rt);
    expect(check(result, body).patch).toEqual([]);
    expect(ok(result).summary.decisions[0]!.reasons[0]).toMatch(/this webhook's own result/);
  });

  it('one past the cap: not parsed, a warning, the image resolved afresh', () => {
    const body = review(podWith([{ name: 'c', image: 'reg.example/mlrun/mlrunfoo/x' }], { annotations: { [RECORD]: recordOfLength(L.maxRecordBytes + 1) } }));
    const result = admit(body, rt);
    expect(images(check(result, body).pod)).toEqual(['reg.example/mlrun/mlrunfoo/x:1.4.1']);
    const { summary, warnings } = ok(result);
    expect(summary.limits).toEqual(['record-unread']);
    expect(warnings[0]).toMatch(new RegExp(`larger than ${L.maxRecordBytes} bytes; not read`));
  });
});

describe('the summary stays small: decisions kept within caps, counts over all images', () => {
  it(`keeps the first ${L.maxDecisions} decisions and counts the rest`, () => {
    const n = L.maxDecisions + 10;
    const body = review(podWith([...containers(n - 1), { name: 'tagged', image: 'busybox:1' }]));
    const result = admit(body, runtime);
    check(result, body);
    const { summary } = ok(result);
    expect(summary.decisions).toHaveLength(L.maxDecisions);
    expect(summary).toMatchObject({ decisionsOmitted: 10, imagesSeen: n, changedByReason: { tag: n - 1 }, imageWarnings: 0 });
  });

  it(`keeps decisions within ${L.maxDecisionChars} characters`, () => {
    const name = 'n'.repeat(2000);
    const body = review(podWith(Array.from({ length: 40 }, (_, i) => ({ name: `${name}${i}`, image: 'mlrun/mlrun' }))));
    const result = admit(body, runtime);
    check(result, body);
    const { summary } = ok(result);
    const chars = summary.decisions.reduce((n, d) => n + d.name.length + d.original.length + d.image.length + d.reasons.join('').length, 0);
    expect(chars).toBeLessThanOrEqual(L.maxDecisionChars);
    expect(summary.decisions.length + summary.decisionsOmitted).toBe(40);
    expect(summary.decisionsOmitted).toBeGreaterThan(0);
    expect(summary.changedByReason).toEqual({ tag: 40 });
  });

  it('warnings stay within the API server budget when every image warns', () => {
    const body = review(podWith(containers(L.maxContainers, 'x'.repeat(L.maxImageLength + 1))));
    const result = admit(body, runtime);
    check(result, body);
    const { summary, warnings } = ok(result);
    expect(warnings.join('').length).toBeLessThanOrEqual(L.maxWarningsTotal);
    expect(summary.imageWarnings).toBe(L.maxContainers);
    expect(summary.limits).toEqual(['image-too-long']);
  });
});

describe('discovery limits reach the summary', () => {
  it('an over-long client version label is ignored with a warning and its limit code', () => {
    const long = '1'.repeat(DISCOVERY_LIMITS.versionMaxLength + 1);
    const body = review(podWith(containers(1), { labels: { 'mlrun/client_version': long } }));
    const result = admit(body, runtime);
    expect(images(check(result, body).pod)).toEqual(['mlrun/mlrun:1.9.2']); // the server version, MLRun's fallback
    const { summary, warnings } = ok(result);
    expect(summary).toMatchObject({ clientVersion: null, limits: ['version-too-long'] });
    expect(warnings[0]).toMatch(/label mlrun\/client_version is longer than 128 characters; ignored/);
  });

  it('every limit code is one of the fixed set', () => {
    const body = review(podWith(containers(1), { labels: { 'mlrun/client_version': '9'.repeat(500) } }, {}));
    for (const code of ok(admit(body, runtime)).summary.limits) expect(LIMIT_CODES).toContain(code);
  });
});

describe('request fields copied into the summary are bounded, and never serialised whole', () => {
  it(`a uid longer than ${L.maxUidLength} characters is a malformed request`, () => {
    const body = review(podWith(containers(1)));
    body.request.uid = 'u'.repeat(L.maxUidLength + 1);
    const r = admit(body, runtime);
    expect(r.status).toBe(400);
    body.request.uid = 'u'.repeat(L.maxUidLength);
    expect(admit(body, runtime).status).toBe(200);
  });

  it('a deeply nested kind or resource is described, not serialised (JSON.stringify would overflow the stack)', () => {
    let deep: unknown = [];
    for (let i = 0; i < 200_000; i++) deep = [deep];
    expect(admit({ kind: deep }, runtime)).toMatchObject({ status: 400, error: 'kind must be AdmissionReview, got a list' });
    const body = review(podWith(containers(1)), { resource: { group: '', resource: deep }, name: 'n'.repeat(10_000), namespace: 'm'.repeat(10_000) });
    const { summary } = ok(admit(body, runtime));
    expect(summary.outcome).toBe('skipped');
    expect(summary.detail).toMatch(/a list/);
    expect(summary.name!.length).toBeLessThanOrEqual(L.maxNameLength);
    expect(summary.namespace!.length).toBeLessThanOrEqual(L.maxNameLength);
  });
});
