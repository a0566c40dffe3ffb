/**
 * tls.mode=generate across upgrades: the chart reads the existing Secret back with `lookup` and keeps it, or reissues
 * (keeping the previous CA in the caBundle) when it is about to expire, was made for other DNS names, or is damaged.
 * Runs `helm template --dry-run=server` against a fake API server (test/chart/fake-kube-api.ts), so `lookup` is real.
 */
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeKubeApi, startFakeKubeApi } from './fake-kube-api.js';
import { FULLNAME, type K8sObject, NAMESPACE, at, ensureHelm, find, render } from './helm.js';

const SECRET = `${FULLNAME}-tls`;
let api: FakeKubeApi;
let first: K8sObject[];

const b64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');
const secretOf = (docs: K8sObject[]) => find(docs, 'Secret', SECRET);
const dataOf = (docs: K8sObject[]) => secretOf(docs).data as Record<string, string>;
const caBundleOf = (docs: K8sObject[]) => b64(at(find(docs, 'MutatingWebhookConfiguration'), 'webhooks', 0, 'clientConfig', 'caBundle'));
const certsIn = (pem: string) => (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((c) => new X509Certificate(c));

/** Render as an upgrade would, with `existing` as the Secret in the cluster (or none). */
async function upgrade(existing: K8sObject | undefined, tag: string): Promise<K8sObject[]> {
  api.secrets.clear();
  if (existing) api.secrets.set(`${NAMESPACE}/${SECRET}`, existing);
  return render({
    args: ['--dry-run=server', '--disable-openapi-validation', '--is-upgrade', '--skip-tests'],
    env: { KUBECONFIG: api.kubeconfig, MIW_CASE: tag }, // MIW_CASE only keeps render()'s memo apart
  });
}

function withAnnotations(secret: K8sObject, patch: Record<string, string>): K8sObject {
  const copy = structuredClone(secret);
  copy.metadata.annotations = { ...copy.metadata.annotations, ...patch };
  return copy;
}

beforeAll(async () => {
  ensureHelm();
  api = await startFakeKubeApi();
  first = await upgrade(undefined, 'install');
});

afterAll(async () => {
  await api?.close();
});

describe('generate mode keeps its certificate across upgrades (lookup)', () => {
  it('install: looks the Secret up, finds none, generates', () => {
    expect(api.requests).toContain(`GET /api/v1/namespaces/${NAMESPACE}/secrets/${SECRET}`);
    const ca = new X509Certificate(b64(dataOf(first)['ca.crt']!));
    expect(new X509Certificate(b64(dataOf(first)['tls.crt']!)).verify(ca.publicKey)).toBe(true);
    expect(certsIn(caBundleOf(first)).map((c) => c.fingerprint256)).toEqual([ca.fingerprint256]);
  });

  it('upgrade: the existing certificate, key and CA are kept byte for byte, and so is the caBundle', async () => {
    const docs = await upgrade(secretOf(first), 'reuse');
    expect(dataOf(docs)).toEqual(dataOf(first));
    expect(secretOf(docs).metadata.annotations).toEqual(secretOf(first).metadata.annotations);
    expect(caBundleOf(docs)).toBe(b64(dataOf(first)['ca.crt']!));
  });

  it('upgrade when the certificate expires within renewBeforeDays: reissued, old CA kept in the caBundle', async () => {
    const soon = String(Math.floor(Date.now() / 1000) + 10 * 86400);
    const docs = await upgrade(withAnnotations(secretOf(first), { 'mlrun-image-webhook/cert-not-after': soon }), 'cert-expiring');
    const data = dataOf(docs);
    expect(data['tls.crt']).not.toBe(dataOf(first)['tls.crt']);
    const newCa = new X509Certificate(b64(data['ca.crt']!));
    const oldCa = new X509Certificate(b64(dataOf(first)['ca.crt']!));
    expect(new X509Certificate(b64(data['tls.crt']!)).verify(newCa.publicKey)).toBe(true);
    // Replicas still serving the old certificate (until the kubelet refreshes the Secret volume) stay trusted.
    expect(certsIn(caBundleOf(docs)).map((c) => c.fingerprint256)).toEqual([newCa.fingerprint256, oldCa.fingerprint256]);
    expect(Number(secretOf(docs).metadata.annotations!['mlrun-image-webhook/cert-not-after'])).toBeGreaterThan(Number(soon));
  });

  it('upgrade when the CA expires within renewBeforeDays: reissued', async () => {
    const soon = String(Math.floor(Date.now() / 1000) + 86400);
    const docs = await upgrade(withAnnotations(secretOf(first), { 'mlrun-image-webhook/ca-not-after': soon }), 'ca-expiring');
    expect(dataOf(docs)['ca.crt']).not.toBe(dataOf(first)['ca.crt']);
    expect(certsIn(caBundleOf(docs))).toHaveLength(2);
  });

  it('upgrade when the Secret was made for other DNS names: reissued', async () => {
    const docs = await upgrade(withAnnotations(secretOf(first), { 'mlrun-image-webhook/dns-names': 'old-name.other.svc' }), 'dns-changed');
    expect(dataOf(docs)['tls.crt']).not.toBe(dataOf(first)['tls.crt']);
  });

  it('upgrade when the Secret is damaged (no ca.crt) or not ours (no annotations): regenerated, nothing stale in the caBundle', async () => {
    const damaged = structuredClone(secretOf(first));
    delete (damaged.data as Record<string, string>)['ca.crt'];
    const docs = await upgrade(damaged, 'damaged');
    expect(dataOf(docs)['tls.key']).not.toBe(dataOf(first)['tls.key']);
    expect(certsIn(caBundleOf(docs))).toHaveLength(1);

    const foreign = structuredClone(secretOf(first));
    foreign.metadata.annotations = {};
    const docs2 = await upgrade(foreign, 'foreign');
    expect(dataOf(docs2)['tls.crt']).not.toBe(dataOf(first)['tls.crt']);
  });
});
