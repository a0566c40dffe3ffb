/** The pure install computation: which spec is followed, ConfigMap timing, server version from the image. */
import { describe, expect, it } from 'vitest';
import {
  computeInstall,
  followedPod,
  MAX_CONFIGMAP_VERSIONS,
  observeConfigMap,
  pruneHistory,
  serverVersionOf,
  versionAt,
  type NamespaceSnapshot,
  type WatchedConfigMap,
} from '../../src/cluster/install.js';
import { deploymentView, podView } from '../../src/cluster/trim.js';
import type { ContainerView, PodView } from '../../src/cluster/types.js';

const names = { deployment: 'mlrun-api-chief', container: 'mlrun-api' };
const container = (image: string, extra: Partial<ContainerView> = {}): ContainerView => ({
  image,
  env: [{ name: 'MLRUN_VERSION', value: '0.0.1' }],
  envFrom: [{ prefix: '', configMapRef: { name: 'override', optional: true } }],
  ...extra,
});
const pod = (name: string, startedAtMs: number | undefined, over: Partial<PodView> = {}): PodView => ({
  name,
  namespace: 'mlrun',
  ready: true,
  terminating: false,
  startedAtMs,
  createdAtMs: startedAtMs,
  container: container('quay.io/mlrun/mlrun-api:1.9.2'),
  ...over,
});

describe('serverVersionOf: the image tag of the MLRun API container', () => {
  it.each([
    ['quay.io/mlrun/mlrun-api:1.9.2', '1.9.2'],
    ['registry.datanode.local:5000/quay.io/mlrun/mlrun-api:1.9.2', '1.9.2'],
    ['datanode-registry.iguazio-platform.app.vm/mlrun/mlrun-api:1.8.0@sha256:' + 'a'.repeat(64), '1.8.0'],
    ['mlrun/mlrun-api:1.10.0-rc18', '1.10.0-rc18'],
  ])('%s → %s', (image, version) => {
    expect(serverVersionOf(image, 'Pod mlrun/p').version).toBe(version);
  });

  it.each([
    ['mlrun/mlrun-api@sha256:' + 'a'.repeat(64), /has no tag/],
    ['mlrun/mlrun-api', /has no tag/],
    ['Not An Image', /is not an image reference/],
  ])('%s: a problem, no version', (image, problem) => {
    const r = serverVersionOf(image, 'Pod mlrun/p');
    expect(r.version).toBeUndefined();
    expect(r.problem).toMatch(problem);
  });
});

describe('ConfigMap history', () => {
  const first = observeConfigMap(undefined, { A: '1' }, 1000);
  it('the first observation is taken as found; unchanged content keeps the history; a change is timed', () => {
    expect(first).toEqual({ watchedSinceMs: 1000, history: [{ data: { A: '1' }, seenAtMs: undefined }] });
    expect(observeConfigMap(first, { A: '1' }, 2000)).toBe(first);
    expect(observeConfigMap(first, undefined, 3000).history).toEqual([
      { data: { A: '1' }, seenAtMs: undefined },
      { data: undefined, seenAtMs: 3000 },
    ]);
  });

  it.each([
    // A change seen at 5.5 s: only a start time (whole seconds) strictly after it proves the container read it.
    [4000, 'old'],
    [5000, 'old'],
    [6000, 'new'],
    [undefined, 'new'],
  ])('a container started at %s runs with the %s version', (start, which) => {
    const h = observeConfigMap(observeConfigMap(undefined, { A: 'old' }, 1000), { A: 'new' }, 5500).history;
    expect(versionAt(h, start)?.data).toEqual({ A: which });
  });

  it('keeps only the versions existing Pods run with, plus the current one, and never more than the cap', () => {
    let w: WatchedConfigMap = observeConfigMap(undefined, { A: '0' }, 0);
    for (let i = 1; i <= 20; i++) w = observeConfigMap(w, { A: String(i) }, i * 10_000);
    expect(pruneHistory(w, [55_000]).history.map((v) => v.data?.['A'])).toEqual(['5', '20']);
    expect(pruneHistory(w, []).history.map((v) => v.data?.['A'])).toEqual(['20']);
    const all = Array.from({ length: 20 }, (_, i) => i * 10_000 + 5000);
    expect(pruneHistory(w, all).history).toHaveLength(MAX_CONFIGMAP_VERSIONS);
  });
});

describe('followedPod', () => {
  it('follows the Ready, non-terminating chief Pod that started last', () => {
    const pods = [pod('a', 1000), pod('b', 3000), pod('c', 5000, { ready: false }), pod('d', 9000, { terminating: true, ready: false })];
    expect(followedPod(pods)?.name).toBe('b');
    expect(followedPod([pod('x', 1000, { container: undefined })])).toBeUndefined();
  });
});

describe('computeInstall', () => {
  const snapshot = (over: Partial<NamespaceSnapshot>): NamespaceSnapshot => ({
    namespace: 'mlrun',
    deployment: undefined,
    pods: [],
    configMaps: new Map(),
    ...over,
  });

  it('nothing to follow: no install', () => {
    expect(computeInstall(snapshot({}), 0, names)).toBeUndefined();
    expect(computeInstall(snapshot({ pods: [pod('p', 0, { ready: false })] }), 0, names)).toBeUndefined();
  });

  it('a Deployment without the container: an install that says so', () => {
    const i = computeInstall(snapshot({ deployment: { name: 'mlrun-api-chief', namespace: 'mlrun', container: undefined } }), 0, names);
    expect(i?.problems).toEqual(['Deployment mlrun/mlrun-api-chief has no container mlrun-api']);
    expect(i?.serverVersion).toBeUndefined();
  });

  it('MLRUN_VERSION in the env does not change the server version', () => {
    const i = computeInstall(snapshot({ pods: [pod('p', 0)] }), 0, names);
    expect(i).toMatchObject({ serverVersion: '1.9.2', serverVersionSource: 'Pod mlrun/p image quay.io/mlrun/mlrun-api:1.9.2' });
  });

  it('a Ready Pod runs with the ConfigMap as its container read it; the edit is pending with when it was seen', () => {
    let cm = observeConfigMap(undefined, { MLRUN_IMAGES_REGISTRY: 'old/' }, 15_000);
    cm = observeConfigMap(cm, { MLRUN_IMAGES_REGISTRY: 'new/' }, 20_500);
    const deployment = { name: 'mlrun-api-chief', namespace: 'mlrun', container: container('quay.io/mlrun/mlrun-api:1.9.2') };
    const before = computeInstall(snapshot({ deployment, pods: [pod('p', 10_000)], configMaps: new Map([['override', cm]]) }), 30_000, names);
    expect(before?.env.MLRUN_IMAGES_REGISTRY?.value).toBe('old/');
    expect(before?.pending).toEqual([
      { key: 'MLRUN_IMAGES_REGISTRY', current: 'old/', next: 'new/', source: 'ConfigMap mlrun/override key MLRUN_IMAGES_REGISTRY', sinceMs: 20_500 },
    ]);
    // The Pod started before the watch did (a webhook restart): taken as found, and flagged.
    expect(before?.configMapsAsFound).toBe(true);
    const after = computeInstall(
      snapshot({ deployment, pods: [pod('p', 10_000), pod('q', 21_000)], configMaps: new Map([['override', cm]]) }),
      30_000,
      names,
    );
    expect(after).toMatchObject({ followed: 'Pod mlrun/q', pending: [], configMapsAsFound: false });
    expect(after?.env.MLRUN_IMAGES_REGISTRY?.value).toBe('new/');
  });

  it('a deleted non-optional ConfigMap: the running Pod keeps its values; a restart would fail, which is reported', () => {
    let cm = observeConfigMap(undefined, { MLRUN_IMAGES_TAG: 't' }, 1000);
    cm = observeConfigMap(cm, undefined, 20_500);
    const c = container('quay.io/mlrun/mlrun-api:1.9.2', { envFrom: [{ prefix: '', configMapRef: { name: 'override', optional: false } }] });
    const i = computeInstall(snapshot({ pods: [pod('p', 10_000, { container: c })], configMaps: new Map([['override', cm]]) }), 30_000, names);
    expect(i?.env.MLRUN_IMAGES_TAG?.value).toBe('t');
    expect(i?.problems).toEqual([
      'a restarted MLRun API Pod would not start: envFrom ConfigMap mlrun/override does not exist and is not optional: a Pod with this spec would not start',
    ]);
  });
});

describe('computeInstall: pending to a Secret', () => {
  it('a rollout that moves a key to a secretKeyRef is pending, naming the Secret as not followed', () => {
    const cm = observeConfigMap(undefined, { MLRUN_IMAGES_REGISTRY: 'r/' }, 0);
    const next = container('quay.io/mlrun/mlrun-api:1.9.2', {
      env: [{ name: 'MLRUN_IMAGES_REGISTRY', secretKeyRef: { name: 's', key: 'k', optional: false } }],
    });
    const i = computeInstall(
      { namespace: 'mlrun', deployment: { name: 'mlrun-api-chief', namespace: 'mlrun', container: next }, pods: [pod('p', 10_000)], configMaps: new Map([['override', cm]]) },
      20_000,
      names,
    );
    expect(i?.env.MLRUN_IMAGES_REGISTRY?.value).toBe('r/');
    expect(i?.pending).toEqual([
      {
        key: 'MLRUN_IMAGES_REGISTRY',
        current: 'r/',
        next: undefined,
        source: 'Secret mlrun/s key k (Deployment mlrun/mlrun-api-chief env MLRUN_IMAGES_REGISTRY), not followed: Secrets are never read',
        sinceMs: undefined,
      },
    ]);
  });
});

describe('trimming API objects', () => {
  it('keeps the container, readiness and start time; reads Date and string timestamps alike', () => {
    const raw = {
      metadata: { name: 'p', namespace: 'mlrun', creationTimestamp: new Date('2026-01-01T00:00:00Z'), managedFields: [{}] },
      spec: { containers: [{ name: 'sidecar', image: 'x' }, { name: 'mlrun-api', image: 'i:1', env: [{ name: 'A' }], volumeMounts: [{}] }] },
      status: {
        conditions: [{ type: 'Ready', status: 'True' }],
        startTime: '2026-01-01T00:00:05Z',
        containerStatuses: [{ name: 'mlrun-api', state: { running: { startedAt: '2026-01-01T00:00:09Z' } } }],
      },
    };
    expect(podView(raw, 'mlrun-api')).toEqual({
      name: 'p',
      namespace: 'mlrun',
      ready: true,
      terminating: false,
      startedAtMs: Date.parse('2026-01-01T00:00:09Z'),
      createdAtMs: Date.parse('2026-01-01T00:00:00Z'),
      container: { image: 'i:1', env: [{ name: 'A', value: '' }], envFrom: [] },
    });
    expect(podView({ ...raw, metadata: { ...raw.metadata, deletionTimestamp: 'x' } }, 'mlrun-api').ready).toBe(false);
    expect(deploymentView({ metadata: { name: 'd', namespace: 'n' }, spec: 'garbage' }, 'mlrun-api')).toEqual({ name: 'd', namespace: 'n', container: undefined });
  });
});
