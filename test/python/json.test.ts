import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NOT_A_STRING, PYTHON_INT_MAX_DIGITS, readNestedMembers, type MemberValue } from '../../src/python/json.js';

const KEYS = ['mlrun/client_version', 'mlrun/client_python_version'] as const;
const PATH = ['metadata', 'labels'] as const;
const read = (text: string, maxDepth = 64) => readNestedMembers(text, PATH, KEYS, maxDepth);

type Tagged = { absent: true } | { null: true } | { string: string } | { other: true };
const tag = (v: MemberValue): Tagged =>
  v === undefined ? { absent: true } : v === null ? { null: true } : v === NOT_A_STRING ? { other: true } : { string: v };

/** What JSON.parse, then run.metadata.labels[key], gives: the reader must agree wherever JSON.parse accepts. */
function viaJsonParse(text: string): { valid: boolean; labels: Record<string, Tagged> | null } {
  let run: unknown;
  try {
    run = JSON.parse(text);
  } catch {
    return { valid: false, labels: null };
  }
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObj(run) || !isObj(run.metadata) || !isObj(run.metadata.labels)) return { valid: true, labels: null };
  const labels = run.metadata.labels;
  const out: Record<string, Tagged> = {};
  for (const k of KEYS) {
    const own = Object.prototype.hasOwnProperty.call(labels, k);
    const v = labels[k];
    out[k] = !own ? { absent: true } : v === null ? { null: true } : typeof v === 'string' ? { string: v } : { other: true };
  }
  return { valid: true, labels: out };
}

function asTagged(text: string, maxDepth?: number): { valid: boolean; labels: Record<string, Tagged> | null } {
  const r = read(text, maxDepth);
  if (!r.valid) return { valid: false, labels: null };
  if (!r.members) return { valid: true, labels: null };
  return { valid: true, labels: { [KEYS[0]]: tag(r.members[0]), [KEYS[1]]: tag(r.members[1]) } };
}

describe('readNestedMembers: as Python json.loads reads MLRUN_EXEC_CONFIG', () => {
  // Produced by Python's json module (scripts/gen-exec-config-vectors.py): generated run objects, with NaN,
  // Infinity, duplicate keys, escapes and whitespace, and as many again broken by one or two small edits.
  const vectors = readFileSync(new URL('../fixtures/exec-config-python.jsonl', import.meta.url), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as { text: string; valid: boolean; labels: Record<string, Tagged> | null });

  it('has the vectors: valid and invalid texts, labels found, NaN and Infinity among the valid ones', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(1500);
    expect(vectors.filter((v) => v.valid).length).toBeGreaterThan(500);
    expect(vectors.filter((v) => !v.valid).length).toBeGreaterThan(300);
    expect(vectors.filter((v) => v.labels && 'string' in v.labels[KEYS[0]]!).length).toBeGreaterThan(30);
    expect(vectors.filter((v) => v.valid && /NaN|Infinity/.test(v.text)).length).toBeGreaterThan(100);
  });

  it('gives what json.loads gives, for every vector', () => {
    const wrong = vectors.filter((v) => JSON.stringify(asTagged(v.text)) !== JSON.stringify({ valid: v.valid, labels: v.labels }));
    expect(wrong.map((v) => ({ text: v.text, python: { valid: v.valid, labels: v.labels }, ours: asTagged(v.text) })).slice(0, 3)).toEqual([]);
  });

  it('reads the words Python writes for float("nan") and infinities, which JSON.parse refuses', () => {
    const text = '{"spec":{"parameters":{"lr":NaN,"hi":Infinity,"lo":-Infinity,"xs":[NaN]}},"metadata":{"labels":{"mlrun/client_version":"1.9.2"}}}';
    expect(() => JSON.parse(text)).toThrow();
    expect(read(text)).toEqual({ valid: true, members: ['1.9.2', undefined] });
    for (const bad of ['-NaN', 'nan', 'infinity', '+Infinity', 'NaN0', 'Infinit']) expect(read(`{"a":${bad}}`).valid, bad).toBe(false);
  });

  it(`refuses an integer of more than ${PYTHON_INT_MAX_DIGITS} digits, as CPython's int_max_str_digits does; not a float`, () => {
    const withX = (x: string) => read(`{"metadata":{"labels":{"mlrun/client_version":"1.2"}},"x":${x}}`).valid;
    const digits = (n: number) => '7'.repeat(n);
    expect(withX(digits(PYTHON_INT_MAX_DIGITS))).toBe(true);
    expect(withX(digits(PYTHON_INT_MAX_DIGITS + 1))).toBe(false);
    expect(withX(`-${digits(PYTHON_INT_MAX_DIGITS)}`)).toBe(true);
    expect(withX(`-${digits(PYTHON_INT_MAX_DIGITS + 1)}`)).toBe(false);
    expect(withX(`${digits(5000)}.5`)).toBe(true);
    expect(withX(`${digits(5000)}e1`)).toBe(true);
    expect(withX(`${digits(5000)}E+1`)).toBe(true);
  });

  it('matches keys written entirely in \\u escapes (six characters for each letter)', () => {
    const escape = (s: string) => [...s].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
    const text = `{"${escape('metadata')}":{"${escape('labels')}":{"${escape('mlrun/client_python_version')}":"3.11.7","${escape('mlrun/client_version')}":"1.9.2"}}}`;
    expect(read(text)).toEqual({ valid: true, members: ['1.9.2', '3.11.7'] });
    // Too short or too long to decode to a wanted key: not one of them, whatever it holds.
    expect(read('{"metadata":{"labels":{"\\/":"1","mlrun\\/client_version":"2"}}}')).toEqual({ valid: true, members: ['2', undefined] });
  });

  it('last duplicate wins, at every step of the path', () => {
    expect(read('{"metadata":{"labels":{"mlrun/client_version":"1","mlrun/client_version":"2"}}}')).toEqual({ valid: true, members: ['2', undefined] });
    expect(read('{"metadata":{"labels":{"mlrun/client_version":"1"},"labels":{}}}')).toEqual({ valid: true, members: [undefined, undefined] });
    expect(read('{"metadata":{"labels":{"mlrun/client_version":"1"}},"metadata":7}')).toEqual({ valid: true, members: undefined });
    expect(read('{"metadata":7,"metadata":{"labels":{"mlrun/client_python_version":"3.9"}}}')).toEqual({ valid: true, members: [undefined, '3.9'] });
  });

  it('matches keys and values by their decoded text', () => {
    expect(read('{"metad\\u0061ta":{"l\\u0061bels":{"mlrun\\/client_version":"1.\\u0037.0"}}}')).toEqual({ valid: true, members: ['1.7.0', undefined] });
    // Hex digits in either case, as json.loads takes them.
    expect(read('{"metadata":{"labels":{"mlrun/client_python_version":"\\u00E9\\u00e9\\uD83D\\uDE00"}}}')).toEqual({ valid: true, members: [undefined, 'éé😀'] });
    // Same length, other text; and a key that only starts like a wanted one.
    expect(read('{"metadata":{"labels":{"mlrun/client_versiox":"1","mlrun/client_version_":"2"}}}')).toEqual({ valid: true, members: [undefined, undefined] });
  });

  it('takes the labels from the path only, not from the same names elsewhere', () => {
    expect(read('{"x":{"metadata":{"labels":{"mlrun/client_version":"1"}}}}')).toEqual({ valid: true, members: undefined });
    expect(read('[{"metadata":{"labels":{"mlrun/client_version":"1"}}}]')).toEqual({ valid: true, members: undefined });
    expect(read('{"metadata":{"labels":{"x":{"mlrun/client_version":"1"}}}}')).toEqual({ valid: true, members: [undefined, undefined] });
    expect(read('{"metadata":{"labels":[{"mlrun/client_version":"1"}]}}')).toEqual({ valid: true, members: undefined });
    expect(read('{"metadata":{"labels":{"mlrun/client_version":{"mlrun/client_version":"1"}}}}')).toEqual({ valid: true, members: [NOT_A_STRING, undefined] });
  });

  it('agrees with JSON.parse on generated JSON, whitespace and all, and on that JSON broken by an edit', () => {
    const label = fc.oneof(fc.string(), fc.constantFrom('1.9.2', '3.9.18', ''), fc.constant(null), fc.integer(), fc.boolean(), fc.jsonValue({ maxDepth: 2 }));
    const labels = fc.dictionary(fc.constantFrom(...KEYS, 'kind', 'owner', 'mlrun/client_versio'), label, { maxKeys: 4 });
    const run = fc.record(
      { spec: fc.jsonValue({ maxDepth: 4 }), metadata: fc.oneof(fc.record({ uid: fc.string(), labels: fc.oneof(labels, fc.jsonValue({ maxDepth: 2 })) }, { requiredKeys: [] }), fc.jsonValue({ maxDepth: 2 })) },
      { requiredKeys: [] },
    );
    const text = fc.tuple(run, fc.constantFrom(undefined, 1, 2, '\t', ' \r\n')).map(([r, indent]) => JSON.stringify(r, null, indent));
    const edited = fc.tuple(text, fc.nat(), fc.constantFrom('', '{', '}', '[', ']', '"', ',', ':', '\\', '\u0001', 'x', '0', '-', '.', 'e', ' ', 'N')).map(
      ([t, at, ch]) => t.slice(0, at % (t.length + 1)) + ch + t.slice((at % (t.length + 1)) + (ch === '' || at % 3 === 0 ? 1 : 0)),
    );
    fc.assert(
      fc.property(fc.oneof(text, edited), (t) => {
        const ours = asTagged(t);
        const js = viaJsonParse(t);
        // Where JSON.parse refuses, only Python's extra words may make the text valid.
        if (!js.valid && ours.valid) return /NaN|Infinity/.test(t);
        expect(ours).toEqual(js);
        return true;
      }),
      { numRuns: 3000, seed: 20261202 },
    );
  });

  it(`refuses nesting deeper than maxDepth without recursion, whatever the depth`, () => {
    expect(read(`${'['.repeat(64)}${']'.repeat(64)}`).valid).toBe(true);
    expect(read(`${'['.repeat(65)}${']'.repeat(65)}`).valid).toBe(false);
    expect(read(`${'{"a":'.repeat(64)}1${'}'.repeat(64)}`).valid).toBe(true);
    expect(read(`${'{"a":'.repeat(65)}1${'}'.repeat(65)}`).valid).toBe(false);
    // Far past any stack: refused, not thrown.
    expect(read('['.repeat(1_000_000), 2_000_000)).toEqual({ valid: false });
  });

  it.each(['', ' ', '{', '{"metadata":', '{"a":1,}', '{"a" 1}', '{,}', '[1,]', '[,1]', '{"a":1}}', '"\\u12"', '"a', '01', '1.', '.5', '-', '\ufeff{}', '{}\u00a0', '{"a":"\t"}'])(
    'refuses %j as json.loads does',
    (t) => {
      expect(read(t).valid).toBe(false);
    },
  );
});
