/** Logger redaction and the metrics registry, without a server. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { AdmissionSummary } from '../../src/admission/types.js';
import { createLogger, setLogLevel } from '../../src/telemetry/logger.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { testRuntime } from '../helpers/runtime.js';
import { logCapture, metricValue, NOTHING_WAVE2 } from './helpers.js';

describe('logger', () => {
  it('redacts env, values and whole objects passed by mistake', () => {
    const logs = logCapture();
    const logger = createLogger({ destination: logs });
    logger.info(
      {
        env: [{ name: 'TOKEN', value: 'secret-1' }],
        value: 'secret-2',
        object: { spec: { containers: [{ env: [{ name: 'A', value: 'secret-3' }] }] } },
        request: { uid: 'u1', object: { spec: 'secret-4' }, oldObject: { spec: 'secret-5' } },
        pod: { metadata: { name: 'p' }, spec: { containers: [{ env: [{ value: 'secret-6' }] }] } },
        container: { name: 'c', env: [{ value: 'secret-7' }] },
      },
      'careless',
    );
    const line = logs.lines[0];
    expect(JSON.stringify(line)).not.toMatch(/secret-/);
    expect(line.request.uid).toBe('u1');
    expect(line.pod.metadata.name).toBe('p');
    expect(line.container.name).toBe('c');
    expect(line).toMatchObject({ level: 'info', name: 'mlrun-image-webhook', msg: 'careless' });
    expect(typeof line.time).toBe('string');
  });

  it('changes level at run time and ignores unknown levels', () => {
    const logs = logCapture();
    const logger = createLogger({ destination: logs, level: 'warn' });
    logger.info('hidden');
    setLogLevel(logger, 'debug');
    logger.debug('shown');
    setLogLevel(logger, 'loud');
    expect(logger.level).toBe('debug');
    expect(logs.lines.map((l) => l.msg)).toEqual(['shown']);
  });
});

describe('metrics', () => {
  const summary = (outcome: AdmissionSummary['outcome']): AdmissionSummary => ({
    uid: 'u',
    namespace: 'ns',
    name: 'p',
    operation: 'CREATE',
    outcome,
    decisions: [
      { kind: 'containers', name: 'a', index: 0, original: 'mlrun/mlrun', image: 'r/mlrun/mlrun:1.9.2', changed: true, reasonCode: 'tag+prefix', reasons: [] },
      { kind: 'containers', name: 'b', index: 1, original: 'x', image: 'x', changed: false, reasonCode: 'error', reasons: [], warning: 'w' },
    ],
    // Counts cover images past the capped decision list too: they, not the list, feed the metrics.
    decisionsOmitted: 3,
    imagesSeen: 5,
    changedByReason: { 'tag+prefix': 3, tag: 1 },
    imageWarnings: 1,
    limits: ['image-too-long'],
    clientVersion: null,
    clientPythonVersion: null,
    warnings: ['w'],
    ...NOTHING_WAVE2,
  });

  it('counts outcomes, changed images by reason (patched and report-only apart), warnings and durations', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.recordAdmission('mutated', 0.0007, summary('mutated'));
    m.recordAdmission('reported', 0.002, summary('reported'));
    m.recordAdmission('bad_request', 0.0001);
    const text = await m.registry.metrics();
    expect(metricValue(text, 'mlrun_image_webhook_admission_requests_total{outcome="mutated"}')).toBe(1);
    expect(metricValue(text, 'mlrun_image_webhook_admission_requests_total{outcome="reported"}')).toBe(1);
    expect(metricValue(text, 'mlrun_image_webhook_admission_requests_total{outcome="bad_request"}')).toBe(1);
    expect(metricValue(text, 'mlrun_image_webhook_admission_requests_total{outcome="skipped"}')).toBe(0);
    expect(metricValue(text, 'mlrun_image_webhook_images_changed_total{reason="tag+prefix"}')).toBe(3);
    expect(metricValue(text, 'mlrun_image_webhook_images_changed_total{reason="tag"}')).toBe(1);
    expect(metricValue(text, 'mlrun_image_webhook_images_would_change_total{reason="tag+prefix"}')).toBe(3);
    expect(metricValue(text, 'mlrun_image_webhook_image_warnings_total')).toBe(2);
    expect(metricValue(text, 'mlrun_image_webhook_admission_limits_total{limit="image-too-long"}')).toBe(2);
    expect(metricValue(text, 'mlrun_image_webhook_admission_limits_total{limit="too-many-containers"}')).toBe(0);
    expect(metricValue(text, 'mlrun_image_webhook_admission_duration_seconds_bucket{le="0.0005"}')).toBe(1);
    expect(metricValue(text, 'mlrun_image_webhook_admission_duration_seconds_bucket{le="0.001"}')).toBe(2);
    expect(metricValue(text, 'mlrun_image_webhook_admission_duration_seconds_bucket{le="0.0025"}')).toBe(3);
    expect(metricValue(text, 'mlrun_image_webhook_admission_duration_seconds_count')).toBe(3);
    expect(text).not.toContain('process_cpu');
  });

  it('counts mirror states and policy actions from the summary\'s complete counts (zeros add nothing)', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.recordAdmission('mutated', 0.0007, {
      ...summary('mutated'),
      mirrorCounts: { present: 2, missing: 1, unknown: 0 },
      policyCounts: { 'pin-tags/warn': 4, 'pin-digests/resolved': 0 },
    });
    m.recordAdmission('unchanged', 0.0007, { ...summary('unchanged'), mirrorCounts: { present: 1, missing: 0, unknown: 3 } });
    const text = await m.registry.metrics();
    expect(metricValue(text, 'mlrun_image_webhook_mirror_decisions_total{state="present"}')).toBe(3);
    expect(metricValue(text, 'mlrun_image_webhook_mirror_decisions_total{state="missing"}')).toBe(1);
    expect(metricValue(text, 'mlrun_image_webhook_mirror_decisions_total{state="unknown"}')).toBe(3);
    expect(metricValue(text, 'mlrun_image_webhook_policy_decisions_total{policy="pin-tags",action="warn"}')).toBe(4);
    expect(metricValue(text, 'mlrun_image_webhook_policy_decisions_total{policy="pin-tags",action="deny"}')).toBe(0);
    expect(metricValue(text, 'mlrun_image_webhook_policy_decisions_total{policy="pin-digests",action="resolved"}')).toBe(0);
  });

  it('keeps one rules_info series, for the config serving now', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.setRulesInfo(testRuntime());
    m.recordConfigReload(true, testRuntime({ mlrun: { version: '1.6.4' }, webhook: { mode: 'report' } }));
    m.recordConfigReload(false);
    const text = await m.registry.metrics();
    const info = text.split('\n').filter((l) => l.startsWith('mlrun_image_webhook_rules_info{'));
    expect(info).toEqual(['mlrun_image_webhook_rules_info{mlrun_version="1.6.4",family="C",mode="report"} 1']);
    expect(metricValue(text, 'mlrun_image_webhook_config_reloads_total{result="success"}')).toBe(1);
    expect(metricValue(text, 'mlrun_image_webhook_config_reloads_total{result="failure"}')).toBe(1);
    const ts = metricValue(text, 'mlrun_image_webhook_config_last_reload_success_timestamp_seconds')!;
    expect(Math.abs(ts - Date.now() / 1000)).toBeLessThan(3600);
  });

  it('build_info carries package.json\'s version', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    const text = await createMetrics({ defaultMetrics: false }).registry.metrics();
    expect(text.split('\n').filter((l) => l.startsWith('mlrun_image_webhook_build_info'))).toEqual([
      `mlrun_image_webhook_build_info{version="${pkg.version}"} 1`,
    ]);
  });

  it('tls_certificate_valid follows the validity window at scrape time', async () => {
    const m = createMetrics({ defaultMetrics: false });
    const valid = async () => metricValue(await m.registry.metrics(), 'mlrun_image_webhook_tls_certificate_valid');
    expect(await valid()).toBe(0);
    m.setCertificateValidity(new Date(Date.now() - 60_000), new Date(Date.now() + 3_600_000));
    expect(await valid()).toBe(1);
    m.setCertificateValidity(new Date(Date.now() - 60_000), new Date(Date.now() - 1_000));
    expect(await valid()).toBe(0);
    m.setCertificateValidity(new Date(Date.now() + 60_000), new Date(Date.now() + 3_600_000));
    expect(await valid()).toBe(0);
  });

  it('registries are independent (several servers in one process)', async () => {
    const a = createMetrics();
    const b = createMetrics();
    a.recordTlsReload(true);
    expect(metricValue(await a.registry.metrics(), 'mlrun_image_webhook_tls_reloads_total{result="success"}')).toBe(1);
    expect(metricValue(await b.registry.metrics(), 'mlrun_image_webhook_tls_reloads_total{result="success"}')).toBe(0);
  });
});
