/**
 * AdmissionReview in, decision and JSON patch out. No HTTP, no I/O, never throws: the server layer hands over the
 * parsed body and writes back what this returns.
 *
 * Safety rules (the webhook must never break pod creation):
 * - anything that is not a Pod CREATE or a pods/ephemeralcontainers UPDATE is allowed untouched;
 * - a Pod that cannot be understood is allowed untouched with a warning (outcome "error");
 * - an image MLRun would fail on (ValueError, TypeError, re.error) is left as it is, with a warning;
 * - a resolved image that is not a valid reference is not written (the API server would reject the Pod);
 * - every limit (src/admission/limits.ts, docs/reliability.md) degrades to admitting: the Pod unchanged or that item
 *   skipped, a warning, a limit code in the summary; the answer and the summary stay bounded whatever the input.
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
  LimitCode,
} from './types.js';
import { ADMISSION_LIMITS as L } from './limits.js';
import { otherAnnotationsBytes, readRecord, writeRecord, type RecordMap } from './record.js';
import { isJsonObject as isObj, type JsonObject as Obj } from '../util/json.js';
import { BoundedMemo } from '../util/memo.js';

const { escapePathComponent } = jsonpatch;

const CONTAINER_KINDS = ['containers', 'initContainers', 'ephemeralContainers'] as const;
type ContainerKind = (typeof CONTAINER_KINDS)[number];

const MAX_WARNING = L.maxWarning;
const MAX_WARNINGS_TOTAL = L.maxWarningsTotal;

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
  if (request.uid.length > L.maxUidLength) {
    return { status: 400, error: `request.uid is longer than ${L.maxUidLength} characters (the API server sends a UUID)` };
  }
  const uid = request.uid;
  const summary = newSummary(request, uid);
  try {
    return reviewPod(request, runtime, summary);
  } catch (err) {
    // A bug or an input shape we did not foresee: admit unchanged, say so, never deny.
    summary.outcome = 'error';
    summary.detail = truncate(`internal error: ${(err as Error)?.message ?? String(err)}`, 512);
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
  if (!request || typeof request.uid !== 'string' || request.uid === '' || request.uid.length > L.maxUidLength) {
    return { status: 400, error: 'request.uid is missing, not a non-empty string, or too long' };
  }
  const summary = newSummary(request, request.uid);
  summary.outcome = 'error';
  summary.detail = truncate(detail, 512);
  summary.warnings = [warning('internal error; Pod admitted unchanged (see the webhook log)')];
  return respond(request.uid, summary, undefined, undefined);
}

function newSummary(request: Obj, uid: string): AdmissionSummary {
  return {
    uid,
    namespace: typeof request.namespace === 'string' ? truncate(request.namespace, L.maxNameLength) : undefined,
    name: podName(request),
    operation: typeof request.operation === 'string' ? truncate(request.operation, 32) : undefined,
    outcome: 'unchanged',
    decisions: [],
    decisionsOmitted: 0,
    imagesSeen: 0,
    changedByReason: {},
    imageWarnings: 0,
    limits: [],
    clientVersion: null,
    clientPythonVersion: null,
    warnings: [],
  };
}

/** Which container lists this request may change, or why it is skipped. */
function admissionTarget(request: Obj): { kinds: readonly ContainerKind[]; sub: string } | { skip: string } {
  const resource = isObj(request.resource) ? request.resource : {};
  const isPods = resource.group === '' && resource.resource === 'pods';
  const sub = typeof request.subResource === 'string' ? request.subResource : '';
  let kinds: readonly ContainerKind[];
  if (isPods && sub === '' && request.operation === 'CREATE') kinds = CONTAINER_KINDS;
  else if (isPods && sub === 'ephemeralcontainers' && request.operation === 'UPDATE') kinds = ['ephemeralContainers'];
  else {
    const what = `resource ${describe(resource.resource)}${sub ? `, subresource ${describe(sub)}` : ''}, operation ${describe(request.operation)}`;
    return { skip: `not a Pod CREATE or pods/ephemeralcontainers UPDATE (${what})` };
  }
  // The resource names the endpoint; the kind says what the object is. Only a core/v1 Pod is read as one.
  const kind = isObj(request.kind) ? request.kind : {};
  if (kind.group !== '' || kind.version !== 'v1' || kind.kind !== 'Pod') {
    return { skip: `request.kind is not v1 Pod (group ${describe(kind.group)}, version ${describe(kind.version)}, kind ${describe(kind.kind)})` };
  }
  return { kinds, sub };
}

function containerCount(spec: Obj): number {
  let n = 0;
  for (const k of CONTAINER_KINDS) {
    const list = spec[k];
    if (Array.isArray(list)) n += list.length;
  }
  return n;
}

function addLimit(summary: AdmissionSummary, code: LimitCode): void {
  if (!summary.limits.includes(code)) summary.limits.push(code);
}

/** Every decision is counted; the first ones, within the entry and character caps, are kept for the log line. */
class Decisions {
  readonly changed: ImageDecision[] = [];
  private chars = 0;
  constructor(private readonly summary: AdmissionSummary) {}

  add(d: ImageDecision): void {
    const s = this.summary;
    s.imagesSeen++;
    if (d.changed) {
      this.changed.push(d);
      s.changedByReason[d.reasonCode] = (s.changedByReason[d.reasonCode] ?? 0) + 1;
    }
    if (d.warning) s.imageWarnings++;
    let size = 64 + d.name.length + d.original.length + d.image.length + (d.warning?.length ?? 0);
    for (const r of d.reasons) size += r.length;
    if (s.decisions.length < L.maxDecisions && this.chars + size <= L.maxDecisionChars) {
      s.decisions.push(d);
      this.chars += size;
    } else s.decisionsOmitted++;
  }
}

function reviewPod(request: Obj, runtime: Runtime, summary: AdmissionSummary): AdmissionResult {
  const uid = summary.uid;
  const target = admissionTarget(request);
  if ('skip' in target) {
    summary.outcome = 'skipped';
    summary.detail = target.skip;
    return respond(uid, summary, undefined, undefined);
  }
  const { kinds, sub } = target;

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

  const count = containerCount(pod.spec);
  if (count > L.maxContainers) {
    summary.outcome = 'skipped';
    summary.detail = `${count} containers, more than the ${L.maxContainers} this webhook processes per Pod`;
    summary.warnings = [warning(`${summary.detail}; admitted unchanged`)];
    addLimit(summary, 'too-many-containers');
    return respond(uid, summary, undefined, undefined);
  }

  const versions = discoverClientVersions(pod);
  summary.clientVersion = versions.clientVersion;
  summary.clientPythonVersion = versions.clientPythonVersion;
  for (const code of versions.limits) addLimit(summary, code);
  const warnings: string[] = versions.notes.map((n) => warning(n));

  // ephemeralcontainers UPDATE: only containers added by this request can still be set.
  const existingEphemeral = new Set<string>();
  if (sub === 'ephemeralcontainers' && isObj(request.oldObject) && isObj(request.oldObject.spec)) {
    const old = request.oldObject.spec.ephemeralContainers;
    if (Array.isArray(old)) for (const c of old) if (isObj(c) && typeof c.name === 'string') existingEphemeral.add(c.name);
  }

  // What an earlier pass of this webhook wrote: an image equal to its recorded result is left alone, so a
  // reinvocation never rewrites twice, even with a config under which MLRun's own rules are not idempotent.
  const { record, tooLarge } = readRecord(annotations?.[annotationKey]);
  if (tooLarge) {
    addLimit(summary, 'record-unread');
    warnings.push(warning(`annotation ${annotationKey} is larger than ${L.maxRecordBytes} bytes; not read (images resolved afresh)`));
  }

  const decisions = new Decisions(summary);
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
      const d = decideImage(kind, name, index, c.image, record, runtime, versions, summary);
      if (d.warning) warnings.push(warning(d.warning));
      decisions.add(d);
    });
  }

  const changed = decisions.changed;
  if (changed.length === 0) {
    summary.outcome = 'unchanged';
    summary.warnings = cap(warnings);
    return respond(uid, summary, undefined, audit(summary, changed));
  }
  if (mode === 'report') {
    summary.outcome = 'reported';
    for (const d of changed) warnings.push(warning(`report-only: ${d.kind}/${d.name} would change ${d.original} → ${d.image}`));
    summary.warnings = cap(warnings);
    return respond(uid, summary, undefined, audit(summary, changed));
  }
  summary.outcome = 'mutated';
  // On pods/ephemeralcontainers the API server restores the metadata after admission, so the record does not
  // persist there (the log and audit keep it); it is still written, as a reinvocation reads it before that.
  const patch = buildPatch(pod, annotations, annotationKey, record, changed, summary, warnings);
  summary.warnings = cap(warnings);
  return respond(uid, summary, patch, audit(summary, changed));
}

/** What to do with one container's image. */
function decideImage(
  kind: ContainerKind,
  name: string,
  index: number,
  original: string,
  record: RecordMap,
  runtime: Runtime,
  versions: { clientVersion: string | null; clientPythonVersion: string | null },
  summary: AdmissionSummary,
): ImageDecision {
  const d: ImageDecision = { kind, name, index, original, image: original, changed: false, reasonCode: 'unchanged', reasons: [] };
  if (original.length > L.maxImageLength) {
    // Only a preview travels on (summary, log); the image itself stays as it is in the Pod.
    d.original = d.image = truncate(original, 64);
    d.reasonCode = 'limit';
    d.reasons = [`image is ${original.length} characters long, more than the ${L.maxImageLength} this webhook resolves`];
    d.warning = `${kind}/${name}: image of ${original.length} characters is longer than ${L.maxImageLength}; left unchanged`;
    addLimit(summary, 'image-too-long');
    return d;
  }
  const { resolver } = runtime;
  // Trusted only when the recorded step is what this config makes of its source: a hand-written record
  // cannot pin an image, and after a config change the image is resolved afresh.
  const earlier = record[`${kind}/${name}`];
  if (isObj(earlier) && earlier.to === original && typeof earlier.from === 'string' && earlier.from.length <= L.maxImageLength) {
    const again = resolver.resolve(earlier.from, versions.clientVersion, versions.clientPythonVersion);
    if (again.ok && again.image === original) {
      d.reasons = [`unchanged: this webhook's own result for ${earlier.from} (recorded in the annotation)`];
      return d;
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
  return d;
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
  record: RecordMap,
  changed: ImageDecision[],
  summary: AdmissionSummary,
  warnings: string[],
): Operation[] {
  const ops: Operation[] = changed.map((d) => ({ op: 'replace', path: `/spec/${d.kind}/${d.index}/image`, value: d.image }));
  // The API server counts len(key) + len(value) over all annotations of the patched Pod against 256 KiB.
  const keyBytes = Buffer.byteLength(annotationKey, 'utf8');
  const room = Math.min(L.maxRecordBytes, L.maxAnnotationsBytes - otherAnnotationsBytes(annotations, annotationKey) - keyBytes);
  const written = writeRecord(record, changed, room);
  if (written.kind === 'omitted') {
    addLimit(summary, 'record-omitted');
    warnings.push(warning(`annotation ${annotationKey} not written: it would not fit in ${Math.max(0, room)} bytes (the Pod's annotations may total 256 KiB)`));
    return ops;
  }
  if (written.kind === 'trimmed') {
    addLimit(summary, 'record-trimmed');
    warnings.push(warning(`annotation ${annotationKey} written without reasons, ${written.entries} of ${written.of} entries, to fit in ${room} bytes`));
  }
  const value = written.value;
  if (!isObj(pod.metadata)) ops.push({ op: 'add', path: '/metadata', value: { annotations: { [annotationKey]: value } } });
  else if (!annotations) ops.push({ op: 'add', path: '/metadata/annotations', value: { [annotationKey]: value } });
  else ops.push({ op: 'add', path: `/metadata/annotations/${escapePathComponent(annotationKey)}`, value });
  return ops;
}

// Pods of one cluster repeat a few images; remember which are valid references (bounded, pure).
const referenceMemo = new BoundedMemo<string>(4096, 512);
function referenceProblem(image: string): string {
  return referenceMemo.get(image, () => {
    const ref = parseReference(image);
    return ref.valid ? '' : ref.reason;
  });
}

function audit(summary: AdmissionSummary, changed: readonly ImageDecision[]): Record<string, string> | undefined {
  if (changed.length === 0 && summary.warnings.length === 0) return undefined;
  const out: Record<string, string> = {};
  if (changed.length > 0) {
    const verb = summary.outcome === 'reported' ? 'would-change' : 'changed';
    let text = '';
    for (const d of changed) {
      text += `${text ? ', ' : ''}${d.kind}/${d.name}: ${d.original} -> ${d.image}`;
      if (text.length > L.maxAuditValue) break; // the rest would be cut anyway
    }
    out[verb] = truncate(text, L.maxAuditValue);
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
  if (typeof request.name === 'string' && request.name !== '') return truncate(request.name, L.maxNameLength);
  const o = request.object;
  if (isObj(o) && isObj(o.metadata)) {
    if (typeof o.metadata.name === 'string') return truncate(o.metadata.name, L.maxNameLength);
    if (typeof o.metadata.generateName === 'string') return `${truncate(o.metadata.generateName, L.maxNameLength)}*`;
  }
  return undefined;
}

// Warnings are shown by kubectl; keep them printable and bounded.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
function warning(text: string): string {
  // Cut before replacing: the text can hold request data of any length.
  return truncate(`mlrun-image-webhook: ${text.slice(0, MAX_WARNING).replace(CONTROL, ' ')}`, MAX_WARNING);
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

/** A short, safe description of a request value: never serialises an object (it may be huge or deeply nested). */
function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return JSON.stringify(truncate(v, 80));
  if (v === null || typeof v === 'number' || typeof v === 'boolean') return String(v);
  return Array.isArray(v) ? 'a list' : 'an object';
}
