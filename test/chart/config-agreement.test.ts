/**
 * Property: for generated configs (registries, tags, versions, compat labels, label keys, namespaces, registry hosts, bounds; good and bad), real helm checking the
 * chart's values.schema.json (Go's RE2 running the patterns) and the server's loader (JavaScript) accept and refuse the
 * same configs, and refuse them for the same keys. The one thing JSON Schema cannot say, whether an enrich pattern
 * compiles as a Python regex, is left to the pre-install hook (config-validation.test.ts) and is not generated here.
 *
 * Batched: one `helm template` checks a whole batch of configs. The checked-in values.schema.json's own mlrun, webhook
 * and log schemas are wrapped as the items of a list in a throwaway chart, so helm reports each refused config as
 * /cases/<index>/<key>. A few configs also go through the real chart (`helm template -f values.yaml`), where the
 * chart's template checks (the 253-character label-key prefix, which Go's regexp cannot hold) run too.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load.js';
import { IMAGES_TAG_PATTERN, NAMESPACE_PATTERN, QUALIFIED_NAME_PATTERN, REGISTRY_HOST_PATTERN, REGISTRY_PATTERN } from '../../src/config/schema.js';
import { CHART, ROOT, ensureHelm, helm } from './helm.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'miw-config-agreement-'));
const wrapper = path.join(tmp, 'chart');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

beforeAll(() => {
  ensureHelm();
  const schema = JSON.parse(fs.readFileSync(path.join(ROOT, 'charts/mlrun-image-webhook/values.schema.json'), 'utf8')) as {
    properties: Record<string, unknown>;
  };
  const { mlrun, webhook, log } = schema.properties;
  // The new sections without their chart-only keys (not config keys; the chart's values.yaml always provides them).
  const configOnly = (section: unknown, chartOnly: string[]) => {
    const copy = structuredClone(section) as { properties: Record<string, unknown>; required?: string[] };
    for (const k of chartOnly) delete copy.properties[k];
    copy.required = (copy.required ?? []).filter((k) => !chartOnly.includes(k));
    return copy;
  };
  const discovery = configOnly(schema.properties['discovery'], ['configMapNames']);
  const mirror = configOnly(schema.properties['mirror'], ['pullSecrets', 'caBundle']);
  const policy = configOnly(schema.properties['policy'], ['namespaceLabel', 'failurePolicy']);
  fs.mkdirSync(path.join(wrapper, 'templates'), { recursive: true });
  fs.writeFileSync(path.join(wrapper, 'Chart.yaml'), 'apiVersion: v2\nname: config-agreement\nversion: 0.0.1\n');
  fs.writeFileSync(
    path.join(wrapper, 'values.schema.json'),
    JSON.stringify({
      $schema: 'http://json-schema.org/draft-07/schema#',
      type: 'object',
      properties: {
        cases: { type: 'array', items: { type: 'object', additionalProperties: false, properties: { mlrun, webhook, log, discovery, mirror, policy } } },
      },
    }),
  );
});

// ---------------------------------------------------------------------------------------------------------------
// Generators: each value is drawn from the grammar itself, from near misses (one edit away) or from a small alphabet of
// the characters that matter, so both sides see plenty of accepted and refused values.

/** One random edit: insert, delete or replace a character, or upper-case the string. */
const nearMiss = (valid: fc.Arbitrary<string>, chars: string) =>
  fc
    .tuple(valid, fc.nat(), fc.constantFrom(...chars.split('')), fc.constantFrom('insert', 'delete', 'replace', 'upper'))
    .map(([s, at, ch, op]) => {
      const i = s.length === 0 ? 0 : at % s.length;
      if (op === 'insert') return s.slice(0, i) + ch + s.slice(i);
      if (op === 'delete') return s.slice(0, i) + s.slice(i + 1);
      if (op === 'replace') return s.slice(0, i) + ch + s.slice(i + 1);
      return s.toUpperCase();
    });

const fromChars = (chars: string, maxLength: number) =>
  fc.array(fc.constantFrom(...chars.split('')), { maxLength }).map((a) => a.join(''));

const registryOk = fc.stringMatching(new RegExp(REGISTRY_PATTERN)).filter((s) => s.length <= 255);
/** Valid values most of the time, so that whole configs (seven fields) are often accepted too. */
const mostlyValid = <T>(valid: fc.Arbitrary<T>, ...others: fc.Arbitrary<T>[]) =>
  fc.oneof({ arbitrary: valid, weight: 2 * others.length }, ...others.map((arbitrary) => ({ arbitrary, weight: 1 })));

const registry = mostlyValid(
  registryOk,
  nearMiss(registryOk, 'aZ0.-_:/[] @'),
  fromChars('aZ0.-_:/[] ', 16),
  fc.constantFrom('https://reg.example/', 'my registry/', 'reg//', 'reg.example/Team/', '[::1]:5000/x/', 'localhost:5000'),
);
const tagOk = fc.stringMatching(new RegExp(IMAGES_TAG_PATTERN));
const tag = mostlyValid(tagOk, nearMiss(tagOk, 'a.-_+ !/:'), fromChars('aZ0.-_+ !', 10));
const versionLike = fc.stringMatching(/^(0|[1-9]|1[0-2])\.(0|[1-9]|1[0-2])\.(0|[1-9]|01)(-(rc|a|0|01)[0-9]{0,2})?(\+[a-z0-9]{1,4})?$/);
const version = mostlyValid(
  versionLike,
  nearMiss(versionLike, '0.1+-rv '),
  fromChars('01.9+-rcu', 9),
  fc.constantFrom('unstable', '0.0.0+unstable', '0.0.0-x', '1.6', 'v1.9.2', '0.9.0', '0.10.0', '0.10.0-rc1', '0.10.1-rc1'),
);
const compat = mostlyValid(
  version,
  fc.tuple(fc.constantFrom('v', 'V', ''), versionLike, fc.constantFrom('rc1', '.RC.2', 'c3', 'a', ' ', '')).map(([v, x, tail]) => `${v}${x}${tail}`),
  fc.stringMatching(/^v?(0|1|01)\.(9|10|09)$/),
);
// The 253-character prefix limit is not in the schema (Go regexp has no lookahead); the real-chart cases below cover it.
const keyOk = fc.stringMatching(new RegExp(QUALIFIED_NAME_PATTERN)).filter((s) => s.indexOf('/') <= 253);
const key = mostlyValid(keyOk, nearMiss(keyOk, 'aA-_./ '), fromChars('aA0-_./', 12)).filter((s) => s.indexOf('/') <= 253);

const nsOk = fc.stringMatching(new RegExp(NAMESPACE_PATTERN)).filter((s) => s.length <= 63);
const namespace = mostlyValid(nsOk, nearMiss(nsOk, 'aZ-_.9 '), fc.constantFrom('*', 'MLRun', '-x', 'a'.repeat(64)));
const hostOk = fc.stringMatching(new RegExp(REGISTRY_HOST_PATTERN)).filter((s) => s.length <= 255);
const host = mostlyValid(hostOk, nearMiss(hostOk, 'aZ0.-:/[] '), fc.constantFrom('http://reg', 'reg.example/', 'reg:5000', '[::1]:80'));
/** Distinct items only: a duplicate is one refusal for the list in both, but the item's own refusal may come too. */
const list = <T>(item: fc.Arbitrary<T>, maxLength: number) => fc.uniqueArray(item, { maxLength });

const config = fc.record(
  {
    mlrun: fc.record({ version, compat, imagesTag: tag, imagesRegistry: registry, vendorImagesRegistry: registry }, { requiredKeys: [] }),
    webhook: fc.record({ optOutKey: key, annotationKey: key }, { requiredKeys: [] }),
  },
  { requiredKeys: [] },
);

/** The discovery, mirror and policy sections (their grammars: namespaces, registry hosts, versions, bounds). */
const sectionsConfig = fc.record(
  {
    discovery: fc.record(
      { namespaces: list(namespace, 2).filter((a) => a.length > 0), defaultNamespace: mostlyValid(nsOk, fc.constantFrom('', 'Bad', '*')) },
      { requiredKeys: [] },
    ),
    mirror: fc.record(
      {
        insecureRegistries: list(host, 2),
        budgetMs: mostlyValid(fc.integer({ min: 0, max: 7500 }), fc.constantFrom(-1, 7501, 1.5)),
        pythonVersions: list(mostlyValid(fc.constantFrom('3.9', '3.11'), fc.constantFrom('3.9.1', '39', '3.')), 2),
      },
      { requiredKeys: [] },
    ),
    policy: fc.record(
      {
        mlrunVersion: fc.oneof(fc.constant(''), version),
        pinTags: mostlyValid(fc.constantFrom('off', 'warn', 'deny', 'rewrite'), fc.constant('block')),
        digestRegistries: list(host, 2),
        namespaces: list(namespace.filter((n) => n !== '*'), 2),
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: [] },
);

// ---------------------------------------------------------------------------------------------------------------

/** Keys helm refused per case index, from messages like "- at '/cases/3/mlrun/imagesTag': ... does not match pattern". */
function helmRefusals(stderr: string): Map<number, Set<string>> {
  const paths = [...stderr.matchAll(/at '\/cases\/(\d+)((?:\/[^'/]+)*)'/g)].map((m) => ({ index: Number(m[1]), path: m[2]! }));
  const out = new Map<number, Set<string>>();
  for (const p of paths) {
    // Only the most specific messages: "/cases/2/mlrun: validation failed" is the parent of the leaf errors.
    if (paths.some((q) => q.index === p.index && q.path.startsWith(`${p.path}/`))) continue;
    const set = out.get(p.index) ?? new Set<string>();
    set.add(p.path.slice(1).replaceAll('/', '.'));
    out.set(p.index, set);
  }
  return out;
}

function loaderRefusals(c: unknown): Set<string> {
  const r = validateConfig(c);
  return new Set(r.ok ? [] : r.problems.map((p) => p.key));
}

let batches = 0;
async function checkBatch(configs: unknown[]): Promise<void> {
  const values = path.join(tmp, `batch-${batches++}.json`);
  fs.writeFileSync(values, JSON.stringify({ cases: configs }));
  const r = await helm(['template', 'x', wrapper, '--values', values]);
  if (!r.ok) expect(r.stderr).toMatch(/values don't meet the specifications of the schema/);
  const byHelm = helmRefusals(r.ok ? '' : r.stderr);
  configs.forEach((c, i) => {
    const helmKeys = [...(byHelm.get(i) ?? [])].sort();
    const loaderKeys = [...loaderRefusals(c)].sort();
    expect({ config: c, refusedBy: helmKeys }).toEqual({ config: c, refusedBy: loaderKeys });
  });
}

describe('values.schema.json in helm (Go) and the server loader (JavaScript) agree', () => {
  it('on the fixed examples of the issue', async () => {
    const fixed = [
      { mlrun: { imagesRegistry: 'https://reg.example/' } },
      { mlrun: { imagesRegistry: 'my registry/' } },
      { mlrun: { imagesRegistry: 'reg//' } },
      { mlrun: { vendorImagesRegistry: 'reg.example/UPPER/' } },
      { mlrun: { imagesTag: 'bad tag!' } },
      { mlrun: { version: '0.9.0' } },
      { mlrun: { version: '1.6' } },
      { mlrun: { imagesRegistry: 'datanode-registry.example:5000/mlrun/', imagesTag: '1.9.2-custom', version: '1.10.0-rc18' } },
      {},
    ];
    await checkBatch(fixed);
    // Not vacuous: the two sides refuse the bad ones and accept the good ones.
    expect(fixed.map((c) => validateConfig(c).ok)).toEqual([false, false, false, false, false, false, false, true, true]);
  });

  it('on generated configs (batches of 60)', async () => {
    let refused = 0;
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(config, { minLength: 60, maxLength: 60 }), async (configs) => {
        for (const c of configs) (validateConfig(c).ok ? accepted++ : refused++);
        await checkBatch(configs);
      }),
      { numRuns: 5 },
    );
    // Both outcomes were exercised in quantity.
    expect(Math.min(accepted, refused)).toBeGreaterThan(20); // about 60 and 240 of 300
  });

  it('on generated discovery, mirror and policy sections (batches of 60)', async () => {
    let refused = 0;
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(sectionsConfig, { minLength: 60, maxLength: 60 }), async (configs) => {
        for (const c of configs) (validateConfig(c).ok ? accepted++ : refused++);
        await checkBatch(configs);
      }),
      { numRuns: 3 },
    );
    expect(Math.min(accepted, refused)).toBeGreaterThan(20);
  });

  it('on generated configs through the real chart (template checks included), a few at a time', async () => {
    await fc.assert(
      fc.asyncProperty(
        config,
        fc.oneof(key, fc.constant(`${Array.from({ length: 5 }, () => 'a'.repeat(60)).join('.')}/x`)),
        async (c, annotationKey) => {
          const full = { ...c, webhook: { ...c.webhook, annotationKey } };
          const values = path.join(tmp, `chart-${batches++}.json`);
          fs.writeFileSync(values, JSON.stringify(full));
          const r = await helm(['template', 'miw', CHART, '--values', values]);
          const loader = validateConfig(full);
          expect({ config: full, helm: r.ok ? 'accepted' : r.stderr.trim() }).toEqual({
            config: full,
            helm: loader.ok ? 'accepted' : expect.stringMatching(/schema|must be at most 253/) as unknown as string,
          });
        },
      ),
      { numRuns: 6 },
    );
  });
});
