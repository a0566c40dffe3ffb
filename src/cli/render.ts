/**
 * `render`: manifests in, the same manifests out with every pod template's images resolved, before they reach the
 * cluster (CI, GitOps, a Helm post-renderer).
 *
 * Each pod template goes through the webhook's own admission code: a Pod CREATE AdmissionReview is built from the
 * template and the patch admit() answers is applied to it, so render and the webhook cannot disagree. The record
 * annotation lands on the template's metadata, so the Pods created from it carry it and the webhook, seeing its own
 * result recorded, leaves those images alone (until the config or the MLRun version changes).
 *
 * Comments, key order and formatting of untouched documents are kept byte for byte (their source text is copied);
 * a changed document is re-emitted by the `yaml` Document API, which keeps comments and key order. JSON in, JSON out.
 */
import { readFileSync, statSync } from 'node:fs';
import { Document, isAlias, isMap, parseAllDocuments, type Node as YamlNode, type YAMLMap } from 'yaml';
import { admit } from '../admission/admit.js';
import { podCreateReview } from '../admission/review.js';
import type { ImageDecision } from '../admission/types.js';
import { loadConfig } from '../config/load.js';
import type { Runtime } from '../config/runtime.js';
import { isJsonObject as isObj, type JsonObject as Obj } from '../util/json.js';
import { parseArgs, UsageError, usageFailure, configRefused } from './args.js';
import type { Io } from './resolve.js';

/** Input cap: far above any chart's output; a larger stream is refused instead of filling memory. */
export const MAX_RENDER_INPUT = 64 * 1024 * 1024;
/** Nesting cap for List items inside List items. */
const MAX_LIST_DEPTH = 8;

export const RENDER_USAGE = `Usage:
  mlrun-image-webhook render [-f FILE|-] [--config F] [--namespace N]

Reads Kubernetes manifests (multi-document YAML, or JSON; default stdin) and writes them to stdout with the images
of every pod template resolved exactly as the webhook would (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet,
ReplicationController, Job, CronJob, PodTemplate, and List items). Other objects pass through unchanged; untouched
documents are copied byte for byte. The changes, per object, are summarised on stderr.
--config is the webhook's config file (default: the embedded default; MLRUN_* environment variables override it,
as in the server). --namespace is the namespace for objects that name none (shown in the summary).
As a Helm post-renderer: plugins/helm/post-renderer (Helm 3) or the plugin in plugins/helm4 (Helm 4).
Input is capped at ${MAX_RENDER_INPUT / 1024 / 1024} MiB.
Exit codes: 0 done, 1 a document could not be read or a pod template not understood (the output is still written:
unreadable input unchanged), 2 usage or config error.`;

/** Where the pod template sits, per kind, and which API groups own that kind ('' = core). */
const TEMPLATE_PATHS: Record<string, { groups: readonly string[]; path: readonly string[] }> = {
  Pod: { groups: [''], path: [] },
  PodTemplate: { groups: [''], path: ['template'] },
  ReplicationController: { groups: [''], path: ['spec', 'template'] },
  Deployment: { groups: ['apps', 'extensions'], path: ['spec', 'template'] },
  StatefulSet: { groups: ['apps'], path: ['spec', 'template'] },
  DaemonSet: { groups: ['apps', 'extensions'], path: ['spec', 'template'] },
  ReplicaSet: { groups: ['apps', 'extensions'], path: ['spec', 'template'] },
  Job: { groups: ['batch'], path: ['spec', 'template'] },
  CronJob: { groups: ['batch'], path: ['spec', 'jobTemplate', 'spec', 'template'] },
};

type Path = (string | number)[];

/** What render did with one object (a document, or an item of a List). */
export interface ObjectReport {
  object: string;
  /** changed | unchanged | reported | skipped | passed | failed */
  status: 'changed' | 'unchanged' | 'reported' | 'skipped' | 'passed' | 'failed';
  decisions: ImageDecision[];
  notes: string[];
}

export async function runRender(argv: string[], io: Io): Promise<number> {
  let args;
  try {
    args = parseArgs(argv, ['file', 'config', 'namespace'], [], { f: 'file' });
  } catch (e) {
    if (e instanceof UsageError) return usage(io, e.message);
    throw e;
  }
  if (args.positionals.length > 1 || (args.positionals.length === 1 && args.values.has('file'))) {
    return usage(io, 'give at most one input: -f FILE, FILE or - (stdin)');
  }
  const file = args.values.get('file') ?? args.positionals[0] ?? '-';
  const loaded = loadConfig({ file: args.values.get('config'), env: process.env });
  if (!loaded.ok) {
    return configRefused(io, loaded);
  }
  let text: string;
  try {
    text = file === '-' ? await readCapped(io.stdin) : readFileCapped(file);
  } catch (e) {
    return usage(io, `cannot read ${file === '-' ? 'stdin' : file}: ${(e as Error).message}`);
  }
  const result = renderText(text, loaded.runtime, { namespace: args.values.get('namespace') });
  io.stdout.write(result.output);
  io.stderr.write(summaryText(result.reports, result.error));
  return result.failed ? 1 : 0;
}

export interface RenderResult {
  output: string;
  reports: ObjectReport[];
  failed: boolean;
  /** Set when the input as a whole could not be read (then output is the input, unchanged). */
  error?: string;
}

/** The whole transformation, without I/O (tests call it directly). */
export function renderText(text: string, runtime: Runtime, options: { namespace?: string } = {}): RenderResult {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    let value: unknown;
    let isJson = true;
    try {
      value = JSON.parse(text);
    } catch {
      isJson = false; // YAML flow style or several JSON documents: the YAML path reads those
    }
    if (isJson) return renderJson(text, value, runtime, options);
  }
  return renderYaml(text, runtime, options);
}

function renderJson(text: string, value: unknown, runtime: Runtime, options: { namespace?: string }): RenderResult {
  const doc = new Document(value);
  const reports: ObjectReport[] = [];
  let changed: boolean;
  try {
    changed = renderDocument(doc, value, runtime, options, reports);
  } catch (e) {
    return { output: text, reports: [{ object: describeObject(value, options.namespace), status: 'failed', decisions: [], notes: [(e as Error).message] }], failed: true };
  }
  const failed = reports.some((r) => r.status === 'failed');
  const output = changed ? `${JSON.stringify(doc.toJS({ maxAliasCount: -1 }), null, 2)}\n` : text;
  return { output, reports, failed };
}

function renderYaml(text: string, runtime: Runtime, options: { namespace?: string }): RenderResult {
  const docs = parseAllDocuments(text);
  // An empty or comment-only stream has no documents: nothing to do.
  if (!Array.isArray(docs) || docs.length === 0) return { output: text, reports: [], failed: false };
  const bad = docs.findIndex((d) => d.errors.length > 0);
  if (bad >= 0) {
    // A stream that does not parse is not half-rewritten: it goes out as it came, and the exit code says so.
    return { output: text, reports: [], failed: true, error: `document ${bad + 1}: not YAML: ${docs[bad]!.errors[0]!.message}` };
  }
  const reports: ObjectReport[] = [];
  const pieces: string[] = [];
  let start = 0;
  docs.forEach((doc, i) => {
    // Each document owns the source from the end of the previous one to its own end (comments, "---"), so the
    // untouched pieces put back together are the input, byte for byte.
    const end = i === docs.length - 1 ? text.length : doc.range[2];
    pieces.push(renderYamlDocument(doc, text.slice(start, end), i, runtime, options, reports));
    start = end;
  });
  return { output: pieces.join(''), reports, failed: reports.some((r) => r.status === 'failed') };
}

/** One document of a YAML stream: its new text, or `source` itself when nothing changed or it failed. */
function renderYamlDocument(
  doc: Document,
  source: string,
  index: number,
  runtime: Runtime,
  options: { namespace?: string },
  reports: ObjectReport[],
): string {
  let value: unknown;
  try {
    value = doc.toJS();
  } catch (e) {
    reports.push({ object: `document ${index + 1}`, status: 'failed', decisions: [], notes: [(e as Error).message] });
    return source;
  }
  const before = reports.length;
  try {
    if (!renderDocument(doc, value, runtime, options, reports)) return source;
  } catch (e) {
    // Could not write the answer into this document (a YAML alias on the way, say): it goes out as it came.
    const failed: ObjectReport = { object: describeObject(value, options.namespace), status: 'failed', decisions: [], notes: [(e as Error).message] };
    reports.splice(before, reports.length - before, failed);
    return source;
  }
  // The Document API re-emits the document with its comments, its "---" and its key order; lineWidth 0 keeps long
  // strings on one line, and sequences keep the indentation style the source used.
  return doc.toString({ lineWidth: 0, flowCollectionPadding: false, indentSeq: indentsSequences(source) });
}

/** Block sequences written under their key without indentation ("key:\n- a", kubectl and most charts) or indented. */
function indentsSequences(source: string): boolean {
  const m = /^( *)[^\s#-][^\n]*:[ \t]*\r?\n( *)- /m.exec(source);
  return m ? m[2]!.length > m[1]!.length : true;
}

/**
 * Resolves every pod template of one document (the object itself, or the items of a List) in `doc`.
 * Returns whether anything was changed.
 */
function renderDocument(doc: Document, value: unknown, runtime: Runtime, options: { namespace?: string }, reports: ObjectReport[]): boolean {
  if (value === null || value === undefined) return false;
  return renderObject(doc, value, [], runtime, options, reports, 0);
}

function renderObject(
  doc: Document,
  value: unknown,
  at: Path,
  runtime: Runtime,
  options: { namespace?: string },
  reports: ObjectReport[],
  depth: number,
): boolean {
  const name = describeObject(value, options.namespace);
  if (!isObj(value)) {
    reports.push({ object: name, status: 'passed', decisions: [], notes: ['not an object'] });
    return false;
  }
  const kind = typeof value.kind === 'string' ? value.kind : '';
  if (Array.isArray(value.items) && (kind === 'List' || kind.endsWith('List'))) {
    if (depth >= MAX_LIST_DEPTH) {
      reports.push({ object: name, status: 'failed', decisions: [], notes: [`Lists nested deeper than ${MAX_LIST_DEPTH}`] });
      return false;
    }
    let changed = false;
    value.items.forEach((item: unknown, i: number) => {
      if (renderObject(doc, item, [...at, 'items', i], runtime, options, reports, depth + 1)) changed = true;
    });
    return changed;
  }
  const where = TEMPLATE_PATHS[kind];
  const group = typeof value.apiVersion === 'string' && value.apiVersion.includes('/') ? value.apiVersion.split('/')[0]! : '';
  if (!where || !where.groups.includes(group)) {
    reports.push({ object: name, status: 'passed', decisions: [], notes: [] });
    return false;
  }
  let template: unknown = value;
  for (const k of where.path) template = isObj(template) ? template[k] : undefined;
  if (template === undefined || template === null) {
    // A fragment (a kustomize patch, say) without a pod template: nothing to resolve.
    reports.push({ object: name, status: 'passed', decisions: [], notes: ['no pod template'] });
    return false;
  }
  const namespace = namespaceOf(value) ?? options.namespace;
  const report = renderTemplate(doc, template, [...at, ...where.path], runtime, namespace);
  reports.push({ ...report, object: name });
  return report.status === 'changed';
}

function renderTemplate(doc: Document, template: unknown, at: Path, runtime: Runtime, namespace: string | undefined): ObjectReport {
  const report: ObjectReport = { object: '', status: 'unchanged', decisions: [], notes: [] };
  const pod: Obj = { apiVersion: 'v1', kind: 'Pod' };
  if (isObj(template)) {
    if (template.metadata !== undefined) pod.metadata = template.metadata;
    pod.spec = template.spec;
  }
  const result = admit(podCreateReview(isObj(template) ? pod : template, { uid: 'render', namespace }), runtime);
  if (result.status !== 200) {
    report.status = 'failed';
    report.notes.push(result.error);
    return report;
  }
  const { summary, body } = result;
  report.decisions = summary.decisions;
  report.notes = summary.warnings.map((w) => w.replace(/^mlrun-image-webhook: /, ''));
  switch (summary.outcome) {
    case 'error':
      report.status = 'failed';
      return report;
    case 'skipped':
      report.status = 'skipped';
      report.notes.unshift(summary.detail ?? 'skipped');
      return report;
    case 'reported':
      report.status = 'reported';
      report.notes = report.notes.filter((n) => !n.startsWith('report-only: '));
      return report;
    case 'unchanged':
      return report;
    case 'denied':
      // policy.namespaces names this namespace and the production policy refused the template: nothing written.
      report.status = 'failed';
      report.notes.unshift(body.response.status?.message ?? 'denied by the production policy');
      return report;
    case 'mutated':
      break;
  }
  const patch: unknown = JSON.parse(Buffer.from(body.response.patch ?? 'W10=', 'base64').toString('utf8'));
  applyPatch(doc, at, patch);
  report.status = 'changed';
  return report;
}

/**
 * Applies admit()'s patch to the template inside the YAML document. Its ops are known (ADR 0004): a "replace" of
 * /spec/<kind>/<index>/image per changed image and one "add" under /metadata for the record; anything else is a
 * contract change this code must learn about, so it throws rather than guess.
 */
function applyPatch(doc: Document, at: Path, patch: unknown): void {
  if (!Array.isArray(patch)) throw new Error('admission patch is not a list');
  for (const op of patch as { op: string; path: string; value: unknown }[]) {
    const image = /^\/spec\/(containers|initContainers|ephemeralContainers)\/(\d+)\/image$/.exec(op.path);
    if (op.op === 'replace' && image) {
      setIn(doc, [...at, 'spec', image[1]!, Number(image[2]), 'image'], op.value);
    } else if (op.op === 'add' && (op.path === '/metadata' || op.path.startsWith('/metadata/'))) {
      const keys = op.path.split('/').slice(1).map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
      if (keys.length === 1) insertMetadata(doc, at, op.value);
      else setIn(doc, [...at, ...keys], doc.createNode(op.value));
    } else {
      throw new Error(`unexpected admission patch op ${op.op} ${op.path}`);
    }
  }
}

/**
 * doc.setIn, refusing to write through a YAML alias: the anchored node is shared with other places (perhaps other
 * pod templates with other client versions), so one template's answer must not land in all of them.
 */
function setIn(doc: Document, path: Path, value: unknown): void {
  for (let i = 0; i < path.length; i++) {
    if (isAlias(doc.getIn(path.slice(0, i + 1), true))) {
      throw new Error(`${path.slice(0, i + 1).join('.')} is a YAML alias; expand aliases first (e.g. yq 'explode(.)')`);
    }
  }
  doc.setIn(path, value);
}

/** A template without metadata gets it in front of its spec, where a reader looks for it. */
function insertMetadata(doc: Document, at: Path, value: unknown): void {
  const node = at.length === 0 ? doc.contents : doc.getIn(at, true);
  if (!isMap(node)) throw new Error('pod template is not a map');
  const map = node as YAMLMap;
  const spec = map.items.findIndex((p) => (p.key as YamlNode & { value?: unknown })?.value === 'spec' || p.key === 'spec');
  map.items.splice(spec >= 0 ? spec : map.items.length, 0, doc.createPair('metadata', value));
}

function namespaceOf(o: Obj): string | undefined {
  return isObj(o.metadata) && typeof o.metadata.namespace === 'string' && o.metadata.namespace !== '' ? o.metadata.namespace : undefined;
}

function describeObject(value: unknown, defaultNamespace: string | undefined): string {
  if (!isObj(value)) return 'document';
  const kind = typeof value.kind === 'string' ? value.kind : '(no kind)';
  const meta = isObj(value.metadata) ? value.metadata : {};
  const name = typeof meta.name === 'string' ? meta.name : typeof meta.generateName === 'string' ? `${meta.generateName}*` : '(no name)';
  const ns = namespaceOf(value) ?? defaultNamespace;
  return `${kind} ${ns ? `${ns}/` : ''}${name}`;
}

/** The stderr summary: one block per object with a pod template, one line for everything passed through. */
export function summaryText(reports: ObjectReport[], error?: string): string {
  const lines: string[] = [];
  if (error) lines.push(`render: ${error}; input written unchanged`);
  const passed = new Map<string, number>();
  let images = 0;
  let objects = 0;
  for (const r of reports) {
    if (r.status === 'passed' && r.notes.length === 0) {
      const kind = r.object.split(' ')[0]!;
      passed.set(kind, (passed.get(kind) ?? 0) + 1);
      continue;
    }
    const changed = r.decisions.filter((d) => d.changed);
    images += r.status === 'changed' ? changed.length : 0;
    if (r.status === 'changed') objects++;
    const head: Record<ObjectReport['status'], string> = {
      changed: `${changed.length} image${changed.length === 1 ? '' : 's'} changed`,
      unchanged: 'unchanged',
      reported: 'report-only (webhook.mode: report), would change',
      skipped: 'skipped',
      passed: 'passed through',
      failed: 'FAILED, left unchanged',
    };
    lines.push(`${r.object}: ${head[r.status]}`);
    for (const d of r.status === 'changed' || r.status === 'reported' ? changed : []) {
      lines.push(`  ${d.kind}/${d.name}: ${d.original} -> ${d.image}${d.reasons.length ? ` (${d.reasons.join('; ')})` : ''}`);
    }
    for (const n of r.notes) lines.push(`  ${r.status === 'failed' ? 'error' : 'note'}: ${n}`);
  }
  if (passed.size > 0) {
    const total = [...passed.values()].reduce((a, b) => a + b, 0);
    lines.push(`${total} other object${total === 1 ? '' : 's'} passed through unchanged (${[...passed].map(([k, n]) => `${k} ${n}`).join(', ')})`);
  }
  const failed = reports.filter((r) => r.status === 'failed').length;
  lines.push(`render: ${images} image${images === 1 ? '' : 's'} changed in ${objects} object${objects === 1 ? '' : 's'}${failed ? `; ${failed} failed` : ''}`);
  return `${lines.join('\n')}\n`;
}

function usage(io: Io, message: string): number {
  return usageFailure(io, RENDER_USAGE, message);
}

function readFileCapped(file: string): string {
  const size = statSync(file).size;
  if (size > MAX_RENDER_INPUT) throw new Error(`${size} bytes, more than the ${MAX_RENDER_INPUT}-byte cap`);
  return readFileSync(file, 'utf8');
}

async function readCapped(s: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of s) {
    const b = typeof c === 'string' ? Buffer.from(c) : (c as Buffer);
    size += b.length;
    if (size > MAX_RENDER_INPUT) throw new Error(`more than the ${MAX_RENDER_INPUT}-byte cap`);
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}
