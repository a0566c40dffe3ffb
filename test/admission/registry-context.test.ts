/**
 * What admission does with the registry cache (AdmitContext.registry, a plain synchronous object here; the real
 * MirrorService is tested in test/registry): mirror checks on rewrites (issue 12), digest pinning in production
 * (issue 13), the look-up list for the server's second pass, and that no image on an unconfigured host is ever
 * looked at.
 */
import { describe, expect, it } from 'vitest';
import { admit } from '../../src/admission/admit.js';
import { ADMISSION_LIMITS as L } from '../../src/admission/limits.js';
import { check } from './check.js';
import { DIGEST, FakeRegistry, imagesOf, ok, pod, recordOf, REGISTRY, review, runtimeOf } from './production.js';

const MLRUN = `${REGISTRY}/mlrun/mlrun:1.9.2`;
const mirrorOn = (missing = 'rewrite') => runtimeOf({ mirror: { enabled: true, missing } });

describe('mirror checks (mirror.enabled): rewrites to the images registry', () => {
  it('present: rewritten, counted, nothing to look up', () => {
    const registry = new FakeRegistry({ [MLRUN]: { state: 'present' } });
    const body = review(pod(['mlrun/mlrun']), 'dev');
    const result = admit(body, mirrorOn(), { registry });
    expect(imagesOf(check(result, body).pod)).toEqual([MLRUN]);
    const { summary, warnings } = ok(result);
    expect(summary.mirrorCounts).toEqual({ present: 1, missing: 0, unknown: 0 });
    expect(summary.lookups).toEqual([]);
    expect(warnings).toEqual([]);
    expect(summary.decisions[0]).toMatchObject({ mirror: 'present', changed: true });
  });

  it('missing: rewritten anyway (MLRun-exact), with a warning naming the image and the reason in the record', () => {
    const registry = new FakeRegistry({ [MLRUN]: { state: 'missing' } });
    const body = review(pod(['mlrun/mlrun']), 'dev');
    const result = admit(body, mirrorOn(), { registry });
    const { pod: out } = check(result, body);
    const { summary, warnings } = ok(result);
    expect(imagesOf(out)).toEqual([MLRUN]);
    expect(warnings).toEqual([`mlrun-image-webhook: containers/c0: rewritten to ${MLRUN}, which the mirror registry lacks (mirror it, or set mirror.missing: keep-original)`]);
    expect(summary.mirrorCounts).toEqual({ present: 0, missing: 1, unknown: 0 });
    const rec = recordOf(out)['containers/c0'];
    expect(rec).toMatchObject({ from: 'mlrun/mlrun', to: MLRUN, mirror: 'missing' });
    expect(rec.reason).toContain('which the mirror registry lacks');
  });

  it('missing with keep-original: the original image stays, and the record says why', () => {
    const registry = new FakeRegistry({ [MLRUN]: { state: 'missing' } });
    const body = review(pod(['mlrun/mlrun', 'nginx:1.25']), 'dev');
    const result = admit(body, mirrorOn('keep-original'), { registry });
    const { pod: out, patch } = check(result, body);
    const { summary, warnings } = ok(result);
    expect(imagesOf(out)).toEqual(['mlrun/mlrun', 'nginx:1.25']);
    expect(patch.filter((op) => op.path.startsWith('/spec'))).toEqual([]);
    expect(summary.changedByReason).toEqual({});
    expect(warnings).toEqual([`mlrun-image-webhook: containers/c0: the mirror lacks ${MLRUN}; kept mlrun/mlrun (mirror.missing: keep-original)`]);
    expect(recordOf(out)).toEqual({
      'containers/c0': expect.objectContaining({ from: 'mlrun/mlrun', to: 'mlrun/mlrun', mirror: 'missing', reason: expect.stringContaining('keep-original') }),
    });
  });

  it('keep-original keeps the production pin: only the MLRun rewrite is undone', () => {
    const runtime = runtimeOf({ mirror: { enabled: true, missing: 'keep-original' }, policy: { mlrunVersion: '1.9.2', pinTags: 'rewrite' } });
    const registry = new FakeRegistry({ [MLRUN]: { state: 'missing' } });
    const body = review(pod(['mlrun/mlrun:1.10.0']));
    const result = admit(body, runtime, { production: true, registry });
    const { pod: out } = check(result, body);
    expect(imagesOf(out)).toEqual(['mlrun/mlrun:1.9.2']);
    expect(ok(result).summary.changedByReason).toEqual({ pin: 1 });
    expect(recordOf(out)['containers/c0']).toMatchObject({ policy: 'off-pin/rewrite', mirror: 'missing' });
  });

  it('unknown: rewritten, listed for a look-up; on the final pass only counted', () => {
    const registry = new FakeRegistry();
    const body = review(pod(['mlrun/mlrun', 'mlrun/mlrun', 'nginx']), 'dev');
    const first = ok(admit(body, mirrorOn(), { registry }));
    expect(first.summary.lookups).toEqual([MLRUN]); // deduplicated; nginx is not rewritten, never asked
    expect(first.summary.mirrorCounts).toEqual({ present: 0, missing: 0, unknown: 2 });
    expect(first.warnings).toEqual([]);
    const final = ok(admit(body, mirrorOn(), { registry, final: true }));
    expect(final.summary.lookups).toEqual([]);
    expect(final.summary.mirrorCounts.unknown).toBe(2);
    expect(registry.asked.every((i) => i === MLRUN)).toBe(true);
  });

  it('images not rewritten by the webhook, and a Pod author\'s own hosts, are never looked at', () => {
    const registry = new FakeRegistry();
    const body = review(pod(['evil.example/mlrun/mlrun:1.9.2', 'nginx', MLRUN, 'attacker.example:5000/x:1']), 'dev');
    const { summary } = ok(admit(body, mirrorOn(), { registry }));
    expect(registry.asked).toEqual([]);
    expect(summary.lookups).toEqual([]);
  });

  it('mirror off, or no registry view: no checks at all', () => {
    const registry = new FakeRegistry();
    const body = review(pod(['mlrun/mlrun']), 'dev');
    expect(ok(admit(body, runtimeOf({}), { registry })).summary.mirrorCounts).toEqual({ present: 0, missing: 0, unknown: 0 });
    expect(ok(admit(body, mirrorOn())).summary.lookups).toEqual([]);
    expect(registry.asked).toEqual([]);
  });

  it(`look-ups are bounded (${L.maxLookups}) and counted past that`, () => {
    const registry = new FakeRegistry();
    const body = review(pod(Array.from({ length: 100 }, (_, i) => `mlrun/img${i}`)), 'dev');
    const { summary } = ok(admit(body, mirrorOn(), { registry }));
    expect(summary.lookups).toHaveLength(L.maxLookups);
    expect(summary.lookupsOmitted).toBe(100 - L.maxLookups);
    expect(summary.mirrorCounts.unknown).toBe(100);
  });

  it('a registry view that throws or answers nonsense reads as unknown; the Pod is still admitted', () => {
    const body = review(pod(['mlrun/mlrun']), 'dev');
    const throwing = { state: () => { throw new Error('boom'); } };
    const nonsense = { state: () => ({ state: 'maybe' }) as never };
    for (const registry of [throwing, nonsense]) {
      const result = admit(body, mirrorOn(), { registry });
      expect(imagesOf(check(result, body).pod)).toEqual([MLRUN]);
      expect(ok(result).summary.mirrorCounts.unknown).toBe(1);
    }
  });
});

describe('pinDigests: resolve (production only, configured registries only)', () => {
  const digestsOn = ({ mirror, ...policy }: Record<string, unknown> = {}) =>
    runtimeOf({ policy: { pinDigests: 'resolve', digestRegistries: ['quay.io'], ...policy }, ...(mirror ? { mirror } : {}) });
  const PROD = { production: true };

  it('known digest: repo:tag@digest (tag kept), counted resolved, in the record', () => {
    const registry = new FakeRegistry({ [MLRUN]: { state: 'present', digest: DIGEST }, 'quay.io/org/tool:2.1': { state: 'present', digest: DIGEST } });
    const body = review(pod(['mlrun/mlrun', 'quay.io/org/tool:2.1']));
    const result = admit(body, digestsOn(), { ...PROD, registry });
    const { pod: out } = check(result, body);
    const { summary, warnings } = ok(result);
    expect(imagesOf(out)).toEqual([`${MLRUN}@${DIGEST}`, `quay.io/org/tool:2.1@${DIGEST}`]);
    expect(warnings).toEqual([]);
    expect(summary.policyCounts).toEqual({ 'pin-digests/resolved': 2 });
    expect(summary.changedByReason).toEqual({ 'tag+prefix+digest': 1, digest: 1 });
    expect(recordOf(out)['containers/c1']).toMatchObject({ from: 'quay.io/org/tool:2.1', to: `quay.io/org/tool:2.1@${DIGEST}`, digest: 'resolved' });
  });

  it('unknown: listed for a look-up, the tag kept with a warning; the final pass lists nothing and still warns', () => {
    const registry = new FakeRegistry();
    const body = review(pod(['mlrun/mlrun']));
    const first = admit(body, digestsOn(), { ...PROD, registry });
    expect(imagesOf(check(first, body).pod)).toEqual([MLRUN]);
    expect(ok(first).summary.lookups).toEqual([MLRUN]);
    expect(ok(first).warnings).toEqual([`mlrun-image-webhook: containers/c0: digest of ${MLRUN} not resolved in time; the tag is kept (policy.pinDigests)`]);
    expect(ok(first).summary.policyCounts).toEqual({ 'pin-digests/unresolved': 1 });
    const final = admit(body, digestsOn(), { ...PROD, registry, final: true });
    expect(ok(final).summary.lookups).toEqual([]);
    expect(ok(final).warnings).toHaveLength(1);
    // the server's look-up warmed the cache: the next pass pins
    const warm = new FakeRegistry({ [MLRUN]: { state: 'present', digest: DIGEST } });
    expect(imagesOf(check(admit(body, digestsOn(), { ...PROD, registry: warm, final: true }), body).pod)).toEqual([`${MLRUN}@${DIGEST}`]);
  });

  it('never asks about a host the operator did not configure, nor a path outside a configured prefix', () => {
    const runtime = runtimeOf({ mlrun: { imagesRegistry: `${REGISTRY}/mirror/` }, policy: { pinDigests: 'resolve', digestRegistries: ['quay.io'] } });
    const registry = new FakeRegistry();
    const images = ['evil.example/org/tool:1', 'quay.io.evil.example/x:1', `${REGISTRY}/other/x:1`, 'nginx:1.25', 'quay.io:444/x:1'];
    const body = review(pod(images));
    const result = admit(body, runtime, { ...PROD, registry });
    expect(imagesOf(check(result, body).pod)).toEqual(images);
    expect(registry.asked).toEqual([]);
    expect(ok(result).summary.lookups).toEqual([]);
    expect(ok(result).summary.policyCounts).toEqual({});
  });

  it('outside production, or for images already pinned by digest, untagged, or allowed: no digest work', () => {
    const registry = new FakeRegistry({ 'quay.io/org/tool:2.1': { state: 'present', digest: DIGEST } });
    const dev = review(pod(['quay.io/org/tool:2.1']), 'dev');
    expect(imagesOf(check(admit(dev, digestsOn(), { registry }), dev).pod)).toEqual(['quay.io/org/tool:2.1']);
    const images = [`quay.io/org/tool:2.1@${DIGEST}`, 'quay.io/org/tool', 'quay.io/org/allowed:1'];
    const body = review(pod(images));
    const result = admit(body, digestsOn({ allow: ['quay\\.io/org/allowed'] }), { ...PROD, registry });
    expect(imagesOf(check(result, body).pod)).toEqual(images);
    expect(registry.asked).toEqual([]);
  });

  it('a digest the registry answers that is not a valid digest is not written', () => {
    const registry = new FakeRegistry({ 'quay.io/org/tool:2.1': { state: 'present', digest: 'sha256:xyz' } });
    const body = review(pod(['quay.io/org/tool:2.1']));
    const result = admit(body, digestsOn(), { ...PROD, registry });
    expect(imagesOf(check(result, body).pod)).toEqual(['quay.io/org/tool:2.1']);
    expect(ok(result).warnings[0]).toContain('not resolved: the registry gave no valid digest');
  });

  it('with the mirror on, one registry answer serves both checks; a missing image is warned about once', () => {
    const registry = new FakeRegistry({ [MLRUN]: { state: 'missing' } });
    const body = review(pod(['mlrun/mlrun']));
    const result = admit(body, digestsOn({ mirror: { enabled: true } }), { ...PROD, registry });
    const { pod: out } = check(result, body);
    expect(registry.asked).toEqual([MLRUN]);
    expect(ok(result).warnings).toHaveLength(1);
    expect(recordOf(out)['containers/c0']).toMatchObject({ mirror: 'missing', digest: 'unresolved' });
  });

  it('summary.policy and the look-ups stay bounded on a Pod of many images', () => {
    const registry = new FakeRegistry();
    const n = 300;
    const body = review(pod(Array.from({ length: n }, (_, i) => `quay.io/org/t${i}:1`)));
    const { summary, warnings } = ok(admit(body, digestsOn(), { ...PROD, registry }));
    expect(summary.policy).toHaveLength(L.maxPolicyEntries);
    expect(summary.policyOmitted).toBe(n - L.maxPolicyEntries);
    expect(summary.policyCounts).toEqual({ 'pin-digests/unresolved': n });
    expect(summary.lookups).toHaveLength(L.maxLookups);
    expect(summary.lookupsOmitted).toBe(n - L.maxLookups);
    expect(warnings.join('').length).toBeLessThanOrEqual(L.maxWarningsTotal);
  });
});
