/**
 * Properties of the production path over random Pods, policies and registry answers: admit() never throws, every
 * answer is one the API server accepts (a patch that applies, or a 403 denial with a bounded message), summaries
 * stay bounded, and a reinvocation over an admitted Pod patches nothing.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { admit } from '../../src/admission/admit.js';
import { ADMISSION_LIMITS as L } from '../../src/admission/limits.js';
import type { AdmitContext, MirrorStateName } from '../../src/admission/types.js';
import { check } from './check.js';
import { DIGEST, FakeRegistry, REGISTRY, review, runtimeOf, type Obj } from './production.js';

const runtimes = (['warn', 'deny', 'rewrite'] as const).flatMap((pinTags) =>
  (['enforce', 'report'] as const).flatMap((mode) =>
    (['rewrite', 'keep-original'] as const).map((missing) =>
      runtimeOf({
        mlrun: { vendorImagesRegistry: 'vendor.local' },
        webhook: { mode },
        mirror: { enabled: true, missing },
        policy: { mlrunVersion: '1.9.2', pinTags, pinDigests: 'resolve', digestRegistries: ['quay.io'], allow: ['^busybox:'] },
      }),
    ),
  ),
);

const imageArb = fc.oneof(
  fc.constantFrom('mlrun/mlrun', 'mlrun/mlrun:1.10.0', 'mlrun/mlrun:1.9.2', 'mlrun/ml-base', 'nginx', 'nginx:latest', 'nginx:1.27', 'busybox:1', 'quay.io/org/tool:2', 'python:3.9'),
  fc.constantFrom(`${REGISTRY}/mlrun/mlrun:1.8.0`, 'localhost:5000/mlrun/mlrun', `nginx@${DIGEST}`, 'evil.example/x:1', 'MyOrg/Thing:1', ''),
  fc.string({ maxLength: 20 }),
);
const containerArb = fc.record({ name: fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/), image: imageArb });
const podArb = fc.record({
  metadata: fc.record(
    {
      name: fc.constant('p'),
      labels: fc.dictionary(fc.constantFrom('mlrun-image-webhook/skip', 'mlrun/client_version', 'mlrun/client_python_version'), fc.constantFrom('true', '1.10.0', '3.9.18')),
    },
    { requiredKeys: ['name'] },
  ),
  spec: fc.record(
    { containers: fc.uniqueArray(containerArb, { minLength: 1, maxLength: 5, selector: (c) => c.name }), initContainers: fc.uniqueArray(containerArb, { maxLength: 2, selector: (c) => `i${c.name}` }) },
    { requiredKeys: ['containers'] },
  ),
});
// Initial containers' names must not clash with the main ones (the API server refuses that before us).
const distinctNames = (p: Obj): Obj => {
  for (const c of p.spec.initContainers ?? []) c.name = `init-${c.name}`;
  return p;
};
const stateArb = fc.constantFrom<{ state: MirrorStateName; digest?: string }>(
  { state: 'present', digest: DIGEST },
  { state: 'present' },
  { state: 'missing' },
  { state: 'unknown' },
  { state: 'present', digest: 'sha256:bad' },
);

describe('production path properties', () => {
  it('random Pods, policies and registry answers: valid answers, bounded summaries, reinvocation patches nothing', () => {
    fc.assert(
      fc.property(podArb, fc.constantFrom(...runtimes), stateArb, fc.boolean(), (raw, runtime, st, final) => {
        const body = review(distinctNames(raw));
        // Every image on a configured registry gets the same answer; others are "unknown" (never asked, see FakeRegistry).
        const registry = { asked: [] as string[], state: (image: string) => (registryHosts.some((h) => image.startsWith(h)) ? st : { state: 'unknown' as const }) };
        const context: AdmitContext = { production: true, registry, final };
        const result = admit(body, runtime, context);
        expect(result.status).toBe(200);
        if (result.status !== 200) return;
        const s = result.summary;
        expect(s.lookups.length).toBeLessThanOrEqual(L.maxLookups);
        if (final) expect(s.lookups).toEqual([]);
        for (const image of s.lookups) expect(registryHosts.some((h) => image.startsWith(h))).toBe(true);
        expect(s.policy.length).toBeLessThanOrEqual(L.maxPolicyEntries);
        if (!result.body.response.allowed) {
          expect(runtime.config.webhook.mode).toBe('enforce');
          expect(result.body.response.status?.message.length).toBeLessThanOrEqual(L.maxDenyMessage);
          expect(result.body.response.patch).toBeUndefined();
          return;
        }
        const { pod: once } = check(result, body);
        const again = review(once);
        const second = admit(again, runtime, context);
        expect(check(second, again).patch).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('an unconfigured host is never handed to the registry view', () => {
    fc.assert(
      fc.property(podArb, fc.constantFrom(...runtimes), (raw, runtime) => {
        const registry = new FakeRegistry();
        admit(review(distinctNames(raw)), runtime, { production: true, registry });
        for (const image of registry.asked) expect(registryHosts.some((h) => image.startsWith(h))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

const registryHosts = [`${REGISTRY}/`, 'vendor.local/', 'quay.io/'];
