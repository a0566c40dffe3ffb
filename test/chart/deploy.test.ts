/**
 * deploy/ is the chart rendered for `kubectl apply` (scripts/render-deploy.ts). It must be current and valid.
 * Regenerate with: UPDATE_GENERATED=1 npx vitest run test/chart/deploy.test.ts
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEPLOY_FILE, DEPLOY_NAMESPACE, KUSTOMIZATION_FILE, helmArgs, isHook, renderDeploy } from '../../scripts/render-deploy.js';
import { checkGenerated } from './generated.js';
import { type K8sObject, ROOT, at, ensureHelm, find, helmEnv, parseDocs } from './helm.js';
import { validateManifest } from './k8s-schemas.js';

let files: Record<string, string>;
let docs: K8sObject[];

beforeAll(() => {
  const helm = ensureHelm();
  files = renderDeploy(helm, ROOT, helmEnv());
  docs = parseDocs(files[DEPLOY_FILE]!);
});

describe('deploy/', () => {
  it.each([DEPLOY_FILE, KUSTOMIZATION_FILE])('%s is up to date with the chart', (rel) => {
    checkGenerated(rel, files[rel]!);
  });

  it('rendering is deterministic (no random certificates, no timestamps)', () => {
    const again = renderDeploy(ensureHelm(), ROOT, helmEnv());
    expect(again).toEqual(files);
  });

  it('every manifest passes the Kubernetes schemas', () => {
    expect(docs.length).toBeGreaterThan(8);
    for (const d of docs) validateManifest(d);
  });

  it('starts with its Namespace (restricted Pod Security) and keeps everything in it', () => {
    expect(docs[0]).toMatchObject({ kind: 'Namespace', metadata: { name: DEPLOY_NAMESPACE } });
    expect(docs[0]!.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    for (const d of docs.slice(1)) {
      if (d.kind !== 'MutatingWebhookConfiguration') expect(d.metadata.namespace, d.kind).toBe(DEPLOY_NAMESPACE);
    }
  });

  it('has no Helm bookkeeping, no helm test Pod and no key material', () => {
    const text = files[DEPLOY_FILE]!;
    expect(text).not.toContain('helm.sh/');
    expect(text).not.toMatch(/managed-by: Helm/);
    expect(docs.filter((d) => d.kind === 'Pod')).toEqual([]);
    expect(docs.filter((d) => d.kind === 'Secret')).toEqual([]);
    expect(text).not.toContain('PRIVATE KEY');
  });

  it('leaves Helm hooks out: the pre-install config check (Job + its ConfigMap) is in helm\'s output but not in deploy/', () => {
    // Without --no-hooks helm renders the hooks: the filter in renderDeploy must catch them on its own too.
    const withHooks = helmArgs(ROOT).filter((a) => a !== '--no-hooks' && a !== '--skip-tests');
    const all = parseDocs(execFileSync(ensureHelm(), withHooks, { encoding: 'utf8', maxBuffer: 32 * 1024 * 1024, env: helmEnv() }));
    const hooks = all.filter((d) => isHook(d));
    expect(hooks.map((d) => d.kind).sort()).toEqual(['ConfigMap', 'Job', 'Pod']);
    expect(all.filter((d) => !isHook(d)).map((d) => `${d.kind}/${d.metadata.name}`).sort()).toEqual(
      docs.slice(1).map((d) => `${d.kind}/${d.metadata.name}`).sort(),
    );
    expect(docs.filter((d) => d.kind === 'Job')).toEqual([]);
    expect(docs.filter((d) => d.kind === 'ConfigMap').map((d) => d.metadata.name)).toEqual(['mlrun-image-webhook-config']);
    expect(files[DEPLOY_FILE]).not.toContain('helm.sh/hook');
    expect(files[DEPLOY_FILE]).not.toContain('validate-config');
  });

  it('TLS by cert-manager: the serving Certificate is the one the cainjector reads, and the Deployment mounts its Secret', () => {
    const mwc = find(docs, 'MutatingWebhookConfiguration');
    const [ns, certName] = mwc.metadata.annotations!['cert-manager.io/inject-ca-from']!.split('/');
    expect(ns).toBe(DEPLOY_NAMESPACE);
    const cert = find(docs, 'Certificate', certName);
    const volumes = at(find(docs, 'Deployment'), 'spec', 'template', 'spec', 'volumes') as { name: string; secret?: { secretName: string } }[];
    expect(volumes.find((v) => v.name === 'tls')?.secret?.secretName).toBe(at(cert, 'spec', 'secretName'));
    expect(at(cert, 'spec', 'dnsNames')).toContain(`mlrun-image-webhook.${DEPLOY_NAMESPACE}.svc`);
  });

  it('the TLS Secret volume is mode 0440 (decimal 288) in helm\'s output, in the rendering and in the checked-in file', () => {
    const tlsMode = (objs: K8sObject[]) =>
      (at(find(objs, 'Deployment'), 'spec', 'template', 'spec', 'volumes') as { name: string; secret?: { defaultMode?: number } }[]).find(
        (v) => v.name === 'tls',
      )?.secret?.defaultMode;
    // Parsed as YAML 1.2 (the `yaml` package, like render-deploy): a leading-zero 0440 would read as decimal 440.
    const helmOut = execFileSync(ensureHelm(), helmArgs(ROOT), { encoding: 'utf8', maxBuffer: 32 * 1024 * 1024, env: helmEnv() });
    expect(tlsMode(parseDocs(helmOut))).toBe(288);
    expect(tlsMode(docs)).toBe(288);
    expect(tlsMode(parseDocs(fs.readFileSync(path.join(ROOT, DEPLOY_FILE), 'utf8')))).toBe(288);
    expect(files[DEPLOY_FILE]).toMatch(/^\s+defaultMode: 288$/m);
  });

  it('the README documents the files that exist', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'deploy/README.md'), 'utf8');
    expect(readme).toContain(path.basename(DEPLOY_FILE));
    expect(readme).toContain('kubectl delete mutatingwebhookconfiguration mlrun-image-webhook');
  });
});
