/**
 * Checked-in generated files must match their sources:
 * - charts/mlrun-image-webhook/values.schema.json  ← src/config/schema.ts + src/config/chart-values.ts
 * - the values tables in the chart README and docs/operator-guide.md ← that schema + values.yaml
 * Regenerate with:  UPDATE_GENERATED=1 npx vitest run test/chart/generated.test.ts
 * Plus consistency checks that need no helm: values.yaml defaults = config schema defaults, appVersion = package version.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../src/config/schema.js';
import {
  VALUES_SCHEMA_PATH,
  generateValuesSchema,
  renderValuesSchema,
  renderValuesTable,
  replaceGenerated,
} from '../../scripts/gen-values-schema.js';
import { checkGenerated } from './generated.js';
import { ROOT } from './helm.js';

const valuesYaml = () => parseYaml(fs.readFileSync(path.join(ROOT, 'charts/mlrun-image-webhook/values.yaml'), 'utf8')) as Record<string, any>;

describe('generated files are up to date', () => {
  it('values.schema.json', () => {
    checkGenerated(VALUES_SCHEMA_PATH, renderValuesSchema());
  });

  it.each(['charts/mlrun-image-webhook/README.md', 'docs/operator-guide.md'])('values table in %s', (rel) => {
    const file = path.join(ROOT, rel);
    const text = fs.readFileSync(file, 'utf8');
    const table = renderValuesTable(generateValuesSchema(), valuesYaml());
    checkGenerated(rel, replaceGenerated(text, 'values-table', table));
  });
});

describe('one source of truth', () => {
  it('the schema\'s config sections are the server config schema\'s, unchanged (plus chart-only keys)', () => {
    const schema = generateValuesSchema() as Record<string, any>;
    const server = JSON.parse(JSON.stringify(ConfigSchema)) as Record<string, any>;
    /** Chart-only keys inside config sections (src/config/chart-values.ts); never written to the config file as such. */
    const chartOnly = ['envFrom', 'configMapNames', 'pullSecrets', 'caBundle', 'namespaceLabel', 'failurePolicy'];
    for (const section of ['mlrun', 'webhook', 'log', 'discovery', 'mirror', 'policy']) {
      const chartKeys = Object.keys(schema.properties[section].properties).filter((k) => !chartOnly.includes(k));
      expect(chartKeys, section).toEqual(Object.keys(server.properties[section].properties));
      expect(schema.properties[section].additionalProperties).toBe(false);
    }
  });

  it('values.yaml sets every config key to the server\'s default (a chart install behaves like a bare server)', () => {
    const values = valuesYaml();
    const server = JSON.parse(JSON.stringify(ConfigSchema)) as Record<string, any>;
    const walk = (schema: Record<string, any>, v: Record<string, any>, at: string) => {
      for (const [k, s] of Object.entries(schema.properties as Record<string, any>)) {
        if (s.type === 'object' && s.properties) walk(s, v[k], `${at}.${k}`);
        else expect(v[k], `${at}.${k}`).toEqual(s.default);
      }
    };
    for (const section of ['mlrun', 'webhook', 'log', 'discovery', 'mirror', 'policy']) walk(server.properties[section], values[section], section);
  });

  it('every value has a description (the values table is complete)', () => {
    const missing: string[] = [];
    const walk = (s: Record<string, any>, at: string) => {
      if (at && !s.description) missing.push(at);
      if (s.properties && s.additionalProperties === false) for (const [k, c] of Object.entries(s.properties)) walk(c as Record<string, any>, at ? `${at}.${k}` : k);
    };
    walk(generateValuesSchema() as Record<string, any>, '');
    expect(missing).toEqual([]);
  });

  it('Chart appVersion is the package version (the default image tag)', () => {
    const chart = parseYaml(fs.readFileSync(path.join(ROOT, 'charts/mlrun-image-webhook/Chart.yaml'), 'utf8')) as Record<string, string>;
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(chart.appVersion).toBe(pkg.version);
  });
});

describe('deployment docs', () => {
  const DOCS = ['docs/operator-guide.md', 'docs/adr/0002-chart-tls-and-failure-policy.md', 'charts/mlrun-image-webhook/README.md', 'deploy/README.md'];
  /** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
  const anchorsOf = (md: string) =>
    new Set(
      md
        .split('\n')
        .filter((l) => /^#{1,6} /.test(l))
        .map((l) => l.replace(/^#+ /, '').trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-')),
    );

  it.each(DOCS)('%s: relative links point at files and headings that exist', (rel) => {
    const text = fs.readFileSync(path.join(ROOT, rel), 'utf8');
    const broken: string[] = [];
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/.test(target)) continue;
      const [file, anchor] = target.split('#') as [string, string | undefined];
      const targetPath = file ? path.resolve(path.dirname(path.join(ROOT, rel)), file) : path.join(ROOT, rel);
      if (!fs.existsSync(targetPath)) {
        broken.push(`${target} (no such file)`);
        continue;
      }
      if (anchor && targetPath.endsWith('.md') && !anchorsOf(fs.readFileSync(targetPath, 'utf8')).has(anchor)) {
        broken.push(`${target} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('the operator guide covers what the issue asks for', () => {
    const guide = fs.readFileSync(path.join(ROOT, 'docs/operator-guide.md'), 'utf8');
    for (const topic of ['## Install', '## TLS', '## Failure policy', '## Upgrade', '## Uninstall', '## Break glass', '## Watching it', 'hot reload or restart']) {
      expect(guide, topic).toContain(topic);
    }
  });
});
