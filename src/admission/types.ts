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
}

export type AdmissionOutcomeKind =
  | 'mutated' // patch returned
  | 'unchanged' // Pod looked at, nothing to change
  | 'reported' // report mode: would have changed, no patch
  | 'skipped' // not a Pod CREATE / ephemeralcontainers UPDATE, or opted out
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
}

export type AdmissionResult =
  | { status: 200; body: AdmissionReviewResponse; summary: AdmissionSummary }
  | { status: 400; error: string };

export interface AdmissionReviewResponse {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  response: {
    uid: string;
    allowed: true;
    patchType?: 'JSONPatch';
    patch?: string;
    warnings?: string[];
    auditAnnotations?: Record<string, string>;
  };
}
