/**
 * The operator guide's metrics and alerts tables, the HELP text and what /metrics really exposes agree: metric
 * names, label names and, for closed label sets, the exact values (issue: the guide said `tagged`/`prefixed` while
 * /metrics showed `tag`/`prefix`). The registry is filled by real admissions through admit() and the real engine.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { admit } from '../../src/admission/admit.js';
import { podCreateReview } from '../../src/admission/review.js';
import { createMetrics, IMAGE_REASON_ACTIONS } from '../../src/telemetry/metrics.js';
import { testRuntime } from '../helpers/runtime.js';

const guide = readFileSync(new URL('../../docs/operator-guide.md', import.meta.url), 'utf8');
const PREFIX = 'mlrun_image_webhook_';

interface Family {
  help: string;
  labels: Map<string, Set<string>>;
}

/** Prometheus text format → families with HELP and the label values seen (histogram series folded in). */
function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { help: '', labels: new Map() }));
    return f;
  };
  for (const line of text.split('\n')) {
    const help = /^# HELP (\S+) (.*)$/.exec(line);
    if (help) {
      family(help[1]!).help = help[2]!;
      continue;
    }
    const sample = /^([a-z_:][a-z0-9_:]*)(?:\{(.*)\})? /.exec(line);
    if (!sample) continue;
    const name = sample[1]!.replace(/_(bucket|sum|count)$/, (m) => (families.has(sample[1]!.slice(0, -m.length)) ? '' : m));
    const f = family(name);
    for (const [, key, value] of (sample[2] ?? '').matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g)) {
      if (key === 'le') continue;
      if (!f.labels.has(key!)) f.labels.set(key!, new Set());
      f.labels.get(key!)!.add(value!);
    }
  }
  return families;
}

/** Rows of the guide's "Metrics." table: `name{labels}` → the backticked tokens of the meaning column. */
function guideMetricRows(): Map<string, { labels: string[]; tokens: string[]; text: string }> {
  const rows = new Map<string, { labels: string[]; tokens: string[]; text: string }>();
  const section = guide.slice(guide.indexOf('**Metrics.**'), guide.indexOf('**Alerts.**'));
  for (const line of section.split('\n')) {
    const m = /^\| `([a-z_]+)(?:\{([a-z_,]+)\})?` \| (.*) \|$/.exec(line);
    if (!m || !m[1]!.startsWith(PREFIX)) continue;
    const tokens = [...m[3]!.matchAll(/`([^`]+)`/g)].map((t) => t[1]!);
    rows.set(m[1]!, { labels: m[2] ? m[2].split(',') : [], tokens, text: m[3]! });
  }
  return rows;
}

/** A registry after real admissions that produce several reasons. */
async function exercisedRegistry(): Promise<Map<string, Family>> {
  const metrics = createMetrics({ defaultMetrics: false });
  metrics.setRulesInfo(testRuntime());
  const review = (images: string[], labels: Record<string, string> = {}) =>
    podCreateReview(
      { metadata: { name: 'p', labels }, spec: { containers: images.map((image, i) => ({ name: `c${i}`, image })) } },
      { uid: '00000000-0000-4000-8000-000000000001', namespace: 'mlrun' },
    );
  const cases = [
    { runtime: testRuntime({ mlrun: { imagesRegistry: 'datanode-registry.example/' } }), images: ['mlrun/mlrun', 'mlrun/mlrun:1.9.2', 'quay.io/mlrun/mlrun', ' mlrun/mlrun '] },
    { runtime: testRuntime({ mlrun: { version: '1.10.0', imagesRegistry: 'datanode-registry.example/' } }), images: ['mlrun/ml-base'] },
    {
      runtime: testRuntime({ mlrun: { imagesRegistry: 'datanode-registry.example/' } }),
      images: ['python'],
      labels: { 'mlrun/client_version': '1.9.2', 'mlrun/client_python_version': '3.11.4' },
    },
    { runtime: testRuntime({ mlrun: { imagesRegistry: 'datanode-registry.example/' }, webhook: { mode: 'report' } }), images: ['mlrun/mlrun'] },
  ];
  for (const c of cases) {
    const r = admit(review(c.images, c.labels), c.runtime);
    if (r.status !== 200) throw new Error('admission failed');
    metrics.recordAdmission(r.summary.outcome, 0.001, r.summary);
  }
  // Discovery and registry series carry labels only once something happened; what serve.ts records for them.
  metrics.setInstalls([{ namespace: 'mlrun', version: '1.9.2', source: 'discovered' }]);
  metrics.watchDiscovery(() => ({ state: 'ok', counts: { lists: 3, watches: 3, errors: 1 }, lastSyncAt: new Date().toISOString() }));
  metrics.recordRegistryRequest({ registry: 'datanode-registry.example', kind: 'manifest', status: 200, outcome: 'ok', durationMs: 3 });
  return parseExposition(await metrics.registry.metrics());
}

describe('metrics documentation agrees with /metrics', () => {
  it('the guide lists every webhook metric with its label names, and nothing else', async () => {
    const families = await exercisedRegistry();
    const rows = guideMetricRows();
    const ours = [...families.keys()].filter((n) => n.startsWith(PREFIX)).sort();
    expect([...rows.keys()].sort()).toEqual(ours);
    for (const name of ours) expect(rows.get(name)!.labels.sort(), name).toEqual([...families.get(name)!.labels.keys()].sort());
  });

  it('closed label sets: the guide row and the HELP text list exactly the values /metrics has', async () => {
    const families = await exercisedRegistry();
    const rows = guideMetricRows();
    let checked = 0;
    for (const [name, row] of rows) {
      if (name.includes('images_changed') || name.includes('images_would_change') || row.labels.length !== 1) continue;
      const values = [...families.get(name)!.labels.get(row.labels[0]!)!];
      if (name.endsWith('_info')) continue; // build_info/rules_info carry open values (versions)
      const documented = row.tokens.filter((t) => t !== row.labels[0]);
      expect(documented.sort(), name).toEqual(values.sort());
      for (const v of values) expect(families.get(name)!.help, name).toContain(v);
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(6);
  });

  it('image reasons: the guide and HELP name the engine actions in order; every value /metrics shows is built from them', async () => {
    const families = await exercisedRegistry();
    const row = guideMetricRows().get(`${PREFIX}images_changed_total`)!;
    const singles = row.tokens.filter((t) => !t.includes('+') && t !== 'reason');
    expect(singles.slice(0, IMAGE_REASON_ACTIONS.length)).toEqual([...IMAGE_REASON_ACTIONS]);
    const valid = (value: string) => {
      const parts = value.split('+');
      const idx = parts.map((p) => (IMAGE_REASON_ACTIONS as readonly string[]).indexOf(p));
      return idx.every((i, k) => i >= 0 && (k === 0 || i > idx[k - 1]!));
    };
    for (const t of row.tokens.filter((t) => t !== '+')) expect(valid(t), t).toBe(true);
    const seen = new Set<string>();
    for (const name of [`${PREFIX}images_changed_total`, `${PREFIX}images_would_change_total`]) {
      const family = families.get(name)!;
      expect(family.help).toContain(IMAGE_REASON_ACTIONS.join(', '));
      for (const v of family.labels.get('reason') ?? []) {
        expect(valid(v), v).toBe(true);
        seen.add(v);
      }
    }
    // The values the guide calls usual are real, and the admissions above produced a variety.
    for (const usual of ['tag', 'prefix', 'tag+prefix']) expect(seen).toContain(usual);
    expect(seen.size).toBeGreaterThanOrEqual(5);
    for (const text of [guide, ...[...families.values()].map((f) => f.help)]) expect(text).not.toMatch(/\btagged\+prefixed\b|`tagged`|`prefixed`/);
  });

  it('alert examples name real metrics and label values', async () => {
    const families = await exercisedRegistry();
    const alerts = guide.slice(guide.indexOf('**Alerts.**'), guide.indexOf('**Logs.**'));
    const refs = [...alerts.matchAll(/`([a-z_]+)(?:\{([a-z_]+)="([a-z_]+)"\})?`/g)].filter((m) => m[1]!.endsWith('_total') || m[2]);
    expect(refs.length).toBeGreaterThan(0);
    for (const [, short, label, value] of refs) {
      const family = families.get(short!.startsWith(PREFIX) ? short! : PREFIX + short!);
      expect(family, short).toBeDefined();
      if (label) expect([...(family!.labels.get(label!) ?? [])], `${short}{${label}}`).toContain(value);
    }
  });
});
