/**
 * `render` as a Helm post-renderer, with real helm binaries and the repository's own plugin files:
 * - Helm 4 (scripts/fetch-helm.mjs): `--post-renderer <plugin name>` with HELM_PLUGINS at plugins/helm4, and
 *   `helm template | mlrun-image-webhook render`; hooks are post-rendered too;
 * - Helm 3.18 (scripts/fetch-helm.mjs --helm3): `--post-renderer <path>` to plugins/helm/post-renderer; hooks are not;
 *   and why plugins/helm4 must stay out of Helm 3's plugin folder.
 *
 * The plugin scripts run the CLI from the repository's dist/; the test builds the sources into a scratch copy of
 * that layout (dist/, plugins/, package.json), so it checks this tree's code, not a stale build.
 */
import { execFile, execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureHelm, helmEnv, parseDocs, ROOT, type K8sObject } from '../chart/helm.js';

const execFileAsync = promisify(execFile);
const CHART = path.join(ROOT, 'test/cli/fixtures/post-renderer-chart');
const RESOLVED = 'datanode-registry.example/mlrun/mlrun:1.9.2';
const RESOLVED_GPU = 'datanode-registry.example/mlrun/mlrun-gpu:1.9.2';

let repo = '';
let helm4 = '';
let helm3 = '';
let helm3Missing = '';
let config = '';

beforeAll(() => {
  helm4 = ensureHelm();
  try {
    helm3 = execFileSync(process.execPath, [path.join(ROOT, 'scripts/fetch-helm.mjs'), '--helm3'], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 290_000,
    }).trim();
  } catch (err) {
    helm3Missing = String((err as { stderr?: string }).stderr || (err as Error).message).split('\n')[0]!;
  }
  repo = mkdtempSync(path.join(tmpdir(), 'post-renderer-repo-'));
  // tsc emits even when some other file of the tree has a type error; the check below is what this test needs.
  try {
    execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.build.json'), '--outDir', path.join(repo, 'dist')], {
      cwd: ROOT,
      stdio: 'ignore',
      timeout: 280_000,
    });
  } catch {
    /* see below */
  }
  if (!existsSync(path.join(repo, 'dist/cli/render.js'))) throw new Error('building the CLI into a scratch dist/ failed');
  cpSync(path.join(ROOT, 'plugins'), path.join(repo, 'plugins'), { recursive: true });
  cpSync(path.join(ROOT, 'package.json'), path.join(repo, 'package.json'));
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(repo, 'node_modules'));
  config = path.join(repo, 'site-config.yaml');
  writeFileSync(config, 'mlrun:\n  version: "1.10.0"\n  imagesRegistry: registry.site.example:5000/\n');
}, 900_000); // first run: two helm downloads and a full build on a slow shared machine

async function run(bin: string, args: string[], env: NodeJS.ProcessEnv = {}, input?: string) {
  try {
    const child = execFileAsync(bin, args, { cwd: repo, env: helmEnv(env), maxBuffer: 16 * 1024 * 1024, timeout: 120_000 });
    if (input !== undefined) {
      child.child.stdin!.end(input);
    }
    const { stdout, stderr } = await child;
    return { ok: true, stdout, stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    return { ok: false, stdout: e.stdout ?? '', stderr: e.stderr || e.message };
  }
}

const image = (docs: K8sObject[], kind: string) => {
  const o = docs.find((d) => d.kind === kind) as { spec: { template: { spec: { containers: { image: string }[] } } } } | undefined;
  return o?.spec.template.spec.containers.map((c) => c.image);
};

describe('Helm 4 post-renderer plugin (plugins/helm4)', () => {
  const plugins = () => ({ HELM_PLUGINS: path.join(repo, 'plugins/helm4') });

  it('is a postrenderer/v1 plugin Helm 4 lists', async () => {
    const r = await run(helm4, ['plugin', 'list'], plugins());
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/mlrun-image-webhook-render\s+0\.1\.0\s+postrenderer\/v1\s+v1/);
  });

  it('--post-renderer mlrun-image-webhook-render: workloads and hooks resolved, the record on the template', async () => {
    const r = await run(helm4, ['template', 'demo', CHART, '--post-renderer', 'mlrun-image-webhook-render'], plugins());
    expect(r.ok, r.stderr).toBe(true);
    const docs = parseDocs(r.stdout);
    expect(image(docs, 'Deployment')).toEqual([RESOLVED, 'busybox:1.36']);
    expect(image(docs, 'Job')).toEqual([RESOLVED_GPU]); // Helm 4 post-renders hooks
    const dep = docs.find((d) => d.kind === 'Deployment') as any;
    expect(JSON.parse(dep.spec.template.metadata.annotations['mlrun-image-webhook/images'])['containers/main'].from).toBe('mlrun/mlrun');
    expect(docs.find((d) => d.kind === 'ConfigMap')).toMatchObject({ data: { image: 'mlrun/mlrun' } });
  });

  it('--post-renderer-args --config=F: the site config decides', async () => {
    const r = await run(helm4, ['template', 'demo', CHART, '--post-renderer', 'mlrun-image-webhook-render', '--post-renderer-args', `--config=${config}`], plugins());
    expect(r.ok, r.stderr).toBe(true);
    expect(image(parseDocs(r.stdout), 'Deployment')).toEqual(['registry.site.example:5000/mlrun/mlrun:1.10.0', 'busybox:1.36']);
  });

  it('MLRUN_IMAGE_WEBHOOK_RENDER_CONFIG does the same', async () => {
    const r = await run(helm4, ['template', 'demo', CHART, '--post-renderer', 'mlrun-image-webhook-render'], { ...plugins(), MLRUN_IMAGE_WEBHOOK_RENDER_CONFIG: config });
    expect(r.ok, r.stderr).toBe(true);
    expect(image(parseDocs(r.stdout), 'Job')).toEqual(['registry.site.example:5000/mlrun/mlrun-gpu:1.10.0']);
  });

  it('a bad config stops helm; Helm 4 hides the plugin stderr, MLRUN_IMAGE_WEBHOOK_RENDER_LOG keeps the reason', async () => {
    const bad = path.join(repo, 'bad-config.yaml');
    const log = path.join(repo, 'render.log');
    writeFileSync(bad, 'webhook:\n  mode: banana\n');
    const r = await run(helm4, ['template', 'demo', CHART, '--post-renderer', 'mlrun-image-webhook-render', '--post-renderer-args', `--config=${bad}`], {
      ...plugins(),
      MLRUN_IMAGE_WEBHOOK_RENDER_LOG: log,
    });
    expect(r.ok).toBe(false);
    expect(r.stderr).toMatch(/mlrun-image-webhook-render.*exited with error/);
    expect(readFileSync(log, 'utf8')).toMatch(/webhook\.mode: must be one of enforce, report/);
  });

  it('helm template | mlrun-image-webhook render: the same images', async () => {
    const t = await run(helm4, ['template', 'demo', CHART]);
    expect(t.ok, t.stderr).toBe(true);
    const r = await run(process.execPath, [path.join(repo, 'dist/cli/main.js'), 'render'], {}, t.stdout);
    expect(r.ok, r.stderr).toBe(true);
    const docs = parseDocs(r.stdout);
    expect(image(docs, 'Deployment')).toEqual([RESOLVED, 'busybox:1.36']);
    expect(image(docs, 'Job')).toEqual([RESOLVED_GPU]);
    expect(r.stderr).toMatch(/^render: 2 images changed in 2 objects$/m);
  });

  it('Helm 4 refuses an executable path (why the Helm 3 script is not enough)', async () => {
    const r = await run(helm4, ['template', 'demo', CHART, '--post-renderer', path.join(repo, 'plugins/helm/post-renderer')]);
    expect(r.ok).toBe(false);
    expect(r.stderr).toMatch(/not found/);
  });
});

describe('Helm 3 post-renderer (plugins/helm/post-renderer)', () => {
  it('a bad config stops helm 3, which shows the reason', async (ctx) => {
    if (!helm3) ctx.skip(`helm 3 unavailable: ${helm3Missing}`);
    const bad = path.join(repo, 'bad-config-3.yaml');
    writeFileSync(bad, 'webhook:\n  mode: banana\n');
    const r = await run(helm3, ['template', 'demo', CHART, '--post-renderer', path.join(repo, 'plugins/helm/post-renderer'), '--post-renderer-args', `--config=${bad}`]);
    expect(r.ok).toBe(false);
    expect(r.stderr).toMatch(/webhook\.mode: must be one of enforce, report/);
  });

  it('--post-renderer PATH: workloads resolved; hooks are not passed to it', async (ctx) => {
    if (!helm3) ctx.skip(`helm 3 unavailable: ${helm3Missing}`);
    const r = await run(helm3, ['template', 'demo', CHART, '--post-renderer', path.join(repo, 'plugins/helm/post-renderer'), '--post-renderer-args', `--config=${config}`]);
    expect(r.ok, r.stderr).toBe(true);
    const docs = parseDocs(r.stdout);
    expect(image(docs, 'Deployment')).toEqual(['registry.site.example:5000/mlrun/mlrun:1.10.0', 'busybox:1.36']);
    expect(image(docs, 'Job')).toEqual(['mlrun/mlrun-gpu']); // Helm 3 leaves hooks out of post-rendering
  });

  it('a Helm 4 plugin folder in HELM_PLUGINS breaks Helm 3 (so it is kept apart)', async (ctx) => {
    if (!helm3) ctx.skip(`helm 3 unavailable: ${helm3Missing}`);
    const r = await run(helm3, ['plugin', 'list'], { HELM_PLUGINS: path.join(repo, 'plugins/helm4') });
    expect(r.ok).toBe(false);
    expect(r.stderr).toMatch(/unknown field "apiVersion"/);
    const plain = await run(helm3, ['plugin', 'list'], { HELM_PLUGINS: path.join(repo, 'plugins/helm') });
    expect(plain.ok, plain.stderr).toBe(true);
  });
});
