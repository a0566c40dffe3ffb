// The floor's own work per request beyond the parse and the answer (bench/server-targets.mjs): its metrics and one
// line in the shape of the webhook's line for a Pod it leaves unchanged. bench/admission.mjs times the same call, so
// that webhook − floor there is what it is over HTTPS.
export function floorLine(logger, metrics, request, seconds) {
  metrics.recordAdmission('unchanged', seconds);
  logger.info(
    {
      uid: request.uid,
      namespace: request.namespace,
      pod: request.name,
      operation: request.operation,
      outcome: 'unchanged',
      changes: [],
      warnings: [],
      duration_ms: Math.round(seconds * 1e6) / 1e3,
    },
    'admission',
  );
}
