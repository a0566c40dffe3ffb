/**
 * The kubelet's env precedence, pure: envFrom order and prefix, optional sources, inline env over all,
 * configMapKeyRef, $(VAR) expansion, Secrets never read.
 */
import { describe, expect, it } from 'vitest';
import { effectiveEnv, expandVars, imageEnv, type ConfigMapLookup } from '../../src/cluster/env.js';
import type { ContainerView, EnvFromView, EnvVarView } from '../../src/cluster/types.js';

const ctx = { namespace: 'mlrun', owner: 'Deployment mlrun/mlrun-api-chief' };
const cms: Record<string, Record<string, string>> = {
  common: { MLRUN_IMAGES_REGISTRY: 'common/', REG: 'reg.local:5000', MLRUN_IMAGES_TAG: 'common-tag' },
  override: { MLRUN_IMAGES_REGISTRY: 'override/' },
  prefixed: { IMAGES_REGISTRY: 'prefixed/' },
  site: { vendor: 'vendor/' },
};
const lookup: ConfigMapLookup = (name) => cms[name];
const from = (name: string, optional = false, prefix = ''): EnvFromView => ({ prefix, configMapRef: { name, optional } });
const c = (envFrom: EnvFromView[], env: EnvVarView[] = []): ContainerView => ({ image: 'quay.io/mlrun/mlrun-api:1.9.2', env, envFrom });
const get = (container: ContainerView, name: string) => effectiveEnv(container, lookup, ctx).get(name);

describe('effectiveEnv', () => {
  it.each([
    ['a later envFrom source beats an earlier one', c([from('common'), from('override')]), 'override/', 'ConfigMap mlrun/override key MLRUN_IMAGES_REGISTRY'],
    ['an earlier source keeps keys the later one lacks', c([from('common'), from('override')]), 'override/', undefined],
    ['envFrom prefix is prepended', c([from('common'), from('prefixed', false, 'MLRUN_')]), 'prefixed/', 'ConfigMap mlrun/prefixed key IMAGES_REGISTRY (envFrom prefix MLRUN_)'],
    ['a missing optional source is skipped', c([from('common'), from('gone', true)]), 'common/', undefined],
    ['inline env beats every envFrom', c([from('override')], [{ name: 'MLRUN_IMAGES_REGISTRY', value: 'inline/' }]), 'inline/', 'Deployment mlrun/mlrun-api-chief env MLRUN_IMAGES_REGISTRY'],
    [
      'configMapKeyRef',
      c([], [{ name: 'MLRUN_IMAGES_REGISTRY', configMapKeyRef: { name: 'site', key: 'vendor', optional: false } }]),
      'vendor/',
      'ConfigMap mlrun/site key vendor (Deployment mlrun/mlrun-api-chief env MLRUN_IMAGES_REGISTRY)',
    ],
    [
      'an optional configMapKeyRef to a missing key leaves the envFrom value',
      c([from('common')], [{ name: 'MLRUN_IMAGES_REGISTRY', configMapKeyRef: { name: 'site', key: 'nope', optional: true } }]),
      'common/',
      undefined,
    ],
    [
      '$(VAR) from envFrom is expanded',
      c([from('common')], [{ name: 'MLRUN_IMAGES_REGISTRY', value: '$(REG)/x/' }]),
      'reg.local:5000/x/',
      'Deployment mlrun/mlrun-api-chief env MLRUN_IMAGES_REGISTRY, expanding $(REG) from ConfigMap mlrun/common key REG',
    ],
    ['an undefined $(VAR) stays as written', c([], [{ name: 'MLRUN_IMAGES_REGISTRY', value: '$(NOPE)/' }]), '$(NOPE)/', undefined],
    [
      'only variables defined earlier are expanded',
      c([], [{ name: 'MLRUN_IMAGES_REGISTRY', value: '$(LATER)/' }, { name: 'LATER', value: 'x' }]),
      '$(LATER)/',
      undefined,
    ],
    [
      'an earlier inline variable is expanded',
      c([], [{ name: 'HOST', value: 'h:1' }, { name: 'MLRUN_IMAGES_REGISTRY', value: '$(HOST)/' }]),
      'h:1/',
      undefined,
    ],
    ['$$ escapes', c([from('common')], [{ name: 'MLRUN_IMAGES_REGISTRY', value: '$$(REG)' }]), '$(REG)', undefined],
    ['an explicit empty value is a value', c([from('common')], [{ name: 'MLRUN_IMAGES_REGISTRY', value: '' }]), '', undefined],
    ['fieldRef metadata.namespace', c([], [{ name: 'MLRUN_IMAGES_REGISTRY', fieldRef: 'metadata.namespace' }]), 'mlrun', undefined],
  ])('%s', (_what, container, value, source) => {
    const r = get(container, 'MLRUN_IMAGES_REGISTRY');
    expect(r).toMatchObject({ kind: 'known', value });
    if (source !== undefined && r.kind === 'known') expect(r.source).toBe(source);
  });

  it('a missing non-optional source is a problem (the Pod would not start), the others still apply', () => {
    const e = effectiveEnv(c([from('gone'), from('override')], [{ name: 'X', configMapKeyRef: { name: 'site', key: 'nope', optional: false } }]), lookup, ctx);
    expect(e.problems).toEqual([
      'envFrom ConfigMap mlrun/gone does not exist and is not optional: a Pod with this spec would not start',
      'ConfigMap mlrun/site has no key nope (Deployment mlrun/mlrun-api-chief env X) and it is not optional: a Pod with this spec would not start',
    ]);
    expect(e.get('MLRUN_IMAGES_REGISTRY')).toMatchObject({ kind: 'known', value: 'override/' });
    expect(e.get('X')).toEqual({ kind: 'unset' });
  });

  it('a secretKeyRef is not followed, nor a value expanding it', () => {
    const e = effectiveEnv(
      c([from('common')], [
        { name: 'MLRUN_IMAGES_REGISTRY', secretKeyRef: { name: 'creds', key: 'reg', optional: false } },
        { name: 'MLRUN_IMAGES_TAG', value: '$(MLRUN_IMAGES_REGISTRY)' },
      ]),
      lookup,
      ctx,
    );
    expect(e.get('MLRUN_IMAGES_REGISTRY')).toMatchObject({ kind: 'unknown', source: 'Secret mlrun/creds key reg (Deployment mlrun/mlrun-api-chief env MLRUN_IMAGES_REGISTRY)' });
    expect(e.get('MLRUN_IMAGES_TAG')).toMatchObject({ kind: 'unknown', reason: expect.stringContaining('expands $(MLRUN_IMAGES_REGISTRY) from Secret mlrun/creds') });
  });

  it('an envFrom secretRef shadows earlier sources of the names it may set, not later ones', () => {
    const container: ContainerView = {
      image: undefined,
      envFrom: [from('common'), { prefix: 'MLRUN_IMAGES_', secretRef: { name: 's', optional: true } }, from('override')],
      env: [],
    };
    const e = effectiveEnv(container, lookup, ctx);
    expect(e.get('MLRUN_IMAGES_REGISTRY')).toMatchObject({ kind: 'known', value: 'override/' });
    expect(e.get('MLRUN_IMAGES_TAG')).toMatchObject({
      kind: 'unknown',
      source: 'envFrom Secret mlrun/s (envFrom prefix MLRUN_IMAGES_)',
      otherwise: { value: 'common-tag' },
    });
    expect(e.get('REG')).toMatchObject({ kind: 'known', value: 'reg.local:5000' });
  });

  it('imageEnv reports the four keys only, with not-followed ones apart', () => {
    const r = imageEnv(
      c([from('common')], [{ name: 'MLRUN_VENDOR_IMAGES_REGISTRY', secretKeyRef: { name: 'v', key: 'k', optional: true } }]),
      lookup,
      ctx,
    );
    expect(Object.keys(r.env).sort()).toEqual(['MLRUN_IMAGES_REGISTRY', 'MLRUN_IMAGES_TAG']);
    expect(r.notFollowed.map((n) => n.key)).toEqual(['MLRUN_VENDOR_IMAGES_REGISTRY']);
  });
});

describe('expandVars (the kubelet expansion)', () => {
  const m = (name: string) => ({ A: 'x', 'B C': 'y' })[name];
  it.each([
    ['$(A)', 'x'],
    ['pre$(A)post', 'prexpost'],
    ['$$(A)', '$(A)'],
    ['$$$(A)', '$x'],
    ['$(B C)', 'y'],
    ['$(UNDEF)', '$(UNDEF)'],
    ['$(A', '$(A'],
    ['$(A$(A)', '$(A$(A)'],
    ['$(', '$('],
    ['$', '$'],
    ['a$', 'a$'],
    ['$x$(A)', '$xx'],
    ['$()', '$()'],
    ['$é', '$Ã\ufffd'],
    ['no dollar', 'no dollar'],
  ])('%j → %j', (input, out) => {
    expect(expandVars(input, m)).toBe(out);
  });

  it('is linear: an unclosed "$(" does not rescan the rest (quadratic would run for minutes here)', () => {
    const input = '$('.repeat(100_000);
    expect(expandVars(input, m)).toBe(input);
  });

  it('a reference runs from its "$(" to the first ")", whatever is inside', () => {
    let calls = 0;
    const input = '$('.repeat(1000) + 'A)';
    expect(expandVars(input, (n) => (calls++, m(n)))).toBe(input);
    expect(calls).toBe(1);
  });
});
