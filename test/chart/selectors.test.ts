/**
 * The webhook entries' selectors, evaluated the way the API server evaluates them, on sample namespaces: for every
 * combination of failClosedNamespaces, targetNamespaces, the production policy (off / warn / deny) and the main
 * failurePolicy, each namespace is served by AT MOST one entry (a Pod is never sent twice; docs/adr/0008), by exactly
 * the entry it should be, on the right path, with the right failure policy.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { NAMESPACE, type K8sObject, type RenderOptions, at, ensureHelm, find, render } from './helm.js';

interface Requirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}
interface Selector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Requirement[];
}
interface Entry {
  name: string;
  failurePolicy: string;
  clientConfig: { service: { path: string } };
  namespaceSelector?: Selector;
  objectSelector?: Selector;
  matchConditions?: { name: string; expression: string }[];
}

/** metav1.LabelSelector semantics (an empty or missing selector matches everything). */
function matches(selector: Selector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const r of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, r.key);
    const ok =
      r.operator === 'In'
        ? has && (r.values ?? []).includes(labels[r.key]!)
        : r.operator === 'NotIn'
          ? !has || !(r.values ?? []).includes(labels[r.key]!)
          : r.operator === 'Exists'
            ? has
            : !has;
    if (!ok) return false;
  }
  return true;
}

/** The chart's only built-in matchCondition; any other condition would need a CEL evaluator, so none may appear. */
function conditionsAllow(entry: Entry, namespace: string): boolean {
  for (const c of entry.matchConditions ?? []) {
    if (c.name !== 'exclude-kube-prefixed-namespaces') throw new Error(`unexpected matchCondition ${c.name}`);
    if (namespace.startsWith('kube-')) return false;
  }
  return true;
}

const PROD = 'mlrun-image-webhook/policy';
const SKIP = 'mlrun-image-webhook/skip';
const NAMES = ['mlrun', 'team-a', 'prod-a', 'other', 'kube-system', 'kube-extra', NAMESPACE];
const LABELS: Record<string, string>[] = [{}, { [PROD]: 'production' }, { [PROD]: 'staging' }, { [SKIP]: 'true' }, { [PROD]: 'production', [SKIP]: 'true' }];
/** Every sample namespace: each name with each label set (plus the label the API server always sets). */
const SAMPLES = NAMES.flatMap((name) => LABELS.map((labels) => ({ name, labels: { ...labels, 'kubernetes.io/metadata.name': name } })));

interface Combo {
  failClosed: string[];
  targets: string[];
  pinTags: 'off' | 'warn' | 'deny';
  failurePolicy: 'Ignore' | 'Fail';
}

const combos: Combo[] = [];
for (const failClosed of [[], ['mlrun']])
  for (const targets of [[], ['mlrun', 'prod-a']])
    for (const pinTags of ['off', 'warn', 'deny'] as const) combos.push({ failClosed, targets, pinTags, failurePolicy: 'Ignore' });
combos.push({ failClosed: [], targets: ['mlrun', 'prod-a'], pinTags: 'warn', failurePolicy: 'Fail' });
combos.push({ failClosed: ['mlrun'], targets: [], pinTags: 'deny', failurePolicy: 'Fail' });

const optionsOf = (c: Combo): RenderOptions => ({
  set: { 'policy.pinTags': c.pinTags, failurePolicy: c.failurePolicy, 'tests.enabled': false },
  setJson: { failClosedNamespaces: c.failClosed, targetNamespaces: c.targets },
});
const label = (c: Combo) => `failClosed=${JSON.stringify(c.failClosed)} targets=${JSON.stringify(c.targets)} pinTags=${c.pinTags} failurePolicy=${c.failurePolicy}`;

const rendered = new Map<Combo, K8sObject[]>();
beforeAll(async () => {
  ensureHelm();
  const docs = await Promise.all(combos.map((c) => render(optionsOf(c))));
  combos.forEach((c, i) => rendered.set(c, docs[i]!));
});

/** What the chart promises for a namespace: served or not, on which path, failing how. */
function expected(c: Combo, ns: { name: string; labels: Record<string, string> }): { path: string; failurePolicy: string } | undefined {
  if (['kube-system', NAMESPACE].includes(ns.name) || ns.name.startsWith('kube-')) return undefined;
  if (ns.labels[SKIP] === 'true') return undefined;
  if (c.targets.length > 0 && !c.targets.includes(ns.name)) return undefined;
  const failClosed = c.failClosed.includes(ns.name);
  if (c.pinTags !== 'off' && ns.labels[PROD] === 'production') {
    const prodPolicy = c.pinTags === 'deny' || c.failurePolicy === 'Fail' ? 'Fail' : 'Ignore';
    return { path: '/mutate/production', failurePolicy: failClosed ? 'Fail' : prodPolicy };
  }
  return { path: '/mutate', failurePolicy: failClosed ? 'Fail' : c.failurePolicy };
}

describe('webhook entries: disjoint, and each namespace served as promised', () => {
  it.each(combos.map((c) => [label(c), c] as const))('%s', (_label, c) => {
    const entries = at(find(rendered.get(c)!, 'MutatingWebhookConfiguration'), 'webhooks') as Entry[];
    expect(entries.length).toBeGreaterThanOrEqual(1);
    for (const ns of SAMPLES) {
      const serving = entries.filter((e) => matches(e.namespaceSelector, ns.labels) && conditionsAllow(e, ns.name));
      const what = `${ns.name} ${JSON.stringify(ns.labels)}`;
      expect(serving.length, `${what}: served by ${serving.map((e) => e.name).join(', ')}`).toBeLessThanOrEqual(1);
      const want = expected(c, ns);
      const got = serving[0] ? { path: serving[0].clientConfig.service.path, failurePolicy: serving[0].failurePolicy } : undefined;
      expect(got, what).toEqual(want);
    }
  });

  it('production entries never honour the per-Pod opt-out label; the others always do', () => {
    const optOut = { [SKIP]: 'true' };
    for (const c of combos) {
      const entries = at(find(rendered.get(c)!, 'MutatingWebhookConfiguration'), 'webhooks') as Entry[];
      for (const e of entries) {
        const production = e.clientConfig.service.path === '/mutate/production';
        expect(matches(e.objectSelector, optOut), `${label(c)} ${e.name}`).toBe(production);
      }
    }
  });

  it('the evaluator itself: NotIn matches a missing label, In does not', () => {
    expect(matches({ matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['x'] }] }, {})).toBe(true);
    expect(matches({ matchExpressions: [{ key: 'a', operator: 'In', values: ['x'] }] }, {})).toBe(false);
    expect(matches({ matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['x'] }] }, { a: 'x' })).toBe(false);
  });
});
