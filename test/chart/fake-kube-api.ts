/**
 * Just enough of a Kubernetes API server for `helm template --dry-run=server`: discovery for the kinds the chart
 * renders, and GET of the Secrets a test puts in. Lets the tests exercise the chart's `lookup` (certificate reuse on
 * upgrade) without a cluster.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

const RESOURCES: Record<string, [string, string, boolean][]> = {
  v1: [
    ['configmaps', 'ConfigMap', true],
    ['secrets', 'Secret', true],
    ['services', 'Service', true],
    ['serviceaccounts', 'ServiceAccount', true],
    ['pods', 'Pod', true],
    ['namespaces', 'Namespace', false],
  ],
  'apps/v1': [['deployments', 'Deployment', true]],
  'policy/v1': [['poddisruptionbudgets', 'PodDisruptionBudget', true]],
  'admissionregistration.k8s.io/v1': [['mutatingwebhookconfigurations', 'MutatingWebhookConfiguration', false]],
};

export interface FakeKubeApi {
  /** Secrets served by GET /api/v1/namespaces/<ns>/secrets/<name>, keyed "<ns>/<name>". */
  secrets: Map<string, unknown>;
  /** Paths requested, for assertions. */
  requests: string[];
  kubeconfig: string;
  close(): Promise<void>;
}

export async function startFakeKubeApi(gitVersion = 'v1.31.0'): Promise<FakeKubeApi> {
  const secrets = new Map<string, unknown>();
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost').pathname;
    requests.push(`${req.method} ${url}`);
    res.setHeader('content-type', 'application/json');
    const send = (status: number, body: unknown) => {
      res.statusCode = status;
      res.end(JSON.stringify(body));
    };
    const list = (gv: string) => ({
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: gv,
      resources: RESOURCES[gv]!.map(([name, kind, namespaced]) => ({
        name,
        singularName: kind.toLowerCase(),
        namespaced,
        kind,
        verbs: ['get', 'list', 'create', 'update', 'patch', 'delete'],
      })),
    });
    if (url === '/version') {
      const [, major, minor] = /^v(\d+)\.(\d+)/.exec(gitVersion)!;
      return send(200, { major, minor, gitVersion, platform: 'linux/amd64' });
    }
    if (url === '/api') return send(200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] });
    if (url === '/apis') {
      const groups = Object.keys(RESOURCES)
        .filter((gv) => gv.includes('/'))
        .map((gv) => {
          const [name, version] = gv.split('/') as [string, string];
          return { name, versions: [{ groupVersion: gv, version }], preferredVersion: { groupVersion: gv, version } };
        });
      return send(200, { kind: 'APIGroupList', apiVersion: 'v1', groups });
    }
    if (url === '/api/v1') return send(200, list('v1'));
    const group = /^\/apis\/([^/]+\/[^/]+)$/.exec(url);
    if (group && RESOURCES[group[1]!]) return send(200, list(group[1]!));
    const secret = /^\/api\/v1\/namespaces\/([^/]+)\/secrets\/([^/]+)$/.exec(url);
    if (req.method === 'GET' && secret && secrets.has(`${secret[1]}/${secret[2]}`)) return send(200, secrets.get(`${secret[1]}/${secret[2]}`));
    return send(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: `${url} not found` });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'miw-fake-kube-'));
  const kubeconfig = path.join(dir, 'kubeconfig');
  fs.writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: fake, cluster: {server: "http://127.0.0.1:${port}"}}]`,
      'contexts: [{name: fake, context: {cluster: fake, user: fake}}]',
      'users: [{name: fake, user: {token: fake}}]',
      'current-context: fake',
      '',
    ].join('\n'),
  );
  return {
    secrets,
    requests,
    kubeconfig,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        fs.rmSync(dir, { recursive: true, force: true });
      }),
  };
}
