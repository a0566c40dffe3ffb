/**
 * Prometheus metrics of the webhook, on a registry of its own (not prom-client's global one) so that several
 * servers can live in one process (tests) and nothing another library registers globally leaks into /metrics.
 *
 * The recording helpers below are on the admission hot path: label children are resolved once, not per request.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { LIMIT_CODES, type AdmissionOutcomeKind, type AdmissionSummary, type LimitCode } from '../admission/types.js';
import type { Runtime } from '../config/runtime.js';
import type { ResolutionAction } from '../mlrun/engine.js';
import { webhookVersion } from './version.js';

const PREFIX = 'mlrun_image_webhook_';

/** Outcomes of the admission counter: the engine's outcomes plus bad_request (4xx on /mutate). */
export type AdmissionOutcome = AdmissionOutcomeKind | 'bad_request';
export const ADMISSION_OUTCOMES: readonly AdmissionOutcome[] = [
  'mutated',
  'unchanged',
  'reported',
  'skipped',
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
] as const;
export type ConnectionEvent = (typeof CONNECTION_EVENTS)[number];

/** Why a new serving certificate was refused (tls_certificate_refusals_total{reason}). */
export const TLS_REFUSAL_REASONS = ['expired', 'not_yet_valid', 'invalid'] as const;
export type TlsRefusalReason = (typeof TLS_REFUSAL_REASONS)[number];

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
    help: 'Admission requests answered on /mutate, by outcome (mutated, unchanged, reported, skipped, error, bad_request).',
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
  };
}
