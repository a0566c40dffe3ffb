import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli as run } from '../helpers/cli.js';


const dir = mkdtempSync(join(tmpdir(), 'mutate-cli-'));
const write = (name: string, text: string) => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
};
const podYaml = `apiVersion: v1
kind: Pod
metadata:
  name: demo
  labels:
    mlrun/client_version: 1.9.2
    mlrun/client_python_version: 3.9.18
spec:
  containers:
    - name: main
      image: mlrun/mlrun
    - name: side
      image: busybox:1.36
`;

describe('mutate', () => {
  it('prints decisions, the patch and the mutated Pod (embedded default config)', async () => {
    const r = await run(['mutate', write('pod.yaml', podYaml)]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('# outcome: mutated');
    expect(r.out).toContain('# containers/main: mlrun/mlrun -> datanode-registry.example/mlrun/mlrun:1.9.2-py39');
    expect(r.out).toContain('image: datanode-registry.example/mlrun/mlrun:1.9.2-py39');
    expect(r.out).toContain('image: busybox:1.36');
  });

  it('--json with a config file', async () => {
    const cfg = write('config.yaml', 'mlrun:\n  version: 1.8.0\n  imagesRegistry: registry.local\n');
    const r = await run(['mutate', write('pod2.yaml', podYaml), '--config', cfg, '--json']);
    const out = JSON.parse(r.out);
    expect(out.outcome).toBe('mutated');
    expect(out.pod.spec.containers[0].image).toBe('registry.local/mlrun/mlrun:1.9.2');
    expect(out.patch.some((op: { path: string }) => op.path === '/spec/containers/0/image')).toBe(true);
  });

  it('accepts an AdmissionReview and several documents', async () => {
    const review = JSON.stringify({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: 'u1',
        kind: { group: '', version: 'v1', kind: 'Pod' },
        resource: { group: '', version: 'v1', resource: 'pods' },
        operation: 'CREATE',
        object: { metadata: { name: 'x' }, spec: { containers: [{ name: 'a', image: 'mlrun/mlrun-gpu' }] } },
      },
    });
    const r = await run(['mutate', write('multi.yaml', `${review}\n---\n${podYaml}`), '--json']);
    const out = JSON.parse(r.out);
    expect(out).toHaveLength(2);
    expect(out[0].pod.spec.containers[0].image).toBe('datanode-registry.example/mlrun/mlrun-gpu:1.9.2');
  });

  it('reads stdin with "-"', async () => {
    const r = await run(['mutate', '-', '--json'], podYaml);
    expect(JSON.parse(r.out).outcome).toBe('mutated');
  });

  it('refuses a bad config with key and reason (exit 2)', async () => {
    const cfg = write('bad.yaml', 'webhook:\n  mode: banana\n');
    const r = await run(['mutate', write('pod3.yaml', podYaml), '--config', cfg]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/webhook\.mode/);
  });

  it('says "not a Pod, use render" for a workload (exit 1) and still prints the Pods of the same file', async () => {
    const deployment = 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers: [{name: c, image: mlrun/mlrun}]\n';
    const r = await run(['mutate', write('mixed.yaml', `${deployment}---\n${podYaml}`)]);
    expect(r.code).toBe(1);
    expect(r.err).toBe('error: document 0: not a Pod (kind Deployment): use `mlrun-image-webhook render` for workloads and other manifests\n');
    expect(r.out).not.toMatch(/outcome: unchanged/);
    expect(r.out).toContain('# outcome: mutated');
  });

  it('exits 1 on a document it cannot parse, 2 on a missing file', async () => {
    expect((await run(['mutate', write('broken.yaml', 'a: [1, 2\n')])).code).toBe(1);
    expect((await run(['mutate', join(dir, 'missing.yaml')])).code).toBe(2);
  });
});
