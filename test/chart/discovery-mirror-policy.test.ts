/**
 * The chart side of discovery (#11), the mirror (#12) and the production policy (#13), rendered with real helm:
 * least-privilege RBAC and the token only with discovery, NetworkPolicy egress to the API server and the registries,
 * pull secrets and the registry CA mounted read-only with their paths in the config file, the production webhook entry
 * (docs/adr/0008), the alerts, and the checks that refuse values the server could not honour.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadConfigText } from '../../src/config/load.js';
import { type FakeKubeApi, startFakeKubeApi } from './fake-kube-api.js';
import { CHART, FULLNAME, NAMESPACE, type K8sObject, type RenderOptions, at, ensureHelm, find, findAll, helm, render, renderError } from './helm.js';
import { validateManifest } from './k8s-schemas.js';

const cases = {
  discovery: { set: { 'discovery.enabled': true }, setJson: { 'discovery.namespaces': ['mlrun', 'tenant-a'] } },
  discoveryNamedConfigMaps: {
    set: { 'discovery.enabled': true },
    setJson: { 'discovery.configMapNames': ['mlrun-common-env', 'mlrun-override-env'] },
  },
  discoveryClusterWide: { set: { 'discovery.enabled': true }, setJson: { 'discovery.namespaces': ['*'] } },
  discoveryNetworkPolicy: {
    set: { 'discovery.enabled': true, 'networkPolicy.enabled': true, 'networkPolicy.apiServer.cidr': '10.0.0.10/32', 'networkPolicy.apiServer.port': 6443 },
  },
  mirror: {
    set: { 'mirror.enabled': true, 'mirror.caBundle.configMap': 'registry-ca', 'mirror.caBundle.key': 'bundle.pem', 'networkPolicy.enabled': true },
    setJson: {
      'mirror.pullSecrets': ['regcred', 'vendor-cred'],
      'mirror.pullSecretFiles': ['/var/run/extra/.dockerconfigjson'],
      'networkPolicy.registries': [{ cidr: '10.1.2.3/32', ports: [5000, 443] }],
    },
  },
  mirrorCaSecret: { set: { 'mirror.enabled': true, 'mirror.caBundle.secret': 'registry-ca-secret' } },
  policyDeny: { set: { 'policy.pinTags': 'deny', 'policy.mlrunVersion': '1.9.2', 'prometheusRule.enabled': true } },
  policyWarn: { set: { 'policy.pinTags': 'warn' } },
  policyWarnMainFail: { set: { 'policy.pinTags': 'warn', failurePolicy: 'Fail' }, setJson: { targetNamespaces: ['mlrun'] } },
  policyDenyIgnore: { set: { 'policy.pinTags': 'deny', 'policy.failurePolicy': 'Ignore' } },
  policyDigestsOnly: { set: { 'policy.pinDigests': 'resolve', 'policy.namespaceLabel.key': 'example.com/tier', 'policy.namespaceLabel.value': 'prod' } },
  policyObjectSelector: { set: { 'policy.pinTags': 'warn' }, setJson: { 'objectSelector.matchLabels': { 'mlrun/class': 'job' } } },
  alerts: { set: { 'prometheusRule.enabled': true, 'discovery.enabled': true, 'mirror.enabled': true } },
} satisfies Record<string, RenderOptions>;

type CaseName = keyof typeof cases;
const rendered = {} as Record<CaseName, K8sObject[]>;

beforeAll(async () => {
  ensureHelm();
  const names = Object.keys(cases) as CaseName[];
  const docs = await Promise.all(names.map((n) => render(cases[n])));
  names.forEach((n, i) => (rendered[n] = docs[i]!));
});

const podSpec = (docs: K8sObject[]) => at(find(docs, 'Deployment'), 'spec', 'template', 'spec');
const container = (docs: K8sObject[]) => podSpec(docs).containers[0];
const serverConfigMap = (docs: K8sObject[]) => findAll(docs, 'ConfigMap').find((d) => !d.metadata.annotations?.['helm.sh/hook'])!;
const configText = (docs: K8sObject[]) => at(serverConfigMap(docs), 'data', 'config.yaml') as string;
const configOf = (docs: K8sObject[]) => parseYaml(configText(docs)) as Record<string, any>;
const webhooks = (docs: K8sObject[]) => at(find(docs, 'MutatingWebhookConfiguration'), 'webhooks') as Record<string, any>[];
const egress = (docs: K8sObject[]) => at(find(docs, 'NetworkPolicy'), 'spec', 'egress') as Record<string, any>[];
const rbacKinds = ['Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding'];
const rbac = (docs: K8sObject[]) => docs.filter((d) => rbacKinds.includes(d.kind));
const labelExpr = (w: Record<string, any>, key: string) =>
  (w.namespaceSelector.matchExpressions as { key: string; operator: string; values: string[] }[]).filter((e) => e.key === key);

describe('every case', () => {
  it.each(Object.keys(cases) as CaseName[])('%s: every manifest passes the Kubernetes schemas; the config file loads', (name) => {
    for (const obj of rendered[name]) validateManifest(obj);
    const loaded = loadConfigText(configText(rendered[name]), 'ConfigMap', {});
    expect(loaded.ok ? [] : loaded.problems).toEqual([]);
  });
});

describe('discovery: least-privilege RBAC, token only when on', () => {
  it('a Role and RoleBinding per listed namespace: get/list/watch on the chief Deployment (by name), pods, configmaps', () => {
    const docs = rendered.discovery;
    const roles = findAll(docs, 'Role');
    expect(roles.map((r) => r.metadata.namespace)).toEqual(['mlrun', 'tenant-a']);
    for (const role of roles) {
      expect(role.metadata.name).toBe(`${FULLNAME}-discovery`);
      expect(role['rules']).toEqual([
        { apiGroups: ['apps'], resources: ['deployments'], resourceNames: ['mlrun-api-chief'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] },
      ]);
    }
    const bindings = findAll(docs, 'RoleBinding');
    expect(bindings.map((b) => b.metadata.namespace)).toEqual(['mlrun', 'tenant-a']);
    for (const b of bindings) {
      expect(b['roleRef']).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `${FULLNAME}-discovery` });
      expect(b['subjects']).toEqual([{ kind: 'ServiceAccount', name: FULLNAME, namespace: NAMESPACE }]);
    }
    expect(findAll(docs, 'ClusterRole')).toEqual([]);
    expect(findAll(docs, 'ClusterRoleBinding')).toEqual([]);
  });

  it('never Secrets, never a write verb, in any case', () => {
    for (const name of Object.keys(cases) as CaseName[]) {
      for (const obj of rbac(rendered[name]).filter((o) => o.kind.endsWith('Role'))) {
        for (const rule of obj['rules'] as { resources: string[]; verbs: string[] }[]) {
          expect(rule.resources, name).not.toContain('secrets');
          expect(rule.verbs.filter((v) => !['get', 'list', 'watch'].includes(v)), name).toEqual([]);
        }
      }
    }
  });

  it('configMapNames restrict the ConfigMap rule by resourceNames', () => {
    const role = find(rendered.discoveryNamedConfigMaps, 'Role');
    expect((role['rules'] as Record<string, unknown>[])[2]).toEqual({
      apiGroups: [''],
      resources: ['configmaps'],
      resourceNames: ['mlrun-common-env', 'mlrun-override-env'],
      verbs: ['get', 'list', 'watch'],
    });
    expect(configOf(rendered.discoveryNamedConfigMaps).discovery.configMapNames).toBeUndefined();
  });

  it('namespaces ["*"]: a ClusterRole and ClusterRoleBinding, no Role', () => {
    const docs = rendered.discoveryClusterWide;
    expect(findAll(docs, 'Role')).toEqual([]);
    const cr = find(docs, 'ClusterRole');
    expect(cr.metadata.namespace).toBeUndefined();
    expect(cr.metadata.name).toBe(`${FULLNAME}-discovery-${NAMESPACE}`);
    expect((cr['rules'] as { resources: string[] }[]).map((r) => r.resources[0])).toEqual(['deployments', 'pods', 'configmaps']);
    expect(at(find(docs, 'ClusterRoleBinding'), 'roleRef', 'name')).toBe(cr.metadata.name);
  });

  it('the pods mount the token only with discovery; the ServiceAccount itself never automounts', async () => {
    expect(podSpec(rendered.discovery).automountServiceAccountToken).toBe(true);
    expect(at(find(rendered.discovery, 'ServiceAccount'), 'automountServiceAccountToken')).toBe(false);
    const off = await render({});
    expect(podSpec(off).automountServiceAccountToken).toBe(false);
    expect(rbac(off)).toEqual([]);
  });

  it('discovery keys reach the config file', () => {
    expect(configOf(rendered.discovery).discovery).toMatchObject({ enabled: true, namespaces: ['mlrun', 'tenant-a'], defaultNamespace: 'mlrun' });
  });

  it('NetworkPolicy: egress to the API server endpoint (cidr, port) with discovery on; none without', async () => {
    expect(egress(rendered.discoveryNetworkPolicy)).toContainEqual({ to: [{ ipBlock: { cidr: '10.0.0.10/32' } }], ports: [{ port: 6443, protocol: 'TCP' }] });
    const off = await render({ set: { 'networkPolicy.enabled': true, 'networkPolicy.apiServer.cidr': '10.0.0.10/32' } });
    expect(egress(off).filter((r) => r.to)).toEqual([]);
  });

  it('discovery with NetworkPolicy but no API server address is refused, saying how to find it', async () => {
    const err = await renderError({ set: { 'discovery.enabled': true, 'networkPolicy.enabled': true } });
    expect(err).toMatch(/discovery\.enabled with networkPolicy\.enabled needs networkPolicy\.apiServer\.cidr .*kubectl get endpoints kubernetes -n default/);
  });

  it('"*" must be the only namespace', async () => {
    expect(await renderError({ set: { 'discovery.enabled': true }, setJson: { 'discovery.namespaces': ['*', 'mlrun'] } })).toMatch(
      /discovery\.namespaces: "\*" \(every namespace\) must be the only entry/,
    );
  });
});

describe('mirror: credentials and CA mounted read-only, their paths in the config file', () => {
  it('each pull secret is a read-only volume of its .dockerconfigjson; the config lists every file', () => {
    const docs = rendered.mirror;
    const mounts = container(docs).volumeMounts as { name: string; mountPath: string; readOnly?: boolean }[];
    const volumes = podSpec(docs).volumes as Record<string, any>[];
    for (const [i, name] of ['regcred', 'vendor-cred'].entries()) {
      expect(mounts).toContainEqual({ name: `pull-secret-${i}`, mountPath: `/etc/mlrun-image-webhook/registry/pull-secrets/${name}`, readOnly: true });
      expect(volumes.find((v) => v.name === `pull-secret-${i}`)).toEqual({
        name: `pull-secret-${i}`,
        secret: { secretName: name, defaultMode: 0o440, items: [{ key: '.dockerconfigjson', path: '.dockerconfigjson' }] },
      });
    }
    expect(configOf(docs).mirror.pullSecretFiles).toEqual([
      '/var/run/extra/.dockerconfigjson',
      '/etc/mlrun-image-webhook/registry/pull-secrets/regcred/.dockerconfigjson',
      '/etc/mlrun-image-webhook/registry/pull-secrets/vendor-cred/.dockerconfigjson',
    ]);
    expect(configOf(docs).mirror.pullSecrets).toBeUndefined();
  });

  it('the CA bundle from a ConfigMap or a Secret, its key mounted as ca.crt, mirror.caFile pointing at it', () => {
    const ca = (docs: K8sObject[]) => (podSpec(docs).volumes as Record<string, any>[]).find((v) => v.name === 'registry-ca');
    expect(ca(rendered.mirror)).toEqual({ name: 'registry-ca', configMap: { name: 'registry-ca', items: [{ key: 'bundle.pem', path: 'ca.crt' }] } });
    expect(ca(rendered.mirrorCaSecret)).toEqual({
      name: 'registry-ca',
      secret: { secretName: 'registry-ca-secret', defaultMode: 0o440, items: [{ key: 'ca.crt', path: 'ca.crt' }] },
    });
    for (const docs of [rendered.mirror, rendered.mirrorCaSecret]) {
      expect(container(docs).volumeMounts).toContainEqual({ name: 'registry-ca', mountPath: '/etc/mlrun-image-webhook/registry/ca', readOnly: true });
      expect(configOf(docs).mirror.caFile).toBe('/etc/mlrun-image-webhook/registry/ca/ca.crt');
      expect(configOf(docs).mirror.caBundle).toBeUndefined();
    }
  });

  it('NetworkPolicy: egress to each registry block and port', () => {
    expect(egress(rendered.mirror)).toContainEqual({
      to: [{ ipBlock: { cidr: '10.1.2.3/32' } }],
      ports: [
        { port: 5000, protocol: 'TCP' },
        { port: 443, protocol: 'TCP' },
      ],
    });
  });

  it.each<[string, RenderOptions, RegExp]>([
    ['budget over a quarter of the timeout', { set: { 'mirror.budgetMs': 1300 } }, /mirror\.budgetMs \(1300\) must be at most a quarter of the webhook timeout \(timeoutSeconds 5: at most 1250 ms\)/],
    ['budget over a quarter of a shorter timeout', { set: { 'mirror.budgetMs': 300, timeoutSeconds: 1 } }, /mirror\.budgetMs \(300\) .*at most 250 ms/],
    ['CA from a ConfigMap and a Secret', { set: { 'mirror.caBundle.configMap': 'a', 'mirror.caBundle.secret': 'b' } }, /mirror\.caBundle: set configMap or secret, not both/],
    ['caFile and caBundle', { set: { 'mirror.caBundle.configMap': 'a', 'mirror.caFile': '/x.pem' } }, /mirror\.caFile \(\/x\.pem\) and mirror\.caBundle are both set/],
    ['registry egress missing', { set: { 'mirror.enabled': true, 'networkPolicy.enabled': true } }, /needs networkPolicy\.registries/],
    ['digest egress missing', { set: { 'policy.pinDigests': 'resolve', 'networkPolicy.enabled': true } }, /needs networkPolicy\.registries/],
  ])('refused: %s', async (_name, o, message) => {
    expect(await renderError(o)).toMatch(message);
  });

  it('a budget of exactly a quarter of the timeout is accepted', async () => {
    const docs = await render({ set: { 'mirror.budgetMs': 1250 } });
    expect(configOf(docs).mirror.budgetMs).toBe(1250);
  });
});

describe('policy: the production webhook entry (docs/adr/0008)', () => {
  const entry = (docs: K8sObject[], prefix: string) => webhooks(docs).find((w) => w.name.startsWith(prefix));

  it('deny: a second entry on /mutate/production for the labelled namespaces, Fail, no per-Pod opt-out; the main entry skips them', () => {
    const [main, prod] = webhooks(rendered.policyDeny);
    expect(webhooks(rendered.policyDeny)).toHaveLength(2);
    expect(prod!.name).toBe(`production.${FULLNAME}.${NAMESPACE}.svc`);
    expect(prod!.clientConfig.service.path).toBe('/mutate/production');
    expect(prod!.failurePolicy).toBe('Fail');
    expect(prod!.objectSelector).toBeUndefined();
    expect(labelExpr(prod!, 'mlrun-image-webhook/policy')).toEqual([{ key: 'mlrun-image-webhook/policy', operator: 'In', values: ['production'] }]);
    expect(labelExpr(main!, 'mlrun-image-webhook/policy')).toEqual([{ key: 'mlrun-image-webhook/policy', operator: 'NotIn', values: ['production'] }]);
    expect(main!.failurePolicy).toBe('Ignore');
    expect(prod!.rules).toEqual(main!.rules);
    expect(prod!.matchConditions).toEqual(main!.matchConditions);
    // The production keys reach the config; the chart-only ones do not.
    expect(configOf(rendered.policyDeny).policy).toEqual({ namespaces: [], mlrunVersion: '1.9.2', pinTags: 'deny', pinDigests: 'off', digestRegistries: [], allow: [] });
  });

  it.each<[CaseName, string]>([
    ['policyWarn', 'Ignore'],
    ['policyWarnMainFail', 'Fail'],
    ['policyDenyIgnore', 'Ignore'],
    ['policyDigestsOnly', 'Ignore'],
  ])('%s: production failurePolicy %s', (name, policy) => {
    expect(entry(rendered[name], 'production.')!.failurePolicy).toBe(policy);
  });

  it('rewrite also fails closed by default', async () => {
    expect(entry(await render({ set: { 'policy.pinTags': 'rewrite', 'policy.mlrunVersion': '1.9.2' } }), 'production.')!.failurePolicy).toBe('Fail');
  });

  it('a custom label key and value', () => {
    expect(labelExpr(entry(rendered.policyDigestsOnly, 'production.')!, 'example.com/tier')).toEqual([{ key: 'example.com/tier', operator: 'In', values: ['prod'] }]);
  });

  it('the operator\'s own objectSelector still applies to the production entry, the opt-out does not', () => {
    const prod = entry(rendered.policyObjectSelector, 'production.')!;
    expect(prod.objectSelector).toEqual({ matchLabels: { 'mlrun/class': 'job' } });
  });

  it('policy off: one entry, no production label anywhere', async () => {
    const ws = webhooks(await render({}));
    expect(ws).toHaveLength(1);
    expect(labelExpr(ws[0]!, 'mlrun-image-webhook/policy')).toEqual([]);
  });

  it('the production label cannot be the opt-out key', async () => {
    expect(await renderError({ set: { 'policy.pinTags': 'warn', 'policy.namespaceLabel.key': 'mlrun-image-webhook/skip' } })).toMatch(
      /policy\.namespaceLabel\.key and webhook\.optOutKey are both mlrun-image-webhook\/skip/,
    );
  });

  it('alerts: fail-open counts the Ignore entries, rejections the Fail ones (production included)', () => {
    const rules = at(find(rendered.policyDeny, 'PrometheusRule'), 'spec', 'groups', 0, 'rules') as { alert: string; expr: string }[];
    const expr = (a: string) => rules.find((r) => r.alert === a)?.expr ?? '';
    expect(expr('MlrunImageWebhookFailingOpen')).toContain(`name=~"${FULLNAME}.${NAMESPACE}.svc"`);
    expect(expr('MlrunImageWebhookRejectingPods')).toContain(`name=~"production.${FULLNAME}.${NAMESPACE}.svc"`);
  });
});

describe('PrometheusRule: discovery and mirror alerts', () => {
  type Rule = { alert: string; expr: string; for?: string; labels: Record<string, string> };
  const rules = (docs: K8sObject[]) => at(find(docs, 'PrometheusRule'), 'spec', 'groups', 0, 'rules') as Rule[];
  const sel = `namespace="${NAMESPACE}",service="${FULLNAME}"`;

  it('discovery failing 10 minutes, a change pending 1 hour, missing mirror images 30 minutes', () => {
    const byName = Object.fromEntries(rules(rendered.alerts).map((r) => [r.alert, r]));
    expect(byName.MlrunImageWebhookDiscoveryFailing).toMatchObject({ for: '10m' });
    expect(byName.MlrunImageWebhookDiscoveryFailing!.expr).toContain(`mlrun_image_webhook_discovery_state{${sel},state!="ok"}) == 1`);
    expect(byName.MlrunImageWebhookDiscoveryChangePending).toMatchObject({ for: '1h' });
    expect(byName.MlrunImageWebhookDiscoveryChangePending!.expr).toContain(`mlrun_image_webhook_discovery_pending_changes{${sel}}) > 0`);
    expect(byName.MlrunImageWebhookMirrorImagesMissing).toMatchObject({ for: '30m' });
    expect(byName.MlrunImageWebhookMirrorImagesMissing!.expr).toContain(`mlrun_image_webhook_mirror_images{${sel},state="missing"}) > 0`);
  });

  it('only for what is switched on', () => {
    const names = rules(rendered.policyDeny).map((r) => r.alert);
    expect(names.filter((n) => /Discovery|Mirror/.test(n))).toEqual([]);
    expect(rules(rendered.alerts).map((r) => r.alert).filter((n) => /Policy/.test(n))).toEqual([]);
  });

  it('policy deny: a denial spike alert over prometheusRule.policyDenials in 10 minutes', () => {
    const spike = rules(rendered.policyDeny).find((r) => r.alert === 'MlrunImageWebhookPolicyDenialsSpike');
    expect(spike?.expr).toContain(`mlrun_image_webhook_policy_decisions_total{${sel},policy="pin-tags",action="deny"}[10m])) > 10`);
    expect(spike?.labels.severity).toBe('info');
  });
});

describe('NOTES name the production label command and discovery', () => {
  let api: FakeKubeApi;
  beforeAll(async () => {
    api = await startFakeKubeApi();
  });
  afterAll(async () => {
    await api?.close();
  });

  it('prints kubectl label namespace <ns> key=value and the production failure policy', async () => {
    const r = await helm(
      ['install', 'miw', CHART, '--namespace', NAMESPACE, '--dry-run=client', '--disable-openapi-validation', '--set', 'policy.pinTags=deny', '--set', 'discovery.enabled=true'],
      { KUBECONFIG: api.kubeconfig },
    );
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('kubectl label namespace <ns> mlrun-image-webhook/policy=production');
    expect(r.stdout).toMatch(/failurePolicy Fail, for namespaces labelled mlrun-image-webhook\/policy=production/);
    expect(r.stdout).toContain('mlrun-image-webhook discover --namespace mlrun');
  });
});
