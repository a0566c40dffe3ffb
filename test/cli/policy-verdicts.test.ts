/** mutate and resolve show the production policy's verdict (issue 13 "Surface"). */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli as run } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'policy-cli-'));
const write = (name: string, text: string) => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
};
const pod = (image: string) => `apiVersion: v1
kind: Pod
metadata:
  name: demo
spec:
  containers:
    - name: main
      image: ${image}
`;
const config = (pinTags: string) => write(`config-${pinTags}.yaml`, `mlrun:\n  version: 1.9.2\n  imagesRegistry: registry.local\npolicy:\n  mlrunVersion: 1.9.2\n  pinTags: ${pinTags}\n`);

describe('mutate --namespace-policy production', () => {
  it('deny: prints the denial naming the image to use, exits 1, the Pod unchanged', async () => {
    const r = await run(['mutate', write('a.yaml', pod('mlrun/mlrun:1.10.0')), '--config', config('deny'), '--namespace-policy', 'production']);
    expect(r.code).toBe(1);
    expect(r.out).toContain('# outcome: denied');
    expect(r.out).toContain('#   containers/main: pin-tags off-pin -> deny (use mlrun/mlrun:1.9.2)');
    expect(r.out).toContain('# denied: mlrun-image-webhook: production image policy: container "main": image "mlrun/mlrun:1.10.0" is MLRun 1.10.0');
    expect(r.out).toContain('image: mlrun/mlrun:1.10.0');
  });

  it('rewrite --json: the verdict per container and the pinned, prefixed image', async () => {
    const r = await run(['mutate', write('b.yaml', pod('mlrun/mlrun:1.10.0')), '--config', config('rewrite'), '--namespace-policy', 'production', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.out);
    expect(out.policy).toEqual([expect.objectContaining({ container: 'containers/main', verdict: 'off-pin', action: 'rewrite', suggestion: 'mlrun/mlrun:1.9.2' })]);
    expect(out.pod.spec.containers[0].image).toBe('registry.local/mlrun/mlrun:1.9.2');
  });

  it('without the flag the same Pod behaves as today; a wrong value is a usage error', async () => {
    const r = await run(['mutate', write('c.yaml', pod('mlrun/mlrun:1.10.0')), '--config', config('deny'), '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).pod.spec.containers[0].image).toBe('registry.local/mlrun/mlrun:1.10.0');
    expect((await run(['mutate', write('d.yaml', pod('nginx')), '--namespace-policy', 'prod'])).code).toBe(2);
  });
});

describe('resolve --namespace-policy production', () => {
  it('prints the verdict and the image to use; deny exits 1', async () => {
    const r = await run(['resolve', 'mlrun/mlrun:1.10.0', '--namespace-policy', 'production', '--pin-mlrun-version', '1.9.2', '--python-version', '3.9.18']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('production policy (pinTags deny): off-pin -> deny: image "mlrun/mlrun:1.10.0" is MLRun 1.10.0, but this namespace is pinned to MLRun 1.9.2; use image "mlrun/mlrun:1.9.2-py39"');
  });

  it('--pin-tags rewrite resolves the pin (registry prefix added as for any image); --json carries the verdict', async () => {
    const r = await run(['resolve', 'mlrun/mlrun:1.10.0', '--namespace-policy', 'production', '--pin-mlrun-version', '1.9.2', '--pin-tags', 'rewrite', '--images-registry', 'registry.local/', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.out);
    expect(out).toMatchObject({ input: 'mlrun/mlrun:1.10.0', image: 'registry.local/mlrun/mlrun:1.9.2', policy: { verdict: 'off-pin', action: 'rewrite', suggestion: 'mlrun/mlrun:1.9.2', exact: true } });
  });

  it('an external image without a tag: the template to follow; a pinned one passes', async () => {
    const r = await run(['resolve', 'nginx', '--namespace-policy', 'production', '--pin-tags', 'warn']);
    expect(r.code).toBe(0);
    expect(r.err).toContain('floating -> warn: image "nginx" has no tag (the kubelet pulls "latest"); pin a version, e.g. "nginx:<version>" or a digest');
    const ok = await run(['resolve', 'nginx:1.27', '--namespace-policy', 'production']);
    expect(ok.code).toBe(0);
    expect(ok.err).toContain('pinned -> none');
  });

  it('policy flags need --namespace-policy production', async () => {
    expect((await run(['resolve', 'nginx', '--pin-tags', 'deny'])).code).toBe(2);
    expect((await run(['resolve', 'nginx', '--namespace-policy', 'production', '--pin-tags', 'maybe'])).code).toBe(2);
  });
});

describe('render in a namespace listed in policy.namespaces', () => {
  it('a template the policy denies is reported failed with the message (exit 1) and written unchanged', async () => {
    const cfg = write('ns-config.yaml', 'mlrun:\n  version: 1.9.2\n  imagesRegistry: registry.local\npolicy:\n  namespaces: [prod]\n  pinTags: deny\n');
    const manifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: prod
spec:
  template:
    spec:
      containers:
        - name: web
          image: nginx
`;
    const r = await run(['render', '-f', write('deploy.yaml', manifest), '--config', cfg]);
    expect(r.code).toBe(1);
    expect(r.out).toBe(manifest);
    expect(r.err).toContain('container "web": image "nginx" has no tag');
  });
});
