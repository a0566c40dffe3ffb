/**
 * helm lint / helm template of charts/mlrun-image-webhook for the default values and every feature switch, with
 * assertions on the rendered objects. Every rendered manifest of every case is validated against the Kubernetes
 * schemas (kubernetes-models; structural checks for the cert-manager and Prometheus Operator CRDs).
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { parse as parseYaml } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfigText } from '../../src/config/load.js';
import { ConfigSchema } from '../../src/config/schema.js';
import {
  CHART,
  FULLNAME,
  NAMESPACE,
  type K8sObject,
  type RenderOptions,
  at,
  ensureHelm,
  find,
  findAll,
  helm,
  kinds,
  render,
} from './helm.js';
import { EXPECTED_DEFAULT_CONFIG } from '../helpers/defaults.js';
import { validateManifest } from './k8s-schemas.js';

const SELECTOR = {
  'app.kubernetes.io/name': 'mlrun-image-webhook',
  'app.kubernetes.io/instance': 'miw',
  'app.kubernetes.io/component': 'webhook',
};
const WEBHOOK_NAME = `${FULLNAME}.${NAMESPACE}.svc`;
const CHART_YAML = parseYaml(fs.readFileSync(path.join(CHART, 'Chart.yaml'), 'utf8')) as { version: string; appVersion: string };
const CHART_VERSION = CHART_YAML.version;
const DNS_NAMES = [FULLNAME, `${FULLNAME}.${NAMESPACE}`, `${FULLNAME}.${NAMESPACE}.svc`, `${FULLNAME}.${NAMESPACE}.svc.cluster.local`];

/** Every value set the suite renders; each is rendered once and every manifest of each is schema-validated. */
const cases = {
  defaults: {},
  certManager: { set: { 'tls.mode': 'cert-manager' } },
  certManagerIssuer: {
    set: { 'tls.mode': 'cert-manager', 'tls.certManager.issuerRef.name': 'corp-ca', 'tls.certManager.issuerRef.kind': 'ClusterIssuer' },
  },
  failClosed: { set: { failurePolicy: 'Fail' } },
  failClosedNamespaces: { setJson: { failClosedNamespaces: ['mlrun'], excludedNamespaces: ['monitoring'] } },
  targets: { setJson: { targetNamespaces: ['mlrun', 'mlrun-jobs'] } },
  matchConditions: {
    setJson: { matchConditions: [{ name: 'mlrun-only', expression: "has(object.metadata.labels) && 'mlrun/class' in object.metadata.labels" }] },
  },
  noKubePrefixCondition: { set: { excludeKubePrefixedNamespaces: false } },
  kube127: { kubeVersion: '1.27.0' },
  kube129: { kubeVersion: '1.29.0' },
  kube130: { kubeVersion: '1.30.0' },
  monitoringOn: { set: { 'networkPolicy.enabled': true, 'serviceMonitor.enabled': true, 'prometheusRule.enabled': true } },
  monitoringFailClosed: { set: { 'prometheusRule.enabled': true }, setJson: { failClosedNamespaces: ['mlrun'] } },
  networkPolicyRestricted: {
    set: { 'networkPolicy.enabled': true, 'networkPolicy.allowDNS': false },
    setJson: { 'networkPolicy.webhookFrom': [{ ipBlock: { cidr: '10.0.0.0/8' } }] },
  },
  customised: {
    set: {
      fullnameOverride: 'imgwh',
      replicaCount: 3,
      'image.repository': 'registry.example:5000/miw',
      'image.tag': '9.9.9',
      'image.digest': `sha256:${'a'.repeat(64)}`,
      priorityClassName: 'system-cluster-critical',
      'webhook.mode': 'report',
      'webhook.optOutKey': 'example.com/no-rewrite',
      'mlrun.imagesTag': '1.8.0-custom',
      'mlrun.imagesRegistry': 'datanode-registry.example:80/',
      'preStop.mode': 'exec',
      'serviceAccount.create': false,
      timeoutSeconds: 3,
      reinvocationPolicy: 'Never',
    },
    setJson: {
      commonLabels: { team: 'mlops' },
      podLabels: { extra: 'yes' },
      podAnnotations: { 'example.com/a': 'b' },
      imagePullSecrets: [{ name: 'regcred' }],
      'mlrun.envFrom': [{ configMapRef: { name: 'mlrun-override-env', optional: true } }],
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'mlrun', effect: 'NoSchedule' }],
      nodeSelector: { 'kubernetes.io/os': 'linux' },
    },
  },
  singleReplica: { set: { replicaCount: 1, 'preStop.mode': 'none', 'tests.enabled': false } },
  devVersion: { set: { 'mlrun.version': '0.0.0+unstable' } },
  ciVersion: { set: { 'mlrun.version': '1.10.0+a1b2c3d4', 'mlrun.imagesToEnrichRegistry': '' } },
} satisfies Record<string, RenderOptions>;

type CaseName = keyof typeof cases;
const rendered = {} as Record<CaseName, K8sObject[]>;

const deploymentOf = (docs: K8sObject[]) => find(docs, 'Deployment');
const podSpec = (docs: K8sObject[]) => at(deploymentOf(docs), 'spec', 'template', 'spec');
const container = (docs: K8sObject[]) => podSpec(docs).containers[0];
const webhooks = (docs: K8sObject[]) => at(find(docs, 'MutatingWebhookConfiguration'), 'webhooks') as Record<string, any>[];
const testPod = (docs: K8sObject[]) => find(docs, 'Pod');
const envOf = (c: { env?: { name: string; value?: string }[] }) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
/** The release's ConfigMap (not the config check's hook copy). */
const serverConfigMap = (docs: K8sObject[]) => {
  const hit = findAll(docs, 'ConfigMap').filter((d) => !d.metadata.annotations?.['helm.sh/hook']);
  expect(hit).toHaveLength(1);
  return hit[0]!;
};
const configOf = (docs: K8sObject[]) => parseYaml(at(serverConfigMap(docs), 'data', 'config.yaml')) as Record<string, any>;
const nsExpr = (w: Record<string, any>, op: string) =>
  (w.namespaceSelector.matchExpressions as { key: string; operator: string; values: string[] }[]).find(
    (e) => e.key === 'kubernetes.io/metadata.name' && e.operator === op,
  );

beforeAll(async () => {
  ensureHelm();
  const names = Object.keys(cases) as CaseName[];
  const docs = await Promise.all(names.map((n) => render(cases[n])));
  names.forEach((n, i) => (rendered[n] = docs[i]!));
});

describe('every case', () => {
  it.each(Object.keys(cases) as CaseName[])('%s: every manifest passes the Kubernetes schemas', (name) => {
    expect(rendered[name].length).toBeGreaterThan(4);
    for (const obj of rendered[name]) validateManifest(obj);
  });

  it.each(Object.keys(cases) as CaseName[])('%s: namespaced objects are in the release namespace, all carry the standard labels', (name) => {
    for (const obj of rendered[name]) {
      if (obj.kind !== 'MutatingWebhookConfiguration') expect(obj.metadata.namespace, `${obj.kind}`).toBe(NAMESPACE);
      expect(obj.metadata.labels?.['app.kubernetes.io/managed-by'], obj.kind).toBe('Helm');
      expect(obj.metadata.labels?.['app.kubernetes.io/instance'], obj.kind).toBe('miw');
      expect(obj.metadata.labels?.['helm.sh/chart'], obj.kind).toBe(`mlrun-image-webhook-${CHART_VERSION}`);
    }
  });

  it.each(Object.keys(cases) as CaseName[])('%s: Deployment, Service, PDB, spread and NetworkPolicy select exactly the webhook pods', (name) => {
    const docs = rendered[name];
    const dep = deploymentOf(docs);
    const selector = at(dep, 'spec', 'selector', 'matchLabels') as Record<string, string>;
    const podLabels = at(dep, 'spec', 'template', 'metadata', 'labels') as Record<string, string>;
    for (const [k, v] of Object.entries(selector)) expect(podLabels[k], k).toBe(v);
    expect(at(find(docs, 'Service'), 'spec', 'selector')).toEqual(selector);
    for (const pdb of findAll(docs, 'PodDisruptionBudget')) expect(at(pdb, 'spec', 'selector', 'matchLabels')).toEqual(selector);
    for (const np of findAll(docs, 'NetworkPolicy')) expect(at(np, 'spec', 'podSelector', 'matchLabels')).toEqual(selector);
    for (const c of podSpec(docs).topologySpreadConstraints ?? []) expect(c.labelSelector.matchLabels).toEqual(selector);
    for (const sm of findAll(docs, 'ServiceMonitor')) {
      const svcLabels = find(docs, 'Service').metadata.labels!;
      for (const [k, v] of Object.entries(at(sm, 'spec', 'selector', 'matchLabels') as Record<string, string>)) expect(svcLabels[k]).toBe(v);
    }
    // The helm test Pod must never become a Service endpoint.
    for (const pod of findAll(docs, 'Pod')) {
      const labels = pod.metadata.labels ?? {};
      expect(Object.entries(selector).every(([k, v]) => labels[k] === v), 'test pod matches the Service selector').toBe(false);
    }
  });

  it.each(Object.keys(cases) as CaseName[])('%s: no checksum annotation rolls the pods on config or certificate changes', (name) => {
    const annotations = at(deploymentOf(rendered[name]), 'spec', 'template', 'metadata', 'annotations') ?? {};
    expect(Object.keys(annotations).filter((k) => k.startsWith('checksum/'))).toEqual([]);
  });

  it.each(Object.keys(cases) as CaseName[])('%s: the rendered config file is valid for the server (ConfigSchema and the loader)', (name) => {
    const config = configOf(rendered[name]);
    expect(Object.keys(config).sort()).toEqual(['discovery', 'log', 'mirror', 'mlrun', 'policy', 'webhook']);
    expect([...Value.Errors(ConfigSchema, config)].map((e) => `${e.path}: ${e.message}`)).toEqual([]);
    const loaded = loadConfigText(at(serverConfigMap(rendered[name]), 'data', 'config.yaml') as string, 'ConfigMap', {});
    expect(loaded.ok ? [] : loaded.problems).toEqual([]);
  });

  it.each(Object.keys(cases) as CaseName[])('%s: the webhook points at the Service port that targets the https container port', (name) => {
    const docs = rendered[name];
    const svc = find(docs, 'Service');
    const ports = at(svc, 'spec', 'ports') as { name: string; port: number; targetPort: string }[];
    const containerPorts = (container(docs).ports as { name: string; containerPort: number }[]).map((p) => p.name);
    for (const p of ports) expect(containerPorts).toContain(p.targetPort);
    for (const w of webhooks(docs)) {
      // The production entries (docs/adr/0008) call their own path; every other entry the default one.
      const path = w.name.startsWith('production.') || w.name.startsWith('fail-closed.production.') ? '/mutate/production' : '/mutate';
      expect(w.clientConfig.service).toMatchObject({ name: svc.metadata.name, namespace: NAMESPACE, path, port: 443 });
      expect(ports.find((p) => p.port === 443)?.targetPort).toBe('https');
    }
  });
});

describe('defaults', () => {
  it('helm lint --strict passes', async () => {
    const r = await helm(['lint', CHART, '--strict', '--namespace', NAMESPACE]);
    expect(r.stderr + r.stdout).toContain('0 chart(s) failed');
    expect(r.ok).toBe(true);
  });

  it('renders exactly the expected objects', () => {
    expect(kinds(rendered.defaults)).toEqual([
      'ConfigMap',
      'ConfigMap', // the pre-install/pre-upgrade config check's own copy (hook)
      'Deployment',
      'Job', // the config check (hook)
      'MutatingWebhookConfiguration',
      'Pod',
      'PodDisruptionBudget',
      'Secret',
      'Service',
      'ServiceAccount',
    ]);
  });

  it('Deployment: 2 replicas, the server command line, probes on the health port, resources, drain', () => {
    const dep = deploymentOf(rendered.defaults);
    expect(at(dep, 'spec', 'replicas')).toBe(2);
    expect(at(dep, 'spec', 'strategy', 'rollingUpdate', 'maxUnavailable')).toBe(0);
    const c = container(rendered.defaults);
    expect(c.image).toBe(`ghcr.io/mlrun-image-webhook/mlrun-image-webhook:${CHART_YAML.appVersion}`);
    expect(c.command).toBeUndefined(); // the image's ENTRYPOINT (node /app/dist/cli/main.js)
    expect(c.args).toEqual([
      'serve',
      '--config',
      '/etc/mlrun-image-webhook/config/config.yaml',
      '--tls-cert',
      '/etc/mlrun-image-webhook/tls/tls.crt',
      '--tls-key',
      '/etc/mlrun-image-webhook/tls/tls.key',
      '--port',
      '8443',
      '--health-port',
      '8080',
    ]);
    expect(c.ports).toEqual([
      { name: 'https', containerPort: 8443, protocol: 'TCP' },
      { name: 'http-health', containerPort: 8080, protocol: 'TCP' },
    ]);
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http-health' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http-health' });
    expect(c.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'http-health' });
    expect(c.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(c.resources.limits.memory).toBeDefined();
    expect(c.lifecycle.preStop).toEqual({ sleep: { seconds: 10 } });
    expect(podSpec(rendered.defaults).terminationGracePeriodSeconds).toBeGreaterThan(10);
    expect(c.envFrom).toBeUndefined();
  });

  it('Deployment: hardened pod (uid 65532, read-only root, no capabilities, seccomp, no token)', () => {
    const spec = podSpec(rendered.defaults);
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.hostNetwork).toBeUndefined();
    expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    const sc = container(rendered.defaults).securityContext;
    expect(sc).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: 65532,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(sc.privileged).toBeUndefined();
    expect(at(find(rendered.defaults, 'ServiceAccount'), 'automountServiceAccountToken')).toBe(false);
    expect(findAll(rendered.defaults, 'Role').length + findAll(rendered.defaults, 'ClusterRole').length).toBe(0);
  });

  it('Deployment: config and TLS mounted as whole directories (hot reload), /tmp is an emptyDir', () => {
    const c = container(rendered.defaults);
    const mounts = Object.fromEntries((c.volumeMounts as { name: string; mountPath: string; subPath?: string }[]).map((m) => [m.mountPath, m]));
    expect(mounts['/etc/mlrun-image-webhook/config']?.subPath).toBeUndefined();
    expect(mounts['/etc/mlrun-image-webhook/tls']?.subPath).toBeUndefined();
    expect(mounts['/tmp']).toBeDefined();
    const volumes = Object.fromEntries((podSpec(rendered.defaults).volumes as { name: string }[]).map((v) => [v.name, v])) as Record<string, any>;
    expect(volumes[mounts['/tmp']!.name].emptyDir).toBeDefined();
    expect(volumes[mounts['/etc/mlrun-image-webhook/config']!.name].configMap.name).toBe(serverConfigMap(rendered.defaults).metadata.name);
    expect(volumes[mounts['/etc/mlrun-image-webhook/tls']!.name].secret.secretName).toBe(find(rendered.defaults, 'Secret').metadata.name);
    // 0440 written as decimal: a leading-zero octal reads as 440 (= 0670, group rwx) with any YAML 1.2 parser.
    expect(volumes[mounts['/etc/mlrun-image-webhook/tls']!.name].secret.defaultMode).toBe(0o440);
  });

  it('no leading-zero numbers anywhere in the templates (YAML 1.1 reads them as octal, YAML 1.2 as decimal)', () => {
    const dir = path.join(CHART, 'templates');
    const files = fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => /\.(ya?ml|tpl)$/.test(f));
    expect(files.length).toBeGreaterThan(5);
    for (const f of files) {
      const text = fs.readFileSync(path.join(dir, f), 'utf8');
      expect(text, f).not.toMatch(/:\s+0[0-9]+\s*(#.*)?$/m);
    }
  });

  it('PodDisruptionBudget: minAvailable 1, crash-looping replicas can be evicted', () => {
    expect(at(find(rendered.defaults, 'PodDisruptionBudget'), 'spec')).toMatchObject({ minAvailable: 1, unhealthyPodEvictionPolicy: 'AlwaysAllow' });
  });

  it('topology spread over hostnames, ScheduleAnyway', () => {
    expect(podSpec(rendered.defaults).topologySpreadConstraints).toEqual([
      { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: SELECTOR } },
    ]);
  });

  it('config file = values mlrun/webhook/log (without the chart-only envFrom)', () => {
    expect(configOf(rendered.defaults)).toEqual(EXPECTED_DEFAULT_CONFIG);
  });

  it('MutatingWebhookConfiguration: v1, no side effects, 5 s, Ignore, IfNeeded, Equivalent, Pod CREATE + ephemeral containers', () => {
    const ws = webhooks(rendered.defaults);
    expect(ws).toHaveLength(1);
    const w = ws[0]!;
    expect(w).toMatchObject({
      name: WEBHOOK_NAME,
      admissionReviewVersions: ['v1'],
      sideEffects: 'None',
      timeoutSeconds: 5,
      failurePolicy: 'Ignore',
      reinvocationPolicy: 'IfNeeded',
      matchPolicy: 'Equivalent',
    });
    expect(w.rules).toEqual([
      { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' },
      { apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['pods/ephemeralcontainers'], scope: 'Namespaced' },
    ]);
    expect(nsExpr(w, 'NotIn')?.values).toEqual(['kube-system', 'kube-public', 'kube-node-lease', NAMESPACE]);
    expect(nsExpr(w, 'In')).toBeUndefined();
    // a namespace labelled with the opt-out key is skipped as a whole
    expect(w.namespaceSelector.matchExpressions).toContainEqual({ key: 'mlrun-image-webhook/skip', operator: 'NotIn', values: ['true'] });
    expect(w.objectSelector.matchExpressions).toEqual([{ key: 'mlrun-image-webhook/skip', operator: 'NotIn', values: ['true'] }]);
    expect(w.matchConditions).toEqual([{ name: 'exclude-kube-prefixed-namespaces', expression: '!request.namespace.startsWith("kube-")' }]);
  });

  it('generate mode: caBundle is the CA that signed the serving certificate, valid for the Service DNS names', () => {
    const secret = find(rendered.defaults, 'Secret');
    expect(secret.type).toBe('kubernetes.io/tls');
    const data = secret.data as Record<string, string>;
    const b64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');
    const ca = new X509Certificate(b64(data['ca.crt']!));
    const leaf = new X509Certificate(b64(data['tls.crt']!));
    const caBundle = webhooks(rendered.defaults)[0]!.clientConfig.caBundle as string;
    expect(new X509Certificate(b64(caBundle)).fingerprint256).toBe(ca.fingerprint256);
    expect(ca.ca).toBe(true);
    expect(leaf.ca).toBe(false);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.checkIssued(ca)).toBe(true);
    expect(leaf.checkPrivateKey(createPrivateKey(b64(data['tls.key']!)))).toBe(true);
    for (const name of DNS_NAMES) expect(leaf.checkHost(name), name).toBe(name);
    expect(leaf.subjectAltName?.split(', ').sort()).toEqual(DNS_NAMES.map((n) => `DNS:${n}`).sort());
    const days = (Date.parse(leaf.validTo) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(3600);
    const ann = secret.metadata.annotations!;
    expect(ann['mlrun-image-webhook/dns-names']).toBe(DNS_NAMES.join(','));
    expect(Math.abs(Number(ann['mlrun-image-webhook/cert-not-after']) * 1000 - Date.parse(leaf.validTo))).toBeLessThan(2 * 86_400_000);
  });

  it('helm test Pod: a hook running the chart script in the webhook image, trusting the CA from the TLS Secret', () => {
    const pod = testPod(rendered.defaults);
    expect(pod.metadata.annotations).toMatchObject({ 'helm.sh/hook': 'test' });
    expect(pod.metadata.labels?.['mlrun-image-webhook/skip']).toBe('true');
    const c = at(pod, 'spec', 'containers', 0);
    expect(c.image).toBe(container(rendered.defaults).image);
    expect(c.command).toEqual(['node', '-e']);
    expect(c.args[0].trim()).toBe(fs.readFileSync(path.join(CHART, 'files/helm-test.js'), 'utf8').trim());
    expect(envOf(c)).toMatchObject({
      WEBHOOK_HOST: `${FULLNAME}.${NAMESPACE}.svc`,
      WEBHOOK_PORT: '443',
      EXPECT_MODE: 'enforce',
      EXPECT_TAG: '1.9.2',
      CA_FILE: '/etc/mlrun-image-webhook-test/ca.crt',
    });
    expect(at(pod, 'spec', 'volumes', 0, 'secret')).toEqual({ secretName: find(rendered.defaults, 'Secret').metadata.name, items: [{ key: 'ca.crt', path: 'ca.crt' }] });
    expect(at(pod, 'spec', 'automountServiceAccountToken')).toBe(false);
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
  });

  it('optional objects are off by default', () => {
    for (const kind of ['NetworkPolicy', 'ServiceMonitor', 'PrometheusRule', 'Certificate', 'Issuer']) {
      expect(findAll(rendered.defaults, kind), kind).toEqual([]);
    }
  });
});

describe('TLS modes', () => {
  it('cert-manager: self-signed chain, serving Certificate for the Service names, CA injected by annotation', () => {
    const docs = rendered.certManager;
    expect(findAll(docs, 'Secret')).toEqual([]);
    const issuers = findAll(docs, 'Issuer').map((i) => i.metadata.name).sort();
    expect(issuers).toEqual([`${FULLNAME}-ca`, `${FULLNAME}-selfsigned`]);
    const caCert = find(docs, 'Certificate', `${FULLNAME}-ca`);
    expect(at(caCert, 'spec', 'isCA')).toBe(true);
    expect(at(caCert, 'spec', 'issuerRef', 'name')).toBe(`${FULLNAME}-selfsigned`);
    const serving = find(docs, 'Certificate', `${FULLNAME}-serving`);
    expect(at(serving, 'spec', 'dnsNames')).toEqual(DNS_NAMES);
    expect(at(serving, 'spec', 'issuerRef')).toEqual({ name: `${FULLNAME}-ca`, kind: 'Issuer', group: 'cert-manager.io' });
    const tlsVolume = (podSpec(docs).volumes as { name: string; secret?: { secretName: string } }[]).find((v) => v.name === 'tls');
    expect(tlsVolume?.secret?.secretName).toBe(at(serving, 'spec', 'secretName'));
    const mwc = find(docs, 'MutatingWebhookConfiguration');
    expect(mwc.metadata.annotations?.['cert-manager.io/inject-ca-from']).toBe(`${NAMESPACE}/${FULLNAME}-serving`);
    expect(webhooks(docs)[0]!.clientConfig.caBundle).toBeUndefined();
    // Helm ownership metadata on the Secret cert-manager makes, so switching to tls.mode=generate (which renders a
    // Secret of the same name) can adopt it instead of failing the upgrade.
    expect(at(serving, 'spec', 'secretTemplate', 'labels', 'app.kubernetes.io/managed-by')).toBe('Helm');
    expect(at(serving, 'spec', 'secretTemplate', 'annotations')).toEqual({
      'meta.helm.sh/release-name': 'miw',
      'meta.helm.sh/release-namespace': NAMESPACE,
    });
    expect(at(serving, 'spec', 'secretName')).toBe(find(rendered.defaults, 'Secret').metadata.name);
    expect(envOf(at(testPod(docs), 'spec', 'containers', 0)).CA_FILE).toBeDefined();
  });

  it('cert-manager with an issuerRef: only the serving Certificate, issued by that issuer', () => {
    const docs = rendered.certManagerIssuer;
    expect(findAll(docs, 'Issuer')).toEqual([]);
    expect(findAll(docs, 'Certificate')).toHaveLength(1);
    expect(at(find(docs, 'Certificate'), 'spec', 'issuerRef')).toEqual({ name: 'corp-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' });
  });

  it('secret: the given Secret and caBundle (PEM or base64 PEM), no Secret or Certificate rendered', async () => {
    const caB64 = (find(rendered.defaults, 'Secret').data as Record<string, string>)['ca.crt']!;
    const pem = Buffer.from(caB64, 'base64').toString('utf8');
    for (const caBundle of [pem, caB64]) {
      const docs = await render({ set: { 'tls.mode': 'secret', 'tls.secretName': 'my-webhook-tls' }, setJson: { 'tls.caBundle': caBundle } });
      for (const obj of docs) validateManifest(obj);
      expect(findAll(docs, 'Secret')).toEqual([]);
      expect(findAll(docs, 'Certificate')).toEqual([]);
      expect(Buffer.from(webhooks(docs)[0]!.clientConfig.caBundle, 'base64').toString('utf8').trim()).toBe(pem.trim());
      const tlsVolume = (podSpec(docs).volumes as { name: string; secret?: { secretName: string } }[]).find((v) => v.name === 'tls');
      expect(tlsVolume?.secret?.secretName).toBe('my-webhook-tls');
      expect(envOf(at(testPod(docs), 'spec', 'containers', 0)).CA_PEM?.trim()).toBe(pem.trim());
    }
  });

  it.each([
    ['generate', {}],
    ['cert-manager', { 'tls.mode': 'cert-manager' }],
    ['secret', { 'tls.mode': 'secret', 'tls.secretName': 's', 'tls.caBundle': '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----' }],
  ])('helm lint --strict passes in %s mode', async (_mode, set) => {
    const args = ['lint', CHART, '--strict', '--namespace', NAMESPACE];
    for (const [k, v] of Object.entries(set)) args.push('--set-string', `${k}=${v}`);
    const r = await helm(args);
    expect(r.stderr + r.stdout).toContain('0 chart(s) failed');
  });
});

describe('admission scope and failure policy', () => {
  it('failurePolicy=Fail', () => {
    expect(webhooks(rendered.failClosed).map((w) => w.failurePolicy)).toEqual(['Fail']);
  });

  it('failClosedNamespaces: a second entry with Fail for those namespaces, removed from the Ignore entry', () => {
    const [main, closed] = webhooks(rendered.failClosedNamespaces);
    expect(main!.failurePolicy).toBe('Ignore');
    expect(nsExpr(main!, 'NotIn')?.values).toEqual(['kube-system', 'kube-public', 'kube-node-lease', NAMESPACE, 'monitoring', 'mlrun']);
    expect(closed!.name).toBe(`fail-closed.${WEBHOOK_NAME}`);
    expect(closed!.failurePolicy).toBe('Fail');
    expect(nsExpr(closed!, 'In')?.values).toEqual(['mlrun']);
    expect(nsExpr(closed!, 'NotIn')?.values).toEqual(['kube-system', 'kube-public', 'kube-node-lease', NAMESPACE, 'monitoring']);
    expect(closed!.rules).toEqual(main!.rules);
    expect(closed!.objectSelector).toEqual(main!.objectSelector);
  });

  it('targetNamespaces: In on kubernetes.io/metadata.name, system namespaces still excluded', () => {
    const w = webhooks(rendered.targets)[0]!;
    expect(nsExpr(w, 'In')?.values).toEqual(['mlrun', 'mlrun-jobs']);
    expect(nsExpr(w, 'NotIn')?.values).toContain('kube-system');
  });

  it('matchConditions: user conditions after the kube-* exclusion; the exclusion can be switched off', () => {
    expect(webhooks(rendered.matchConditions)[0]!.matchConditions.map((c: { name: string }) => c.name)).toEqual([
      'exclude-kube-prefixed-namespaces',
      'mlrun-only',
    ]);
    expect(webhooks(rendered.noKubePrefixCondition)[0]!.matchConditions).toBeUndefined();
  });

  it('Kubernetes version gates: matchConditions from 1.28, preStop sleep from 1.30 (exec with node before), PDB eviction policy from 1.27', () => {
    expect(webhooks(rendered.kube127)[0]!.matchConditions).toBeUndefined();
    expect(webhooks(rendered.kube129)[0]!.matchConditions).toHaveLength(1);
    expect(container(rendered.kube129).lifecycle.preStop).toEqual({ exec: { command: ['node', '-e', 'setTimeout(() => {}, 10000)'] } });
    expect(container(rendered.kube130).lifecycle.preStop).toEqual({ sleep: { seconds: 10 } });
    expect(at(find(rendered.kube127, 'PodDisruptionBudget'), 'spec', 'unhealthyPodEvictionPolicy')).toBe('AlwaysAllow');
  });
});

describe('monitoring and network policy', () => {
  it('NetworkPolicy: webhook port open to any source, metrics port to the monitoring namespace, egress DNS only', () => {
    const np = find(rendered.monitoringOn, 'NetworkPolicy');
    const spec = np.spec as Record<string, any>;
    expect(spec.policyTypes).toEqual(['Ingress', 'Egress']);
    const [webhookRule, metricsRule] = spec.ingress;
    expect(webhookRule.ports).toEqual([{ port: 'https', protocol: 'TCP' }]);
    expect(webhookRule.from).toBeUndefined();
    expect(metricsRule.ports).toEqual([{ port: 'http-health', protocol: 'TCP' }]);
    expect(metricsRule.from[0]).toEqual({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } });
    expect(spec.egress).toEqual([{ ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }] }]);
  });

  it('NetworkPolicy with restricted sources still lets the helm test Pod in; no DNS egress when switched off', () => {
    const spec = find(rendered.networkPolicyRestricted, 'NetworkPolicy').spec as Record<string, any>;
    const testLabels = testPod(rendered.networkPolicyRestricted).metadata.labels!;
    for (const rule of spec.ingress) {
      const podPeer = rule.from.find((p: Record<string, any>) => p.podSelector);
      for (const [k, v] of Object.entries(podPeer.podSelector.matchLabels as Record<string, string>)) expect(testLabels[k]).toBe(v);
    }
    expect(spec.ingress[0].from[0]).toEqual({ ipBlock: { cidr: '10.0.0.0/8' } });
    expect(spec.egress).toBeNull();
  });

  it('ServiceMonitor scrapes the health port of this release only', () => {
    const sm = find(rendered.monitoringOn, 'ServiceMonitor');
    expect(at(sm, 'spec', 'endpoints', 0)).toMatchObject({ port: 'http-health', path: '/metrics' });
    expect(at(sm, 'spec', 'namespaceSelector')).toEqual({ matchNames: [NAMESPACE] });
    const svcPorts = (at(find(rendered.monitoringOn, 'Service'), 'spec', 'ports') as { name: string }[]).map((p) => p.name);
    expect(svcPorts).toContain('http-health');
  });

  it('PrometheusRule: certificate expiry, fail-open on our webhook name, errors, latency, reload failures, availability', () => {
    const rules = at(find(rendered.monitoringOn, 'PrometheusRule'), 'spec', 'groups', 0, 'rules') as { alert: string; expr: string }[];
    const byName = Object.fromEntries(rules.map((r) => [r.alert, r.expr]));
    expect(Object.keys(byName).sort()).toEqual([
      'MlrunImageWebhookCertificateExpiresSoon',
      'MlrunImageWebhookCertificateReloadFailed',
      'MlrunImageWebhookConfigReloadFailed',
      'MlrunImageWebhookErrors',
      'MlrunImageWebhookFailingOpen',
      'MlrunImageWebhookSlow',
      'MlrunImageWebhookUnavailable',
    ]);
    expect(byName.MlrunImageWebhookCertificateExpiresSoon).toContain('mlrun_image_webhook_tls_certificate_expiry_timestamp_seconds');
    expect(byName.MlrunImageWebhookFailingOpen).toContain(`apiserver_admission_webhook_fail_open_count{name=~"${webhooks(rendered.monitoringOn)[0]!.name}"}`);
    expect(byName.MlrunImageWebhookErrors).toContain('outcome="error"');
    expect(byName.MlrunImageWebhookErrors).toContain(`service="${FULLNAME}"`);
    expect(byName.MlrunImageWebhookConfigReloadFailed).toContain('mlrun_image_webhook_config_reloads_total');
    expect(byName.MlrunImageWebhookUnavailable).toContain(`deployment="${FULLNAME}"`);
  });

  it('PrometheusRule: certificate expiry warns at 21 days (for 1h) and is critical at 7 days (for 10m), one alert name', async () => {
    type Rule = { alert: string; expr: string; for: string; labels: Record<string, string> };
    const expiry = (docs: K8sObject[]) =>
      (at(find(docs, 'PrometheusRule'), 'spec', 'groups', 0, 'rules') as Rule[]).filter((r) => r.alert === 'MlrunImageWebhookCertificateExpiresSoon');
    const rules = expiry(rendered.monitoringOn);
    expect(rules.map((r) => [r.labels.severity, r.for, r.expr.match(/< (\d+) \* 86400/)?.[1]])).toEqual([
      ['warning', '1h', '21'],
      ['critical', '10m', '7'],
    ]);
    for (const r of rules) expect(r.expr).toContain(`mlrun_image_webhook_tls_certificate_expiry_timestamp_seconds{namespace="${NAMESPACE}",service="${FULLNAME}"}`);
    const custom = await render({ set: { 'prometheusRule.enabled': true, 'prometheusRule.certificateExpiryDays': 30, 'prometheusRule.certificateExpiryCriticalDays': 3 } });
    expect(expiry(custom).map((r) => r.expr.match(/< (\d+) \* 86400/)?.[1])).toEqual(['30', '3']);
  });

  it('cert-manager renews before the expiry warning window opens (renewBefore 720h > 21 days)', async () => {
    const docs = await render({ set: { 'tls.mode': 'cert-manager', 'prometheusRule.enabled': true } });
    const serving = find(docs, 'Certificate', `${FULLNAME}-serving`);
    expect(at(serving, 'spec', 'renewBefore')).toBe('720h');
    expect(720 / 24).toBeGreaterThan(21);
  });

  it('PrometheusRule: a rejection alert for the fail-closed webhook entry', () => {
    const rules = at(find(rendered.monitoringFailClosed, 'PrometheusRule'), 'spec', 'groups', 0, 'rules') as { alert: string; expr: string; labels: Record<string, string> }[];
    const reject = rules.find((r) => r.alert === 'MlrunImageWebhookRejectingPods');
    expect(reject?.expr).toContain(`name=~"fail-closed.${WEBHOOK_NAME}"`);
    expect(rules.find((r) => r.alert === 'MlrunImageWebhookUnavailable')?.labels.severity).toBe('critical');
  });
});

describe('customisation', () => {
  it('names, image, labels, annotations, pull secrets, priority, service account', () => {
    const docs = rendered.customised;
    const dep = deploymentOf(docs);
    expect(dep.metadata.name).toBe('imgwh');
    expect(find(docs, 'Service').metadata.name).toBe('imgwh');
    expect(at(dep, 'spec', 'replicas')).toBe(3);
    expect(container(docs).image).toBe(`registry.example:5000/miw:9.9.9@sha256:${'a'.repeat(64)}`);
    for (const obj of docs) expect(obj.metadata.labels?.team, obj.kind).toBe('mlops');
    expect(at(dep, 'spec', 'template', 'metadata', 'labels', 'extra')).toBe('yes');
    expect(at(dep, 'spec', 'template', 'metadata', 'annotations')).toEqual({ 'example.com/a': 'b' });
    expect(podSpec(docs).imagePullSecrets).toEqual([{ name: 'regcred' }]);
    expect(podSpec(docs).priorityClassName).toBe('system-cluster-critical');
    expect(podSpec(docs).serviceAccountName).toBe('default');
    expect(findAll(docs, 'ServiceAccount')).toEqual([]);
    expect(podSpec(docs).tolerations).toHaveLength(1);
    expect(at(testPod(docs), 'spec', 'tolerations')).toHaveLength(1);
    expect(container(docs).lifecycle.preStop.exec.command[0]).toBe('node');
    const w = webhooks(docs)[0]!;
    expect(w).toMatchObject({ name: `imgwh.${NAMESPACE}.svc`, timeoutSeconds: 3, reinvocationPolicy: 'Never' });
    expect(w.objectSelector.matchExpressions[0].key).toBe('example.com/no-rewrite');
  });

  it('mlrun.envFrom goes to the container and not into the config file; the helm test then accepts any tag', () => {
    const docs = rendered.customised;
    expect(container(docs).envFrom).toEqual([{ configMapRef: { name: 'mlrun-override-env', optional: true } }]);
    const config = configOf(docs);
    expect(config.mlrun.envFrom).toBeUndefined();
    expect(config.mlrun.imagesRegistry).toBe('datanode-registry.example:80/');
    expect(config.webhook.mode).toBe('report');
    const env = envOf(at(testPod(docs), 'spec', 'containers', 0));
    expect(env.EXPECT_TAG).toBe('');
    expect(env.EXPECT_MODE).toBe('report');
  });

  it('the helm test expects MLRun\'s tag: imagesTag as given, else the version with + → - and 0.0.0- dropped', async () => {
    const tagOf = (docs: K8sObject[]) => envOf(at(testPod(docs), 'spec', 'containers', 0)).EXPECT_TAG;
    expect(tagOf(rendered.devVersion)).toBe('unstable');
    expect(tagOf(rendered.ciVersion)).toBe('1.10.0-a1b2c3d4');
    expect(configOf(rendered.ciVersion).mlrun.imagesToEnrichRegistry).toBe('');
    const withTag = await render({ set: { 'mlrun.imagesTag': '1.8.0-custom' } });
    expect(tagOf(withTag)).toBe('1.8.0-custom');
  });

  it('a value that looks like a number stays a string in the config file', async () => {
    const docs = await render({ set: { 'mlrun.imagesTag': '1.10' } });
    expect(configOf(docs).mlrun.imagesTag).toBe('1.10');
  });

  it('replicaCount 1: no PodDisruptionBudget (it would block every drain); preStop none; no test pod', () => {
    const docs = rendered.singleReplica;
    expect(findAll(docs, 'PodDisruptionBudget')).toEqual([]);
    expect(container(docs).lifecycle).toBeUndefined();
    expect(findAll(docs, 'Pod')).toEqual([]);
  });
});
