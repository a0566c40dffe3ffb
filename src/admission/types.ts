/**
 * The admission layer's contract with the server layer. No HTTP here: the server hands over the parsed JSON body
 * and gets back a status and a body (Pepr keeps its processors free of HTTP code; so do we).
 */

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
  /** Short machine-friendly reason for metrics: tagged | prefixed | tagged+prefixed | rewritten | unchanged | error */
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
  decisions: ImageDecision[];
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
