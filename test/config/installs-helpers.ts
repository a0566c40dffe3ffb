/**
 * MlrunInstall values for config tests, built from the fixture YAML with src/cluster's own pure functions (the
 * trimmed views and computeInstall), so the config layer is tested on exactly what discovery produces.
 */
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { computeInstall, observeConfigMap, type WatchedConfigMap } from '../../src/cluster/install.js';
import { configMapData, deploymentView, podView } from '../../src/cluster/trim.js';
import type { MlrunInstall } from '../../src/cluster/types.js';
import { validateConfig } from '../../src/config/load.js';
import { buildRuntime, type Runtime } from '../../src/config/runtime.js';
import type { Config, ConfigInput } from '../../src/config/schema.js';

const FIXTURES = new URL('../fixtures/mlrun-install/', import.meta.url);

export type Obj = { kind: string; metadata: { name: string; namespace?: string }; [k: string]: unknown };

/** The objects of fixture files, later files replacing earlier objects of the same kind and name (kubectl apply). */
export function fixtureObjects(...files: string[]): Obj[] {
  const byKey = new Map<string, Obj>();
  for (const file of files) {
    for (const d of parseAllDocuments(readFileSync(new URL(file, FIXTURES), 'utf8'))) {
      const o = d.toJS() as Obj | null;
      if (o?.kind) byKey.set(`${o.kind}/${o.metadata.name}`, o);
    }
  }
  return [...byKey.values()];
}

/** A deep copy of the chief Deployment with its mlrun-api container edited. */
export function editChief(objs: Obj[], edit: (c: { image: string; env?: unknown[]; envFrom?: unknown[] }) => void): Obj[] {
  return objs.map((o) => {
    if (o.kind !== 'Deployment' || o.metadata.name !== 'mlrun-api-chief') return o;
    const copy = structuredClone(o);
    const spec = copy['spec'] as { template: { spec: { containers: { name: string; image: string }[] } } };
    edit(spec.template.spec.containers.find((c) => c.name === 'mlrun-api')!);
    return copy;
  });
}

/** A Ready chief Pod running the Deployment's template (started at `startedAt`), as a kubelet would report it. */
export function readyChiefPod(objs: Obj[], name: string, startedAt: string): Obj {
  const d = objs.find((o) => o.kind === 'Deployment' && o.metadata.name === 'mlrun-api-chief')!;
  const template = (d['spec'] as { template: { spec: unknown } }).template;
  return {
    kind: 'Pod',
    metadata: { name, namespace: d.metadata.namespace! },
    spec: structuredClone(template.spec),
    status: {
      conditions: [{ type: 'Ready', status: 'True' }],
      containerStatuses: [{ name: 'mlrun-api', state: { running: { startedAt } } }],
    },
  };
}

/** The install discovery computes from these objects, seen at `nowMs` (ConfigMaps taken as found). */
export function installOf(objs: Obj[], nowMs = Date.parse('2026-12-01T06:00:00Z')): MlrunInstall {
  const deployment = objs.find((o) => o.kind === 'Deployment' && o.metadata.name === 'mlrun-api-chief');
  const namespace = deployment?.metadata.namespace ?? 'mlrun';
  const configMaps = new Map<string, WatchedConfigMap>();
  for (const o of objs) if (o.kind === 'ConfigMap') configMaps.set(o.metadata.name, observeConfigMap(undefined, configMapData(o), 0));
  const install = computeInstall(
    {
      namespace,
      deployment: deployment ? deploymentView(deployment, 'mlrun-api') : undefined,
      pods: objs.filter((o) => o.kind === 'Pod').map((p) => podView(p, 'mlrun-api')),
      configMaps,
    },
    nowMs,
    { deployment: 'mlrun-api-chief', container: 'mlrun-api' },
  );
  if (!install) throw new Error('no install in these objects');
  return install;
}

/** The same install moved to another namespace (names in sources follow). */
export function inNamespace(objs: Obj[], namespace: string): Obj[] {
  return objs.filter((o) => o.kind !== 'Namespace').map((o) => ({ ...o, metadata: { ...o.metadata, namespace } }));
}

/** A full static Config from a partial file, through the real loader. */
export function staticConfig(raw: ConfigInput): Config {
  const r = validateConfig(raw);
  if (!r.ok) throw new Error(r.problems.map((p) => `${p.key}: ${p.reason}`).join('; '));
  return r.config;
}

export function staticRuntime(raw: ConfigInput): Runtime {
  const r = buildRuntime(staticConfig(raw));
  if (!r.ok) throw new Error(r.problems.map((p) => `${p.key}: ${p.reason}`).join('; '));
  return r.runtime;
}

/** One container env entry with a plain value. */
export function setEnv(c: { env?: unknown[] }, name: string, value: string): void {
  c.env = [...(c.env ?? []).filter((e) => (e as { name: string }).name !== name), { name, value }];
}
