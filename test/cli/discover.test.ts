/**
 * `discover` against a real kube-apiserver (envtest): what would be adopted, from where, the rules; exit codes
 * for found / none found / refused access / no API server / usage.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDiscover } from '../../src/cli/discover.js';
import { envtestSkipReason, startControlPlane, type ControlPlane } from '../helpers/envtest.js';
import { runCli, runCommand } from '../helpers/cli.js';
import { Cluster, fixture } from '../cluster/objects.js';

const discover = (argv: string[]) => runCommand(runDiscover, argv);

describe('discover: usage', () => {
  it.each([
    [['--bogus'], /unknown option --bogus/],
    [['extra'], /unexpected argument "extra"/],
    [['--timeout', '0', '--kubeconfig', '/nonexistent'], /--timeout must be a positive number/],
    [['--kubeconfig', '/nonexistent/kubeconfig'], /cannot load the kubeconfig/],
  ])('%j → exit 2', async (argv, message) => {
    const r = await discover(argv);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
  });
});

const skip = envtestSkipReason();
if (skip) console.log(`test/cli/discover.test.ts (cluster part) skipped: ${skip}`);

describe.skipIf(skip !== undefined)('discover against a real API server', () => {
  let cp: ControlPlane;
  beforeAll(async () => {
    cp = await startControlPlane();
    const cluster = new Cluster(cp.admin());
    await cluster.apply([...fixture('ce-default.yaml'), ...fixture('ce-datanode-registry.yaml')]);
    await cluster.apply(fixture('ce-default.yaml', 'plain'));
    await cluster.namespace('empty');
    // A site that wrote a tag MLRun would read as a number.
    await cluster.apply(
      fixture('ce-default.yaml', 'bad-tag').map((o) =>
        o.kind === 'ConfigMap' && o.metadata.name === 'mlrun-common-env' ? { ...o, data: { ...(o['data'] as object), MLRUN_IMAGES_TAG: '1.6' } } : o,
      ),
    );
  });
  afterAll(async () => {
    await cp?.stop();
  });

  it('prints each adopted setting with the object and key it came from, and the rules', async () => {
    const r = await runCli(['discover', '--kubeconfig', cp.kubeconfigPath, '--namespace', 'mlrun']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[0]).toBe('namespace mlrun: MLRun 1.9.2, following Deployment mlrun/mlrun-api-chief');
    expect(lines[1]).toBe('  rules: MLRun 1.9.x rules (family E)');
    expect(r.out).toMatch(/mlrun\.version +"1\.9\.2" +from Deployment mlrun\/mlrun-api-chief image registry\.datanode\.local:5000\/quay\.io\/mlrun\/mlrun-api:1\.9\.2/);
    expect(r.out).toMatch(/mlrun\.imagesRegistry +"registry\.datanode\.local:5000\/" +from ConfigMap mlrun\/mlrun-override-env key MLRUN_IMAGES_REGISTRY/);
    expect(r.out).toMatch(/mlrun\.vendorImagesRegistry +"registry\.datanode\.local:5000\/vendor\/" +from ConfigMap mlrun\/mlrun-site key vendor-registry/);
    expect(r.out).toMatch(/mlrun\.imagesTag +"" +from Deployment mlrun\/mlrun-api-chief env MLRUN_IMAGES_TAG/);
    expect(r.out).toContain('"^mlrun/*,^python:3.(9|11)$,^quay.io/mlrun/"');
  });

  it('--json: the install, the settings as the config reads them, the rules; a namespace without MLRun is listed as not found', async () => {
    const r = await discover(['--kubeconfig', cp.kubeconfigPath, '--namespace', 'plain,empty', '--json']);
    expect(r.code).toBe(0);
    const { installs } = JSON.parse(r.out) as { installs: Record<string, unknown>[] };
    expect(installs[1]).toEqual({ namespace: 'empty', found: false });
    expect(installs[0]).toMatchObject({
      namespace: 'plain',
      found: true,
      config: { 'mlrun.version': { value: '1.9.2', source: 'Deployment plain/mlrun-api-chief image quay.io/mlrun/mlrun-api:1.9.2' } },
      rules: 'MLRun 1.9.x rules (family E)',
      defaultEnrichPatterns: '^mlrun/*,^python:3.(9|11)$',
      refused: [],
      install: { serverVersion: '1.9.2', env: {} },
    });
  });

  it('a value MLRun would fail on is shown as refused, with the object it came from', async () => {
    const r = await discover(['--kubeconfig', cp.kubeconfigPath, '--namespace', 'bad-tag']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('refused mlrun.imagesTag (ConfigMap bad-tag/mlrun-common-env key MLRUN_IMAGES_TAG): MLRun reads this variable with json.loads and would get a number 1.6');
  });

  it('--namespace "*": every namespace that has an MLRun API', async () => {
    const r = await discover(['--kubeconfig', cp.kubeconfigPath, '--namespace', '*', '--json']);
    expect(r.code).toBe(0);
    const { installs } = JSON.parse(r.out) as { installs: { namespace: string }[] };
    expect(installs.map((i) => i.namespace)).toEqual(['bad-tag', 'mlrun', 'plain']);
  });

  it('no install found: exit 1', async () => {
    const r = await discover(['--kubeconfig', cp.kubeconfigPath, '--namespace', 'empty']);
    expect(r).toEqual({ code: 1, out: 'namespace empty: no MLRun API found\n', err: '' });
  });

  it('access denied: exit 2 naming the object and the reason', async () => {
    const r = await discover(['--kubeconfig', cp.userKubeconfig('nobody'), '--namespace', 'mlrun']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^error: discovery forbidden: (Deployment mlrun\/mlrun-api-chief|Pods mlrun .*): HTTP 403: .*forbidden/);
  });

  it('no API server: exit 2, unreachable', async () => {
    const kubeconfig = join(cp.dir, 'nowhere.kubeconfig');
    // Port 1 on loopback: connection refused.
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:1', 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'u', user: { token: 'x' } }],
        contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'c',
      }),
    );
    const r = await discover(['--kubeconfig', kubeconfig]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^error: discovery unreachable: /);
  });
});
