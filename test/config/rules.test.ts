/**
 * Config that can never produce a valid image is refused at load, naming the key and the rule: registries outside the
 * OCI reference grammar (a scheme, whitespace, "//", an upper-case path), tags outside the tag grammar. The same
 * patterns go into values.schema.json (test/chart/config-agreement.test.ts checks helm agrees).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadConfig, validateConfig } from '../../src/config/load.js';
import { rulesForCompat, rulesForVersion } from '../../src/mlrun/rules.js';
import type { ConfigProblem } from '../../src/config/runtime.js';
import { COMPAT_PATTERN, IMAGES_TAG_PATTERN, QUALIFIED_NAME_PATTERN, REGISTRY_PATTERN, VERSION_PATTERN } from '../../src/config/schema.js';

function problemsOf(r: { ok: boolean; problems?: ConfigProblem[] }): ConfigProblem[] {
  expect(r.ok).toBe(false);
  return r.problems ?? [];
}

const REGISTRIES_OK = [
  '',
  'reg',
  'reg/',
  'reg.example',
  'reg.example/',
  'datanode-registry.example:80/',
  'localhost:5000',
  'Reg.Example.COM/mlrun/', // DNS is case-insensitive: only the path must be lower case
  '10.0.0.1:5000/',
  '[::1]:5000/',
  '[fd00::1]/team/',
  'reg.example/team/sub-team/',
  'reg.example/a__b/c.d/e--f/',
  'quay.io/mlrun',
  `${'a'.repeat(63)}.example/`,
];

const REGISTRIES_BAD: [string, RegExp][] = [
  ['https://reg.example/', /must not have a scheme: drop "https:\/\/"/],
  ['http://reg.example', /must not have a scheme: drop "http:\/\/"/],
  ['my registry/', /must not contain whitespace/],
  [' reg.example/', /must not contain whitespace/],
  ['reg.example/\n', /must not contain whitespace/],
  ['reg//', /must not contain "\/\/"/],
  ['reg.example//mlrun/', /must not contain "\/\/"/],
  ['reg.example/Team/', /lower-case path/],
  ['reg.example/team/MLRun', /lower-case path/],
  ['/mlrun/', /must start with the registry host/],
  ['reg.example:port/', /must be a registry host such as/],
  ['reg.example:123456/', /must be a registry host such as/],
  ['-reg.example/', /must be a registry host such as/],
  ['reg..example/', /must be a registry host such as/],
  ['reg_example/', /must be a registry host such as/],
  ['reg.example/team_/', /must be a registry host such as/],
  ['reg.example/-team/', /must be a registry host such as/],
  [`${'a'.repeat(64)}.example/`, /must be a registry host such as/],
  ['reg.example/a:b/', /must be a registry host such as/],
  ['[::1/', /must be a registry host such as/],
  ['reg.example@sha256/', /must be a registry host such as/],
];

const TAGS_OK = ['', '1.9.2', 'latest', '1.10.0-rc18', '_x', 'A.b-C_d', 'v1.2.3', '1'.repeat(128)];
const TAGS_BAD = ['bad tag!', '.hidden', '-rc1', '1.9.2+build', 'x/y', 'x:y', ' 1.9.2', '1.9.2\n', 'é', '1'.repeat(129)];

describe('mlrun.imagesRegistry and mlrun.vendorImagesRegistry: a registry host, optional port and lower-case path', () => {
  it.each(REGISTRIES_OK)('accepts %j', (registry) => {
    for (const key of ['imagesRegistry', 'vendorImagesRegistry']) {
      const r = validateConfig({ mlrun: { [key]: registry } });
      expect(r.ok ? [] : r.problems).toEqual([]);
    }
  });

  it.each(REGISTRIES_BAD)('refuses %j naming the key and the rule', (registry, rule) => {
    for (const key of ['imagesRegistry', 'vendorImagesRegistry']) {
      const problems = problemsOf(validateConfig({ mlrun: { [key]: registry } }));
      expect(problems).toHaveLength(1);
      expect(problems[0]!.key).toBe(`mlrun.${key}`);
      expect(problems[0]!.reason).toMatch(rule);
      expect(problems[0]!.reason).toContain(`got the string ${JSON.stringify(registry)}`);
    }
  });

  it('a missing trailing "/" is added when prefixing, as MLRun does', () => {
    const r = loadConfig({ env: { MLRUN_IMAGES_REGISTRY: 'reg.example:5000/team' } });
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    const res = r.runtime.resolver.resolve('mlrun/mlrun', null, null);
    expect(res.ok && res.image).toBe('reg.example:5000/team/mlrun/mlrun:1.9.2');
  });
});

describe('mlrun.imagesTag: the tag grammar', () => {
  it.each(TAGS_OK)('accepts %j', (tag) => {
    expect(validateConfig({ mlrun: { imagesTag: tag } }).ok).toBe(true);
  });

  it.each(TAGS_BAD)('refuses %j', (tag) => {
    const problems = problemsOf(validateConfig({ mlrun: { imagesTag: tag } }));
    expect(problems).toHaveLength(1);
    expect(problems[0]!.key).toBe('mlrun.imagesTag');
    expect(problems[0]!.reason).toMatch(tag.length > 128 ? /at most 128 characters/ : /must be an image tag: letters, digits/);
  });
});

describe('MLRUN_* env overrides follow the same rules (merged before validation)', () => {
  it.each<[Record<string, string>, string, RegExp]>([
    [{ MLRUN_IMAGES_REGISTRY: 'https://reg.example/' }, 'mlrun.imagesRegistry', /drop "https:\/\/".*\(value from env MLRUN_IMAGES_REGISTRY\)$/],
    [{ MLRUN_VENDOR_IMAGES_REGISTRY: '"reg//"' }, 'mlrun.vendorImagesRegistry', /"\/\/".*\(value from env MLRUN_VENDOR_IMAGES_REGISTRY\)$/],
    [{ MLRUN_IMAGES_TAG: 'bad tag!' }, 'mlrun.imagesTag', /must be an image tag.*\(value from env MLRUN_IMAGES_TAG\)$/],
  ])('%j', (env, key, reason) => {
    const problems = problemsOf(loadConfig({ env }));
    expect(problems).toEqual([{ key, reason: expect.stringMatching(reason) as unknown as string }]);
  });

  it('a JSON null registry is "" (no prefix) and accepted', () => {
    expect(loadConfig({ env: { MLRUN_IMAGES_REGISTRY: 'null' } }).ok).toBe(true);
  });
});

describe('the patterns also run in Go (values.schema.json is checked by helm with RE2)', () => {
  it.each([REGISTRY_PATTERN, IMAGES_TAG_PATTERN, VERSION_PATTERN, COMPAT_PATTERN, QUALIFIED_NAME_PATTERN])('%s has no lookaround, backreference or lazy trick', (p) => {
    expect(p).not.toMatch(/\(\?[=!<]/); // lookarounds
    expect(p).not.toMatch(/\\[1-9]/); // backreferences
    expect(p).not.toMatch(/\\[pPbB]/); // Unicode classes / word boundaries differ between engines
    // Counted repetitions stay within RE2's limit of 1000.
    for (const m of p.matchAll(/\{(\d+)(?:,(\d+))?\}/g)) expect(Number(m[2] ?? m[1])).toBeLessThanOrEqual(1000);
  });
});

describe('mlrun.version: the schema pattern is exactly what the rules accept', () => {
  const OK = ['1.9.2', '1.10.0-rc18', '1.10.0+a1b2c3d4', '0.0.0+unstable', '0.0.0-dev', 'unstable', '0.10.0', '0.10.0+b1', '0.10.1-rc1', '0.11.0-rc1', '2.0.0', '1.4.1'];
  const BAD: [string, RegExp][] = [
    ['1.6', /not an MLRun version/],
    ['v1.9.2', /not an MLRun version/],
    ['01.9.2', /not an MLRun version/],
    ['1.9.2-01', /not an MLRun version/],
    ['0.9.0', /older than 0\.10\.0/],
    ['0.10.0-rc1', /older than 0\.10\.0/],
    ['0.0.0', /older than 0\.10\.0/],
    ['1.9.2 ', /must be an MLRun version such as 1\.9\.2/],
  ];
  it.each(OK)('accepts %j', (version) => {
    const r = validateConfig({ mlrun: { version } });
    expect(r.ok ? [] : r.problems).toEqual([]);
  });
  it.each(BAD)('refuses %j with the rules\' reason', (version, reason) => {
    const problems = problemsOf(validateConfig({ mlrun: { version } }));
    expect(problems).toHaveLength(1);
    expect(problems[0]!.key).toBe('mlrun.version');
    expect(problems[0]!.reason).toMatch(/^must be an MLRun version such as 1\.9\.2/);
    expect(problems[0]!.reason).toMatch(reason);
  });
});

describe('mlrun.compat: the schema pattern accepts only labels the rules take', () => {
  const OK = ['', '1.9.2', 'v1.9.2', 'V1.4.1', '1.9', '0.10', '1.10.0rc18', '1.10.0.rc18', '1.10.0-RC.18', '1.10.0c18', '1.10.0-rc18', '0.0.0+unstable', 'unstable', '0.11.0a1', '1.6.0-beta3', '2.0'];
  const BAD = [' 1.9.2', '1.9.2 ', 'nope', 'v', 'vunstable', '1', '0.9', '0.9.0', '0.10.0rc1', '01.9', '1.09', '1.10.0rc', '1.10.0-rc18\n', '\u00a01.9.2'];
  it.each(OK)('accepts %j', (compat) => {
    const r = validateConfig({ mlrun: { compat } });
    expect(r.ok ? [] : r.problems).toEqual([]);
  });
  it.each(BAD)('refuses %j under mlrun.compat', (compat) => {
    const problems = problemsOf(validateConfig({ mlrun: { compat } }));
    expect(problems.map((p) => p.key)).toEqual(['mlrun.compat']);
    expect(problems[0]!.reason).toMatch(/^must be empty or an MLRun version label such as 1\.9\.2/);
  });
});

describe('the version patterns are the rules\' own acceptance, spelled for RE2', () => {
  // Strings over the characters that matter, biased towards version shapes.
  const part = fc.oneof(fc.constantFrom('0', '1', '9', '10', '11', '01', '123'), fc.stringMatching(/^[0-9]{1,3}$/));
  const label = fc.oneof(
    fc
      .tuple(fc.constantFrom('', 'v', 'V'), part, part, fc.option(part), fc.constantFrom('', '-rc1', 'rc18', '.RC.2', '-0', '-01', '-a.b', 'a1', '+b1', '-rc1+b', 'c3', '-'))
      .map(([v, a, b, c, tail]) => `${v}${a}.${b}${c === null ? '' : `.${c}`}${tail}`),
    fc.array(fc.constantFrom(...'0123456789.+-vVrcaubnstle'.split('')), { maxLength: 12 }).map((a) => a.join('')),
    fc.constantFrom('unstable', '0.0.0+unstable', '0.0.0-', '0.0.0+'),
  );

  it('mlrun.version: the pattern matches exactly the ASCII versions rulesForVersion takes', () => {
    const re = new RegExp(VERSION_PATTERN);
    fc.assert(
      fc.property(label, (s) => {
        expect(re.test(s), s).toBe(rulesForVersion(s).ok);
      }),
      { numRuns: 3000 },
    );
  });

  it('mlrun.compat: every label the pattern matches is one rulesForCompat takes (never a refusal after the schema)', () => {
    const re = new RegExp(COMPAT_PATTERN);
    let matched = 0;
    fc.assert(
      fc.property(label, (s) => {
        if (s === '' || !re.test(s)) return;
        matched++;
        expect(rulesForCompat(s).ok, s).toBe(true);
      }),
      { numRuns: 3000 },
    );
    expect(matched).toBeGreaterThan(300);
  });

  it('mlrun.compat: the labels rulesForCompat takes without whitespace match the pattern', () => {
    const re = new RegExp(COMPAT_PATTERN);
    fc.assert(
      fc.property(label, (s) => {
        if (s !== s.trim() || !rulesForCompat(s).ok) return;
        expect(re.test(s), s).toBe(true);
      }),
      // Found by this property once: a PyPI pre-release of 0.0.0 is a development build to the rules.
      { numRuns: 3000, examples: [['0.0.0.RC.2'], ['v0.0.0rc1'], ['0.0.0_a3']] },
    );
  });
});
