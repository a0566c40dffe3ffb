/**
 * The production image policy at admission (issue 13, ADR 0008): every verdict → action → response, the denial's
 * text, report mode, kubectl debug, the opt-out, the allow list, and which requests are production at all.
 * Every allowed answer goes through check() (the patch applied with fast-json-patch, as the API server would).
 */
import { describe, expect, it } from 'vitest';
import { admit } from '../../src/admission/admit.js';
import { ADMISSION_LIMITS as L } from '../../src/admission/limits.js';
import { check } from './check.js';
import { denied, imagesOf, ok, pod, recordOf, REGISTRY, review, runtimeOf, type Obj } from './production.js';

const PINNED = { mlrunVersion: '1.9.2' };
const runtimeFor = (pinTags: string, extra: Obj = {}) => runtimeOf({ policy: { ...PINNED, pinTags, ...extra.policy }, webhook: extra.webhook });
const PROD = { production: true };

describe('verdict → action → response, per pinTags mode (MLRun 1.9.2 pinned, registry prefix on)', () => {
  // image, verdict, then per mode: the image the Pod ends with, or DENY; warned = a policy warning is given.
  type Row = [image: string, verdict: string, warn: string, deny: string, rewrite: string];
  const rows: Row[] = [
    ['mlrun/mlrun', 'floating', `${REGISTRY}/mlrun/mlrun:1.9.2`, 'DENY', `${REGISTRY}/mlrun/mlrun:1.9.2`],
    ['mlrun/mlrun:1.10.0', 'off-pin', `${REGISTRY}/mlrun/mlrun:1.10.0`, 'DENY', `${REGISTRY}/mlrun/mlrun:1.9.2`],
    ['mlrun/mlrun:latest', 'floating', `${REGISTRY}/mlrun/mlrun:latest`, 'DENY', `${REGISTRY}/mlrun/mlrun:1.9.2`],
    ['mlrun/mlrun:1.9.2', 'pinned', `${REGISTRY}/mlrun/mlrun:1.9.2`, `${REGISTRY}/mlrun/mlrun:1.9.2`, `${REGISTRY}/mlrun/mlrun:1.9.2`],
    [`${REGISTRY}/mlrun/mlrun:1.8.0`, 'off-pin', `${REGISTRY}/mlrun/mlrun:1.8.0`, 'DENY', `${REGISTRY}/mlrun/mlrun:1.9.2`],
    // a registry port is not a tag: flagged; the pin keeps the user's registry
    ['localhost:5000/mlrun/mlrun', 'floating', 'localhost:5000/mlrun/mlrun', 'DENY', 'localhost:5000/mlrun/mlrun:1.9.2'],
    ['nginx', 'floating', 'nginx', 'DENY', 'DENY'], // no exact pin for an external image: rewrite denies
    ['nginx:latest', 'floating', 'nginx:latest', 'DENY', 'DENY'],
    ['nginx:1.25', 'pinned', 'nginx:1.25', 'nginx:1.25', 'nginx:1.25'],
    [`nginx@${'sha256:' + 'c'.repeat(64)}`, 'pinned', `nginx@sha256:${'c'.repeat(64)}`, `nginx@sha256:${'c'.repeat(64)}`, `nginx@sha256:${'c'.repeat(64)}`],
  ];

  for (const [modeIndex, mode] of (['warn', 'deny', 'rewrite'] as const).entries()) {
    it.each(rows)(`pinTags ${mode}: %s (%s)`, (image, verdict, ...expected) => {
      const want = expected[modeIndex]!;
      const body = review(pod([image]));
      const result = admit(body, runtimeFor(mode), PROD);
      const flagged = verdict === 'floating' || verdict === 'off-pin';
      if (want === 'DENY') {
        const { message, summary } = denied(result, body);
        expect(message).toContain('container "c0"');
        expect(message).toContain(JSON.stringify(image));
        expect(summary.policyCounts).toEqual({ 'pin-tags/deny': 1 });
        return;
      }
      const { pod: out } = check(result, body);
      const { summary, warnings } = ok(result);
      expect(imagesOf(out)).toEqual([want]);
      expect(summary.policy).toEqual([expect.objectContaining({ policy: 'pin-tags', container: 'containers/c0', verdict, image })]);
      const action = !flagged ? 'none' : mode;
      expect(summary.policyCounts).toEqual({ [`pin-tags/${action}`]: 1 });
      expect(warnings.some((w) => w.includes('production policy'))).toBe(flagged);
      if (flagged) expect(recordOf(out)['containers/c0']).toMatchObject({ from: image, to: want, policy: `${verdict}/${action}` });
    });
  }
});

describe('deny', () => {
  it('names the container and the exact image to use, in one sentence kubectl prints', () => {
    const body = review(pod(['mlrun/mlrun:1.10.0']));
    const { message } = denied(admit(body, runtimeFor('deny'), PROD), body);
    expect(message).toBe(
      'mlrun-image-webhook: production image policy: container "c0": image "mlrun/mlrun:1.10.0" is MLRun 1.10.0, ' +
        'but this namespace is pinned to MLRun 1.9.2; use image "mlrun/mlrun:1.9.2"',
    );
  });

  it('lists every flagged container in one message, and warns about none of them separately', () => {
    const body = review(pod(['nginx', 'mlrun/mlrun:1.9.2', 'mlrun/mlrun']));
    const { message, warnings, summary } = denied(admit(body, runtimeFor('deny'), PROD), body);
    expect(message).toBe(
      'mlrun-image-webhook: production image policy: container "c0": image "nginx" has no tag (the kubelet pulls "latest"); ' +
        'pin a version, e.g. "nginx:<version>" or a digest; container "c2": image "mlrun/mlrun" has no tag (the kubelet pulls "latest"); ' +
        'use image "mlrun/mlrun:1.9.2"',
    );
    expect(warnings).toEqual([]);
    expect(summary.policyCounts).toEqual({ 'pin-tags/deny': 2, 'pin-tags/none': 1 });
  });

  it('with the client python known, the image to use carries MLRun\'s python suffix for the pinned version', () => {
    const p = pod(['mlrun/mlrun:1.10.0-py39']);
    p.spec.containers[0].env = [{ name: 'MLRUN_EXEC_CONFIG', value: JSON.stringify({ metadata: { labels: { 'mlrun/client_version': '1.10.0', 'mlrun/client_python_version': '3.9.18' } } }) }];
    const body = review(p);
    const { message } = denied(admit(body, runtimeFor('deny'), PROD), body);
    expect(message).toContain('use image "mlrun/mlrun:1.9.2-py39"');
  });

  it(`stays bounded (${L.maxDenyMessage} characters) with hundreds of long images, counting those not listed`, () => {
    const long = (i: number) => `registry.example/${'a'.repeat(200)}/img${i}`;
    const body = review(pod(Array.from({ length: 500 }, (_, i) => long(i))));
    const { message, summary } = denied(admit(body, runtimeFor('deny'), PROD), body);
    expect(message.length).toBeLessThanOrEqual(L.maxDenyMessage);
    expect(message).toMatch(/; and \d+ more container\(s\)$/);
    expect(summary.policyCounts['pin-tags/deny']).toBe(500);
    expect(summary.policy.length).toBe(L.maxPolicyEntries);
    expect(summary.policyOmitted).toBe(500 - L.maxPolicyEntries);
  });

  it('a Pod past the container cap is refused, not admitted unchecked (padding must not bypass deny)', () => {
    const body = review(pod(Array.from({ length: L.maxContainers + 1 }, () => 'nginx:1.25')));
    const { message, summary } = denied(admit(body, runtimeFor('deny'), PROD), body);
    expect(message).toContain(`more than the ${L.maxContainers}`);
    expect(summary.limits).toEqual(['too-many-containers']);
    // with pinTags warn the cap still admits it unchanged, as everywhere else
    const warned = admit(body, runtimeFor('warn'), PROD);
    expect(ok(warned).summary.outcome).toBe('skipped');
  });

  it('kubectl debug (pods/ephemeralcontainers) is never denied, only warned', () => {
    const before = pod(['nginx:1.25']);
    const after = structuredClone(before);
    after.spec.ephemeralContainers = [{ name: 'debugger', image: 'busybox' }];
    const body = review(after, 'prod', { operation: 'UPDATE', subResource: 'ephemeralcontainers', oldObject: before });
    for (const mode of ['deny', 'rewrite']) {
      const result = admit(body, runtimeFor(mode), PROD);
      const { pod: out } = check(result, body);
      const { summary, warnings } = ok(result);
      expect(out.spec.ephemeralContainers[0].image).toBe('busybox');
      expect(warnings.some((w) => w.includes('container "debugger": image "busybox" has no tag'))).toBe(true);
      expect(summary.policyCounts).toEqual({ 'pin-tags/warn': 1 });
    }
  });
});

describe('rewrite', () => {
  it('writes the pin, then MLRun resolution adds the registry prefix; reason, reason code and record say so', () => {
    const body = review(pod(['mlrun/mlrun:1.10.0']));
    const result = admit(body, runtimeFor('rewrite'), PROD);
    const { pod: out } = check(result, body);
    const { summary, warnings } = ok(result);
    expect(imagesOf(out)).toEqual([`${REGISTRY}/mlrun/mlrun:1.9.2`]);
    expect(summary.changedByReason).toEqual({ 'pin+prefix': 1 });
    expect(summary.policy).toEqual([
      { policy: 'pin-tags', container: 'containers/c0', verdict: 'off-pin', action: 'rewrite', image: 'mlrun/mlrun:1.10.0', suggestion: 'mlrun/mlrun:1.9.2' },
    ]);
    expect(warnings).toEqual([expect.stringContaining(`containers/c0 rewritten to mlrun/mlrun:1.9.2`)]);
    const rec = recordOf(out)['containers/c0'];
    expect(rec).toMatchObject({ from: 'mlrun/mlrun:1.10.0', to: `${REGISTRY}/mlrun/mlrun:1.9.2`, policy: 'off-pin/rewrite' });
    expect(rec.reason).toContain('pinned to MLRun 1.9.2');
  });

  it('a reinvocation on its own output changes nothing more', () => {
    const body = review(pod(['mlrun/mlrun:1.10.0']));
    const runtime = runtimeFor('rewrite');
    const { pod: once } = check(admit(body, runtime, PROD), body);
    const again = review(once);
    const result = admit(again, runtime, PROD);
    const { patch } = check(result, again);
    expect(patch).toEqual([]);
    expect(ok(result).summary.policyCounts).toEqual({ 'pin-tags/none': 1 });
  });
});

describe('webhook.mode: report covers the policy: decide, warn, count, never deny or rewrite', () => {
  it.each(['deny', 'rewrite'])('pinTags %s', (mode) => {
    const body = review(pod(['nginx', 'mlrun/mlrun:1.10.0']));
    const result = admit(body, runtimeFor(mode, { webhook: { mode: 'report' } }), PROD);
    const { patch } = check(result, body);
    const { summary, warnings } = ok(result);
    expect(patch).toEqual([]);
    expect(summary.policyMode).toBe('report');
    expect(warnings.some((w) => w.includes('report-only: the production policy would deny this Pod: container "c0": image "nginx"'))).toBe(true);
    if (mode === 'deny') {
      expect(summary.policyCounts).toEqual({ 'pin-tags/deny': 2 });
    } else {
      expect(summary.policyCounts).toEqual({ 'pin-tags/deny': 1, 'pin-tags/rewrite': 1 });
      expect(warnings.some((w) => w.includes(`report-only: containers/c1 would change mlrun/mlrun:1.10.0 → ${REGISTRY}/mlrun/mlrun:1.9.2`))).toBe(true);
    }
  });
});

describe('opt-out, allow list and which requests are production', () => {
  const optedOut = (images: string[]) => pod(images, { labels: { 'mlrun-image-webhook/skip': 'true' } });

  it('in production the opt-out skips the MLRun rewrite but never the policy', () => {
    const body = review(optedOut(['nginx']));
    denied(admit(body, runtimeFor('deny'), PROD), body);

    const warnBody = review(optedOut(['mlrun/mlrun', 'mlrun/mlrun:1.9.2']));
    const result = admit(warnBody, runtimeFor('warn'), PROD);
    const { pod: out } = check(result, warnBody);
    const { summary, warnings } = ok(result);
    expect(imagesOf(out)).toEqual(['mlrun/mlrun', 'mlrun/mlrun:1.9.2']); // no tag, no prefix: opted out
    expect(warnings).toEqual([expect.stringContaining('container "c0": image "mlrun/mlrun" has no tag')]);
    expect(summary.detail).toContain('MLRun rewrite skipped');
    expect(recordOf(out)).toEqual({ 'containers/c0': expect.objectContaining({ from: 'mlrun/mlrun', to: 'mlrun/mlrun', policy: 'floating/warn' }) });

    // rewrite still writes the pin (without the prefix the opt-out declined)
    const rw = review(optedOut(['mlrun/mlrun:1.10.0']));
    expect(imagesOf(check(admit(rw, runtimeFor('rewrite'), PROD), rw).pod)).toEqual(['mlrun/mlrun:1.9.2']);
  });

  it('outside production the opt-out skips everything, as before', () => {
    const body = review(optedOut(['nginx']), 'dev');
    const result = admit(body, runtimeFor('deny'));
    expect(check(result, body).patch).toEqual([]);
    expect(ok(result).summary).toMatchObject({ outcome: 'skipped', production: false, policyMode: 'off', policyCounts: {} });
  });

  it('an image matching policy.allow is exempt (re.match from the start)', () => {
    const runtime = runtimeFor('deny', { policy: { allow: ['docker\\.io/library/busybox', 'nginx$'] } });
    const body = review(pod(['docker.io/library/busybox', 'nginx', 'my-nginx']));
    const { message, summary } = denied(admit(body, runtime, PROD), body);
    expect(message).toContain('"my-nginx"');
    expect(message).not.toContain('"nginx"');
    expect(summary.policy.map((e) => e.verdict)).toEqual(['allowed', 'allowed', 'floating']);
  });

  it('a namespace in policy.namespaces is production on /mutate too; others behave as today', () => {
    const runtime = runtimeFor('deny', { policy: { namespaces: ['prod'] } });
    const body = review(pod(['nginx']), 'prod');
    denied(admit(body, runtime), body);
    const dev = review(pod(['nginx', 'mlrun/mlrun']), 'dev');
    const result = admit(dev, runtime);
    expect(imagesOf(check(result, dev).pod)).toEqual(['nginx', `${REGISTRY}/mlrun/mlrun:1.9.2`]);
    expect(ok(result).summary).toMatchObject({ production: false, policyMode: 'off', policy: [], policyCounts: {} });
  });

  it('pinTags off: a production request is resolved as today and no policy decision is counted', () => {
    const body = review(pod(['nginx', 'mlrun/mlrun:1.10.0']));
    const result = admit(body, runtimeFor('off'), PROD);
    expect(imagesOf(check(result, body).pod)).toEqual(['nginx', `${REGISTRY}/mlrun/mlrun:1.10.0`]);
    expect(ok(result).summary).toMatchObject({ production: true, policyMode: 'off', policy: [], policyCounts: {} });
  });

  it('an image past the length limit gets no verdict (and no denial): it is left as it is, with the limit warning', () => {
    const body = review(pod([`nginx:${'a'.repeat(L.maxImageLength)}`]));
    const result = admit(body, runtimeFor('deny'), PROD);
    check(result, body);
    expect(ok(result).summary.policy).toEqual([expect.objectContaining({ verdict: 'unchecked', action: 'none' })]);
  });
});

describe('the verdict is on the image as MLRun will use it', () => {
  it('surrounding whitespace (which MLRun strips) does not let an untagged image through as "not a reference"', () => {
    const body = review(pod([' nginx ']));
    const { message } = denied(admit(body, runtimeFor('deny'), PROD), body);
    expect(message).toContain('image "nginx" has no tag');
  });
});
