/**
 * Renders deploy/ (plain manifests for `kubectl apply`, no Helm) from the chart with its default values, so the two
 * can never drift. test/chart/deploy.test.ts re-renders and fails when deploy/ is stale; to rewrite it:
 *
 *   UPDATE_GENERATED=1 npx vitest run test/chart/deploy.test.ts
 *
 * Why tls.mode=cert-manager: `generate` makes random certificates on every render (so deploy/ could not be checked
 * in or re-applied without breaking TLS), and `secret` needs a CA the operator makes by hand. cert-manager gives an
 * operator declarative, reproducible files that renew themselves; deploy/README.md shows the openssl route for
 * clusters without cert-manager.
 *
 * Helm hooks are left out (--no-hooks, and any object still carrying a helm.sh/hook annotation is dropped): they are
 * Helm's own lifecycle steps (the pre-install config check, the helm test Pod), which `kubectl apply` would create
 * once and never run or clean up again. Without Helm, check a config with `mlrun-image-webhook validate-config`.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { isJsonObject as isObj, type JsonObject as Obj } from '../src/util/json.js';

export const DEPLOY_NAMESPACE = 'mlrun-image-webhook';
export const DEPLOY_RELEASE = 'mlrun-image-webhook';
/** Oldest Kubernetes the plain manifests target (preStop sleep, matchConditions); older clusters: use the chart. */
export const DEPLOY_KUBE_VERSION = '1.30.0';
export const DEPLOY_FILE = 'deploy/mlrun-image-webhook.yaml';
export const KUSTOMIZATION_FILE = 'deploy/kustomization.yaml';

/** Apply order of deploy/: prerequisites, certificates, the workload, then the webhook that depends on it. */
const KIND_ORDER = [
  'ServiceAccount',
  'ConfigMap',
  'Service',
  'Issuer',
  'Certificate',
  'NetworkPolicy',
  'PodDisruptionBudget',
  'Deployment',
  'MutatingWebhookConfiguration',
];

/** Helm-only bookkeeping does not belong in kubectl-managed objects. */
function dehelm(node: unknown): void {
  if (Array.isArray(node)) {
    node.forEach(dehelm);
    return;
  }
  if (!isObj(node)) return;
  if (node['app.kubernetes.io/managed-by'] === 'Helm') node['app.kubernetes.io/managed-by'] = 'kubectl';
  delete node['helm.sh/chart'];
  // Helm's ownership annotations (e.g. on the cert-manager secretTemplate); an emptied map goes too.
  for (const k of Object.keys(node)) if (k.startsWith('meta.helm.sh/')) delete node[k];
  for (const v of Object.values(node)) dehelm(v);
  if (isObj(node.annotations) && Object.keys(node.annotations).length === 0) delete node.annotations;
}

/** A Helm hook (pre-install Job, test Pod ...): never part of the plain manifests. */
export function isHook(doc: Obj): boolean {
  const annotations = isObj(doc.metadata) && isObj(doc.metadata.annotations) ? doc.metadata.annotations : {};
  return Object.keys(annotations).some((k) => k.startsWith('helm.sh/hook'));
}

export function helmArgs(root: string): string[] {
  return [
    'template',
    DEPLOY_RELEASE,
    path.join(root, 'charts/mlrun-image-webhook'),
    '--namespace',
    DEPLOY_NAMESPACE,
    '--kube-version',
    DEPLOY_KUBE_VERSION,
    '--skip-tests',
    '--no-hooks',
    '--set',
    'tls.mode=cert-manager',
  ];
}

/** Returns { relative path: file content } for deploy/. */
export function renderDeploy(helmBin: string, root: string, env?: NodeJS.ProcessEnv): Record<string, string> {
  const out = execFileSync(helmBin, helmArgs(root), { encoding: 'utf8', maxBuffer: 32 * 1024 * 1024, env });
  const docs: Obj[] = [];
  for (const d of parseAllDocuments(out)) {
    if (d.errors.length > 0) throw new Error(`helm produced invalid YAML: ${d.errors[0]!.message}`);
    const v = d.toJS() as Obj | null;
    if (v && !isHook(v)) docs.push(v);
  }
  dehelm(docs);
  // Our own order, not helm's (it differs between helm versions): what the webhook needs first, the webhook last.
  const rank = (d: Obj) => {
    const i = KIND_ORDER.indexOf(String(d.kind));
    if (i < 0) throw new Error(`render-deploy: no place for kind ${String(d.kind)} in KIND_ORDER`);
    return i;
  };
  const nameOf = (d: Obj) => String((d.metadata as Obj | undefined)?.name ?? '');
  docs.sort((a, b) => rank(a) - rank(b) || nameOf(a).localeCompare(nameOf(b)));
  for (const d of docs) {
    const data = d.kind === 'ConfigMap' && isObj(d.data) ? d.data : undefined;
    if (data && typeof data['config.yaml'] === 'string') {
      data['config.yaml'] = data['config.yaml'].replace(
        /^# Rendered by the mlrun-image-webhook chart.*$/m,
        '# The server config (keys: src/config/schema.ts, docs/operator-guide.md). Edit it here or patch it in a kustomize\n' +
          '# overlay: the server reloads it without a restart.',
      );
    }
  }
  const namespace: Obj = {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: DEPLOY_NAMESPACE,
      labels: {
        'app.kubernetes.io/part-of': 'mlrun-image-webhook',
        // The webhook and its pods meet the "restricted" Pod Security Standard.
        'pod-security.kubernetes.io/enforce': 'restricted',
      },
    },
  };
  const header = [
    '# mlrun-image-webhook: plain manifests for `kubectl apply` (no Helm). See deploy/README.md.',
    `# GENERATED from charts/mlrun-image-webhook (default values, tls.mode=cert-manager, namespace ${DEPLOY_NAMESPACE},`,
    `# Kubernetes >= ${DEPLOY_KUBE_VERSION.replace(/\.0$/, '')}) by scripts/render-deploy.ts. Do not edit: change the chart and run`,
    '#   UPDATE_GENERATED=1 npx vitest run test/chart/deploy.test.ts',
    '# Needs cert-manager (cert-manager.io/v1) in the cluster.',
    '',
  ].join('\n');
  const body = [namespace, ...docs].map((d) => stringify(d, { lineWidth: 0 })).join('---\n');
  const kustomization = [
    '# GENERATED by scripts/render-deploy.ts. `kubectl apply -k deploy/`, or use this folder as a kustomize base and',
    '# patch the ConfigMap (config.yaml) in an overlay: the server reloads it without a restart.',
    stringify({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      resources: [path.basename(DEPLOY_FILE)],
    }),
  ].join('\n');
  return { [DEPLOY_FILE]: `${header}---\n${body}`, [KUSTOMIZATION_FILE]: kustomization };
}
