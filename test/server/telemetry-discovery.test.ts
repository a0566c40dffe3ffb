/** The discovery, mirror and registry metrics: bounded label sets, values read at scrape time. */
import { describe, expect, it } from 'vitest';
import { createMetrics, REGISTRY_LABELS_MAX, registryStatusLabel } from '../../src/telemetry/metrics.js';
import { metricValue } from './helpers.js';

const P = 'mlrun_image_webhook_';

describe('discovery metrics', () => {
  it('syncs, state and last sync are read from the watcher at each scrape; counters only grow', async () => {
    const m = createMetrics({ defaultMetrics: false });
    let text = await m.registry.metrics();
    // Discovery off: series exist at 0, no state is 1.
    expect(metricValue(text, `${P}discovery_syncs_total{result="ok"}`)).toBe(0);
    for (const s of ['starting', 'ok', 'forbidden', 'unreachable', 'failing']) expect(metricValue(text, `${P}discovery_state{state="${s}"}`)).toBe(0);
    expect(metricValue(text, `${P}discovery_last_sync_timestamp_seconds`)).toBe(0);

    const view = { state: 'starting' as const, counts: { lists: 2, watches: 1, errors: 0 }, lastSyncAt: undefined as string | undefined };
    let current: { state: 'starting' | 'ok' | 'unreachable'; counts: typeof view.counts; lastSyncAt: string | undefined } = view;
    m.watchDiscovery(() => current);
    text = await m.registry.metrics();
    expect(metricValue(text, `${P}discovery_syncs_total{result="ok"}`)).toBe(3);
    expect(metricValue(text, `${P}discovery_state{state="starting"}`)).toBe(1);

    current = { state: 'unreachable', counts: { lists: 2, watches: 2, errors: 4 }, lastSyncAt: '2026-01-01T00:00:00.000Z' };
    text = await m.registry.metrics();
    expect(metricValue(text, `${P}discovery_syncs_total{result="ok"}`)).toBe(4);
    expect(metricValue(text, `${P}discovery_syncs_total{result="error"}`)).toBe(4);
    expect(metricValue(text, `${P}discovery_state{state="unreachable"}`)).toBe(1);
    expect(metricValue(text, `${P}discovery_state{state="starting"}`)).toBe(0);
    expect(metricValue(text, `${P}discovery_last_sync_timestamp_seconds`)).toBe(Date.parse('2026-01-01T00:00:00Z') / 1000);
    // A scrape with nothing new adds nothing.
    text = await m.registry.metrics();
    expect(metricValue(text, `${P}discovery_syncs_total{result="ok"}`)).toBe(4);

    // A view that throws is treated as discovery off for that scrape, never as a failed scrape.
    m.watchDiscovery(() => {
      throw new Error('boom');
    });
    text = await m.registry.metrics();
    expect(metricValue(text, `${P}discovery_state{state="unreachable"}`)).toBe(0);
  });

  it('install info replaces its series; refusals and pending changes', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.setInstalls([
      { namespace: 'mlrun', version: '1.9.2', source: 'discovered' },
      { namespace: 'tenant', version: '1.9.2', source: 'default-install' },
    ]);
    m.setInstalls([{ namespace: 'mlrun', version: '1.10.0', source: 'discovered' }]);
    m.recordDiscoveryRefusal();
    m.setDiscoveryPendingChanges(2);
    const text = await m.registry.metrics();
    expect(metricValue(text, `${P}mlrun_install_info{namespace="mlrun",version="1.10.0",source="discovered"}`)).toBe(1);
    expect(text).not.toContain('version="1.9.2"');
    expect(metricValue(text, `${P}discovery_refusals_total`)).toBe(1);
    expect(metricValue(text, `${P}discovery_pending_changes`)).toBe(2);
  });
});

describe('registry and mirror metrics', () => {
  it(`registry label: the first ${REGISTRY_LABELS_MAX} registries by name, then "other"`, async () => {
    const m = createMetrics({ defaultMetrics: false });
    for (let i = 0; i < REGISTRY_LABELS_MAX + 10; i++) {
      m.recordRegistryRequest({ registry: `r${i}.example`, kind: 'manifest', status: 200, outcome: 'ok', durationMs: 1 });
    }
    m.recordRegistryRequest({ registry: 'r0.example', kind: 'token', status: undefined, outcome: 'timeout', durationMs: 5000 });
    const text = await m.registry.metrics();
    const registries = new Set([...text.matchAll(/registry_requests_total\{registry="([^"]+)"/g)].map((x) => x[1]));
    expect(registries.size).toBe(REGISTRY_LABELS_MAX + 1);
    expect(metricValue(text, `${P}registry_requests_total{registry="other",kind="manifest",status="200"}`)).toBe(10);
    expect(metricValue(text, `${P}registry_requests_total{registry="r0.example",kind="token",status="timeout"}`)).toBe(1);
    expect(metricValue(text, `${P}registry_request_duration_seconds_count{kind="manifest"}`)).toBe(REGISTRY_LABELS_MAX + 10);
    expect(metricValue(text, `${P}registry_request_duration_seconds_sum{kind="token"}`)).toBe(5);
  });

  it('status label: a 3-digit HTTP code, or the transport reason folded into a closed set', () => {
    const cases: [number | undefined, string, string][] = [
      [404, 'ok', '404'],
      [undefined, 'timeout', 'timeout'],
      [undefined, 'timeout (waiting for a request slot)', 'timeout'],
      [undefined, 'busy', 'busy'],
      [undefined, 'connection refused', 'refused'],
      [undefined, 'connection reset', 'reset'],
      [undefined, 'connection closed while reading the response', 'reset'],
      [undefined, 'DNS lookup failed (host not found)', 'dns'],
      [undefined, 'host unreachable', 'unreachable'],
      [undefined, 'TLS error: CERT_HAS_EXPIRED', 'tls'],
      [undefined, 'aborted', 'aborted'],
      [undefined, 'invalid HTTP response (HPE_INVALID_CONSTANT)', 'invalid_response'],
      [undefined, 'request failed: EWHATEVER', 'error'],
      [99999, 'ok', 'error'],
    ];
    for (const [status, outcome, label] of cases) expect(registryStatusLabel(status, outcome), outcome).toBe(label);
  });

  it('mirror images gauge follows the latest round', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.setMirrorImages({ present: 40, missing: 3, unknown: 1 });
    m.setMirrorImages({ present: 43, missing: 0, unknown: 1 });
    const text = await m.registry.metrics();
    expect(metricValue(text, `${P}mirror_images{state="present"}`)).toBe(43);
    expect(metricValue(text, `${P}mirror_images{state="missing"}`)).toBe(0);
  });
});
