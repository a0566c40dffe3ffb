/**
 * The admission layer's contract with the server layer. No HTTP here: the server hands over the parsed JSON body
 * and gets back a status and a body (Pepr keeps its processors free of HTTP code; so do we).
 */

/**
 * The limits an admission can hit (docs/reliability.md), each with a degraded answer that admits the Pod. A small
 * closed set, so usable as a metric label.
 */
export const LIMIT_CODES = [
  'too-many-containers', // Pod admitted unchanged
  'image-too-long', // that image left unchanged
  // discovery's (src/mlrun/discovery.ts DiscoveryLimit; admit.ts passes them on, so the compiler checks the subset)
  'exec-config-too-large', // that MLRUN_EXEC_CONFIG not read
  'exec-config-too-deep', // that MLRUN_EXEC_CONFIG not read
  'exec-config-budget', // the Pod's later MLRUN_EXEC_CONFIG values not read
  'version-too-long', // that client/python version ignored
  'record-unread', // the existing record annotation not read (too large): images resolved afresh
  'record-trimmed', // the record annotation written without reasons or with fewer entries
  'record-omitted', // no record annotation written (it would not fit)
] as const;
export type LimitCode = (typeof LIMIT_CODES)[number];

/** What happened to one image. */
export interface ImageDecision {
  /** containers | initContainers | ephemeralContainers */
  kind: 'containers' | 'initContainers' | 'ephemeralContainers';
  name: string;
  index: number;
  original: string;
  /** The resolved image (equal to original when unchanged or on error). */
  image: string;
  changed: boolean;
  /**
   * Short machine-friendly reason: for a changed image the engine's actions joined with "+" in their fixed order
   * (strip, python, ml-base, tag, prefix: e.g. "tag+prefix"), else unchanged | error | limit (a limit was hit).
   */
  reasonCode: string;
  /** Human-readable reasons from the engine. */
  reasons: readonly string[];
  /** Set when the engine could not resolve (MLRun would raise) or the image is not a valid reference. */
  warning?: string;
  /** The production pin-tags decision for this container (production requests with policy.pinTags on). */
  policy?: { verdict: PinVerdictKind; action: PinTagsAction; message?: string; suggestion?: string };
  /** What the registry cache said of the mirror image this container was rewritten to (mirror.enabled). */
  mirror?: MirrorStateName;
  /** Digest pinning (policy.pinDigests: resolve): resolved = the digest was added; unresolved = the tag was kept. */
  digest?: 'resolved' | 'unresolved';
  /** Further warnings about this container (policy, mirror, digest), already in the response's warnings. */
  notes?: string[];
}

/**
 * The admission's view of the registry (src/registry MirrorService.state): a synchronous cache read, never I/O.
 * `digest` is the manifest digest the registry answered with (Docker-Content-Digest) when present.
 */
export interface RegistryView {
  state(image: string): { state: MirrorStateName; digest?: string };
}

/**
 * What the server knows about a request besides its body. Admission stays pure: the registry is a cache view, and
 * look-ups happen in the server between two passes (summary.lookups → MirrorService.lookup → admit again).
 */
export interface AdmitContext {
  /**
   * The request came on the production path (/mutate/production, ADR 0008). A namespace listed in
   * policy.namespaces is production on any path.
   */
  production?: boolean;
  /** Cached registry knowledge. Absent: no mirror checks and no digest pinning. */
  registry?: RegistryView;
  /**
   * No look-up follows this pass (the server's second pass): summary.lookups stays empty. Every pass's answer is
   * complete on its own (an unresolved digest keeps its tag, with a warning), so the server may answer with either.
   */
  final?: boolean;
}

export type MirrorStateName = 'present' | 'missing' | 'unknown';
/** src/mlrun/policy.ts PinVerdict kinds, plus `unchecked` (image past the length limit: no verdict). */
export type PinVerdictKind = 'pinned' | 'allowed' | 'not-a-reference' | 'floating' | 'off-pin' | 'unchecked';
export type PinTagsAction = 'none' | 'warn' | 'deny' | 'rewrite';
export type PinDigestsAction = 'resolved' | 'unresolved';
export type PolicyName = 'pin-tags' | 'pin-digests';
/** Keys of summary.policyCounts (policy_decisions_total{policy,action}): a closed set. */
export type PolicyCountKey = `pin-tags/${PinTagsAction}` | `pin-digests/${PinDigestsAction}`;

/** One policy decision, for the log line (summary.policy, bounded). */
export type PolicyEntry =
  | { policy: 'pin-tags'; container: string; verdict: PinVerdictKind; action: PinTagsAction; image: string; suggestion?: string }
  | { policy: 'pin-digests'; container: string; verdict: 'digest'; action: PinDigestsAction; image: string };

export type AdmissionOutcomeKind =
  | 'mutated' // patch returned
  | 'unchanged' // Pod looked at, nothing to change
  | 'reported' // report mode: would have changed, no patch
  | 'skipped' // not a Pod CREATE / ephemeralcontainers UPDATE, or opted out
  | 'denied' // the production policy refused the Pod (allowed: false, status 403)
  | 'error'; // the webhook could not understand the Pod: admitted unchanged with a warning

/** Everything the server needs to log one line and count metrics; never whole objects or env values. */
export interface AdmissionSummary {
  uid: string;
  namespace: string | undefined;
  name: string | undefined;
  operation: string | undefined;
  outcome: AdmissionOutcomeKind;
  /** Why skipped/error, for the log. */
  detail?: string;
  /**
   * Decisions kept for the log line, in container order: at most MAX_DECISIONS entries and MAX_DECISION_CHARS
   * characters (docs/reliability.md). Counts over every image are in the fields below.
   */
  decisions: ImageDecision[];
  /** Images decided but not kept in decisions (past the entry or size cap). */
  decisionsOmitted: number;
  /** Every image decided, kept in decisions or not. */
  imagesSeen: number;
  /**
   * Over every image (kept in decisions or not): reasonCode → images changed (outcome mutated) or that would have
   * changed (outcome reported). Keys are action combinations, a small closed set.
   */
  changedByReason: Record<string, number>;
  /** Over every image: images left with a warning (MLRun would raise, invalid reference, a limit). */
  imageWarnings: number;
  /** The limits this admission hit, each once, in the order hit. */
  limits: LimitCode[];
  clientVersion: string | null;
  clientPythonVersion: string | null;
  warnings: string[];
  /** The production policy applied to this request (production path, or a namespace in policy.namespaces). */
  production: boolean;
  /** How the policy acted: off (not production, or nothing switched on), enforce, or report (webhook.mode). */
  policyMode: 'off' | 'enforce' | 'report';
  /**
   * Policy decisions for the log line, in container order, at most ADMISSION_LIMITS.maxPolicyEntries (the rest
   * counted in policyOmitted). In report mode the actions are those that would have been taken.
   */
  policy: PolicyEntry[];
  policyOmitted: number;
  /** Complete counts of policy decisions by `${policy}/${action}` (policy_decisions_total{policy,action}). */
  policyCounts: Partial<Record<PolicyCountKey, number>>;
  /** Images rewritten to a mirror registry, by what the registry cache said (mirror.enabled with a registry). */
  mirrorCounts: Record<MirrorStateName, number>;
  /**
   * Images the registry cache knew nothing about, for the server to look up before a second pass: deduplicated,
   * only images on a configured registry (mlrun.imagesRegistry, mlrun.vendorImagesRegistry, policy.digestRegistries),
   * at most ADMISSION_LIMITS.maxLookups (the rest counted in lookupsOmitted). Empty on a final pass.
   */
  lookups: string[];
  lookupsOmitted: number;
}

export type AdmissionResult =
  | {
      status: 200;
      body: AdmissionReviewResponse;
      /**
       * body as JSON text, when the admission layer wrote it: the server sends it as it is instead of serialising
       * body. Whoever changes body afterwards must drop it (else the server sends the unchanged text).
       */
      json?: string;
      summary: AdmissionSummary;
    }
  | { status: 400; error: string };

export interface AdmissionReviewResponse {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  response: {
    uid: string;
    allowed: boolean;
    /** Only on a denial (allowed: false): what kubectl shows the user. */
    status?: { code: 403; reason: 'Forbidden'; message: string };
    patchType?: 'JSONPatch';
    patch?: string;
    warnings?: string[];
    auditAnnotations?: Record<string, string>;
  };
}
