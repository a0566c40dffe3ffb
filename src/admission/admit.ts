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
import { parseReference } from '../image/reference.js';
import { discoverClientVersions } from '../mlrun/discovery.js';
import { pyStrip } from '../mlrun/engine.js';
import { pinAction, pinMessage, pinVerdict, type PinContext, type PinTagsMode, type PinVerdict } from '../mlrun/policy.js';
import type { Runtime } from '../config/runtime.js';
import type {
  AdmissionResult,
  AdmissionReviewResponse,
  AdmissionSummary,
  AdmitContext,
  ImageDecision,
  LimitCode,
  MirrorStateName,
  PinDigestsAction,
  PinTagsAction,
  PinVerdictKind,
  PolicyCountKey,
  RegistryView,
} from './types.js';
import { ADMISSION_LIMITS as L } from './limits.js';
import { otherAnnotationsBytes, readRecord, writeRecord, type RecordMap } from './record.js';
import { configuredRegistries, type ConfiguredRegistries } from './registries.js';
import { isJsonObject as isObj, type JsonObject as Obj } from '../util/json.js';
import { BoundedMemo } from '../util/memo.js';

const { escapePathComponent } = jsonpatch;

const CONTAINER_KINDS = ['containers', 'initContainers', 'ephemeralContainers'] as const;
type ContainerKind = (typeof CONTAINER_KINDS)[number];

const MAX_WARNING = L.maxWarning;
const MAX_WARNINGS_TOTAL = L.maxWarningsTotal;

export function admit(body: unknown, runtime: Runtime, context: AdmitContext = {}): AdmissionResult {
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
    return reviewPod(request, runtime, summary, context);
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
  const namespace = typeof request.namespace === 'string' ? truncate(request.namespace, L.maxNameLength) : undefined;
  const operation = typeof request.operation === 'string' ? truncate(request.operation, 32) : undefined;
  return summaryOf(uid, namespace, podName(request), operation);
}

/** A summary of an admission that has not looked at anything yet (also what tests build records from). */
export function emptySummary(uid: string): AdmissionSummary {
  return summaryOf(uid, undefined, undefined, undefined);
}

// One literal for both (not emptySummary spread and overwritten: one object per admission, one shape).
function summaryOf(uid: string, namespace: string | undefined, name: string | undefined, operation: string | undefined): AdmissionSummary {
  return {
    uid,
    namespace,
    name,
    operation,
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
    production: false,
    policyMode: 'off',
    policy: [],
    policyOmitted: 0,
    policyCounts: {},
    mirrorCounts: { present: 0, missing: 0, unknown: 0 },
    lookups: [],
    lookupsOmitted: 0,
  };
}

type Target = { readonly kinds: readonly ContainerKind[]; readonly sub: string };
const POD_CREATE: Target = { kinds: CONTAINER_KINDS, sub: '' };
const EPHEMERAL_UPDATE: Target = { kinds: ['ephemeralContainers'], sub: 'ephemeralcontainers' };

/** Which container lists this request may change, or why it is skipped. */
function admissionTarget(request: Obj): Target | { skip: string } {
  const resource = isObj(request.resource) ? request.resource : {};
  const isPods = resource.group === '' && resource.resource === 'pods';
  const sub = typeof request.subResource === 'string' ? request.subResource : '';
  let target: Target;
  if (isPods && sub === '' && request.operation === 'CREATE') target = POD_CREATE;
  else if (isPods && sub === 'ephemeralcontainers' && request.operation === 'UPDATE') target = EPHEMERAL_UPDATE;
  else {
    const what = `resource ${describe(resource.resource)}${sub ? `, subresource ${describe(sub)}` : ''}, operation ${describe(request.operation)}`;
    return { skip: `not a Pod CREATE or pods/ephemeralcontainers UPDATE (${what})` };
  }
  // The resource names the endpoint; the kind says what the object is. Only a core/v1 Pod is read as one.
  const kind = isObj(request.kind) ? request.kind : {};
  if (kind.group !== '' || kind.version !== 'v1' || kind.kind !== 'Pod') {
    return { skip: `request.kind is not v1 Pod (group ${describe(kind.group)}, version ${describe(kind.version)}, kind ${describe(kind.kind)})` };
  }
  return target;
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
  /** Images this pass changes (one patch op each). */
  readonly changed: ImageDecision[] = [];
  /** Containers the record annotation speaks of: the changed ones and those the policy or the mirror flagged. */
  readonly noted: ImageDecision[] = [];
  /** The policy's denials (enforce mode), one sentence per container. */
  readonly denials: string[] = [];
  private chars = 0;
  constructor(private readonly summary: AdmissionSummary) {}

  add(d: ImageDecision): void {
    const s = this.summary;
    s.imagesSeen++;
    if (d.changed) {
      this.changed.push(d);
      s.changedByReason[d.reasonCode] = (s.changedByReason[d.reasonCode] ?? 0) + 1;
    }
    if (d.changed || (d.policy && d.policy.action !== 'none') || d.mirror === 'missing' || d.digest !== undefined) this.noted.push(d);
    if (d.warning) s.imageWarnings++;
    if (s.decisions.length >= L.maxDecisions) {
      s.decisionsOmitted++;
      return;
    }
    let size = 64 + d.name.length + d.original.length + d.image.length + (d.warning?.length ?? 0) + (d.policy?.message?.length ?? 0);
    for (const r of d.reasons) size += r.length;
    if (d.notes) for (const n of d.notes) size += n.length;
    if (this.chars + size <= L.maxDecisionChars) {
      s.decisions.push(d);
      this.chars += size;
    } else s.decisionsOmitted++;
  }
}

/** The policy's decisions for the log line (bounded) and their complete counts (for metrics). */
function logPolicy(
  summary: AdmissionSummary,
  entry: { policy: 'pin-tags'; verdict: PinVerdictKind; action: PinTagsAction; suggestion?: string } | { policy: 'pin-digests'; action: PinDigestsAction },
  container: string,
  image: string,
): void {
  const key = `${entry.policy}/${entry.action}` as PolicyCountKey;
  summary.policyCounts[key] = (summary.policyCounts[key] ?? 0) + 1;
  if (summary.policy.length >= L.maxPolicyEntries) {
    summary.policyOmitted++;
    return;
  }
  // Images here are within maxImageLength (longer ones are never decided on), so the list stays bounded.
  if (entry.policy === 'pin-tags') {
    summary.policy.push({
      policy: 'pin-tags', container, verdict: entry.verdict, action: entry.action, image,
      ...(entry.suggestion !== undefined ? { suggestion: truncate(entry.suggestion, L.maxImageLength) } : {}),
    });
  } else summary.policy.push({ policy: 'pin-digests', container, verdict: 'digest', action: entry.action, image });
}

/** Images to ask the registry about before a second pass: deduplicated and bounded. */
class Lookups {
  private readonly seen = new Set<string>();
  constructor(private readonly summary: AdmissionSummary, private readonly final: boolean) {}
  add(image: string): void {
    if (this.final || this.seen.has(image)) return;
    this.seen.add(image);
    if (this.summary.lookups.length < L.maxLookups) this.summary.lookups.push(image);
    else this.summary.lookupsOmitted++;
  }
}

/** What the mirror check and digest pinning share in one pass; built only when one of them is on. */
interface RegistryPass {
  view: RegistryView;
  registries: ConfiguredRegistries;
  lookups: Lookups;
  /** One registry answer per image per pass (the mirror check and the digest ask about the same final image). */
  states: Map<string, { state: MirrorStateName; digest?: string }>;
}

/** Everything one pass decides with, set up once per request. */
interface Pass {
  runtime: Runtime;
  /** The record of an earlier pass; undefined when there is none (the common case: nothing to look up). */
  record: RecordMap | undefined;
  summary: AdmissionSummary;
  versions: { clientVersion: string | null; clientPythonVersion: string | null };
  /** false: the Pod opted out on a production request, so the MLRun rewrite is skipped but the policy is not. */
  resolveMlrun: boolean;
  /** policy.pinTags on a production request (not off). */
  pin: { mode: PinTagsMode; ctx: PinContext } | undefined;
  /** policy.pinDigests: resolve on a production request with a registry view. */
  digests: RegistryPass | undefined;
  /** mirror.enabled with a registry view. */
  mirror: { keepOriginal: boolean; registry: RegistryPass } | undefined;
}

/**
 * Verdicts per runtime (allow list, pinned version and engine are the runtime's; the client python is in the key).
 * Bounded: keys are request data. A verdict is never modified after it is made.
 */
const verdictMemos = new WeakMap<Runtime, BoundedMemo<PinVerdict>>();
function verdictMemo(runtime: Runtime): BoundedMemo<PinVerdict> {
  let m = verdictMemos.get(runtime);
  if (!m) {
    m = new BoundedMemo<PinVerdict>(4096, L.maxImageLength + 160);
    verdictMemos.set(runtime, m);
  }
  return m;
}

function registryState(p: RegistryPass, image: string): { state: MirrorStateName; digest?: string } {
  let st = p.states.get(image);
  if (!st) {
    let raw: unknown;
    try {
      raw = p.view.state(image);
    } catch {
      raw = undefined; // a cache view must not throw; if it does, knowing nothing is the safe reading
    }
    const r = isObj(raw) ? raw : {};
    const state: MirrorStateName = r.state === 'present' || r.state === 'missing' ? r.state : 'unknown';
    st = typeof r.digest === 'string' && r.digest.length <= MAX_DIGEST_LENGTH ? { state, digest: r.digest } : { state };
    p.states.set(image, st);
  }
  return st;
}

/** sha512 with its algorithm is 135 characters; anything longer is not a digest. */
const MAX_DIGEST_LENGTH = 160;
/** The registered digest algorithms with their exact lengths (as src/image/reference.ts accepts them). */
const DIGEST_RE = /^(?:sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128})$/;

/**
 * What to do with one container's image, in four steps:
 *  1. pin-tags (production): the verdict on the image as it arrives; a rewrite replaces it with the exact pin;
 *  2. MLRun's resolution (skipped when a production Pod opted out), on the pinned image when there is one, so the
 *     registry prefix is added as for any image;
 *  3. mirror (mirror.enabled): an image rewritten to the images/vendor registry is checked against the cache;
 *     known missing → warned, or with mirror.missing: keep-original the MLRun rewrite is undone (the pin holds);
 *  4. pin-digests (production): a tagged image on a configured registry gets `@digest` when the cache knows it.
 * Unknown registry answers are listed for the server's look-up; every pass's answer stands on its own.
 */
function decideImage(kind: ContainerKind, name: string, index: number, original: string, ephemeral: boolean, p: Pass): ImageDecision {
  const { summary } = p;
  const d: ImageDecision = { kind, name, index, original, image: original, changed: false, reasonCode: 'unchanged', reasons: NONE };
  if (original.length > L.maxImageLength) {
    // Only a preview travels on (summary, log); the image itself stays as it is in the Pod.
    d.original = d.image = truncate(original, 64);
    d.reasonCode = 'limit';
    d.reasons = [`image is ${original.length} characters long, more than the ${L.maxImageLength} this webhook resolves`];
    d.warning = `${kind}/${name}: image of ${original.length} characters is longer than ${L.maxImageLength}; left unchanged`;
    addLimit(summary, 'image-too-long');
    if (p.pin) {
      d.policy = { verdict: 'unchecked', action: 'none' };
      logPolicy(summary, { policy: 'pin-tags', verdict: 'unchecked', action: 'none' }, `${kind}/${name}`, d.image);
    }
    return d;
  }
  // Built only when a step adds to them: otherwise the decision carries the engine's own (memoised, never modified)
  // lists, so no list is built per container and record.ts can remember entry texts by that reasons list.
  let reasons: readonly string[] = NONE;
  let codes: readonly string[] = NONE;
  let notes: string[] | undefined;

  // 1. pin-tags
  let input = original;
  let allowed = false;
  if (p.pin) {
    const container = `${kind}/${name}`;
    // Judged as MLRun will use it: surrounding whitespace is stripped first, so "nginx " must not escape as
    // "not a reference" and then reach the Pod as a bare "nginx".
    const subject = pyStrip(original);
    const v = verdictMemo(p.runtime).get(`${p.pin.ctx.clientPythonVersion ?? ''}\u0000${subject}`, () => pinVerdict(subject, p.pin!.ctx));
    let action = pinAction(v, p.pin.mode, ephemeral);
    allowed = v.kind === 'allowed';
    const flagged = v.kind === 'floating' || v.kind === 'off-pin' ? v : undefined;
    const suggestion = flagged ? (flagged.suggestion.exact ? flagged.suggestion.image : flagged.suggestion.template) : undefined;
    if (flagged && action === 'rewrite') {
      if (flagged.suggestion.exact && flagged.suggestion.image.length <= L.maxImageLength && !referenceProblem(flagged.suggestion.image)) {
        input = flagged.suggestion.image;
        codes = PIN;
      } else action = ephemeral ? 'warn' : 'deny'; // nothing valid to write: as for an image with no exact pin
    }
    d.policy = { verdict: v.kind, action, ...(suggestion !== undefined ? { suggestion } : {}) };
    if (flagged && action !== 'none') {
      const message = truncate(pinMessage(name, subject, flagged), L.maxDenyEntry);
      d.policy.message = message;
      reasons = [`production policy (pinTags ${p.pin.mode}): ${message}`];
      if (action === 'warn') notes = [`production policy: ${message}`];
      else if (action === 'rewrite') notes = [`production policy: ${container} rewritten to ${input}: ${message}`];
      // deny: the sentence goes into the denial (or, in report mode, a "would deny" warning).
    }
    logPolicy(summary, { policy: 'pin-tags', verdict: v.kind, action, ...(suggestion !== undefined ? { suggestion } : {}) }, container, original);
  } else if (p.digests) {
    const subject = pyStrip(original);
    for (const a of p.runtime.policy.allow) if (a.match(subject)) allowed = true;
  }

  // 2. MLRun's resolution
  let image = input;
  let engineChanged = false;
  let engineCodes: readonly string[] | undefined;
  if (p.resolveMlrun) {
    const r = resolveMlrun(kind, name, original, input, p);
    reasons = reasons.length === 0 ? r.reasons : [...reasons, ...r.reasons];
    if (r.warning) d.warning = r.warning;
    if (r.error) d.reasonCode = 'error';
    if (r.image !== input) {
      image = r.image;
      engineChanged = true;
      codes = codes.length === 0 ? (engineCodes = r.actions) : [...codes, ...r.actions];
    }
  } else reasons = [...reasons, 'MLRun rewrite skipped: the Pod opted out (the production policy still applies)'];

  // 3. mirror: only images this webhook rewrote to its own mirror registries (never a host a Pod author chose).
  if (p.mirror && image !== original && p.mirror.registry.registries.onMirror(image)) {
    const st = registryState(p.mirror.registry, image);
    d.mirror = st.state;
    summary.mirrorCounts[st.state]++;
    if (st.state === 'unknown') p.mirror.registry.lookups.add(image);
    else if (st.state === 'missing') {
      if (p.mirror.keepOriginal && engineChanged) {
        const reason = `the mirror lacks ${image}; kept ${input} (mirror.missing: keep-original)`;
        reasons = [...reasons, reason];
        (notes ??= []).push(`${kind}/${name}: ${reason}`);
        image = input;
        engineChanged = false;
        codes = codes[0] === 'pin' ? PIN : NONE;
      } else {
        const reason = `rewritten to ${image}, which the mirror registry lacks (mirror it, or set mirror.missing: keep-original)`;
        reasons = [...reasons, reason];
        (notes ??= []).push(`${kind}/${name}: ${reason}`);
      }
    }
  }

  // 4. pin-digests
  if (p.digests && !allowed) {
    if (p.digests.registries.digestTarget(image)) {
      const container = `${kind}/${name}`;
      const st = registryState(p.digests, image);
      // The registry's answer is checked against the digest grammar before it goes into a Pod.
      const pinned = st.state === 'present' && st.digest && DIGEST_RE.test(st.digest) ? `${image}@${st.digest}` : undefined;
      if (pinned && !referenceProblem(pinned)) {
        reasons = [...reasons, `digest ${st.digest} from the registry (policy.pinDigests: resolve)`];
        image = pinned;
        codes = [...codes, 'digest'];
        d.digest = 'resolved';
      } else {
        d.digest = 'unresolved';
        if (st.state === 'unknown') p.digests.lookups.add(image);
        const why =
          st.state === 'unknown' ? 'not resolved in time' : st.state === 'missing' ? 'not resolved: the registry lacks the image' : 'not resolved: the registry gave no valid digest';
        reasons = [...reasons, `digest ${why}; the tag is kept`];
        // A missing mirror image has its warning already.
        if (!(st.state === 'missing' && d.mirror === 'missing')) (notes ??= []).push(`${container}: digest of ${image} ${why}; the tag is kept (policy.pinDigests)`);
      }
      logPolicy(summary, { policy: 'pin-digests', action: d.digest }, container, image);
    }
  }

  d.image = image;
  d.changed = image !== original;
  if (d.changed) d.reasonCode = codes === engineCodes ? reasonCodeOf(codes) : codes.join('+');
  d.reasons = reasons;
  if (notes) d.notes = notes;
  return d;
}

/**
 * A changed image's reason code from the engine's own (memoised, never modified) actions list, joined by "+"
 * ("tag+prefix"). Remembered by list: the engine hands out the same list each time, so a Pod gets the same string,
 * not a new one to join and then to hash as a key of changedByReason (both cost microseconds per admission once
 * other requests have run in between). Lists built for one decision (policy, digest steps) are joined in place.
 */
const reasonCodes = new WeakMap<readonly string[], string>();
function reasonCodeOf(codes: readonly string[]): string {
  if (codes.length === 1) return codes[0]!;
  let code = reasonCodes.get(codes);
  if (code === undefined) {
    code = codes.join('+');
    reasonCodes.set(codes, code);
  }
  return code;
}

const NONE: readonly string[] = Object.freeze([]);
const PIN: readonly string[] = Object.freeze(['pin']);

/** MLRun's resolution of `input` (the image as it arrived, or the policy's pin), for decideImage's step 2. */
function resolveMlrun(
  kind: ContainerKind,
  name: string,
  original: string,
  input: string,
  p: Pass,
): { image: string; actions: readonly string[]; reasons: readonly string[]; warning?: string; error?: true } {
  const { resolver } = p.runtime;
  const { clientVersion, clientPythonVersion } = p.versions;
  // Trusted only when the recorded step is what this config makes of its source: a hand-written record
  // cannot pin an image, and after a config change the image is resolved afresh.
  const earlier = p.record?.[`${kind}/${name}`];
  if (input === original && isObj(earlier) && earlier.to === original && typeof earlier.from === 'string' && earlier.from.length <= L.maxImageLength) {
    const again = resolver.resolve(earlier.from, clientVersion, clientPythonVersion);
    if (again.ok && again.image === original) {
      return { image: input, actions: NONE, reasons: [`unchanged: this webhook's own result for ${earlier.from} (recorded in the annotation)`] };
    }
  }
  const r = resolver.resolve(input, clientVersion, clientPythonVersion);
  if (!r.ok) {
    return {
      image: input, actions: NONE, reasons: [r.reason], error: true,
      warning: `${kind}/${name}: image ${input} left unchanged: MLRun would raise ${r.error}: ${r.reason}`,
    };
  }
  if (r.changed) {
    const invalid = referenceProblem(r.image);
    if (invalid) {
      return {
        image: input, actions: NONE, reasons: r.reasons, error: true,
        warning: `${kind}/${name}: resolved image ${JSON.stringify(r.image)} is not a valid reference (${invalid}); left ${input}`,
      };
    }
    return r; // its image, actions and reasons as they are: no copy per container
  }
  const invalid = referenceProblem(input);
  if (!invalid) return r; // unchanged: r.image is input and r.actions is empty
  return {
    image: input, actions: NONE, reasons: r.reasons,
    warning: `${kind}/${name}: image ${JSON.stringify(input)} is not a valid reference (${invalid}); the kubelet cannot pull it`,
  };
}


function reviewPod(request: Obj, runtime: Runtime, summary: AdmissionSummary, context: AdmitContext): AdmissionResult {
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
  const { config } = runtime;
  const { optOutKey, annotationKey, mode } = config.webhook;

  // The production policy (ADR 0008): the path says so, or the namespace is listed in the config.
  const production = context.production === true || (typeof request.namespace === 'string' && productionNamespaces(config).has(request.namespace));
  const pinTags: PinTagsMode = production ? config.policy.pinTags : 'off';
  const pinDigests = production && config.policy.pinDigests === 'resolve' && context.registry !== undefined;
  const policyActive = pinTags !== 'off' || pinDigests;
  summary.production = production;
  summary.policyMode = policyActive ? mode : 'off';
  const ephemeralRequest = sub === 'ephemeralcontainers';

  // Any Pod author can set the opt-out, so in production it skips only the MLRun rewrite, never the policy.
  const optedOut = labels[optOutKey] === 'true' || annotations?.[optOutKey] === 'true';
  if (optedOut && !policyActive) {
    summary.outcome = 'skipped';
    summary.detail = `opted out (${optOutKey}=true)`;
    return respond(uid, summary, undefined, undefined);
  }
  if (optedOut) summary.detail = `opted out (${optOutKey}=true): MLRun rewrite skipped; the production policy applies`;

  const count = containerCount(pod.spec);
  if (count > L.maxContainers) {
    const detail = `${count} containers, more than the ${L.maxContainers} this webhook processes per Pod`;
    addLimit(summary, 'too-many-containers');
    // Admitting it unchecked would let any Pod past a deny policy by padding it with containers.
    if ((pinTags === 'deny' || pinTags === 'rewrite') && mode === 'enforce' && !ephemeralRequest) {
      summary.detail = detail;
      return deny(summary, [`the Pod has ${detail}: the production image policy cannot check it`], []);
    }
    summary.outcome = 'skipped';
    summary.detail = detail;
    summary.warnings = [warning(`${detail}; admitted unchanged${policyActive ? ', the production policy not applied' : ''}`)];
    return respond(uid, summary, undefined, undefined);
  }

  const versions = discoverClientVersions(pod);
  summary.clientVersion = versions.clientVersion;
  summary.clientPythonVersion = versions.clientPythonVersion;
  for (const code of versions.limits) addLimit(summary, code);
  const warnings: string[] = [];
  for (const n of versions.notes) warnings.push(warning(n));

  // ephemeralcontainers UPDATE: only containers added by this request can still be set.
  const existingEphemeral = ephemeralRequest ? oldEphemeralNames(request) : undefined;

  // What an earlier pass of this webhook wrote: an image equal to its recorded result is left alone, so a
  // reinvocation never rewrites twice, even with a config under which MLRun's own rules are not idempotent.
  const { record, tooLarge } = readRecord(annotations?.[annotationKey]);
  if (tooLarge) {
    addLimit(summary, 'record-unread');
    warnings.push(warning(`annotation ${annotationKey} is larger than ${L.maxRecordBytes} bytes; not read (images resolved afresh)`));
  }

  // The registry's part of the pass only when the mirror check or digest pinning is on.
  const registry = context.registry;
  const mirrorOn = config.mirror.enabled && registry !== undefined;
  const registryPass: RegistryPass | undefined =
    registry && (mirrorOn || pinDigests)
      ? { view: registry, registries: configuredRegistries(config), lookups: new Lookups(summary, context.final === true), states: new Map() }
      : undefined;
  const pass: Pass = {
    runtime,
    record,
    summary,
    versions,
    resolveMlrun: !optedOut,
    pin:
      pinTags === 'off'
        ? undefined
        : {
            mode: pinTags,
            ctx: {
              mlrunVersion: config.policy.mlrunVersion || null,
              allow: runtime.policy.allow,
              unprefixed: runtime.policy.unprefixed,
              clientPythonVersion: versions.clientPythonVersion,
            },
          },
    digests: pinDigests ? registryPass : undefined,
    mirror: mirrorOn && registryPass ? { keepOriginal: config.mirror.missing === 'keep-original', registry: registryPass } : undefined,
  };

  const decisions = new Decisions(summary);
  for (const kind of kinds) {
    const list = pod.spec[kind];
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) return cannotUnderstand(summary, `spec.${kind} is not a list`);
    const ephemeral = ephemeralRequest || kind === 'ephemeralContainers';
    for (let index = 0; index < list.length; index++) {
      const c: unknown = list[index];
      if (!isObj(c)) {
        warnings.push(warning(`spec.${kind}[${index}] is not an object; skipped`));
        continue;
      }
      const name = typeof c.name === 'string' ? c.name : `#${index}`;
      if (existingEphemeral && kind === 'ephemeralContainers' && existingEphemeral.has(name)) continue;
      if (typeof c.image !== 'string') continue; // no image: the API server's own validation speaks to that
      // kubectl debug is never denied by the policy (pinAction turns deny into warn for it).
      const d = decideImage(kind, name, index, c.image, ephemeral, pass);
      if (d.warning) warnings.push(warning(d.warning));
      if (d.notes) for (const n of d.notes) warnings.push(warning(n));
      if (d.policy?.action === 'deny' && d.policy.message) {
        if (mode === 'enforce') decisions.denials.push(d.policy.message);
        else warnings.push(warning(`report-only: the production policy would deny this Pod: ${d.policy.message}`));
      }
      decisions.add(d);
    }
  }

  if (decisions.denials.length > 0) return deny(summary, decisions.denials, warnings);

  const { changed, noted } = decisions;
  if (noted.length === 0) {
    summary.outcome = optedOut ? 'skipped' : 'unchanged';
    summary.warnings = cap(warnings);
    return respond(uid, summary, undefined, audit(summary, changed));
  }
  if (mode === 'report') {
    summary.outcome = changed.length > 0 ? 'reported' : optedOut ? 'skipped' : 'unchanged';
    for (const d of changed) warnings.push(warning(`report-only: ${d.kind}/${d.name} would change ${d.original} → ${d.image}`));
    summary.warnings = cap(warnings);
    return respond(uid, summary, undefined, audit(summary, changed));
  }
  // On pods/ephemeralcontainers the API server restores the metadata after admission, so the record does not
  // persist there (the log and audit keep it); it is still written, as a reinvocation reads it before that.
  // Flagged containers whose image stays (policy warn, mirror keep-original) are recorded too: the record is where
  // the reason stays with the Pod.
  const patch = buildPatch(pod, annotations, annotationKey, record, changed, noted, summary, warnings);
  // A reinvocation that only flags again what the record already says has nothing to patch.
  summary.outcome = patch !== undefined ? 'mutated' : optedOut ? 'skipped' : 'unchanged';
  summary.warnings = cap(warnings);
  return respond(uid, summary, patch, audit(summary, changed));
}

/** Names of the ephemeral containers the Pod had before this pods/ephemeralcontainers UPDATE. */
function oldEphemeralNames(request: Obj): ReadonlySet<string> {
  const names = new Set<string>();
  if (isObj(request.oldObject) && isObj(request.oldObject.spec)) {
    const old = request.oldObject.spec.ephemeralContainers;
    if (Array.isArray(old)) for (const c of old) if (isObj(c) && typeof c.name === 'string') names.add(c.name);
  }
  return names;
}

/** policy.namespaces as a set, built once per config object. */
const namespaceSets = new WeakMap<Runtime['config'], ReadonlySet<string>>();
function productionNamespaces(config: Runtime['config']): ReadonlySet<string> {
  let set = namespaceSets.get(config);
  if (!set) {
    set = new Set(config.policy.namespaces);
    namespaceSets.set(config, set);
  }
  return set;
}

/**
 * The production policy refuses the Pod: allowed false with a 403 status whose message names every flagged
 * container and the image to use (kubectl prints "admission webhook ... denied the request: <message>"). No patch.
 * Bounded: each container's sentence is capped, and past maxDenyMessage the rest are counted, not listed.
 */
function deny(summary: AdmissionSummary, sentences: readonly string[], warnings: string[]): AdmissionResult {
  const head = 'mlrun-image-webhook: production image policy: ';
  let message = head;
  let listed = 0;
  for (const s of sentences) {
    const clean = s.replace(CONTROL, ' ');
    const more = `; and ${sentences.length - listed} more container(s)`;
    const piece = (listed > 0 ? '; ' : '') + clean;
    if (message.length + piece.length + more.length > L.maxDenyMessage && listed > 0) {
      message += more;
      break;
    }
    message += piece;
    listed++;
  }
  summary.outcome = 'denied';
  summary.detail = truncate(message, 512);
  summary.warnings = cap(warnings);
  const response: AdmissionReviewResponse['response'] = {
    uid: summary.uid,
    allowed: false,
    status: { code: 403, reason: 'Forbidden', message },
  };
  if (summary.warnings.length > 0) response.warnings = summary.warnings;
  response.auditAnnotations = { denied: truncate(message, L.maxAuditValue) };
  return { status: 200, body: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response }, summary };
}

/**
 * The patch: one "replace" per changed image and one "add" for the record annotation (add replaces an existing
 * member, and creates the annotations map or metadata when the Pod has none). Written out directly rather than
 * diffed: the ops are known, and diffing a projection of a large Pod cost more than the whole resolution. Returned
 * as JSON text (what JSON.stringify makes of the ops, without building them), or undefined when there is no op.
 */
function buildPatch(
  pod: Obj,
  annotations: Obj | undefined,
  annotationKey: string,
  record: RecordMap | undefined,
  changed: ImageDecision[],
  noted: ImageDecision[],
  summary: AdmissionSummary,
  warnings: string[],
): string | undefined {
  // kind is one of three names and index an integer: neither needs escaping in the path.
  let ops = '';
  for (const d of changed) ops += `${ops ? ',' : ''}{"op":"replace","path":"/spec/${d.kind}/${d.index}/image","value":${JSON.stringify(d.image)}}`;
  const room = recordRoom(annotations, annotationKey);
  const written = writeRecord(record, noted, room);
  if (written.kind === 'omitted') {
    addLimit(summary, 'record-omitted');
    warnings.push(warning(`annotation ${annotationKey} not written: it would not fit in ${Math.max(0, room)} bytes (the Pod's annotations may total 256 KiB)`));
    return ops ? `[${ops}]` : undefined;
  }
  if (written.kind === 'trimmed') {
    addLimit(summary, 'record-trimmed');
    warnings.push(warning(`annotation ${annotationKey} written without reasons, ${written.entries} of ${written.of} entries, to fit in ${room} bytes`));
  }
  const value = written.value;
  if (annotations?.[annotationKey] === value) return ops ? `[${ops}]` : undefined;
  const key = JSON.stringify(annotationKey);
  const valueJson = (written.kind === 'full' && written.json) || JSON.stringify(value);
  let add: string;
  if (!isObj(pod.metadata)) add = `{"op":"add","path":"/metadata","value":{"annotations":{${key}:${valueJson}}}}`;
  else if (!annotations) add = `{"op":"add","path":"/metadata/annotations","value":{${key}:${valueJson}}}`;
  else add = `{"op":"add","path":${annotationPath(annotationKey)},"value":${valueJson}}`;
  return `[${ops ? `${ops},` : ''}${add}]`;
}

/** The JSON path of the record annotation, as JSON text; the key is the config's, so the last one is kept. */
let lastAnnotationKey: string | undefined;
let lastAnnotationPath = '';
function annotationPath(annotationKey: string): string {
  if (annotationKey !== lastAnnotationKey) {
    lastAnnotationPath = JSON.stringify(`/metadata/annotations/${escapePathComponent(annotationKey)}`);
    lastAnnotationKey = annotationKey;
  }
  return lastAnnotationPath;
}

/**
 * Bytes the record may take: its own cap, and what the API server's 256 KiB for all of a Pod's annotations
 * (len(key) + len(value), UTF-8) leaves. Counted exactly only when the other annotations could come near it: a
 * UTF-16 unit is at most 3 UTF-8 bytes, so a few KiB of characters cannot.
 */
function recordRoom(annotations: Obj | undefined, annotationKey: string): number {
  let chars = annotationKey.length;
  if (annotations) {
    for (const k of Object.keys(annotations)) {
      const v = annotations[k];
      chars += k.length + (typeof v === 'string' ? v.length : 0);
    }
  }
  if (L.maxAnnotationsBytes - 3 * chars >= L.maxRecordBytes) return L.maxRecordBytes;
  const keyBytes = Buffer.byteLength(annotationKey, 'utf8');
  return Math.min(L.maxRecordBytes, L.maxAnnotationsBytes - otherAnnotationsBytes(annotations, annotationKey) - keyBytes);
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

/**
 * The answer admitting the Pod, as an object and as the JSON text the server sends (written once here: the
 * base64 patch needs no escaping, and serialising it again cost as much as the rest of the answer on a large Pod).
 */
function respond(
  uid: string,
  summary: AdmissionSummary,
  patch: string | undefined,
  auditAnnotations: Record<string, string> | undefined,
): AdmissionResult {
  const response: AdmissionReviewResponse['response'] = { uid, allowed: true };
  // The same members in the same order as `response`, so the text is JSON.stringify(body) exactly.
  let json = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":${JSON.stringify(uid)},"allowed":true`;
  if (patch !== undefined) {
    const encoded = base64(patch);
    response.patchType = 'JSONPatch';
    response.patch = encoded;
    json += `,"patchType":"JSONPatch","patch":"${encoded}"`;
  }
  if (summary.warnings.length > 0) {
    response.warnings = summary.warnings;
    json += `,"warnings":${JSON.stringify(summary.warnings)}`;
  }
  if (auditAnnotations) {
    response.auditAnnotations = auditAnnotations;
    json += `,"auditAnnotations":${JSON.stringify(auditAnnotations)}`;
  }
  json += '}}';
  return { status: 200, body: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response }, json, summary };
}

/**
 * The patch in base64, as Buffer.from(text, 'utf8').toString('base64') writes it. An all-ASCII text (any patch
 * without a non-ASCII container or image name) goes through btoa, which reads each unit as one byte: the same bytes
 * as UTF-8 there, without the Buffer, which past 4 KiB is an allocation outside the pool (4–6 µs for a 4 KiB patch,
 * against about 1 this way).
 */
function base64(text: string): string {
  return Buffer.byteLength(text, 'utf8') === text.length ? btoa(text) : Buffer.from(text, 'utf8').toString('base64');
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
