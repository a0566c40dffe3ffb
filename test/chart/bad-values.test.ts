/**
 * Wrong values must stop `helm install` / `helm template` with a message that names the value and the fix:
 * type and enum errors come from values.schema.json (generated from the server's config schema), the rest from the
 * chart's own checks (templates/_helpers.tpl "miw.validate").
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeKubeApi, startFakeKubeApi } from './fake-kube-api.js';
import { CHART, NAMESPACE, type RenderOptions, ensureHelm, helm, render, renderError } from './helm.js';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----';

/**
 * Schema errors: the message must name the key and say what is allowed. Helm 4 and Helm 3 word it differently
 * ("at '/webhook/mode': value must be one of 'enforce', 'report'" vs "webhook.mode: webhook.mode must be one of the
 * following: "enforce", "report""), so these cases list the words that must appear rather than one phrasing.
 */
const schemaCases: [string, RenderOptions, string, string[]][] = [
  ['webhook.mode=banana', { set: { 'webhook.mode': 'banana' } }, 'webhook.mode', ['enforce', 'report']],
  ['failurePolicy=Maybe', { set: { failurePolicy: 'Maybe' } }, 'failurePolicy', ['Ignore', 'Fail']],
  ['log.level=verbose', { set: { 'log.level': 'verbose' } }, 'log.level', ['fatal', 'error', 'warn', 'info', 'debug', 'trace']],
  ['mlrun.kfpPythonSuffix=never', { set: { 'mlrun.kfpPythonSuffix': 'never' } }, 'mlrun.kfpPythonSuffix', ['auto', 'exempt']],
  ['a misspelt config key', { set: { 'mlrun.imagesRegistryy': 'x' } }, 'mlrun', ['imagesRegistryy', 'not allowed']],
  ['a misspelt chart key', { set: { replicas: 3 } }, '', ['replicas', 'not allowed']],
  ['mlrun.version given as a number (1.10 unquoted in a values file)', { setJson: { 'mlrun.version': 1.1 } }, 'mlrun.version', ['string', 'number']],
  ['mlrun.version with a space', { set: { 'mlrun.version': '1.9 2' } }, 'mlrun.version', ['pattern']],
  // The registry and tag grammars (src/config/schema.ts) hold in helm too (Go's RE2 runs the same patterns).
  ['mlrun.imagesRegistry with a scheme', { set: { 'mlrun.imagesRegistry': 'https://reg.example/' } }, 'mlrun.imagesRegistry', ['pattern']],
  ['mlrun.imagesRegistry with "//"', { set: { 'mlrun.imagesRegistry': 'reg//' } }, 'mlrun.imagesRegistry', ['pattern']],
  ['mlrun.vendorImagesRegistry with an upper-case path', { set: { 'mlrun.vendorImagesRegistry': 'reg.example/Team/' } }, 'mlrun.vendorImagesRegistry', ['pattern']],
  ['mlrun.imagesTag not a tag', { set: { 'mlrun.imagesTag': 'bad tag!' } }, 'mlrun.imagesTag', ['pattern']],
  ['webhook.optOutKey not a label key', { set: { 'webhook.optOutKey': 'no spaces allowed' } }, 'webhook.optOutKey', ['pattern']],
  ['webhook.annotationKey name over 63 characters', { set: { 'webhook.annotationKey': `example.com/${'a'.repeat(64)}` } }, 'webhook.annotationKey', ['pattern']],
  ['timeoutSeconds=60', { set: { timeoutSeconds: 60 } }, 'timeoutSeconds', ['30']],
  ['replicaCount=0', { set: { replicaCount: 0 } }, 'replicaCount', ['1']],
  ['image.digest not sha256', { set: { 'image.digest': 'latest' } }, 'image.digest', ['pattern']],
  ['tls.mode=self', { set: { 'tls.mode': 'self' } }, 'tls.mode', ['generate', 'cert-manager', 'secret']],
  ['targetNamespaces entry not a namespace name', { setJson: { targetNamespaces: ['MLRun'] } }, 'targetNamespaces.0', ['pattern']],
  ['matchConditions entry without expression', { setJson: { matchConditions: [{ name: 'x' }] } }, 'matchConditions.0', ['expression']],
  // discovery, mirror and policy: the server's own schema sections, plus their chart-only keys
  ['policy.pinTags=block', { set: { 'policy.pinTags': 'block' } }, 'policy.pinTags', ['off', 'warn', 'deny', 'rewrite']],
  ['policy.failurePolicy=Maybe', { set: { 'policy.failurePolicy': 'Maybe' } }, 'policy.failurePolicy', ['Ignore', 'Fail']],
  ['policy.namespaceLabel.value with a space', { set: { 'policy.namespaceLabel.value': 'prod uction' } }, 'policy.namespaceLabel.value', ['pattern']],
  ['discovery.namespaces entry not a namespace', { setJson: { 'discovery.namespaces': ['MLRun'] } }, 'discovery.namespaces.0', []],
  ['mirror.budgetMs over the schema maximum', { set: { 'mirror.budgetMs': 9000 } }, 'mirror.budgetMs', ['maximum']],
  ['mirror.pullSecrets entry not a name', { setJson: { 'mirror.pullSecrets': ['Reg Cred'] } }, 'mirror.pullSecrets.0', ['pattern']],
  ['networkPolicy.apiServer.cidr not a CIDR', { set: { 'networkPolicy.apiServer.cidr': '10.0.0.1' } }, 'networkPolicy.apiServer.cidr', ['pattern']],
  ['networkPolicy.registries entry without ports', { setJson: { 'networkPolicy.registries': [{ cidr: '10.0.0.0/8' }] } }, 'networkPolicy.registries.0', ['ports']],
];

const chartCases: [string, RenderOptions, RegExp][] = [
  // the chart's own checks
  ['tls.mode=secret without tls.secretName', { set: { 'tls.mode': 'secret' } }, /tls\.mode=secret needs tls\.secretName: the name of an existing kubernetes\.io\/tls Secret/],
  ['tls.mode=secret without tls.caBundle', { set: { 'tls.mode': 'secret', 'tls.secretName': 's' } }, /tls\.mode=secret needs tls\.caBundle/],
  ['tls.caBundle that is no certificate', { set: { 'tls.mode': 'secret', 'tls.secretName': 's', 'tls.caBundle': 'aGVsbG8=' } }, /tls\.caBundle must be the CA certificate as PEM/],
  ['tls.caBundle outside secret mode', { setJson: { 'tls.caBundle': PEM } }, /tls\.caBundle is only used with tls\.mode=secret \(tls\.mode is generate\)/],
  ['certificate outliving its CA', { set: { 'tls.generate.certValidityDays': 4000 } }, /certValidityDays must not exceed tls\.generate\.caValidityDays/],
  ['preStop longer than the grace period', { set: { 'preStop.seconds': 45 } }, /terminationGracePeriodSeconds \(40\) must be larger than preStop\.seconds \(45\)/],
  ['preStop.mode=sleep on Kubernetes 1.29', { set: { 'preStop.mode': 'sleep' }, kubeVersion: '1.29.0' }, /preStop\.mode=sleep needs Kubernetes >= 1\.30 \(this is v1\.29\.0\)/],
  ['matchConditions on Kubernetes 1.27', { setJson: { matchConditions: [{ name: 'a', expression: 'true' }] }, kubeVersion: '1.27.0' }, /matchConditions need Kubernetes >= 1\.28/],
  ['kube-system as a target', { setJson: { targetNamespaces: ['kube-system'] } }, /namespace kube-system cannot be served by the webhook/],
  // kube-* namespaces are skipped by the exclude-kube-prefixed-namespaces matchCondition: naming one would do nothing.
  ['a kube-* namespace as a target', { setJson: { targetNamespaces: ['mlrun', 'kube-foo'] } }, /targetNamespaces entry kube-foo would never be served: excludeKubePrefixedNamespaces/],
  ['a kube-* namespace as fail-closed', { setJson: { failClosedNamespaces: ['kube-bar'] } }, /failClosedNamespaces entry kube-bar would never be served: excludeKubePrefixedNamespaces/],
  ['the release namespace as fail-closed', { setJson: { failClosedNamespaces: [NAMESPACE] } }, new RegExp(`namespace ${NAMESPACE} cannot be served by the webhook`)],
  ['fail-closed namespace outside targetNamespaces', { setJson: { targetNamespaces: ['a'], failClosedNamespaces: ['b'] } }, /failClosedNamespaces entry b is not in targetNamespaces/],
  ['fail-closed and excluded at once', { setJson: { excludedNamespaces: ['a'], failClosedNamespaces: ['a'] } }, /namespace a is both in failClosedNamespaces and excludedNamespaces/],
  ['PDB that blocks every drain', { set: { 'pdb.minAvailable': 2 } }, /pdb\.minAvailable \(2\) must be lower than replicaCount \(2\)/],
  ['duplicate matchCondition names', { setJson: { matchConditions: [{ name: 'a', expression: 'true' }, { name: 'a', expression: 'true' }] } }, /matchConditions: name a is used twice/],
  // The schema holds the 63-character parts; the 253-character prefix needs this check (Go regexp has no lookahead).
  ['a label key prefix over 253 characters', { set: { 'webhook.annotationKey': `${Array.from({ length: 5 }, () => 'a'.repeat(60)).join('.')}/x` } }, /webhook\.annotationKey: the prefix before "\/" must be at most 253 characters, got 304/],
  ['critical certificate alert not below the warning', { set: { 'prometheusRule.certificateExpiryCriticalDays': 21 } }, /certificateExpiryCriticalDays \(21\) must be lower than prometheusRule\.certificateExpiryDays \(21\)/],
  [
    'cert-manager renewing inside the expiry warning window',
    { set: { 'tls.mode': 'cert-manager', 'tls.certManager.renewBefore': '360h', 'prometheusRule.enabled': true } },
    /tls\.certManager\.renewBefore \(360h\) must be longer than prometheusRule\.certificateExpiryDays \(21 days\)/,
  ],
  ['reserved matchCondition name', { setJson: { matchConditions: [{ name: 'exclude-kube-prefixed-namespaces', expression: 'true' }] } }, /is reserved/],
];

beforeAll(() => {
  ensureHelm();
});

describe('values the schema refuses: helm names the key and what is allowed', () => {
  it.each(schemaCases)('%s', async (_name, options, key, words) => {
    const err = await renderError(options);
    expect(err).toMatch(/values don't meet the specifications of the schema/);
    if (key) {
      const slashed = `/${key.replace(/\./g, '/')}`;
      expect(err.includes(slashed) || err.includes(key), `message names ${key}: ${err}`).toBe(true);
    }
    for (const w of words) expect(err).toContain(w);
  });
});

describe('values the chart refuses: the message says what to do', () => {
  it.each(chartCases)('%s', async (_name, options, message) => {
    const err = await renderError(options);
    expect(err).toMatch(message);
    // One line that says what is wrong, not a Go stack or a YAML parse error.
    expect(err).not.toMatch(/goroutine|panic|error converting YAML/);
  });
});

describe('kube-* namespaces are refused only where the kube-* matchCondition exists', () => {
  it.each<[string, RenderOptions]>([
    ['excludeKubePrefixedNamespaces=false', { set: { excludeKubePrefixedNamespaces: false } }],
    ['Kubernetes 1.27 (no matchConditions)', { kubeVersion: '1.27.0' }],
  ])('%s: a kube-* target is served, so it is accepted', async (_name, o) => {
    const docs = await render({ ...o, setJson: { targetNamespaces: ['kube-foo'], failClosedNamespaces: ['kube-foo'] } });
    expect(docs.some((d) => d.kind === 'MutatingWebhookConfiguration')).toBe(true);
  });
});

describe('helm install refuses the same values before creating anything', () => {
  // Helm 3 contacts the cluster even for --dry-run=client; a fake API server stands in for it.
  let api: FakeKubeApi;
  beforeAll(async () => {
    api = await startFakeKubeApi();
  });
  afterAll(async () => {
    await api?.close();
  });
  const install = (...set: string[]) =>
    helm(['install', 'miw', CHART, '--namespace', NAMESPACE, '--dry-run=client', '--disable-openapi-validation', ...set.flatMap((v) => ['--set', v])], {
      KUBECONFIG: api.kubeconfig,
    });

  it('webhook.mode=banana', async () => {
    const r = await install('webhook.mode=banana');
    expect(r.ok).toBe(false);
    expect(r.stderr).toMatch(/values don't meet the specifications of the schema/);
    expect(r.stderr).toMatch(/webhook[./]mode/);
  });

  it('tls.mode=secret without a Secret', async () => {
    const r = await install('tls.mode=secret');
    expect(r.ok).toBe(false);
    expect(r.stderr).toMatch(/tls\.mode=secret needs tls\.secretName/);
  });

  it('installs the defaults and prints the NOTES', async () => {
    const r = await install();
    expect(r.stderr).toBe('');
    expect(r.ok).toBe(true);
    // NOTES.txt: how to see it work and how to switch it off
    expect(r.stdout).toContain('kubectl run miw-demo --image=mlrun/mlrun');
    expect(r.stdout).toContain('The image should read mlrun/mlrun:1.9.2');
    expect(r.stdout).toContain('kubectl delete mutatingwebhookconfiguration miw-mlrun-image-webhook');
    expect(r.stdout).not.toContain('WARNING');
  });

  it.each<[string, string[], boolean]>([
    ['failurePolicy=Fail without targetNamespaces', ['failurePolicy=Fail'], true],
    ['failurePolicy=Fail with targetNamespaces', ['failurePolicy=Fail', 'targetNamespaces={mlrun}'], false],
    ['failurePolicy=Ignore with failClosedNamespaces', ['failClosedNamespaces={mlrun}'], false],
  ])('NOTES warn about a cluster-wide fail-closed webhook only when it is one: %s', async (_name, set, warns) => {
    const r = await install(...set);
    expect(r.stderr).toBe('');
    expect(r.ok).toBe(true);
    const warning = /WARNING: failurePolicy is Fail and targetNamespaces is empty, so EVERY namespace/;
    if (warns) {
      expect(r.stdout).toMatch(warning);
      expect(r.stdout).toMatch(/set targetNamespaces, or keep\s+failurePolicy=Ignore and list them in failClosedNamespaces/);
    } else {
      expect(r.stdout).not.toMatch(warning);
    }
  });
});
