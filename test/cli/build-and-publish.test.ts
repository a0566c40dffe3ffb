/**
 * docs/build-and-publish.md against the real things: its build arguments are the Dockerfile's, its image values are
 * the chart's, and its `helm package` / `helm push` lines, run as written (plus --plain-http) against a real
 * registry (docker-registry), publish a chart that installs from oci:// with the image pinned by digest.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureHelm, helm, helmEnv, parseDocs, ROOT } from '../chart/helm.js';
import { registryBinary, REGISTRY_SKIP_REASON, startRegistry, type RunningRegistry } from '../helpers/registry-server.js';

const execFileAsync = promisify(execFile);
const doc = readFileSync(path.join(ROOT, 'docs/build-and-publish.md'), 'utf8');
const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
const values = parseYaml(readFileSync(path.join(ROOT, 'charts/mlrun-image-webhook/values.yaml'), 'utf8')) as { image: Record<string, unknown> };
const chart = parseYaml(readFileSync(path.join(ROOT, 'charts/mlrun-image-webhook/Chart.yaml'), 'utf8')) as { name: string; version: string };

/** Shell lines of the document's ```sh blocks, continuation lines joined. */
const shellLines = [...doc.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1]!.replace(/\\\n\s*/g, ' ').split('\n')).map((l) => l.trim()).filter(Boolean);

describe('docs/build-and-publish.md says what the files say', () => {
  it('every --build-arg is an ARG of the Dockerfile, and the docker build passes VERSION', () => {
    const args = new Set([...dockerfile.matchAll(/^ARG\s+(\w+)/gm)].map((m) => m[1]));
    const used = [...doc.matchAll(/--build-arg\s+(\w+)=/g)].map((m) => m[1]);
    expect(used.length).toBeGreaterThan(0);
    for (const a of used) expect(args, `--build-arg ${a}`).toContain(a);
    expect(shellLines.find((l) => l.startsWith('docker build '))).toMatch(/--build-arg VERSION="\$VERSION"/);
    expect(args).toContain('VERSION');
  });

  it('every image.* value it sets is a value of the chart', () => {
    const keys = [...doc.matchAll(/--set(?:-string)?\s+image\.(\w+)=/g)].map((m) => m[1]!);
    expect(new Set(keys)).toEqual(new Set(['repository', 'tag', 'digest']));
    for (const k of keys) expect(Object.keys(values.image)).toContain(k);
  });
});

describe.skipIf(!registryBinary())(`helm package and helm push as documented (${registryBinary() ? 'docker-registry' : REGISTRY_SKIP_REASON})`, () => {
  let registry: RunningRegistry;
  let work = '';

  beforeAll(async () => {
    ensureHelm();
    registry = await startRegistry();
    work = mkdtempSync(path.join(tmpdir(), 'publish-'));
    symlinkSync(path.join(ROOT, 'charts'), path.join(work, 'charts'));
  });
  afterAll(async () => {
    await registry?.stop();
  });

  /** Runs one documented line in a shell, with `helm` the pinned binary and REGISTRY the test registry. */
  async function sh(line: string) {
    const helmBin = ensureHelm();
    const bin = path.join(work, 'bin');
    await execFileAsync('sh', ['-c', `mkdir -p "${bin}" && ln -sf "${helmBin}" "${bin}/helm"`]);
    return execFileAsync('sh', ['-c', line], {
      cwd: work,
      env: helmEnv({ PATH: `${bin}:${process.env.PATH}`, REGISTRY: registry.host }),
      timeout: 120_000,
    });
  }

  it('packages the chart, pushes it to oci://, and it installs from there with the image pinned by digest', async () => {
    const pkg = shellLines.find((l) => l.startsWith('helm package '))!;
    const push = shellLines.find((l) => l.startsWith('helm push '))!;
    expect(pkg).toBe('helm package charts/mlrun-image-webhook --destination dist-chart/');
    await sh(pkg);
    const pushed = await sh(`${push} --plain-http`);
    expect(pushed.stderr + pushed.stdout).toMatch(/Digest: sha256:[a-f0-9]{64}/);

    const ref = `oci://${registry.host}/charts/${chart.name}`;
    const shown = await helm(['show', 'chart', ref, '--version', chart.version, '--plain-http']);
    expect(shown.ok, shown.stderr).toBe(true);
    expect(parseYaml(shown.stdout)).toMatchObject({ name: chart.name, version: chart.version });

    const digest = `sha256:${'ab'.repeat(32)}`;
    const t = await helm(['template', 'miw', ref, '--version', chart.version, '--plain-http', '--namespace', 'mlrun-image-webhook', '--kube-version', '1.31.0',
      '--set', `image.repository=${registry.host}/mlrun-image-webhook`, '--set-string', 'image.tag=0.1.0', '--set', `image.digest=${digest}`]);
    expect(t.ok, t.stderr).toBe(true);
    const dep = parseDocs(t.stdout).find((d) => d.kind === 'Deployment') as any;
    expect(dep.spec.template.spec.containers[0].image).toBe(`${registry.host}/mlrun-image-webhook:0.1.0@${digest}`);
  });
});
