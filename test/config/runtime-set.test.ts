import { describe, expect, it } from 'vitest';
import type { MlrunInstall } from '../../src/cluster/types.js';
import { RuntimeSet, type InstallEvent } from '../../src/config/runtime-set.js';
import { editChief, fixtureObjects, inNamespace, installOf, readyChiefPod, staticRuntime, type Obj } from './installs-helpers.js';

const CE = fixtureObjects('ce-default.yaml');
const TENANT = fixtureObjects('platform-tenant.yaml');
const DISCOVERY = { enabled: true, namespaces: ['mlrun', 'default-tenant'], defaultNamespace: 'mlrun' };
const STATIC = staticRuntime({ mlrun: { version: '1.7.0', imagesRegistry: 'static.example/' }, discovery: DISCOVERY });

function installs(...list: MlrunInstall[]): Map<string, MlrunInstall> {
  return new Map(list.map((i) => [i.namespace, i]));
}

function withOverride(objs: Obj[], data: Record<string, string>): Obj[] {
  const ns = objs.find((o) => o.kind === 'Deployment')!.metadata.namespace!;
  const existing = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'mlrun-override-env');
  const cm = { kind: 'ConfigMap', metadata: { name: 'mlrun-override-env', namespace: ns }, data: { ...((existing?.['data'] as object) ?? {}), ...data } };
  return [...objs.filter((o) => o !== existing), cm];
}

const upgrade = (objs: Obj[], version: string) => editChief(objs, (c) => (c.image = c.image.replace(/:[^:@]+(@.*)?$/, `:${version}`)));
const brief = (events: InstallEvent[]) => events.map((e) => `${e.namespace} ${e.kind}`);

describe('RuntimeSet.forNamespace: own install, else the default install, else static', () => {
  const set = new RuntimeSet(STATIC);
  set.update(installs(installOf(CE), installOf(TENANT)));

  it('each namespace with an MLRun API resolves with its own install', () => {
    expect(set.forNamespace('mlrun').config.mlrun.version).toBe('1.9.2');
    expect(set.forNamespace('default-tenant').config.mlrun.version).toBe('1.8.0');
    expect(set.forNamespace('default-tenant').config.mlrun.imagesRegistry).toBe('datanode-registry.iguazio-platform.app.vm/');
  });

  it('a namespace without one (or no namespace) gets discovery.defaultNamespace\'s install', () => {
    expect(set.forNamespace('team-a')).toBe(set.forNamespace('mlrun'));
    expect(set.forNamespace(undefined)).toBe(set.forNamespace('mlrun'));
    expect(set.current('team-a')).toBe(set.forNamespace('mlrun'));
  });

  it('with no default install, the static runtime', () => {
    const noDefault = new RuntimeSet(staticRuntime({ discovery: { ...DISCOVERY, defaultNamespace: '' } }));
    noDefault.update(installs(installOf(CE), installOf(TENANT)));
    expect(noDefault.forNamespace('team-a')).toBe(noDefault.staticRuntime);
    expect(noDefault.forNamespace('default-tenant').config.mlrun.version).toBe('1.8.0');
    const defaultElsewhere = new RuntimeSet(staticRuntime({ discovery: { ...DISCOVERY, defaultNamespace: 'gone' } }));
    defaultElsewhere.update(installs(installOf(CE)));
    expect(defaultElsewhere.forNamespace('team-a')).toBe(defaultElsewhere.staticRuntime);
  });

  it('before any install, and with discovery off, the static runtime', () => {
    expect(new RuntimeSet(STATIC).forNamespace('mlrun')).toBe(STATIC);
    const off = new RuntimeSet(staticRuntime({}));
    off.update(installs(installOf(CE)));
    expect(off.forNamespace('mlrun')).toBe(off.staticRuntime);
  });
});

describe('RuntimeSet.update: adopted, refused, removed, pending', () => {
  it('first installs are adopted with the before/after of each key that differs from the fallback', () => {
    const set = new RuntimeSet(STATIC);
    const events = set.update(installs(installOf(CE), installOf(TENANT)));
    expect(brief(events)).toEqual(['mlrun adopted', 'default-tenant adopted']);
    expect(events[0]!.changes).toEqual([
      { key: 'mlrun.version', before: '1.7.0', after: '1.9.2', source: 'Deployment mlrun/mlrun-api-chief image quay.io/mlrun/mlrun-api:1.9.2' },
      { key: 'mlrun.imagesRegistry', before: 'static.example/', after: '', source: 'MLRun default (Deployment mlrun/mlrun-api-chief does not set MLRUN_IMAGES_REGISTRY)' },
    ]);
    expect(events[0]!.source).toBe('Deployment mlrun/mlrun-api-chief');
  });

  it('the same installs again (recomputed) change nothing and report nothing', () => {
    const set = new RuntimeSet(STATIC);
    set.update(installs(installOf(CE)));
    const before = set.forNamespace('mlrun');
    expect(set.update(installs(installOf(CE, Date.parse('2026-12-01T07:00:00Z'))))).toEqual([]);
    expect(set.forNamespace('mlrun')).toBe(before);
  });

  it('an MLRun upgrade is adopted, and namespaces on the default install follow it', () => {
    const set = new RuntimeSet(STATIC);
    set.update(installs(installOf(CE), installOf(TENANT)));
    const tenant = set.forNamespace('default-tenant');
    const events = set.update(installs(installOf(upgrade(CE, '1.10.0')), installOf(TENANT)));
    expect(brief(events)).toEqual(['mlrun adopted']);
    expect(events[0]!.changes).toEqual([{ key: 'mlrun.version', before: '1.9.2', after: '1.10.0', source: 'Deployment mlrun/mlrun-api-chief image quay.io/mlrun/mlrun-api:1.10.0' }]);
    expect(set.forNamespace('team-a').config.mlrun.version).toBe('1.10.0');
    expect(set.forNamespace('default-tenant')).toBe(tenant);
  });

  it('a bad regex is refused and the last good runtime keeps serving; fixing it is adopted', () => {
    const set = new RuntimeSet(STATIC);
    set.update(installs(installOf(CE)));
    const good = set.forNamespace('mlrun');
    const events = set.update(installs(installOf(withOverride(CE, { MLRUN_IMAGES_TO_ENRICH_REGISTRY: '^mlrun/(' }))));
    expect(brief(events)).toEqual(['mlrun refused']);
    expect(events[0]!.problems).toEqual([
      {
        key: 'mlrun.imagesToEnrichRegistry',
        reason: expect.stringMatching(/^invalid regular expression: .*\(value from ConfigMap mlrun\/mlrun-override-env key MLRUN_IMAGES_TO_ENRICH_REGISTRY\)$/) as unknown,
      },
    ]);
    expect(set.forNamespace('mlrun')).toBe(good);
    expect(set.forNamespace('team-a')).toBe(good);
    expect(set.states()).toEqual([{ namespace: 'mlrun', version: '1.9.2', source: 'Deployment mlrun/mlrun-api-chief', refused: true, pending: 0 }]);
    // The same broken install again is not reported again.
    expect(set.update(installs(installOf(withOverride(CE, { MLRUN_IMAGES_TO_ENRICH_REGISTRY: '^mlrun/(' }))))).toEqual([]);
    const fixed = set.update(installs(installOf(withOverride(CE, { MLRUN_IMAGES_TO_ENRICH_REGISTRY: '^mlrun/' }))));
    expect(brief(fixed)).toEqual(['mlrun adopted']);
    expect(fixed[0]!.changes).toEqual([
      { key: 'mlrun.imagesToEnrichRegistry', before: null, after: '^mlrun/', source: 'ConfigMap mlrun/mlrun-override-env key MLRUN_IMAGES_TO_ENRICH_REGISTRY' },
    ]);
    expect(set.states()[0]!.refused).toBe(false);
  });

  it('a namespace refused from the start falls back to the default install', () => {
    const set = new RuntimeSet(STATIC);
    const bad = installOf(withOverride(inNamespace(CE, 'team-b'), { MLRUN_IMAGES_TAG: '1.10' }));
    const events = set.update(installs(installOf(CE), bad));
    expect(brief(events)).toEqual(['team-b refused', 'mlrun adopted']);
    expect(events[0]!.problems![0]!.reason).toMatch(/^MLRUN_IMAGES_TAG from ConfigMap team-b\/mlrun-override-env key MLRUN_IMAGES_TAG: .*a number/);
    expect(set.forNamespace('team-b')).toBe(set.forNamespace('mlrun'));
  });

  it('a namespace whose MLRun API is gone is removed and falls back', () => {
    const set = new RuntimeSet(STATIC);
    set.update(installs(installOf(CE), installOf(TENANT)));
    const events = set.update(installs(installOf(CE)));
    expect(events).toEqual([{ namespace: 'default-tenant', kind: 'removed', changes: [], source: 'Deployment default-tenant/mlrun-api-chief' }]);
    expect(set.forNamespace('default-tenant')).toBe(set.forNamespace('mlrun'));
  });

  it('a change MLRun has not applied yet is reported as pending once, then adopted when the new Pod is Ready', () => {
    const set = new RuntimeSet(STATIC);
    const running = [...CE, readyChiefPod(CE, 'chief-1', '2026-12-01T05:00:00Z')];
    set.update(installs(installOf(running)));
    // The Deployment moves to 1.10.0; the running Pod still runs 1.9.2.
    const rolling = [...upgrade(CE, '1.10.0'), readyChiefPod(CE, 'chief-1', '2026-12-01T05:00:00Z')];
    const events = set.update(installs(installOf(rolling)));
    expect(events).toEqual([
      {
        namespace: 'mlrun',
        kind: 'pending',
        changes: [{ key: 'serverVersion', before: '1.9.2', after: '1.10.0', source: 'Deployment mlrun/mlrun-api-chief image quay.io/mlrun/mlrun-api:1.10.0' }],
        source: 'Pod mlrun/chief-1',
      },
    ]);
    expect(set.forNamespace('mlrun').config.mlrun.version).toBe('1.9.2');
    expect(set.pendingChanges()).toBe(1);
    expect(set.update(installs(installOf(rolling, Date.parse('2026-12-01T06:30:00Z'))))).toEqual([]);
    const upgraded = upgrade(CE, '1.10.0');
    const done = set.update(installs(installOf([...upgraded, readyChiefPod(upgraded, 'chief-2', '2026-12-01T06:40:00Z')])));
    expect(brief(done)).toEqual(['mlrun adopted']);
    expect(set.forNamespace('mlrun').config.mlrun.version).toBe('1.10.0');
    expect(set.pendingChanges()).toBe(0);
  });

  it('a Pod restart that changes no key logs nothing', () => {
    const set = new RuntimeSet(STATIC);
    set.update(installs(installOf([...CE, readyChiefPod(CE, 'chief-1', '2026-12-01T05:00:00Z')])));
    expect(set.update(installs(installOf([...CE, readyChiefPod(CE, 'chief-2', '2026-12-01T05:30:00Z')])))).toEqual([]);
  });
});

describe('RuntimeSet.setStatic: every namespace rebuilt on a reloaded static config', () => {
  it('a new override applies to every install, with before/after', () => {
    const set = new RuntimeSet(STATIC);
    set.update(installs(installOf(CE), installOf(TENANT)));
    const events = set.setStatic(staticRuntime({ discovery: { ...DISCOVERY, overrides: { imagesRegistry: 'mirror.example/' } } }));
    expect(brief(events)).toEqual(['mlrun adopted', 'default-tenant adopted']);
    expect(events[1]!.changes).toEqual([
      { key: 'mlrun.imagesRegistry', before: 'datanode-registry.iguazio-platform.app.vm/', after: 'mirror.example/', source: 'discovery.overrides.imagesRegistry' },
    ]);
    expect(set.forNamespace('default-tenant').config.mlrun.imagesRegistry).toBe('mirror.example/');
    expect(set.forNamespace('default-tenant').config.mlrun.version).toBe('1.8.0');
  });

  it('static keys outside discovery reach every namespace; an unchanged discovered view logs nothing', () => {
    const set = new RuntimeSet(STATIC);
    set.update(installs(installOf(CE)));
    expect(set.setStatic(staticRuntime({ discovery: DISCOVERY, webhook: { mode: 'report' } }))).toEqual([]);
    expect(set.forNamespace('mlrun').config.webhook.mode).toBe('report');
    expect(set.forNamespace('mlrun').config.mlrun.version).toBe('1.9.2');
  });

  it('a static config that turns discovery off makes the static runtime apply everywhere', () => {
    const set = new RuntimeSet(STATIC);
    set.update(installs(installOf(CE)));
    const off = staticRuntime({ mlrun: { version: '1.7.0' } });
    set.setStatic(off);
    expect(set.forNamespace('mlrun')).toBe(off);
  });
});
