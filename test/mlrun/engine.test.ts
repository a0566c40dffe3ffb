/**
 * Engine behaviour beyond the recorded vectors: reasons, the webhook's guard, opt-in corrections, family G switch,
 * version → rules selection, and idempotency (property test).
 */
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compileResolver,
  isPySpace,
  MAX_TOTAL_PROGRAM_SIZE,
  normalizeVersionTag,
  pyStrip,
  REGISTRY_PORT_CORRECTION,
  RESULT_MEMO_LIMITS,
  SUFFIX_MEMO_LIMITS,
  type MlrunSettings,
  type ResolverOptions,
} from '../../src/mlrun/engine.js';
import { FAMILIES, rulesForVersion, type FamilyId } from '../../src/mlrun/rules.js';
import { compilePythonMatcher } from '../../src/mlrun/pyregex.js';

const base: MlrunSettings = {
  imagesTag: '',
  imagesRegistry: 'registry.local/',
  vendorImagesRegistry: 'vendor.local/',
  imagesToEnrichRegistry: null,
  serverVersion: '1.9.2',
};
function resolver(family: FamilyId, settings: Partial<MlrunSettings> = {}, options: Partial<ResolverOptions> = {}) {
  const rules = FAMILIES[family];
  return compileResolver(
    { ...base, imagesToEnrichRegistry: rules.defaultEnrichPatterns, ...settings },
    { rules, ...options },
  );
}

describe('rulesForVersion', () => {
  it.each([
    ['0.10.0', 'A'],
    ['1.2.3', 'A'],
    ['1.3.0-rc1', 'B'],
    ['1.4.1', 'B'],
    ['1.5.0', 'C'],
    ['1.6.4', 'C'],
    ['1.7.0', 'D'],
    ['1.8.0', 'D'],
    ['1.9.0', 'E'],
    ['1.9.2', 'E'],
    ['1.9.2+abc', 'E'],
    ['1.10.0-rc12', 'F'],
    ['1.10.0-rc18', 'F'],
    ['1.10.0', 'F'],
    ['1.10.3', 'F'],
    ['0.0.0+unstable', 'F'],
    ['unstable', 'F'],
  ])('%s follows family %s', (v, family) => {
    const r = rulesForVersion(v);
    expect(r.ok && r.rules.family).toBe(family);
  });

  it('models the intermediate 1.10 release candidates as switches', () => {
    const rc2 = rulesForVersion('1.10.0-rc2');
    const rc3 = rulesForVersion('1.10.0-rc3');
    const rc7 = rulesForVersion('1.10.0-rc7');
    const rc10 = rulesForVersion('1.10.0-rc10');
    expect(rc2.ok && rc2.rules.pythonRewrite).toBe('none');
    expect(rc3.ok && rc3.rules.pythonRewrite).toBe('full');
    expect(rc7.ok && rc7.rules.mlBase?.thresholdText).toBe('1.10.0');
    expect(rc10.ok && rc10.rules.mlBase?.thresholdText).toBe('1.10.0-rc0');
    expect(rc10.ok && rc10.rules.mlBase?.urlTagAware).toBe(false);
  });

  it('says when a version is newer than the newest known rules', () => {
    const r = rulesForVersion('1.11.0');
    expect(r.ok && r.note).toMatch(/newer than the newest known rules/);
  });

  it.each([['', /empty/], ['v1.6.0', /not an MLRun version/], ['latest', /not an MLRun version/], ['0.9.3', /older than 0.10.0/]])(
    'refuses %j',
    (v, reason) => {
      const r = rulesForVersion(v);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason).toMatch(reason);
    },
  );
});

describe('resolve: results and reasons', () => {
  it('tags from the client version with the python suffix, then prefixes', () => {
    const r = resolver('E').resolve('mlrun/mlrun', '1.9.2', '3.9.18');
    expect(r).toMatchObject({ ok: true, image: 'registry.local/mlrun/mlrun:1.9.2-py39', changed: true, actions: ['tag', 'prefix'] });
    if (r.ok) {
      expect(r.reasons[0]).toBe('tag from client version 1.9.2 + py39 for python 3.9.18');
      expect(r.reasons[1]).toBe('prefixed images registry (pattern ^mlrun/*)');
    }
  });

  it('falls back to the server version, then says why an image stays', () => {
    expect(resolver('E').resolve('mlrun/mlrun', null, null)).toMatchObject({ image: 'registry.local/mlrun/mlrun:1.9.2' });
    const tagged = resolver('E').resolve('quay.io/mlrun/mlrun:1.8.0', null, null);
    expect(tagged).toMatchObject({ ok: true, changed: false });
    if (tagged.ok) expect(tagged.reasons).toContain('unchanged: already tagged (or has a ":")');
  });

  it('vendor registry for matching non-MLRun images from 1.7 on, one registry before', () => {
    expect(resolver('D').resolve('python:3.9-slim', null, null)).toMatchObject({ image: 'vendor.local/python:3.9-slim' });
    expect(resolver('C', { imagesToEnrichRegistry: '^mlrun/*,python' }).resolve('python:3.9', null, null)).toMatchObject({
      image: 'registry.local/python:3.9',
    });
  });

  it('returns typed errors instead of throwing', () => {
    expect(resolver('E', { imagesTag: 'latest' }).resolve('mlrun/mlrun', null, '3.9.18')).toMatchObject({ ok: false, error: 'ValueError' });
    expect(resolver('B', { serverVersion: null }).resolve('mlrun/mlrun', null, null)).toMatchObject({ ok: false, error: 'TypeError' });
    const bad = resolver('E', { imagesToEnrichRegistry: '^mlrun/*,[unclosed' });
    expect(bad.configError?.kind).toBe('re.error');
    expect(bad.resolve('busybox', null, null)).toMatchObject({ ok: false, error: 're.error', image: 'busybox' });
  });

  it('strips like Python and normalises versions like MLRun', () => {
    expect(pyStrip('\t mlrun/mlrun \n\x1f')).toBe('mlrun/mlrun');
    expect(pyStrip('\ufeffx')).toBe('\ufeffx'); // Python does not strip U+FEFF, JS trim() would
    expect(normalizeVersionTag('0.0.0+unstable')).toBe('unstable');
    expect(normalizeVersionTag('1.10.0+ab12')).toBe('1.10.0-ab12');
    expect(normalizeVersionTag('')).toBe('');
    expect(normalizeVersionTag(null)).toBe(null);
  });
});

describe('webhook guard and opt-in corrections', () => {
  it('never prefixes twice with the guard on (a pattern matching its own output)', () => {
    const exact = resolver('E', { imagesToEnrichRegistry: '.*' });
    const guarded = resolver('E', { imagesToEnrichRegistry: '.*' }, { guardAlreadyPrefixed: true });
    const once = exact.resolve('mlrun/mlrun', '1.9.2', null);
    expect(once).toMatchObject({ image: 'registry.local/mlrun/mlrun:1.9.2' });
    // MLRun itself would prefix again; the webhook must not.
    expect(exact.resolve('registry.local/mlrun/mlrun:1.9.2', '1.9.2', null)).toMatchObject({
      image: 'registry.local/registry.local/mlrun/mlrun:1.9.2',
    });
    expect(guarded.resolve('registry.local/mlrun/mlrun:1.9.2', '1.9.2', null)).toMatchObject({ changed: false });
  });

  it('tagImagesWithRegistryPort tags localhost:5000/mlrun/mlrun but still respects real tags and digests', () => {
    const quirk = resolver('E');
    const fixed = resolver('E', {}, { corrections: { tagImagesWithRegistryPort: true } });
    expect(quirk.resolve('localhost:5000/mlrun/mlrun', '1.9.2', null)).toMatchObject({ changed: false });
    expect(fixed.resolve('localhost:5000/mlrun/mlrun', '1.9.2', null)).toMatchObject({ image: 'localhost:5000/mlrun/mlrun:1.9.2' });
    expect(fixed.resolve('localhost:5000/mlrun/mlrun:1.8.0', '1.9.2', null)).toMatchObject({ changed: false });
    const digest = `localhost:5000/mlrun/mlrun@sha256:${'a'.repeat(64)}`;
    expect(fixed.resolve(digest, '1.9.2', null)).toMatchObject({ changed: false });
  });

  it('exactMlrunPattern stops ^mlrun/* from matching mlrunfoo/x', () => {
    expect(resolver('E').resolve('mlrunfoo/x', null, null)).toMatchObject({ image: 'vendor.local/mlrunfoo/x' });
    expect(resolver('E', {}, { corrections: { exactMlrunPattern: true } }).resolve('mlrunfoo/x', null, null)).toMatchObject({
      changed: false,
    });
  });

  it('kfpPythonSuffix switches the 1.9/1.10-rc exemption (family G)', () => {
    const img = 'mlrun/mlrun-kfp';
    const f = (mode: ResolverOptions['kfpPythonSuffix'], cv: string) =>
      resolver('F', { imagesRegistry: '' }, { kfpPythonSuffix: mode }).resolve(img, cv, '3.9.18');
    expect(f('auto', '1.10.0')).toMatchObject({ image: 'mlrun/mlrun-kfp:1.10.0' });
    expect(f('always', '1.10.0')).toMatchObject({ image: 'mlrun/mlrun-kfp:1.10.0-py39' });
    expect(f('client-at-least-1.10', '1.10.0')).toMatchObject({ image: 'mlrun/mlrun-kfp:1.10.0-py39' });
    expect(f('client-at-least-1.10', '1.9.2')).toMatchObject({ image: 'mlrun/mlrun-kfp:1.9.2' });
    expect(f('exempt', '1.10.0')).toMatchObject({ image: 'mlrun/mlrun-kfp:1.10.0' });
  });
});

describe('idempotency (property)', () => {
  // With the default, anchored patterns, resolving MLRun's own output changes nothing (spec §6.1): MLRun-created
  // pods arrive already enriched and must pass the webhook untouched.
  const component = fc.stringMatching(/^[a-z0-9]{1,8}([._-][a-z0-9]{1,6})?$/);
  const image = fc.oneof(
    fc.constantFrom('mlrun/mlrun', 'mlrun/mlrun-gpu', 'mlrun/ml-base', 'mlrun/mlrun-kfp', 'python', 'busybox', 'mlrunfoo/x'),
    fc.tuple(fc.constantFrom('', 'quay.io/', 'localhost:5000/', 'registry.local/team/'), fc.constantFrom('mlrun/', 'myorg/', ''), component).map(
      ([r, o, n]) => `${r}${o}${n}`,
    ),
    fc.tuple(component, fc.constantFrom(':1.9.2', ':latest', '', '@sha256:' + 'b'.repeat(64))).map(([n, t]) => `mlrun/${n}${t}`),
  );
  const version = fc.constantFrom(null, '', '1.2.3', '1.4.1', '1.6.4', '1.8.0', '1.9.2', '1.10.0', '1.10.0-rc18', '0.0.0+unstable', '1.11.0');
  const python = fc.constantFrom(null, '', '3.7.16', '3.9.18', '3.11.7', '3.9');
  const family = fc.constantFrom<FamilyId>('A', 'B', 'C', 'D', 'E', 'F');
  const registry = fc.constantFrom('', 'registry.local/', 'quay.io', 'registry.local:5000/mlrun-mirror');

  it('resolve(resolve(x)) === resolve(x) with the default patterns', () => {
    fc.assert(
      fc.property(family, image, version, python, version, registry, registry, (fam, img, cv, py, sv, reg, vreg) => {
        const r = resolver(fam, { serverVersion: sv, imagesRegistry: reg, vendorImagesRegistry: vreg });
        const once = r.resolve(img, cv, py);
        if (!once.ok) return;
        const twice = r.resolve(once.image, cv, py);
        expect(twice.ok && twice.image).toBe(once.image);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('pattern errors', () => {
  it('an invalid pattern outranks an untranslatable one, as MLRun raises re.error for it', () => {
    const r = resolver('E', { imagesToEnrichRegistry: '(?>a),[unclosed' });
    expect(r.configError?.kind).toBe('re.error');
    const u = resolver('E', { imagesToEnrichRegistry: '^mlrun/*,(?>a)' });
    expect(u.configError?.kind).toBe('unsupported');
  });
});

describe(`total matcher size across the enrich patterns (${MAX_TOTAL_PROGRAM_SIZE} instructions)`, () => {
  const sizeOf = (pattern: string): number => {
    const c = compilePythonMatcher(pattern);
    if (!c.ok) throw new Error(c.reason);
    return c.programSize;
  };
  // Distinct patterns of one size each (the count differs per pattern only in the literal after the repeat).
  const big = (i: number) => `^x{300}${String.fromCharCode(97 + (i % 26))}`;
  const each = sizeOf(big(0));
  const fit = Math.floor(MAX_TOTAL_PROGRAM_SIZE / each);

  it('as many patterns as fit together compile; one more is refused as unsupported, naming both numbers', () => {
    expect(each).toBeGreaterThan(100);
    const ok = resolver('E', { imagesToEnrichRegistry: Array.from({ length: fit }, (_, i) => big(i)).join(',') });
    expect(ok.configError).toBeUndefined();
    expect(ok.resolve(`${'x'.repeat(300)}a`, null, null)).toMatchObject({ ok: true, image: `vendor.local/${'x'.repeat(300)}a` });

    const over = resolver('E', { imagesToEnrichRegistry: Array.from({ length: fit + 1 }, (_, i) => big(i)).join(',') });
    expect(over.configError?.kind).toBe('unsupported');
    expect(over.configError?.reason).toContain(`need ${(fit + 1) * each} matcher instructions together, more than the ${MAX_TOTAL_PROGRAM_SIZE}`);
    // Every image then gets MLRun's "would raise" answer, never a partial pattern list.
    expect(over.resolve('mlrun/mlrun', null, null)).toMatchObject({ ok: false, error: 'unsupported' });
  });

  it('the total is counted over the patterns that compiled: many small patterns are fine, and re.error still outranks it', () => {
    const small = Array.from({ length: 200 }, (_, i) => `^repo${i}/`);
    expect(small.reduce((n, p) => n + sizeOf(p), 0)).toBeLessThanOrEqual(MAX_TOTAL_PROGRAM_SIZE);
    expect(resolver('E', { imagesToEnrichRegistry: small.join(',') }).configError).toBeUndefined();
    const both = resolver('E', { imagesToEnrichRegistry: [...Array.from({ length: fit + 1 }, (_, i) => big(i)), '[unclosed'].join(',') });
    expect(both.configError?.kind).toBe('re.error');
  });

  it("MLRun's default pattern sets are far below the cap", () => {
    for (const family of Object.keys(FAMILIES) as FamilyId[]) {
      const patterns = FAMILIES[family].defaultEnrichPatterns.split(',');
      expect(patterns.reduce((n, p) => n + sizeOf(p), 0)).toBeLessThan(MAX_TOTAL_PROGRAM_SIZE / 10);
    }
  });
});

describe('pyStrip: Python str.strip(), in one pass', () => {
  // CPython is the oracle for the whitespace set: every code point is asked, so a missing or extra one fails.
  const py = spawnSync('python3', ['-c', 'import sys; sys.stdout.write(",".join(str(i) for i in range(0x110000) if chr(i).isspace()))'], {
    encoding: 'utf8',
  });
  const pythonSet = py.status === 0 ? new Set(py.stdout.split(',').map(Number)) : undefined;
  it.skipIf(!pythonSet)('agrees with CPython str.isspace() on every BMP code point (skipped: no python3)', () => {
    const ours: number[] = [];
    for (let c = 0; c <= 0xffff; c++) if (isPySpace(c)) ours.push(c);
    // Astral code points are never whitespace in Python: the strip looks at UTF-16 units, so none can match.
    expect(ours).toEqual([...pythonSet!].sort((a, b) => a - b));
  });

  it.each([
    ['\t mlrun/mlrun \n\x1f', 'mlrun/mlrun'],
    ['\u3000\u2028a b\u0085', 'a b'],
    ['\ufeffx', '\ufeffx'], // Python does not strip U+FEFF; JS trim() would
    ['   ', ''],
    ['', ''],
    ['a', 'a'],
  ])('%j → %j', (input, out) => expect(pyStrip(input)).toBe(out));

  it('keeps inner whitespace and returns the same string when there is nothing to strip', () => {
    const s = 'mlrun/mlrun';
    expect(pyStrip(s)).toBe(s);
    expect(pyStrip(`a${' '.repeat(1000)}b`)).toBe(`a${' '.repeat(1000)}b`);
  });

  it('strips 2 MB of whitespace around one character without a quadratic blow-up (generous bound)', () => {
    // The attack image: "a" + spaces + "b" took 8 s at 120,000 spaces with the old regex; a linear scan takes
    // milliseconds for 2,000,000. The bound below is 100x that, so a slow machine cannot flake it, while the old
    // quadratic code (hours at this size) cannot pass it.
    const spaces = ' '.repeat(1_000_000);
    const started = performance.now();
    expect(pyStrip(`${spaces}x${spaces}`)).toBe('x');
    expect(pyStrip(`a${spaces}${spaces}b`).length).toBe(2_000_002);
    expect(performance.now() - started).toBeLessThan(10_000);
  });
});

describe('engine memos are bounded', () => {
  it('never keeps a result or suffix whose key is longer than the cap, and stays within maxEntries', () => {
    const r = resolver('E');
    const longVersion = `1.9.${'9'.repeat(Math.max(SUFFIX_MEMO_LIMITS.maxKeyLength, RESULT_MEMO_LIMITS.maxKeyLength))}`;
    const a = r.resolve('mlrun/mlrun', longVersion, '3.9.18');
    const b = r.resolve('mlrun/mlrun', longVersion, '3.9.18');
    expect(b).toEqual(a); // computed twice, same answer
    expect(r.memoSizes()).toEqual({ results: 0, suffixes: 0 });
    const longImage = `mlrun/${'x'.repeat(RESULT_MEMO_LIMITS.maxKeyLength)}`;
    r.resolve(longImage, '1.9.2', '3.9.18');
    expect(r.memoSizes().results).toBe(0);
    expect(r.memoSizes().suffixes).toBe(1); // short versions: the suffix is kept
    for (let i = 0; i <= RESULT_MEMO_LIMITS.maxEntries; i++) r.resolve(`mlrun/m${i}`, '1.9.2', null);
    for (let i = 0; i <= SUFFIX_MEMO_LIMITS.maxEntries; i++) r.resolve('mlrun/mlrun', `1.9.${i}`, '3.9.18');
    expect(r.memoSizes().results).toBeLessThanOrEqual(RESULT_MEMO_LIMITS.maxEntries);
    expect(r.memoSizes().suffixes).toBeLessThanOrEqual(SUFFIX_MEMO_LIMITS.maxEntries);
  });
});

describe('an MLRun image left untagged because of its registry port', () => {
  it.each(['registry.datanode.local:5000/mlrun/mlrun', '[::1]/mlrun/mlrun'])('%s: the reason names the correction', (image) => {
    const r = resolver('E', { imagesRegistry: '' }).resolve(image, '1.9.2', null);
    expect(r).toMatchObject({ ok: true, changed: false });
    if (r.ok) expect(r.reasons.join('\n')).toContain(`set ${REGISTRY_PORT_CORRECTION}: true`);
    expect(REGISTRY_PORT_CORRECTION).toBe('webhook.corrections.tagImagesWithRegistryPort');
  });

  it('also when the image is prefixed, and not once the correction is on or the image has a real tag', () => {
    const prefixed = resolver('E', { imagesToEnrichRegistry: '.*' }).resolve('reg.local:5000/mlrun/mlrun', '1.9.2', null);
    expect(prefixed).toMatchObject({ ok: true, changed: true, actions: ['prefix'] });
    if (prefixed.ok) expect(prefixed.reasons.join('\n')).toContain(REGISTRY_PORT_CORRECTION);
    const fixed = resolver('E', {}, { corrections: { tagImagesWithRegistryPort: true } }).resolve('reg.local:5000/mlrun/mlrun', '1.9.2', null);
    expect(fixed.ok && fixed.reasons.join('\n')).not.toContain(REGISTRY_PORT_CORRECTION);
    const tagged = resolver('E').resolve('reg.local:5000/mlrun/mlrun:1.8.0', '1.9.2', null);
    expect(tagged.ok && tagged.reasons).toEqual(['unchanged: already tagged (or has a ":")']);
  });
});
