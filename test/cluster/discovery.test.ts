/**
 * Discovery against a real kube-apiserver (envtest): the fixture layouts, upgrades, ConfigMap edits pending until
 * a new chief Pod is Ready, Secrets not followed, two installs, and Forbidden / API server restarts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppsV1Api, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { InstallWatcher, type DiscoveryStatus } from '../../src/cluster/watch.js';
import type { MlrunInstall } from '../../src/cluster/types.js';
import { envtestSkipReason, startControlPlane, until, type ControlPlane } from '../helpers/envtest.js';
import { chief, Cluster, fixture, secondAfter, withChiefContainer } from './objects.js';

const skip = envtestSkipReason();
if (skip) console.log(`test/cluster/discovery.test.ts skipped: ${skip}`);

const FAST = { backoff: { initialMs: 100, maxMs: 1000 } };

describe.skipIf(skip !== undefined)('discovery against a real API server', () => {
  let cp: ControlPlane;
  let cluster: Cluster;
  const watchers: InstallWatcher[] = [];

  beforeAll(async () => {
    cp = await startControlPlane();
    cluster = new Cluster(cp.admin());
  });
  afterAll(async () => {
    for (const w of watchers) w.stop();
    await cp?.stop();
  });

  function watch(namespaces: string[], kc: KubeConfig = cp.admin(), extra: Partial<ConstructorParameters<typeof InstallWatcher>[0]> = {}) {
    const statuses: DiscoveryStatus[] = [];
    let changes = 0;
    const w = new InstallWatcher({ kubeConfig: kc, namespaces, ...FAST, ...extra, onStatus: (s) => statuses.push(s), onChange: () => changes++ });
    watchers.push(w);
    w.start();
    return { w, statuses, changes: () => changes };
  }
  const installOf = (w: InstallWatcher, ns: string, check: (i: MlrunInstall) => boolean = () => true) =>
    until(`install in ${ns}`, () => {
      const i = w.current().get(ns);
      return i && check(i) ? i : undefined;
    });
  const values = (i: MlrunInstall) => Object.fromEntries(Object.entries(i.env).map(([k, v]) => [k, v.value]));

  it('each fixture layout gives the effective settings of its README table; two installs in two namespaces', async () => {
    await cluster.apply(fixture('ce-default.yaml'));
    await cluster.apply(fixture('platform-tenant.yaml'));
    const { w } = watch(['mlrun', 'default-tenant', 'no-mlrun-here']);
    await until('synced', () => w.status().synced);

    const ce = await installOf(w, 'mlrun');
    expect(ce).toMatchObject({ serverVersion: '1.9.2', followed: 'Deployment mlrun/mlrun-api-chief', env: {}, problems: [], notFollowed: [] });
    const tenant = await installOf(w, 'default-tenant');
    expect(tenant.serverVersion).toBe('1.8.0');
    expect(tenant.env).toEqual({
      MLRUN_IMAGES_REGISTRY: {
        value: 'datanode-registry.iguazio-platform.app.vm/',
        source: 'ConfigMap default-tenant/mlrun-override-env key MLRUN_IMAGES_REGISTRY',
      },
    });
    expect(w.current().has('no-mlrun-here')).toBe(false);

    await cluster.apply(fixture('ce-datanode-registry.yaml'));
    const dn = await installOf(w, 'mlrun', (i) => i.env.MLRUN_IMAGES_TAG !== undefined);
    expect(values(dn)).toEqual({
      MLRUN_IMAGES_REGISTRY: 'registry.datanode.local:5000/',
      MLRUN_VENDOR_IMAGES_REGISTRY: 'registry.datanode.local:5000/vendor/',
      MLRUN_IMAGES_TO_ENRICH_REGISTRY: '^mlrun/*,^python:3.(9|11)$,^quay.io/mlrun/',
      MLRUN_IMAGES_TAG: '',
    });
    expect(dn.serverVersion).toBe('1.9.2');
    expect(dn.env.MLRUN_IMAGES_REGISTRY?.source).toBe('ConfigMap mlrun/mlrun-override-env key MLRUN_IMAGES_REGISTRY');
    expect(dn.env.MLRUN_VENDOR_IMAGES_REGISTRY?.source).toBe(
      'ConfigMap mlrun/mlrun-site key vendor-registry (Deployment mlrun/mlrun-api-chief env MLRUN_VENDOR_IMAGES_REGISTRY)',
    );
    expect(dn.env.MLRUN_IMAGES_TAG?.source).toBe('Deployment mlrun/mlrun-api-chief env MLRUN_IMAGES_TAG');
    // mlrun-common-env is watched too: its own MLRUN_IMAGES_REGISTRY is there, overridden.
    w.stop();
  });

  it('follows an image-tag upgrade: pending while the old chief Pod runs, adopted when the new one is Ready', async () => {
    const ns = 'upgrade';
    await cluster.namespace(ns);
    const objs = fixture('ce-default.yaml', ns).filter((o) => o.kind !== 'Namespace');
    await cluster.apply(objs);
    const d = chief(objs);
    await cluster.createPod(d, 'chief-old');
    await cluster.markReady(ns, 'chief-old', new Date());
    const { w } = watch([ns]);
    await installOf(w, ns, (i) => i.followed === `Pod ${ns}/chief-old`);

    const upgraded = withChiefContainer(d, (c) => (c.image = 'quay.io/mlrun/mlrun-api:1.10.0'));
    await cluster.apply([upgraded]);
    const pending = await installOf(w, ns, (i) => i.pending.length > 0);
    expect(pending.serverVersion).toBe('1.9.2');
    expect(pending.pending).toEqual([
      { key: 'serverVersion', current: '1.9.2', next: '1.10.0', source: `Deployment ${ns}/mlrun-api-chief image quay.io/mlrun/mlrun-api:1.10.0`, sinceMs: undefined },
    ]);

    await cluster.createPod(upgraded, 'chief-new');
    await cluster.markReady(ns, 'chief-new', new Date());
    await cluster.deletePod(ns, 'chief-old');
    const done = await installOf(w, ns, (i) => i.serverVersion === '1.10.0');
    expect(done).toMatchObject({ followed: `Pod ${ns}/chief-new`, pending: [] });
    w.stop();
  });

  it('a ConfigMap edit is pending until a chief Pod started after it is Ready; a deleted optional ConfigMap likewise', async () => {
    const ns = 'cm-edit';
    await cluster.namespace(ns);
    const objs = [...fixture('ce-default.yaml', ns), ...fixture('ce-datanode-registry.yaml', ns)].filter((o) => o.kind !== 'Namespace');
    await cluster.apply(objs);
    const d = chief(fixture('ce-datanode-registry.yaml', ns));
    await cluster.createPod(d, 'chief-1');
    await cluster.markReady(ns, 'chief-1', new Date());
    const { w } = watch([ns]);
    const first = await installOf(w, ns, (i) => i.followed === `Pod ${ns}/chief-1`);
    expect(first.env.MLRUN_IMAGES_REGISTRY?.value).toBe('registry.datanode.local:5000/');
    // The watch started after the Pod: the ConfigMaps are taken as found, and the value says so.
    expect(first.configMapsAsFound).toBe(true);

    const override = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'mlrun-override-env')!;
    await cluster.apply([{ ...override, data: { ...(override['data'] as object), MLRUN_IMAGES_REGISTRY: 'registry.new:5000/' } }]);
    const pending = await installOf(w, ns, (i) => i.pending.length > 0);
    expect(pending.env.MLRUN_IMAGES_REGISTRY?.value).toBe('registry.datanode.local:5000/');
    expect(pending.pending).toEqual([
      {
        key: 'MLRUN_IMAGES_REGISTRY',
        current: 'registry.datanode.local:5000/',
        next: 'registry.new:5000/',
        source: `ConfigMap ${ns}/mlrun-override-env key MLRUN_IMAGES_REGISTRY`,
        sinceMs: expect.any(Number),
      },
    ]);
    // A Pod that started (by its second-resolution timestamp) no later than the edit was seen did not read it.
    const seen = pending.pending[0]!.sinceMs!;
    await cluster.createPod(d, 'chief-2');
    await cluster.markReady(ns, 'chief-2', new Date(Math.floor(seen / 1000) * 1000));
    await installOf(w, ns, (i) => i.followed === `Pod ${ns}/chief-2`);
    expect(w.current().get(ns)!.pending).toHaveLength(1);

    await until('the clock passes the second after the edit was seen', () => Date.now() >= secondAfter(seen));
    await cluster.createPod(d, 'chief-3');
    await cluster.markReady(ns, 'chief-3', new Date());
    const adopted = await installOf(w, ns, (i) => i.followed === `Pod ${ns}/chief-3`);
    expect(adopted).toMatchObject({ pending: [], configMapsAsFound: false });
    expect(adopted.env.MLRUN_IMAGES_REGISTRY?.value).toBe('registry.new:5000/');

    // Deleting the optional override: the registry falls back to mlrun-common-env's, once a new Pod runs.
    await cluster.core.deleteNamespacedConfigMap({ name: 'mlrun-override-env', namespace: ns });
    const gone = await installOf(w, ns, (i) => i.pending.length > 0);
    expect(gone.pending.map((p) => [p.key, p.next])).toEqual([
      ['MLRUN_IMAGES_REGISTRY', 'registry.example.invalid/'],
      ['MLRUN_IMAGES_TO_ENRICH_REGISTRY', undefined],
    ]);
    const goneSeen = gone.pending[0]!.sinceMs!;
    await until('the clock passes the second after the deletion was seen', () => Date.now() >= secondAfter(goneSeen));
    await cluster.createPod(d, 'chief-4');
    await cluster.markReady(ns, 'chief-4', new Date());
    const after = await installOf(w, ns, (i) => i.followed === `Pod ${ns}/chief-4`);
    expect(after.pending).toEqual([]);
    expect(values(after)).toEqual({
      MLRUN_IMAGES_REGISTRY: 'registry.example.invalid/',
      MLRUN_VENDOR_IMAGES_REGISTRY: 'registry.datanode.local:5000/vendor/',
      MLRUN_IMAGES_TAG: '',
    });
    expect(after.problems).toEqual([]);
    w.stop();
  });

  it('a secretKeyRef for an image key is reported as not followed, and the Secret is never read', async () => {
    const ns = 'secret-ref';
    await cluster.namespace(ns);
    const objs = fixture('ce-default.yaml', ns).filter((o) => o.kind !== 'Namespace');
    const d = withChiefContainer(chief(objs), (c) => {
      c.env = [...(c.env ?? []), { name: 'MLRUN_IMAGES_REGISTRY', valueFrom: { secretKeyRef: { name: 'registry-creds', key: 'registry' } } }];
      c.envFrom = [...(c.envFrom ?? []), { secretRef: { name: 'more-env', optional: true } }];
    });
    await cluster.apply([...objs.filter((o) => o !== chief(objs)), d]);
    const { w } = watch([ns]);
    const i = await installOf(w, ns);
    expect(i.env).toEqual({});
    expect(i.notFollowed.map((n) => [n.key, n.source])).toEqual([
      ['MLRUN_IMAGES_REGISTRY', `Secret ${ns}/registry-creds key registry (Deployment ${ns}/mlrun-api-chief env MLRUN_IMAGES_REGISTRY)`],
      ['MLRUN_IMAGES_TAG', `envFrom Secret ${ns}/more-env`],
      ['MLRUN_VENDOR_IMAGES_REGISTRY', `envFrom Secret ${ns}/more-env`],
      ['MLRUN_IMAGES_TO_ENRICH_REGISTRY', `envFrom Secret ${ns}/more-env`],
    ]);
    w.stop();
  });

  it('a user without RBAC: status forbidden, no crash; granted a least-privilege Role (resourceNames), it syncs', async () => {
    const ns = 'rbac';
    await cluster.namespace(ns);
    const objs = fixture('ce-default.yaml', ns).filter((o) => o.kind !== 'Namespace');
    await cluster.apply(objs);
    const kc = new KubeConfig();
    kc.loadFromFile(cp.userKubeconfig('nobody'));
    const { w, statuses } = watch([ns], kc);
    const forbidden = await until('forbidden', () => statuses.find((s) => s.state === 'forbidden'));
    expect(forbidden.synced).toBe(false);
    expect(forbidden.lastError?.message).toMatch(/HTTP 403: .*forbidden/);
    expect(w.current().size).toBe(0);
    const errorsSoFar = statuses.filter((s) => s.state === 'forbidden').length;

    const rbac = cp.admin().makeApiClient(RbacAuthorizationV1Api);
    const verbs = ['get', 'list', 'watch'];
    await rbac.createNamespacedRole({
      namespace: ns,
      body: {
        metadata: { name: 'discovery' },
        rules: [
          { apiGroups: ['apps'], resources: ['deployments'], resourceNames: ['mlrun-api-chief'], verbs },
          { apiGroups: [''], resources: ['pods'], verbs },
          {
            apiGroups: [''],
            resources: ['configmaps'],
            resourceNames: ['mlrun-common-env', 'mlrun-pipelines-config', 'mlrun-spark-config', 'mlrun-override-env'],
            verbs,
          },
        ],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: 'discovery' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'discovery' },
        subjects: [{ kind: 'User', name: 'nobody', apiGroup: 'rbac.authorization.k8s.io' }],
      },
    });
    const i = await installOf(w, ns);
    expect(i.serverVersion).toBe('1.9.2');
    await until('ok and synced', () => w.status().state === 'ok' && w.status().synced);
    // One status per state change, not one per failed retry.
    expect(errorsSoFar).toBe(1);
    const states = statuses.map((s) => s.state);
    expect(states.filter((s, k) => k > 0 && s === states[k - 1] && statuses[k]!.synced === statuses[k - 1]!.synced)).toEqual([]);
    w.stop();
  });

  it('cluster-wide ("*"): every namespace with an MLRun API, one install each; a namespace that loses it drops out', async () => {
    const { w } = watch(['*']);
    const all = await until('installs of the earlier tests', () => {
      const ns = [...w.current().keys()];
      return ['mlrun', 'default-tenant', 'upgrade', 'cm-edit', 'secret-ref', 'rbac'].every((n) => ns.includes(n)) ? w.current() : undefined;
    });
    expect(all.get('default-tenant')?.serverVersion).toBe('1.8.0');
    expect(all.get('upgrade')?.serverVersion).toBe('1.10.0');
    expect(all.get('cm-edit')?.env.MLRUN_IMAGES_REGISTRY?.value).toBe('registry.example.invalid/');
    await cp.admin().makeApiClient(AppsV1Api).deleteNamespacedDeployment({ name: 'mlrun-api-chief', namespace: 'secret-ref' });
    await until('secret-ref dropped', () => !w.current().has('secret-ref'));
    expect(w.current().has('default-tenant')).toBe(true);
    w.stop();
  });

  it('an API server that goes away and comes back: last install kept, status unreachable, the watch resumes', async () => {
    const ns = 'restart';
    await cluster.namespace(ns);
    const objs = fixture('ce-default.yaml', ns).filter((o) => o.kind !== 'Namespace');
    await cluster.apply(objs);
    const { w, statuses } = watch([ns]);
    await installOf(w, ns);
    await until('synced', () => w.status().synced);

    await cp.stopApiServer();
    await until('unreachable', () => w.status().state === 'unreachable', 120_000);
    expect(w.current().get(ns)?.serverVersion).toBe('1.9.2');
    expect(statuses.filter((s) => s.state === 'unreachable')).toHaveLength(1);

    await cp.startApiServer();
    // A change made right after the restart, possibly before our watch is back, must not be lost.
    await new Cluster(cp.admin()).apply([withChiefContainer(chief(objs), (c) => (c.image = 'quay.io/mlrun/mlrun-api:1.10.0'))]);
    await installOf(w, ns, (i) => i.serverVersion === '1.10.0');
    await until('ok', () => w.status().state === 'ok' && w.status().synced);
    expect(w.status().counts.restarts).toBeGreaterThan(0);
    w.stop();
  });
});
