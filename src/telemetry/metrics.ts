/**
 * Prometheus metrics of the webhook, on a registry of its own (not prom-client's global one) so that several
 * servers can live in one process (tests) and nothing another library registers globally leaks into /metrics.
 *
 * The recording helpers below are on the admission hot path: label children are resolved once, not per request.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { LIMIT_CODES, type AdmissionOutcomeKind, type AdmissionSummary, type LimitCode, type PolicyCountKey } from '../admission/types.js';
import type { Runtime } from '../config/runtime.js';
import type { ResolutionAction } from '../mlrun/engine.js';
import { webhookVersion } from './version.js';
import { LOG_MAX_BUFFERED_BYTES } from './logger.js';

const PREFIX = 'mlrun_image_webhook_';

/** Outcomes of the admission counter: the engine's outcomes plus bad_request (4xx on /mutate). */
export type AdmissionOutcome = AdmissionOutcomeKind | 'denied' | 'bad_request';
export const ADMISSION_OUTCOMES: readonly AdmissionOutcome[] = [
  'mutated',
  'unchanged',
  'reported',
  'skipped',
  'denied',
  'error',
  'bad_request',
];

/**
 * The `reason` label of images_changed_total / images_would_change_total: the engine's actions joined with "+", in
 * this order (e.g. `tag`, `prefix`, `tag+prefix`, `ml-base+tag+prefix`, `python+prefix`). At most 31 values.
 */
export const IMAGE_REASON_ACTIONS = ['strip', 'python', 'ml-base', 'tag', 'prefix'] as const satisfies readonly ResolutionAction[];
// Compile-time check that the list above names every action the engine can take.
const _everyAction: Record<ResolutionAction, true> = { strip: true, python: true, 'ml-base': true, tag: true, prefix: true };
void _everyAction;
const REASON_HELP = IMAGE_REASON_ACTIONS.join(', ');

/** Connection-level events (bounded label set of connection_events_total). */
export const CONNECTION_EVENTS = [
  'connection_refused', // over the connection cap
  'stream_reset', // the client reset an HTTP/2 stream
  'request_aborted', // an HTTP/1.1 client closed the connection before the answer
  'body_timeout', // the request body did not arrive in time: 408 and the stream/connection closed
  'write_timeout', // the client did not take the answer in time: stream reset / connection destroyed
  'body_too_large', // Content-Length over the body limit: 413 before reading the body
  'busy', // too many request body bytes in flight (per connection or in total): 503 before reading the body
  'session_error', // an HTTP/2 session failed (protocol error, session memory limit)
  'tls_handshake_failed',
  'handshake_limited', // a new TLS connection reset at accept: it waited its turn for a handshake too long (3 s), or too many wait (64 per source address, 256 in all)
] as const;
export type ConnectionEvent = (typeof CONNECTION_EVENTS)[number];

/** Why a new serving certificate was refused (tls_certificate_refusals_total{reason}). */
export const TLS_REFUSAL_REASONS = ['expired', 'not_yet_valid', 'invalid'] as const;
export type TlsRefusalReason = (typeof TLS_REFUSAL_REASONS)[number];

/** Where the runtime of a followed namespace comes from (mlrun_install_info{source}). */
export const INSTALL_SOURCES = ['discovered', 'static', 'default-install'] as const;
export type InstallSource = (typeof INSTALL_SOURCES)[number];

/** Discovery states (src/cluster/watch.ts DiscoveryState), the label set of discovery_state. */
export const DISCOVERY_STATES = ['starting', 'ok', 'forbidden', 'unreachable', 'failing'] as const;
export type DiscoveryStateLabel = (typeof DISCOVERY_STATES)[number];

export const MIRROR_STATES = ['present', 'missing', 'unknown'] as const;
export type MirrorStateLabel = (typeof MIRROR_STATES)[number];

export const REGISTRY_REQUEST_KINDS = ['manifest', 'token', 'ping'] as const;
export type RegistryRequestKind = (typeof REGISTRY_REQUEST_KINDS)[number];

/**
 * registry_requests_total{status}: the HTTP status code when the registry answered, else one of these (the
 * transport's reasons folded into a closed set).
 */
export const REGISTRY_FAILURE_STATUSES = ['timeout', 'busy', 'refused', 'reset', 'dns', 'unreachable', 'tls', 'aborted', 'invalid_response', 'error'] as const;

/** Distinct registry label values kept; later registries are counted as "other" (the label stays bounded). */
export const REGISTRY_LABELS_MAX = 32;

/** The production policy's decisions (policy_decisions_total{policy,action}): which actions each policy takes. */
export const POLICY_ACTIONS = {
  'pin-tags': ['none', 'warn', 'deny', 'rewrite'],
  'pin-digests': ['resolved', 'unresolved'],
} as const;
export type PolicyName = keyof typeof POLICY_ACTIONS;

/** A discovered or configured install as install_info shows it. */
export interface InstallInfo {
  namespace: string;
  version: string;
  source: InstallSource;
}

/** What the discovery gauges read at each scrape (a view of InstallWatcher.status()). */
export interface DiscoveryView {
  state: DiscoveryStateLabel;
  /** Lists and watch (re)connections that succeeded, and errors, since the start (monotonic). */
  counts: { lists: number; watches: number; errors: number };
  /** ISO 8601. */
  lastSyncAt: string | undefined;
}

/** One registry HTTP exchange (src/registry's RequestEvent). */
export interface RegistryRequest {
  registry: string;
  kind: RegistryRequestKind;
  status: number | undefined;
  outcome: string;
  durationMs: number;
}

/** Sub-millisecond (small Pods) to one second (far beyond any sane admission). */
export const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

export interface Metrics {
  readonly registry: Registry;
  readonly admissionRequests: Counter<'outcome'>;
  readonly imagesChanged: Counter<'reason'>;
  readonly imagesWouldChange: Counter<'reason'>;
  readonly imageWarnings: Counter;
  readonly admissionDuration: Histogram;
  readonly configReloads: Counter<'result'>;
  readonly configLastReloadSuccess: Gauge;
  readonly tlsCertificateExpiry: Gauge;
  readonly tlsReloads: Counter<'result'>;
  readonly rulesInfo: Gauge<'mlrun_version' | 'family' | 'mode'>;
  readonly buildInfo: Gauge<'version'>;
  readonly connectionEvents: Counter<'event'>;
  readonly tlsRefusals: Counter<'reason'>;
  readonly tlsCertificateValid: Gauge;
  readonly admissionLimits: Counter<'limit'>;
  readonly mlrunInstallInfo: Gauge<'namespace' | 'version' | 'source'>;
  readonly discoverySyncs: Counter<'result'>;
  readonly discoveryState: Gauge<'state'>;
  readonly discoveryRefusals: Counter;
  readonly discoveryPendingChanges: Gauge;
  readonly discoveryLastSync: Gauge;
  readonly mirrorImages: Gauge<'state'>;
  readonly registryRequests: Counter<'registry' | 'kind' | 'status'>;
  readonly registryRequestDuration: Histogram<'kind'>;
  readonly policyDecisions: Counter<'policy' | 'action'>;
  readonly mirrorDecisions: Counter<'state'>;
  readonly logLinesDropped: Counter;
  /** One admission answered (any status). summary is absent for bad requests and internal errors. */
  recordAdmission(outcome: AdmissionOutcome, durationSeconds: number, summary?: AdmissionSummary): void;
  /** A config (re)load: success updates the timestamp and the rules info. */
  recordConfigReload(ok: boolean, runtime?: Runtime): void;
  /** The runtime now serving (initial load or reload). */
  setRulesInfo(runtime: Runtime): void;
  recordTlsReload(ok: boolean): void;
  setCertificateExpiry(notAfter: Date): void;
  /** The serving pair's validity window; tls_certificate_valid is computed from it at each scrape. */
  setCertificateValidity(notBefore: Date, notAfter: Date): void;
  recordTlsRefusal(reason: TlsRefusalReason): void;
  recordConnectionEvent(event: ConnectionEvent, count?: number): void;
  /** The installs serving now, one series each (replaces the previous set). */
  setInstalls(installs: readonly InstallInfo[]): void;
  /** Discovery's status is read from `view` at each scrape; undefined: discovery off (the series stay at 0). */
  watchDiscovery(view: (() => DiscoveryView) | undefined): void;
  recordDiscoveryRefusal(count?: number): void;
  setDiscoveryPendingChanges(count: number): void;
  /** The background coverage's counts. */
  setMirrorImages(counts: Record<MirrorStateLabel, number>): void;
  recordRegistryRequest(event: RegistryRequest): void;
}

export interface MetricsOptions {
  /** Process metrics (CPU, memory, event loop lag, GC). Default true. */
  defaultMetrics?: boolean;
  /** build_info's version label; default: package.json's version. */
  version?: string;
}

export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });

  const admissionRequests = new Counter({
    name: `${PREFIX}admission_requests_total`,
    help: `Admission requests answered on /mutate and /mutate/production, by outcome (${ADMISSION_OUTCOMES.join(', ')}).`,
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const imagesChanged = new Counter({
    name: `${PREFIX}images_changed_total`,
    help: `Container images changed by a returned patch, by reason: the actions taken joined with "+" in this order: ${REASON_HELP} (e.g. tag, prefix, tag+prefix).`,
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const imagesWouldChange = new Counter({
    name: `${PREFIX}images_would_change_total`,
    help: `Report-only mode: container images that enforce mode would have changed, by reason (as images_changed_total: ${REASON_HELP} joined with "+").`,
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const imageWarnings = new Counter({
    name: `${PREFIX}image_warnings_total`,
    help: 'Images left unchanged with a warning (MLRun would raise, or the resolved image is not a valid reference).',
    registers: [registry],
  });
  const admissionDuration = new Histogram({
    name: `${PREFIX}admission_duration_seconds`,
    help: 'Time from the request reaching the handler chain to the response being handed to the socket, /mutate only.',
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const configReloads = new Counter({
    name: `${PREFIX}config_reloads_total`,
    help: 'Config reloads, by result (success, failure). A failed reload leaves the last good config serving.',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const configLastReloadSuccess = new Gauge({
    name: `${PREFIX}config_last_reload_success_timestamp_seconds`,
    help: 'Unix time of the last successful config load or reload.',
    registers: [registry],
  });
  const tlsCertificateExpiry = new Gauge({
    name: `${PREFIX}tls_certificate_expiry_timestamp_seconds`,
    help: 'notAfter of the serving certificate, as Unix time.',
    registers: [registry],
  });
  const tlsReloads = new Counter({
    name: `${PREFIX}tls_reloads_total`,
    help: 'Serving certificate reloads, by result (success, failure). A refused pair leaves the old certificate serving.',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const rulesInfo = new Gauge({
    name: `${PREFIX}rules_info`,
    help: 'Always 1: the MLRun version, rules family and mode of the config serving now.',
    labelNames: ['mlrun_version', 'family', 'mode'] as const,
    registers: [registry],
  });

  const buildInfo = new Gauge({
    name: `${PREFIX}build_info`,
    help: 'Always 1: the version of the webhook serving (package.json).',
    labelNames: ['version'] as const,
    registers: [registry],
  });
  buildInfo.labels(options.version ?? webhookVersion()).set(1);
  const logLinesDropped = new Counter({
    name: `${PREFIX}log_lines_dropped_total`,
    help: `Log lines dropped because stdout was not being read: more than ${LOG_MAX_BUFFERED_BYTES / (1024 * 1024)} MiB of lines were waiting.`,
    registers: [registry],
  });
  const connectionEvents = new Counter({
    name: `${PREFIX}connection_events_total`,
    help: `Connection-level events on the HTTPS port, by event: ${CONNECTION_EVENTS.join(', ')}.`,
    labelNames: ['event'] as const,
    registers: [registry],
  });
  const tlsRefusals = new Counter({
    name: `${PREFIX}tls_certificate_refusals_total`,
    help: `Serving certificate pairs refused (at reload, or at start for validity), by reason: ${TLS_REFUSAL_REASONS.join(', ')}.`,
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const admissionLimits = new Counter({
    name: `${PREFIX}admission_limits_total`,
    help: `Admissions that hit a size limit (each limit once per admission; the Pod is still admitted), by limit: ${LIMIT_CODES.join(', ')}.`,
    labelNames: ['limit'] as const,
    registers: [registry],
  });
  const mlrunInstallInfo = new Gauge({
    name: `${PREFIX}mlrun_install_info`,
    help: `Always 1: per followed namespace, the MLRun version its Pods are resolved with and where the settings come from: ${INSTALL_SOURCES.join(', ')}.`,
    labelNames: ['namespace', 'version', 'source'] as const,
    registers: [registry],
  });
  let discoveryView: (() => DiscoveryView) | undefined;
  let syncedSeen = { ok: 0, error: 0 };
  // Read from the watcher at scrape time: exact without a callback per event.
  const readDiscovery = (): DiscoveryView | undefined => {
    try {
      return discoveryView?.();
    } catch {
      return undefined;
    }
  };
  const discoverySyncs = new Counter({
    name: `${PREFIX}discovery_syncs_total`,
    help: 'Discovery lists and watch (re)connections against the Kubernetes API, by result: ok, error.',
    labelNames: ['result'] as const,
    registers: [registry],
    collect() {
      const v = readDiscovery();
      if (!v) return;
      const ok = v.counts.lists + v.counts.watches;
      if (ok > syncedSeen.ok) this.labels('ok').inc(ok - syncedSeen.ok);
      if (v.counts.errors > syncedSeen.error) this.labels('error').inc(v.counts.errors - syncedSeen.error);
      syncedSeen = { ok: Math.max(ok, syncedSeen.ok), error: Math.max(v.counts.errors, syncedSeen.error) };
    },
  });
  const discoveryState = new Gauge({
    name: `${PREFIX}discovery_state`,
    help: `1 for the current discovery state, 0 for the others: ${DISCOVERY_STATES.join(', ')} (all 0: discovery off).`,
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const v = readDiscovery();
      for (const st of DISCOVERY_STATES) this.labels(st).set(v?.state === st ? 1 : 0);
    },
  });
  const discoveryRefusals = new Counter({
    name: `${PREFIX}discovery_refusals_total`,
    help: 'Discovered install settings refused (the key, object and reason are logged); the last good settings keep serving.',
    registers: [registry],
  });
  const discoveryPendingChanges = new Gauge({
    name: `${PREFIX}discovery_pending_changes`,
    help: 'Changes to the MLRun API settings that MLRun has not applied yet (until its chief Pod restarts), over all installs.',
    registers: [registry],
  });
  const discoveryLastSync = new Gauge({
    name: `${PREFIX}discovery_last_sync_timestamp_seconds`,
    help: 'Unix time of the last successful discovery list, watch (re)connection or event while synced; 0 before the first.',
    registers: [registry],
    collect() {
      const at = readDiscovery()?.lastSyncAt;
      const t = at === undefined ? NaN : Date.parse(at);
      this.set(Number.isFinite(t) ? t / 1000 : 0);
    },
  });
  const mirrorImages = new Gauge({
    name: `${PREFIX}mirror_images`,
    help: `Images of the background mirror check (catalogue and recently rewritten images), by state: ${MIRROR_STATES.join(', ')}.`,
    labelNames: ['state'] as const,
    registers: [registry],
  });
  const registryRequests = new Counter({
    name: `${PREFIX}registry_requests_total`,
    help: `Registry HTTP requests, by registry (configured ones; past ${REGISTRY_LABELS_MAX} distinct: other), kind (${REGISTRY_REQUEST_KINDS.join(', ')}) and status (the HTTP code, or ${REGISTRY_FAILURE_STATUSES.join(', ')}).`,
    labelNames: ['registry', 'kind', 'status'] as const,
    registers: [registry],
  });
  const registryRequestDuration = new Histogram({
    name: `${PREFIX}registry_request_duration_seconds`,
    help: `Registry HTTP request latency, by kind: ${REGISTRY_REQUEST_KINDS.join(', ')}.`,
    labelNames: ['kind'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const policyDecisions = new Counter({
    name: `${PREFIX}policy_decisions_total`,
    help: `Production policy decisions, by policy and action: pin-tags (${POLICY_ACTIONS['pin-tags'].join(', ')}), pin-digests (${POLICY_ACTIONS['pin-digests'].join(', ')}).`,
    labelNames: ['policy', 'action'] as const,
    registers: [registry],
  });
  const mirrorDecisions = new Counter({
    name: `${PREFIX}mirror_decisions_total`,
    help: `Images rewritten to a mirror registry at admission, by what the webhook knew of the mirror: ${MIRROR_STATES.join(', ')}.`,
    labelNames: ['state'] as const,
    registers: [registry],
  });
  let validity: { notBefore: number; notAfter: number } | undefined;
  const tlsCertificateValid = new Gauge({
    name: `${PREFIX}tls_certificate_valid`,
    help: '1 while the serving certificate is within its validity window (notBefore <= now < notAfter), else 0.',
    registers: [registry],
    collect() {
      const now = Date.now();
      this.set(validity && validity.notBefore <= now && now < validity.notAfter ? 1 : 0);
    },
  });

  // Series exist from the start (at 0), so rate() and absent() behave before the first event.
  const outcomeChildren = new Map<AdmissionOutcome, ReturnType<typeof admissionRequests.labels>>();
  for (const o of ADMISSION_OUTCOMES) {
    const child = admissionRequests.labels(o);
    child.inc(0);
    outcomeChildren.set(o, child);
  }
  imageWarnings.inc(0);
  for (const r of ['success', 'failure']) {
    configReloads.labels(r).inc(0);
    tlsReloads.labels(r).inc(0);
  }
  const eventChildren = new Map<ConnectionEvent, ReturnType<typeof connectionEvents.labels>>();
  for (const e of CONNECTION_EVENTS) {
    const child = connectionEvents.labels(e);
    child.inc(0);
    eventChildren.set(e, child);
  }
  for (const r of TLS_REFUSAL_REASONS) tlsRefusals.labels(r).inc(0);
  const limitChildren = new Map<LimitCode, ReturnType<typeof admissionLimits.labels>>();
  for (const l of LIMIT_CODES) {
    const c = admissionLimits.labels(l);
    c.inc(0);
    limitChildren.set(l, c);
  }
  discoveryRefusals.inc(0);
  discoveryPendingChanges.set(0);
  for (const r of ['ok', 'error']) discoverySyncs.labels(r).inc(0);
  for (const st of MIRROR_STATES) mirrorImages.labels(st).set(0);
  const mirrorChildren = new Map<string, ReturnType<typeof mirrorDecisions.labels>>();
  for (const st of MIRROR_STATES) {
    const c = mirrorDecisions.labels(st);
    c.inc(0);
    mirrorChildren.set(st, c);
  }
  const policyChildren = new Map<string, ReturnType<typeof policyDecisions.labels>>();
  for (const policy of Object.keys(POLICY_ACTIONS) as PolicyName[]) {
    for (const action of POLICY_ACTIONS[policy]) {
      const c = policyDecisions.labels(policy, action);
      c.inc(0);
      policyChildren.set(`${policy}/${action}`, c);
    }
  }
  for (const k of REGISTRY_REQUEST_KINDS) registryRequestDuration.zero({ kind: k });
  const registryLabels = new Set<string>();
  const registryLabel = (name: string): string => {
    if (registryLabels.has(name)) return name;
    if (registryLabels.size >= REGISTRY_LABELS_MAX || name.length > 300) return 'other';
    registryLabels.add(name);
    return name;
  };

  // Reasons are a small closed set (action combinations): children are cached, never unbounded.
  const childCache = <C>(make: (reason: string) => C) => {
    const children = new Map<string, C>();
    return (reason: string): C => {
      let child = children.get(reason);
      if (!child) {
        child = make(reason);
        children.set(reason, child);
      }
      return child;
    };
  };
  const reasonChild = childCache((r) => imagesChanged.labels(r));
  const wouldChangeChild = childCache((r) => imagesWouldChange.labels(r));

  const setRulesInfo = (runtime: Runtime): void => {
    configLastReloadSuccess.set(Date.now() / 1000);
    rulesInfo.reset();
    rulesInfo
      .labels({
        mlrun_version: runtime.config.mlrun.version,
        family: runtime.resolver.rules.family,
        mode: runtime.config.webhook.mode,
      })
      .set(1);
  };

  return {
    registry,
    admissionRequests,
    imagesChanged,
    imagesWouldChange,
    imageWarnings,
    admissionDuration,
    configReloads,
    configLastReloadSuccess,
    tlsCertificateExpiry,
    tlsReloads,
    rulesInfo,
    buildInfo,
    connectionEvents,
    tlsRefusals,
    tlsCertificateValid,
    admissionLimits,
    mlrunInstallInfo,
    discoverySyncs,
    discoveryState,
    discoveryRefusals,
    discoveryPendingChanges,
    discoveryLastSync,
    mirrorImages,
    registryRequests,
    registryRequestDuration,
    policyDecisions,
    mirrorDecisions,
    logLinesDropped,
    recordAdmission(outcome, durationSeconds, summary) {
      (outcomeChildren.get(outcome) ?? admissionRequests.labels(outcome)).inc();
      admissionDuration.observe(durationSeconds);
      if (!summary) return;
      // The summary's counts cover every image (its decisions list is capped for the log line).
      // images_changed_total counts only what a returned patch changes; report mode has its own counter.
      const child = summary.outcome === 'mutated' ? reasonChild : summary.outcome === 'reported' ? wouldChangeChild : undefined;
      if (child) for (const reason in summary.changedByReason) child(reason).inc(summary.changedByReason[reason]);
      if (summary.imageWarnings > 0) imageWarnings.inc(summary.imageWarnings);
      for (const limit of summary.limits) limitChildren.get(limit)?.inc();
      // Complete counts (the summary's policy list is capped for the log line); keys outside the closed sets are ignored.
      for (const state of MIRROR_STATES) {
        const n = summary.mirrorCounts[state];
        if (n > 0) mirrorChildren.get(state)!.inc(n);
      }
      for (const key in summary.policyCounts) {
        const n = summary.policyCounts[key as PolicyCountKey];
        if (n !== undefined && n > 0) policyChildren.get(key)?.inc(n);
      }
    },
    recordConfigReload(ok, runtime) {
      configReloads.labels(ok ? 'success' : 'failure').inc();
      if (ok && runtime) setRulesInfo(runtime);
    },
    setRulesInfo,
    recordTlsReload(ok) {
      tlsReloads.labels(ok ? 'success' : 'failure').inc();
    },
    setCertificateExpiry(notAfter) {
      tlsCertificateExpiry.set(notAfter.getTime() / 1000);
    },
    setCertificateValidity(notBefore, notAfter) {
      validity = { notBefore: notBefore.getTime(), notAfter: notAfter.getTime() };
      tlsCertificateExpiry.set(notAfter.getTime() / 1000);
    },
    recordTlsRefusal(reason) {
      tlsRefusals.labels(reason).inc();
    },
    recordConnectionEvent(event, count = 1) {
      eventChildren.get(event)?.inc(count);
    },
    setInstalls(installs) {
      mlrunInstallInfo.reset();
      for (const i of installs) mlrunInstallInfo.labels(i.namespace, i.version, i.source).set(1);
    },
    watchDiscovery(view) {
      discoveryView = view;
    },
    recordDiscoveryRefusal(count = 1) {
      discoveryRefusals.inc(count);
    },
    setDiscoveryPendingChanges(count) {
      discoveryPendingChanges.set(count);
    },
    setMirrorImages(counts) {
      for (const st of MIRROR_STATES) mirrorImages.labels(st).set(counts[st] ?? 0);
    },
    recordRegistryRequest(event) {
      const kind = (REGISTRY_REQUEST_KINDS as readonly string[]).includes(event.kind) ? event.kind : 'manifest';
      registryRequests.labels(registryLabel(event.registry), kind, registryStatusLabel(event.status, event.outcome)).inc();
      if (Number.isFinite(event.durationMs) && event.durationMs >= 0) registryRequestDuration.labels(kind).observe(event.durationMs / 1000);
    },
  };
}

/** An HTTP status as a label (three digits), or the transport's reason folded into REGISTRY_FAILURE_STATUSES. */
export function registryStatusLabel(status: number | undefined, outcome: string): string {
  if (status !== undefined && Number.isInteger(status) && status >= 100 && status <= 599) return String(status);
  const o = outcome.toLowerCase();
  if (o.startsWith('timeout')) return 'timeout';
  if (o === 'busy') return 'busy';
  if (o.includes('refused')) return 'refused';
  if (o.includes('reset') || o.includes('closed')) return 'reset';
  if (o.startsWith('dns')) return 'dns';
  if (o.includes('unreachable')) return 'unreachable';
  if (o.startsWith('tls')) return 'tls';
  if (o === 'aborted') return 'aborted';
  if (o.startsWith('invalid http')) return 'invalid_response';
  return 'error';
}
