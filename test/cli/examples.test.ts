/**
 * examples/*.yaml: each values file renders with real helm (which validates it against the chart's
 * values.schema.json) and does what its name says. A new example without a row here fails the last test.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureHelm, find, findAll, FULLNAME, helm, parseDocs, ROOT, CHART, NAMESPACE, RELEASE, KUBE_VERSION, type K8sObject } from '../chart/helm.js';

const EXAMPLES = path.join(ROOT, 'examples');

async function renderExample(file: string, extra: string[] = []): Promise<K8sObject[]> {
  const r = await helm(['template', RELEASE, CHART, '--namespace', NAMESPACE, '--kube-version', KUBE_VERSION, '-f', path.join(EXAMPLES, file), ...extra]);
  if (!r.ok) throw new Error(`helm template -f examples/${file} failed:\n${r.stderr}`);
  return parseDocs(r.stdout);
}

function serverConfig(docs: K8sObject[]): any {
  const cm = find(docs, 'ConfigMap', `${FULLNAME}-config`) as K8sObject & { data: Record<string, string> };
  return parseYaml(cm.data['config.yaml']!);
}

function webhooks(docs: K8sObject[]): any[] {
  return (find(docs, 'MutatingWebhookConfiguration') as any).webhooks;
}

const failClosedEntryServes = (docs: K8sObject[], ns: string) =>
  webhooks(docs).some(
    (w) => w.failurePolicy === 'Fail' && JSON.stringify(w.namespaceSelector ?? {}).includes(`"${ns}"`),
  );

const CHECKS: Record<string, (docs: K8sObject[]) => void> = {
  'air-gapped-datanode-registry.yaml': (docs) => {
    const cfg = serverConfig(docs);
    expect(cfg.mlrun).toMatchObject({ imagesRegistry: 'datanode-registry.example:5000/', vendorImagesRegistry: 'datanode-registry.example:5000/' });
    expect(cfg.webhook.corrections.tagImagesWithRegistryPort).toBe(true);
    const dep = find(docs, 'Deployment') as any;
    expect(dep.spec.template.spec.containers[0].image).toBe('datanode-registry.example:5000/mlrun-image-webhook:0.1.0');
    expect(dep.spec.template.spec.imagePullSecrets).toEqual([{ name: 'datanode-registry-pull' }]);
    expect(failClosedEntryServes(docs, 'mlrun')).toBe(true);
    expect(cfg.mirror).toMatchObject({ enabled: true, missing: 'rewrite' });
    expect(cfg.mirror.pullSecretFiles).toHaveLength(1);
  },
  'report-only-first-rollout.yaml': (docs) => {
    expect(serverConfig(docs).webhook.mode).toBe('report');
    expect(webhooks(docs).every((w) => w.failurePolicy === 'Ignore')).toBe(true);
  },
  'fail-closed-mlrun-namespace.yaml': (docs) => {
    expect(failClosedEntryServes(docs, 'mlrun')).toBe(true);
    expect(webhooks(docs).some((w) => w.failurePolicy === 'Ignore')).toBe(true); // every other namespace
    expect((find(docs, 'Deployment') as any).spec.replicas).toBe(3);
    expect((find(docs, 'PodDisruptionBudget') as any).spec.minAvailable).toBe(2);
    expect((find(docs, 'Deployment') as any).spec.template.spec.priorityClassName).toBe('system-cluster-critical');
  },
  'follow-mlrun.yaml': (docs) => {
    const cfg = serverConfig(docs);
    expect(cfg.discovery).toMatchObject({ enabled: true, namespaces: ['mlrun'], defaultNamespace: 'mlrun' });
    const role = findAll(docs, 'Role').find((r: any) => r.metadata.namespace === 'mlrun') as any;
    expect(role, 'a discovery Role in namespace mlrun').toBeDefined();
    expect(JSON.stringify(role.rules)).not.toMatch(/secrets/);
    expect((find(docs, 'Deployment') as any).spec.template.spec.automountServiceAccountToken).toBe(true);
  },
  'production-policy.yaml': (docs) => {
    const cfg = serverConfig(docs);
    expect(cfg.policy).toMatchObject({ mlrunVersion: '1.9.2', pinTags: 'deny' });
    const production = webhooks(docs).find((w) => w.clientConfig.service.path === '/mutate/production');
    expect(production, 'the production entry').toBeDefined();
    expect(production.failurePolicy).toBe('Fail');
    expect(production.objectSelector?.matchExpressions ?? []).not.toContainEqual(expect.objectContaining({ key: 'mlrun-image-webhook/skip' }));
  },
  'cert-manager.yaml': (docs) => {
    const certs = findAll(docs, 'Certificate') as any[];
    expect(certs.map((c) => c.spec.issuerRef)).toContainEqual({ name: 'internal-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' });
    const mwc = find(docs, 'MutatingWebhookConfiguration');
    expect(mwc.metadata.annotations?.['cert-manager.io/inject-ca-from']).toBeTruthy();
  },
};

const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml')).sort();

describe('examples/ values files', () => {
  beforeAll(() => {
    ensureHelm();
  });

  it.each(files)('%s renders, passes the chart schema, and does what it says', async (file) => {
    const check = CHECKS[file];
    expect(check, `no check for examples/${file}`).toBeDefined();
    check!(await renderExample(file));
  });

  it('the schema is in force for them: a slip in an example would fail helm', async () => {
    await expect(renderExample(files[0]!, ['--set', 'webhook.mode=banana'])).rejects.toThrow(/webhook\/mode|webhook\.mode/);
  });

  it('every example has a check and every check an example', () => {
    expect(Object.keys(CHECKS).sort()).toEqual(files);
  });
});
