import { describe, expect, it } from 'vitest';
import { runtimeForInstall, type InstallRuntimeResult } from '../../src/config/installs.js';
import type { Runtime } from '../../src/config/runtime.js';
import { editChief, fixtureObjects, installOf, readyChiefPod, setEnv, staticConfig } from './installs-helpers.js';

const CE = fixtureObjects('ce-default.yaml');
const DATANODE = fixtureObjects('ce-default.yaml', 'ce-datanode-registry.yaml');
const TENANT = fixtureObjects('platform-tenant.yaml');

/** A static config that differs from MLRun's defaults in every discovered key, so "which one won" is visible. */
const STATIC = staticConfig({
  mlrun: { version: '1.8.0', imagesTag: 'static-tag', imagesRegistry: 'static.example/', vendorImagesRegistry: 'static.example/vendor/', imagesToEnrichRegistry: '^static/' },
  webhook: { mode: 'report' },
  policy: { pinTags: 'warn' },
});

function adopted(r: InstallRuntimeResult): Runtime {
  if (!r.ok) throw new Error(r.problems.map((p) => `${p.key}: ${p.reason}`).join('; '));
  return r.runtime;
}

function refused(r: InstallRuntimeResult): string[] {
  if (r.ok) throw new Error(`adopted ${JSON.stringify(r.runtime.config.mlrun)}`);
  return r.problems.map((p) => `${p.key}: ${p.reason}`);
}

/** The ConfigMap mlrun-override-env of these objects with `data` merged in (created when missing). */
function withOverride(objs: typeof CE, data: Record<string, string>) {
  const ns = objs.find((o) => o.kind === 'Deployment')!.metadata.namespace!;
  const existing = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'mlrun-override-env');
  const cm = { kind: 'ConfigMap', metadata: { name: 'mlrun-override-env', namespace: ns }, data: { ...((existing?.['data'] as object) ?? {}), ...data } };
  return [...objs.filter((o) => o !== existing), cm];
}

describe('runtimeForInstall: the three fixture installs', () => {
  it('CE with nothing image-related set: version from the image, every key MLRun\'s default (not the static value)', () => {
    const r = runtimeForInstall(STATIC, installOf(CE));
    const rt = adopted(r);
    expect(rt.config.mlrun).toMatchObject({ version: '1.9.2', imagesTag: '', imagesRegistry: '', vendorImagesRegistry: '', imagesToEnrichRegistry: null });
    expect(r.ok && r.sources['mlrun.version']).toBe('Deployment mlrun/mlrun-api-chief image quay.io/mlrun/mlrun-api:1.9.2');
    expect(r.ok && r.sources['mlrun.imagesRegistry']).toBe('MLRun default (Deployment mlrun/mlrun-api-chief does not set MLRUN_IMAGES_REGISTRY)');
    // Resolves as MLRun 1.9.2 with no registry does; the static keys outside discovery stay.
    expect(rt.resolver.resolve('mlrun/mlrun', null, null)).toMatchObject({ ok: true, image: 'mlrun/mlrun:1.9.2' });
    expect(rt.config.webhook.mode).toBe('report');
    expect(rt.config.policy.pinTags).toBe('warn');
  });

  it('CE with a data-node registry set in three places: Kubernetes precedence, each key named by its object', () => {
    const r = runtimeForInstall(STATIC, installOf(DATANODE));
    const rt = adopted(r);
    expect(rt.config.mlrun).toMatchObject({
      version: '1.9.2',
      imagesTag: '',
      imagesRegistry: 'registry.datanode.local:5000/',
      vendorImagesRegistry: 'registry.datanode.local:5000/vendor/',
      imagesToEnrichRegistry: '^mlrun/*,^python:3.(9|11)$,^quay.io/mlrun/',
    });
    expect(r.ok && r.sources['mlrun.imagesRegistry']).toBe('ConfigMap mlrun/mlrun-override-env key MLRUN_IMAGES_REGISTRY');
    expect(r.ok && r.sources['mlrun.vendorImagesRegistry']).toMatch(/^ConfigMap mlrun\/mlrun-site key vendor-registry/);
    expect(rt.resolver.resolve('mlrun/mlrun', null, null)).toMatchObject({ ok: true, image: 'registry.datanode.local:5000/mlrun/mlrun:1.9.2' });
    expect(rt.resolver.resolve('quay.io/mlrun/mlrun-kfp:1.9.2', null, null)).toMatchObject({ ok: true, image: 'registry.datanode.local:5000/quay.io/mlrun/mlrun-kfp:1.9.2' });
  });

  it('platform tenant: version from a tag@digest image behind a registry, registry from its override ConfigMap', () => {
    const rt = adopted(runtimeForInstall(STATIC, installOf(TENANT)));
    expect(rt.config.mlrun).toMatchObject({
      version: '1.8.0',
      imagesTag: '',
      imagesRegistry: 'datanode-registry.iguazio-platform.app.vm/',
      vendorImagesRegistry: '',
      imagesToEnrichRegistry: null,
    });
    expect(rt.resolver.resolve('mlrun/mlrun', null, null)).toMatchObject({ ok: true, image: 'datanode-registry.iguazio-platform.app.vm/mlrun/mlrun:1.8.0' });
  });

  it('a Ready chief Pod is what is followed, and its name is the source', () => {
    const objs = [...TENANT, readyChiefPod(TENANT, 'mlrun-api-chief-abc', '2026-12-01T05:00:00Z')];
    const r = runtimeForInstall(STATIC, installOf(objs));
    expect(adopted(r).config.mlrun.version).toBe('1.8.0');
    expect(r.ok && r.sources['mlrun.version']).toMatch(/^Pod default-tenant\/mlrun-api-chief-abc image /);
  });
});

describe('runtimeForInstall: precedence', () => {
  it('discovery.overrides (non-null) beat what was discovered; null ones follow MLRun', () => {
    const config = staticConfig({ discovery: { overrides: { imagesRegistry: 'mirror.example:5000/mlrun', imagesToEnrichRegistry: '^mlrun/' } } });
    const r = runtimeForInstall(config, installOf(DATANODE));
    const rt = adopted(r);
    expect(rt.config.mlrun.imagesRegistry).toBe('mirror.example:5000/mlrun');
    expect(rt.config.mlrun.imagesToEnrichRegistry).toBe('^mlrun/');
    expect(rt.config.mlrun.vendorImagesRegistry).toBe('registry.datanode.local:5000/vendor/');
    expect(r.ok && r.sources['mlrun.imagesRegistry']).toBe('discovery.overrides.imagesRegistry');
  });

  it('a secretKeyRef is not followed: that key keeps the static value, and a note says why', () => {
    const objs = editChief(DATANODE, (c) => {
      c.env = [...(c.env ?? []), { name: 'MLRUN_IMAGES_REGISTRY', valueFrom: { secretKeyRef: { name: 'creds', key: 'registry' } } }];
    });
    const r = runtimeForInstall(STATIC, installOf(objs));
    const rt = adopted(r);
    expect(rt.config.mlrun.imagesRegistry).toBe('static.example/');
    expect(rt.config.mlrun.vendorImagesRegistry).toBe('registry.datanode.local:5000/vendor/');
    expect(r.ok && r.sources['mlrun.imagesRegistry']).toMatch(/^static config \(not followed: Secret mlrun\/creds key registry/);
    expect(rt.notes.join('\n')).toMatch(/mlrun\.imagesRegistry keeps the static value "static\.example\/": MLRUN_IMAGES_REGISTRY is not followed \(Secret mlrun\/creds key registry/);
  });

  it('mlrun.compat set in the static config stays (the operator chose those rules); the version is still discovered', () => {
    const rt = adopted(runtimeForInstall(staticConfig({ mlrun: { compat: '1.6.4' } }), installOf(CE)));
    expect(rt.config.mlrun.compat).toBe('1.6.4');
    expect(rt.config.mlrun.version).toBe('1.9.2');
    expect(rt.resolver.rules.label).not.toBe(adopted(runtimeForInstall(STATIC, installOf(CE))).resolver.rules.label);
    expect(rt.notes.join('\n')).toMatch(/mlrun\.compat 1\.6\.4 is set in the static config/);
  });
});

describe('runtimeForInstall: values read with json.loads, as MLRun reads them', () => {
  it('an unquoted 1.10 in a ConfigMap is the number 1.1 to MLRun: refused, naming the key, the ConfigMap and the reason', () => {
    const problems = refused(runtimeForInstall(STATIC, installOf(withOverride(CE, { MLRUN_IMAGES_TAG: '1.10' }))));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^mlrun\.imagesTag: MLRUN_IMAGES_TAG from ConfigMap mlrun\/mlrun-override-env key MLRUN_IMAGES_TAG: MLRun reads this variable with json\.loads and would get a number 1\.10/);
    expect(problems[0]).toContain(`quote it as a JSON string`);
  });

  it('a JSON-quoted "1.10" is the string 1.10', () => {
    const rt = adopted(runtimeForInstall(STATIC, installOf(withOverride(CE, { MLRUN_IMAGES_TAG: '"1.10"' }))));
    expect(rt.config.mlrun.imagesTag).toBe('1.10');
    expect(rt.resolver.resolve('mlrun/mlrun', null, null)).toMatchObject({ ok: true, image: 'mlrun/mlrun:1.10' });
  });

  it('true in inline env is a boolean: refused, naming the Deployment', () => {
    const objs = editChief(CE, (c) => setEnv(c, 'MLRUN_IMAGES_REGISTRY', 'true'));
    const [p] = refused(runtimeForInstall(STATIC, installOf(objs)));
    expect(p).toMatch(/^mlrun\.imagesRegistry: MLRUN_IMAGES_REGISTRY from Deployment mlrun\/mlrun-api-chief.*: MLRun reads .* a boolean true/);
  });

  it('null for the enrich patterns is None to MLRun: nothing is prefixed (not the version default), with a note', () => {
    const objs = withOverride(DATANODE, { MLRUN_IMAGES_TO_ENRICH_REGISTRY: 'null' });
    const rt = adopted(runtimeForInstall(STATIC, installOf(objs)));
    expect(rt.config.mlrun.imagesToEnrichRegistry).toBe('');
    expect(rt.resolver.resolve('mlrun/mlrun', null, null)).toMatchObject({ ok: true, image: 'mlrun/mlrun:1.9.2' });
    expect(rt.notes.join('\n')).toMatch(/MLRUN_IMAGES_TO_ENRICH_REGISTRY=null.*from ConfigMap mlrun\/mlrun-override-env/);
  });

  it('an unparsable value (a plain registry) is taken as the raw string', () => {
    const rt = adopted(runtimeForInstall(STATIC, installOf(withOverride(CE, { MLRUN_IMAGES_REGISTRY: 'reg.example:5000/' }))));
    expect(rt.config.mlrun.imagesRegistry).toBe('reg.example:5000/');
  });
});

describe('runtimeForInstall: the same validation as a config file', () => {
  it('a bad regex in MLRUN_IMAGES_TO_ENRICH_REGISTRY is refused with the key, the object and the reason', () => {
    const problems = refused(runtimeForInstall(STATIC, installOf(withOverride(CE, { MLRUN_IMAGES_TO_ENRICH_REGISTRY: '^mlrun/(' }))));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^mlrun\.imagesToEnrichRegistry: invalid regular expression: .*\(value from ConfigMap mlrun\/mlrun-override-env key MLRUN_IMAGES_TO_ENRICH_REGISTRY\)$/);
  });

  it('a registry with a scheme is refused naming the mistake and the object', () => {
    const [p] = refused(runtimeForInstall(STATIC, installOf(withOverride(CE, { MLRUN_IMAGES_REGISTRY: 'https://reg.example/' }))));
    expect(p).toMatch(/^mlrun\.imagesRegistry: must not have a scheme: drop "https:\/\/".*\(value from ConfigMap mlrun\/mlrun-override-env key MLRUN_IMAGES_REGISTRY\)$/);
  });

  it('an image tag that is no MLRun version is refused for mlrun.version, naming the image', () => {
    const objs = editChief(CE, (c) => (c.image = 'quay.io/mlrun/mlrun-api:latest'));
    const [p] = refused(runtimeForInstall(STATIC, installOf(objs)));
    expect(p).toMatch(/^mlrun\.version: must be an MLRun version .*got the string "latest" \(value from Deployment mlrun\/mlrun-api-chief image quay\.io\/mlrun\/mlrun-api:latest\)$/);
  });

  it('an untagged image gives no version: refused, saying why', () => {
    const objs = editChief(CE, (c) => (c.image = 'quay.io/mlrun/mlrun-api'));
    const [p] = refused(runtimeForInstall(STATIC, installOf(objs)));
    expect(p).toMatch(/^mlrun\.version: the MLRun version cannot be read from Deployment mlrun\/mlrun-api-chief image quay\.io\/mlrun\/mlrun-api \(.*has no tag/);
  });

  it('every problem at once', () => {
    const objs = withOverride(editChief(CE, (c) => setEnv(c, 'MLRUN_VENDOR_IMAGES_REGISTRY', '5')), { MLRUN_IMAGES_TAG: '1.10' });
    expect(refused(runtimeForInstall(STATIC, installOf(objs))).map((p) => p.split(':')[0])).toEqual(['mlrun.imagesTag', 'mlrun.vendorImagesRegistry']);
  });
});
