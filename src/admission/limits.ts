/**
 * The admission layer's limits (docs/reliability.md has the table: value, why, what happens past it). Each is far
 * above anything a real Pod has; past one the Pod is still admitted (unchanged, or with that item skipped), with a
 * warning, a limit code in the summary (a metric label) and the admission's one log line.
 */
export const ADMISSION_LIMITS = {
  /**
   * Characters of an image that is resolved. The longest valid reference is about 520 characters (name 255, tag
   * 128, sha512 digest 135, separators); 1,024 leaves room for surrounding whitespace that MLRun strips. The engine
   * is linear, so this bounds memo keys, warnings and the log line rather than CPU.
   */
  maxImageLength: 1024,
  /**
   * Containers in one Pod (containers + initContainers + ephemeralContainers). Real Pods have a handful; a Pod
   * past this is admitted unchanged (a 70k-container review cost 1.6 s and a 27 MiB answer before).
   */
  maxContainers: 512,
  /** UTF-8 bytes of the record annotation written (about 200 typical entries); an existing one larger is not read. */
  maxRecordBytes: 32 * 1024,
  /**
   * The API server's limit on a Pod's annotations: the sum of len(key) + len(value) in bytes over all of them
   * (apimachinery TotalAnnotationSizeLimitB). The record is trimmed or left out so that the patch never passes it.
   */
  maxAnnotationsBytes: 256 * 1024,
  /** Decisions kept in the summary for the log line; the counts cover the rest. */
  maxDecisions: 64,
  /** Characters of decisions kept in the summary (names, images, reasons, warnings). */
  maxDecisionChars: 32 * 1024,
  /** The API server truncates a warning past 256 characters. */
  maxWarning: 240,
  /** ...and drops every warning past 4,096 characters in total, a budget shared with other webhooks: take half. */
  maxWarningsTotal: 2048,
  /** Characters of the auditAnnotations value listing the changes. */
  maxAuditValue: 1000,
  /** request.uid: the API server sends a UUID (36 characters); a longer one is a malformed request (400). */
  maxUidLength: 256,
  /** Names, namespaces and operations copied into the summary (Kubernetes names are at most 253 characters). */
  maxNameLength: 253,
  /**
   * Images listed for a registry look-up per pass (summary.lookups): the MirrorService asks about at most 32 per
   * admission (LOOKUP_MAX_IMAGES), so listing more would only lengthen the summary.
   */
  maxLookups: 32,
  /** Policy decisions kept in the summary for the log line; policyCounts covers the rest. */
  maxPolicyEntries: 64,
  /** Characters of one container's sentence in a denial message (two images of at most ~520 each, and words). */
  maxDenyEntry: 1200,
  /** Characters of a denial's status.message: kubectl prints it whole, so it stays readable and bounded. */
  maxDenyMessage: 4000,
} as const;
