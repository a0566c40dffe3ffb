/**
 * The chart's discovery RBAC on a real kube-apiserver (envtest, RBAC authorizer): the Roles and RoleBindings the chart
 * renders are applied as they are, and the real InstallWatcher runs with the webhook's ServiceAccount identity. It
 * must sync both MLRun installs (so the grants are enough, including the ConfigMaps by resourceNames) and the runtime
 * set must resolve each namespace with its own install — while Secrets, writes, unlisted ConfigMaps and unlisted
 * namespaces stay forbidden (so the grants are no more than that).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, KubeConfig, KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { InstallWatcher } from '../../src/cluster/watch.js';
import { RuntimeSet } from '../../src/config/runtime-set.js';
import { envtestSkipReason, startControlPlane, until, type ControlPlane } from '../helpers/envtest.js';
import { Cluster, fixture } from '../cluster/objects.js';
import { staticRuntime } from '../config/installs-helpers.js';
import { ensureHelm, render } from './helm.js';

// Short names: a client certificate's CN (the ServiceAccount's user name here) holds at most 64 characters.
const NAMESPACE = 'miw';
const RELEASE = 'w';
const FULLNAME = `${RELEASE}-mlrun-image-webhook`;

const skip = envtestSkipReason();
const CONFIGMAPS = ['mlrun-common-env', 'mlrun-pipelines-config', 'mlrun-spark-config', 'mlrun-override-env', 'mlrun-site'];

describe.skipIf(skip !== undefined)(`the chart's discovery RBAC on a real API server${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let cp: ControlPlane;
  let sa: KubeConfig;
  let watcher: InstallWatcher | undefined;

  beforeAll(async () => {
    ensureHelm();
    cp = await startControlPlane();
    const admin = cp.admin();
    const cluster = new Cluster(admin);
    for (const ns of [NAMESPACE, 'mlrun', 'tenant-a', 'elsewhere']) await cluster.namespace(ns);
    await cluster.apply(fixture('ce-default.yaml').filter((o) => o.kind !== 'Namespace'));
    await cluster.apply(fixture('ce-datanode-registry.yaml'));
    await cluster.apply(fixture('platform-tenant.yaml', 'tenant-a').filter((o) => o.kind !== 'Namespace'));
    await cluster.apply(fixture('ce-default.yaml', 'elsewhere').filter((o) => o.kind !== 'Namespace'));
    await cluster.apply([{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'unrelated', namespace: 'mlrun' }, data: { a: 'b' } } as never]);
    await cluster.apply([{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'creds', namespace: 'mlrun' }, stringData: { a: 'b' } } as never]);

    const docs = await render({
      namespace: NAMESPACE,
      release: RELEASE,
      set: { 'discovery.enabled': true },
      setJson: { 'discovery.namespaces': ['mlrun', 'tenant-a'], 'discovery.configMapNames': CONFIGMAPS },
    });
    const objects = KubernetesObjectApi.makeApiClient(admin);
    const rbac = docs.filter((d) => ['Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding'].includes(d.kind));
    expect(rbac.map((d) => `${d.kind} ${d.metadata.namespace}`)).toEqual(['Role mlrun', 'Role tenant-a', 'RoleBinding mlrun', 'RoleBinding tenant-a']);
    for (const d of rbac) await objects.create(d as KubernetesObject);

    // The ServiceAccount's identity as the API server sees it when the pod uses its token.
    sa = new KubeConfig();
    sa.loadFromFile(cp.userKubeconfig(`system:serviceaccount:${NAMESPACE}:${FULLNAME}`, ['system:serviceaccounts', `system:serviceaccounts:${NAMESPACE}`]));
  });

  afterAll(async () => {
    watcher?.stop();
    await cp?.stop();
  });

  it('discovery syncs both installs with exactly these grants; each namespace resolves with its own install', async () => {
    const set = new RuntimeSet(staticRuntime({ discovery: { enabled: true, namespaces: ['mlrun', 'tenant-a'], defaultNamespace: 'mlrun' } }));
    watcher = new InstallWatcher({
      kubeConfig: sa,
      namespaces: ['mlrun', 'tenant-a'],
      backoff: { initialMs: 100, maxMs: 1000 },
      onChange: (installs) => set.update(installs),
    });
    watcher.start();
    await until('synced and ok', () => watcher!.status().synced && watcher!.status().state === 'ok' && watcher!.current().size === 2);
    expect(watcher.status().lastError).toBeUndefined();
    expect(set.forNamespace('mlrun').config.mlrun).toMatchObject({
      version: '1.9.2',
      imagesRegistry: 'registry.datanode.local:5000/',
      vendorImagesRegistry: 'registry.datanode.local:5000/vendor/',
    });
    expect(set.forNamespace('tenant-a').config.mlrun).toMatchObject({ version: '1.8.0', imagesRegistry: 'datanode-registry.iguazio-platform.app.vm/' });
    expect(set.forNamespace('jobs').config.mlrun.version).toBe('1.9.2');
  });

  it('no more than that: Secrets, writes, other ConfigMaps and other namespaces are forbidden', async () => {
    const core = sa.makeApiClient(CoreV1Api);
    const code = (p: Promise<unknown>) => p.then(() => 200, (e: { code?: number }) => e.code);
    expect(await code(core.listNamespacedSecret({ namespace: 'mlrun' }))).toBe(403);
    expect(await code(core.readNamespacedSecret({ name: 'creds', namespace: 'mlrun' }))).toBe(403);
    expect(await code(core.readNamespacedConfigMap({ name: 'unrelated', namespace: 'mlrun' }))).toBe(403);
    expect(await code(core.listNamespacedConfigMap({ namespace: 'mlrun' }))).toBe(403);
    expect(await code(core.readNamespacedConfigMap({ name: 'mlrun-override-env', namespace: 'mlrun' }))).toBe(200);
    expect(await code(core.deleteNamespacedConfigMap({ name: 'mlrun-override-env', namespace: 'mlrun' }))).toBe(403);
    expect(await code(core.listNamespacedPod({ namespace: 'mlrun' }))).toBe(200);
    expect(await code(core.listNamespacedPod({ namespace: 'elsewhere' }))).toBe(403);
    expect(await code(core.listNamespace())).toBe(403);
  });
});
