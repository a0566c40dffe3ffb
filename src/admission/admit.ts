/**
 * AdmissionReview in, decision and JSON patch out. No HTTP, no I/O, never throws: the server layer hands over the
 * parsed body and writes back what this returns.
 *
 * Safety rules (the webhook must never break pod creation):
 * - anything that is not a Pod CREATE or a pods/ephemeralcontainers UPDATE is allowed untouched;
 * - a Pod that cannot be understood is allowed untouched with a warning (outcome "error");
 * - an image MLRun would fail on (ValueError, TypeError, re.error) is left as it is, with a warning;
 * - a resolved image that is not a valid reference is not written (the API server would reject the Pod).
 */
import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { parseReference } from '../image/reference.js';
import { discoverClientVersions } from '../mlrun/discovery.js';
import type { Runtime } from '../config/runtime.js';
import type {
  AdmissionResult,
  AdmissionReviewResponse,
  AdmissionSummary,
  ImageDecision,
} from './types.js';
import { isJsonObject as isObj, type JsonObject as Obj } from '../util/json.js';
import { BoundedMemo } from '../util/memo.js';

const { escapePathComponent } = jsonpatch;

const CONTAINER_KINDS = ['containers', 'initContainers', 'ephemeralContainers'] as const;
type ContainerKind = (typeof CONTAINER_KINDS)[number];

// The API server truncates a warning past 256 characters and drops every warning past 4096 characters in total,
// a budget shared with the other webhooks and the API server itself: take at most half, and keep each readable.
const MAX_WARNING = 240;
const MAX_WARNINGS_TOTAL = 2048;
const MAX_AUDIT_VALUE = 1000;

export function admit(body: unknown, runtime: Runtime): AdmissionResult {
  if (!isObj(body)) return { status: 400, error: 'body must be a JSON object (an AdmissionReview)' };
  if (body.kind !== 'AdmissionReview') {
    return { status: 400, error: `kind must be AdmissionReview, got ${describe(body.kind)}` };
  }
  if (body.apiVersion !== 'admission.k8s.io/v1') {
    return {
      status: 400,
      error:
        `unsupported apiVersion ${describe(body.apiVersion)}: only admission.k8s.io/v1 is served ` +
        '(set admissionReviewVersions: ["v1"] in the MutatingWebhookConfiguration)',
    };
  }
  const request = body.request;
  if (!isObj(request)) return { status: 400, error: 'request is missing or not an object' };
  if (typeof request.uid !== 'string' || request.uid === '') {
    return { status: 400, error: 'request.uid is missing or not a non-empty string' };
  }
  const uid = request.uid;
  const summary = newSummary(request, uid);
  try {
    return reviewPod(request, runtime, summary);
  } catch (err) {
    // A bug or an input shape we did not foresee: admit unchanged, say so, never deny.
    summary.outcome = 'error';
    summary.detail = `internal error: ${(err as Error)?.message ?? String(err)}`;
    summary.warnings = [warning(`could not process this Pod (${summary.detail}); admitted unchanged`)];
    return respond(uid, summary, undefined, undefined);
  }
}

/**
 * The answer when reading the config or admit() itself failed unexpectedly (the server's safety net): the Pod is
 * admitted unchanged with a warning, never a 500 (which fails pod creation under failurePolicy: Fail); a 400 only
 * when there is no uid to answer to.
 */
export function admitAfterInternalError(body: unknown, detail: string): AdmissionResult {
  const request = isObj(body) && isObj(body.request) ? body.request : undefined;
  if (!request || typeof request.uid !== 'string' || request.uid === '') {
    return { status: 400, error: 'request.uid is missing or not a non-empty string' };
  }
  const summary = newSummary(request, request.uid);
  summary.outcome = 'error';
  summary.detail = detail;
  summary.warnings = [warning('internal error; Pod admitted unchanged (see the webhook log)')];
  return respond(request.uid, summary, undefined, undefined);
}

function newSummary(request: Obj, uid: string): AdmissionSummary {
  return {
    uid,
    namespace: typeof request.namespace === 'string' ? request.namespace : undefined,
    name: podName(request),
    operation: typeof request.operation === 'string' ? request.operation : undefined,
    outcome: 'unchanged',
    decisions: [],
    clientVersion: null,
    clientPythonVersion: null,
    warnings: [],
  };
}

function reviewPod(request: Obj, runtime: Runtime, summary: AdmissionSummary): AdmissionResult {
  const uid = summary.uid;
  const resource = isObj(request.resource) ? request.resource : {};
  const isPods = resource.group === '' && resource.resource === 'pods';
  const sub = typeof request.subResource === 'string' ? request.subResource : '';
  let kinds: readonly ContainerKind[];
  if (isPods && sub === '' && request.operation === 'CREATE') kinds = CONTAINER_KINDS;
  else if (isPods && sub === 'ephemeralcontainers' && request.operation === 'UPDATE') kinds = ['ephemeralContainers'];
  else {
    summary.outcome = 'skipped';
    summary.detail = `not a Pod CREATE or pods/ephemeralcontainers UPDATE (${String(resource.resource)}${sub ? '/' + sub : ''} ${String(request.operation)})`;
    return respond(uid, summary, undefined, undefined);
  }

  const pod = request.object;
  if (!isObj(pod) || !isObj(pod.spec)) {
    return cannotUnderstand(summary, 'request.object is not a Pod with a spec');
  }
  const metadata = isObj(pod.metadata) ? pod.metadata : {};
  const labels = isObj(metadata.labels) ? metadata.labels : {};
  const annotations = isObj(metadata.annotations) ? metadata.annotations : undefined;
  const { optOutKey, annotationKey, mode } = runtime.config.webhook;
  if (labels[optOutKey] === 'true' || annotations?.[optOutKey] === 'true') {
    summary.outcome = 'skipped';
    summary.detail = `opted out (${optOutKey}=true)`;
    return respond(uid, summary, undefined, undefined);
  }

  const versions = discoverClientVersions(pod);
  summary.clientVersion = versions.clientVersion;
  summary.clientPythonVersion = versions.clientPythonVersion;
  const warnings: string[] = versions.notes.map((n) => warning(n));

  // ephemeralcontainers UPDATE: only containers added by this request can still be set.
  const existingEphemeral = new Set<string>();
  if (sub === 'ephemeralcontainers' && isObj(request.oldObject) && isObj(request.oldObject.spec)) {
    const old = request.oldObject.spec.ephemeralContainers;
    if (Array.isArray(old)) for (const c of old) if (isObj(c) && typeof c.name === 'string') existingEphemeral.add(c.name);
  }

  // What an earlier pass of this webhook wrote: an image equal to its recorded result is left alone, so a
  // reinvocation never rewrites twice, even with a config under which MLRun's own rules are not idempotent.
  const record = readRecord(annotations?.[annotationKey]);

  const { resolver } = runtime;
  for (const kind of kinds) {
    const list = pod.spec[kind];
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) return cannotUnderstand(summary, `spec.${kind} is not a list`);
    list.forEach((c: unknown, index: number) => {
      if (!isObj(c)) {
        warnings.push(warning(`spec.${kind}[${index}] is not an object; skipped`));
        return;
      }
      const name = typeof c.name === 'string' ? c.name : `#${index}`;
      if (kind === 'ephemeralContainers' && existingEphemeral.has(name)) return;
      if (typeof c.image !== 'string') return; // no image: the API server's own validation speaks to that
      const original = c.image;
      const d: ImageDecision = {
        kind,
        name,
        index,
        original,
        image: original,
        changed: false,
        reasonCode: 'unchanged',
        reasons: [],
      };
      // Trusted only when the recorded step is what this config makes of its source: a hand-written record
      // cannot pin an image, and after a config change the image is resolved afresh.
      const earlier = record[`${kind}/${name}`];
      if (isObj(earlier) && earlier.to === original && typeof earlier.from === 'string') {
        const again = resolver.resolve(earlier.from, versions.clientVersion, versions.clientPythonVersion);
        if (again.ok && again.image === original) {
          d.reasonCode = 'unchanged';
          d.reasons = [`unchanged: this webhook's own result for ${earlier.from} (recorded in the annotation)`];
          summary.decisions.push(d);
          return;
        }
      }
      const r = resolver.resolve(original, versions.clientVersion, versions.clientPythonVersion);
      if (!r.ok) {
        d.reasonCode = 'error';
        d.reasons = [r.reason];
        d.warning = `${kind}/${name}: image ${original} left unchanged: MLRun would raise ${r.error}: ${r.reason}`;
      } else if (r.changed) {
        const invalid = referenceProblem(r.image);
        if (invalid) {
          d.reasonCode = 'error';
          d.reasons = r.reasons;
          d.warning = `${kind}/${name}: resolved image ${JSON.stringify(r.image)} is not a valid reference (${invalid}); left ${original}`;
        } else {
          d.image = r.image;
          d.changed = true;
          d.reasonCode = r.actions.join('+');
          d.reasons = r.reasons;
        }
      } else {
        d.reasons = r.reasons;
        const invalid = referenceProblem(original);
        if (invalid) d.warning = `${kind}/${name}: image ${JSON.stringify(original)} is not a valid reference (${invalid}); the kubelet cannot pull it`;
      }
      if (d.warning) warnings.push(warning(d.warning));
      summary.decisions.push(d);
    });
  }

  const changed = summary.decisions.filter((d) => d.changed);
  if (changed.length === 0) {
    summary.outcome = 'unchanged';
    summary.warnings = cap(warnings);
    return respond(uid, summary, undefined, audit(summary));
  }
  if (mode === 'report') {
    summary.outcome = 'reported';
    for (const d of changed) warnings.push(warning(`report-only: ${d.kind}/${d.name} would change ${d.original} → ${d.image}`));
    summary.warnings = cap(warnings);
    return respond(uid, summary, undefined, audit(summary));
  }
  summary.outcome = 'mutated';
  summary.warnings = cap(warnings);
  // On pods/ephemeralcontainers the API server restores the metadata after admission, so the record does not
  // persist there (the log and audit keep it); it is still written, as a reinvocation reads it before that.
  const patch = buildPatch(pod, annotations, annotationKey, record, changed);
  return respond(uid, summary, patch, audit(summary));
}

/**
 * The patch: one "replace" per changed image and one "add" for the record annotation (add replaces an existing
 * member, and creates the annotations map or metadata when the Pod has none). Written out directly rather than
 * diffed: the ops are known, and diffing a projection of a large Pod cost more than the whole resolution.
 */
function buildPatch(
  pod: Obj,
  annotations: Obj | undefined,
  annotationKey: string,
  record: Record<string, unknown>,
  changed: ImageDecision[],
): Operation[] {
  const ops: Operation[] = changed.map((d) => ({ op: 'replace', path: `/spec/${d.kind}/${d.index}/image`, value: d.image }));
  // Keep what an earlier pass recorded (reinvocation, copied templates); entries of this pass win.
  for (const d of changed) record[`${d.kind}/${d.name}`] = { from: d.original, to: d.image, reason: d.reasons.join('; ') };
  const value = JSON.stringify(record);
  if (!isObj(pod.metadata)) ops.push({ op: 'add', path: '/metadata', value: { annotations: { [annotationKey]: value } } });
  else if (!annotations) ops.push({ op: 'add', path: '/metadata/annotations', value: { [annotationKey]: value } });
  else ops.push({ op: 'add', path: `/metadata/annotations/${escapePathComponent(annotationKey)}`, value });
  return ops;
}

/** The record annotation of an earlier pass, as a map; anything else (absent, damaged, not ours) reads as empty. */
function readRecord(value: unknown): Record<string, unknown> {
  // A prototype-less map: a "__proto__" entry stays an entry instead of replacing the prototype.
  const record: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  if (typeof value !== 'string' || value === '') return record;
  try {
    const parsed: unknown = JSON.parse(value);
    if (isObj(parsed)) for (const [k, v] of Object.entries(parsed)) record[k] = v;
  } catch {
    /* damaged: replaced when this pass writes its own */
  }
  return record;
}

// Pods of one cluster repeat a few images; remember which are valid references (bounded, pure).
const referenceMemo = new BoundedMemo<string>(4096, 512);
function referenceProblem(image: string): string {
  return referenceMemo.get(image, () => {
    const ref = parseReference(image);
    return ref.valid ? '' : ref.reason;
  });
}

function audit(summary: AdmissionSummary): Record<string, string> | undefined {
  const changed = summary.decisions.filter((d) => d.changed);
  if (changed.length === 0 && summary.warnings.length === 0) return undefined;
  const out: Record<string, string> = {};
  if (changed.length > 0) {
    const verb = summary.outcome === 'reported' ? 'would-change' : 'changed';
    out[verb] = truncate(changed.map((d) => `${d.kind}/${d.name}: ${d.original} -> ${d.image}`).join(', '), MAX_AUDIT_VALUE);
  }
  if (summary.warnings.length > 0) out['warnings'] = String(summary.warnings.length);
  return out;
}

function cannotUnderstand(summary: AdmissionSummary, detail: string): AdmissionResult {
  summary.outcome = 'error';
  summary.detail = detail;
  summary.warnings = [warning(`could not understand this Pod (${detail}); admitted unchanged`)];
  return respond(summary.uid, summary, undefined, undefined);
}

function respond(
  uid: string,
  summary: AdmissionSummary,
  patch: Operation[] | undefined,
  auditAnnotations: Record<string, string> | undefined,
): AdmissionResult {
  const response: AdmissionReviewResponse['response'] = { uid, allowed: true };
  if (patch && patch.length > 0) {
    response.patchType = 'JSONPatch';
    response.patch = Buffer.from(JSON.stringify(patch)).toString('base64');
  }
  if (summary.warnings.length > 0) response.warnings = summary.warnings;
  if (auditAnnotations) response.auditAnnotations = auditAnnotations;
  return { status: 200, body: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response }, summary };
}

function podName(request: Obj): string | undefined {
  if (typeof request.name === 'string' && request.name !== '') return request.name;
  const o = request.object;
  if (isObj(o) && isObj(o.metadata)) {
    if (typeof o.metadata.name === 'string') return o.metadata.name;
    if (typeof o.metadata.generateName === 'string') return `${o.metadata.generateName}*`;
  }
  return undefined;
}

// Warnings are shown by kubectl; keep them printable and bounded.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
function warning(text: string): string {
  return truncate(`mlrun-image-webhook: ${text.replace(CONTROL, ' ')}`, MAX_WARNING);
}

/** Keeps the warnings within MAX_WARNINGS_TOTAL characters, the last one saying how many were left out. */
function cap(warnings: string[]): string[] {
  let total = 0;
  for (const w of warnings) total += w.length;
  if (total <= MAX_WARNINGS_TOTAL) return warnings;
  const room = MAX_WARNINGS_TOTAL - warning(`${warnings.length} more warnings not shown (see the webhook log)`).length;
  const kept: string[] = [];
  let used = 0;
  for (const w of warnings) {
    if (used + w.length > room) break;
    kept.push(w);
    used += w.length;
  }
  kept.push(warning(`${warnings.length - kept.length} more warnings not shown (see the webhook log)`));
  return kept;
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

function describe(v: unknown): string {
  return v === undefined ? 'nothing' : truncate(JSON.stringify(v) ?? String(v), 80);
}
