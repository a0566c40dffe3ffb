import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  EMBEDDED_DEFAULT_CONFIG,
  loadConfig,
  loadConfigText,
  readEnvOverrides,
  validateConfig,
  type LoadResult,
} from '../../src/config/load.js';
import type { ConfigProblem } from '../../src/config/runtime.js';
import { EXPECTED_DEFAULT_CONFIG } from '../helpers/defaults.js';

const tmp = mkdtempSync(join(tmpdir(), 'mlrun-image-webhook-load-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
function file(text: string, ext = 'yaml'): string {
  const p = join(tmp, `c${n++}.${ext}`);
  writeFileSync(p, text);
  return p;
}

function problemsOf(r: { ok: boolean; problems?: ConfigProblem[] }): ConfigProblem[] {
  expect(r.ok).toBe(false);
  return r.problems ?? [];
}

function okRuntime(r: LoadResult) {
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r.problems)}`);
  return r.runtime;
}

function resolveImage(r: LoadResult, image: string): string {
  const res = okRuntime(r).resolver.resolve(image, null, null);
  if (!res.ok) throw new Error(`resolve failed: ${res.reason}`);
  return res.image;
}

describe('validateConfig: defaults', () => {
  it('fills every key of an empty config', () => {
    const r = validateConfig({});
    expect(r).toEqual({ ok: true, config: EXPECTED_DEFAULT_CONFIG });
  });

  it('refuses null/undefined (an empty YAML file): the chart always renders a config, an empty one is a failed write', () => {
    for (const empty of [null, undefined]) {
      const [p, ...rest] = problemsOf(validateConfig(empty));
      expect(rest).toEqual([]);
      expect(p!.key).toBe('(root)');
      expect(p!.reason).toMatch(/config is empty .*failed write/);
    }
  });

  it('treats an empty section (YAML "mlrun:" with nothing below) as {}', () => {
    expect(validateConfig({ mlrun: null, webhook: { corrections: null }, log: null })).toEqual({ ok: true, config: EXPECTED_DEFAULT_CONFIG });
  });

  it('keeps given values and defaults the rest, section by section', () => {
    const r = validateConfig({ mlrun: { imagesTag: '1.8.0' }, webhook: { corrections: { exactMlrunPattern: true } } });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.mlrun).toEqual({ ...EXPECTED_DEFAULT_CONFIG.mlrun, imagesTag: '1.8.0' });
    expect(r.config.webhook.corrections).toEqual({ tagImagesWithRegistryPort: false, exactMlrunPattern: true });
    expect(r.config.webhook.mode).toBe('enforce');
    expect(r.config.log.level).toBe('info');
  });

  it('keeps an explicit null imagesToEnrichRegistry (version default) and "" (no prefixing)', () => {
    const a = validateConfig({ mlrun: { imagesToEnrichRegistry: null } });
    const b = validateConfig({ mlrun: { imagesToEnrichRegistry: '' } });
    expect(a.ok && a.config.mlrun.imagesToEnrichRegistry).toBeNull();
    expect(b.ok && b.config.mlrun.imagesToEnrichRegistry).toBe('');
  });

  it('does not mutate its input', () => {
    const input = { mlrun: { imagesTag: 'x' } };
    validateConfig(input);
    expect(input).toEqual({ mlrun: { imagesTag: 'x' } });
  });
});

describe('validateConfig: every key refused with its dotted key and a readable reason', () => {
  const cases: [string, unknown, string, RegExp][] = [
    ['version as a number', { mlrun: { version: 1.1 } }, 'mlrun.version', /must be a string, got the number 1\.1.*quote/],
    ['version not a version', { mlrun: { version: 'x y' } }, 'mlrun.version', /must be an MLRun version such as 1\.9\.2/],
    ['version empty', { mlrun: { version: '' } }, 'mlrun.version', /must not be empty/],
    ['compat', { mlrun: { compat: 3 } }, 'mlrun.compat', /must be a string, got the number 3/],
    ['compat too long', { mlrun: { compat: '1'.repeat(200) } }, 'mlrun.compat', /at most 128 characters, got 200/],
    ['imagesTag', { mlrun: { imagesTag: 1.6 } }, 'mlrun.imagesTag', /must be a string, got the number 1\.6/],
    ['imagesRegistry', { mlrun: { imagesRegistry: true } }, 'mlrun.imagesRegistry', /must be a string, got the boolean true/],
    ['imagesRegistry too long', { mlrun: { imagesRegistry: 'r'.repeat(256) } }, 'mlrun.imagesRegistry', /at most 255/],
    ['vendorImagesRegistry', { mlrun: { vendorImagesRegistry: [] } }, 'mlrun.vendorImagesRegistry', /must be a string, got a list/],
    ['imagesToEnrichRegistry', { mlrun: { imagesToEnrichRegistry: 3 } }, 'mlrun.imagesToEnrichRegistry', /must be a string or null/],
    [
      'kfpPythonSuffix',
      { mlrun: { kfpPythonSuffix: 'no' } },
      'mlrun.kfpPythonSuffix',
      /must be one of auto, exempt, always, client-at-least-1\.10, got the string "no"/,
    ],
    ['mode', { webhook: { mode: 'x' } }, 'webhook.mode', /must be one of enforce, report/],
    ['optOutKey empty', { webhook: { optOutKey: '' } }, 'webhook.optOutKey', /must not be empty/],
    ['optOutKey invalid', { webhook: { optOutKey: 'Bad Key!' } }, 'webhook.optOutKey', /Kubernetes label\/annotation key/],
    ['annotationKey invalid', { webhook: { annotationKey: '/x' } }, 'webhook.annotationKey', /Kubernetes label\/annotation key/],
    ['annotationKey type', { webhook: { annotationKey: 5 } }, 'webhook.annotationKey', /must be a string/],
    // The API server refuses these keys, so it would refuse every Pod the webhook patches.
    ['annotationKey name over 63', { webhook: { annotationKey: 'a'.repeat(64) } }, 'webhook.annotationKey', /Kubernetes label\/annotation key/],
    ['annotationKey prefixed name over 63', { webhook: { annotationKey: `example.com/${'a'.repeat(64)}` } }, 'webhook.annotationKey', /Kubernetes label\/annotation key/],
    ['optOutKey DNS label over 63', { webhook: { optOutKey: `${'a'.repeat(64)}.com/x` } }, 'webhook.optOutKey', /Kubernetes label\/annotation key/],
    ['optOutKey prefix over 253', { webhook: { optOutKey: `${Array.from({ length: 5 }, () => 'a'.repeat(60)).join('.')}/x` } }, 'webhook.optOutKey', /prefix before "\/" must be at most 253/],
    [
      'tagImagesWithRegistryPort',
      { webhook: { corrections: { tagImagesWithRegistryPort: 'yes' } } },
      'webhook.corrections.tagImagesWithRegistryPort',
      /must be true or false, got the string "yes"/,
    ],
    [
      'exactMlrunPattern',
      { webhook: { corrections: { exactMlrunPattern: 1 } } },
      'webhook.corrections.exactMlrunPattern',
      /must be true or false, got the number 1/,
    ],
    ['corrections', { webhook: { corrections: 'x' } }, 'webhook.corrections', /must be a mapping/],
    ['log.level', { log: { level: 'verbose' } }, 'log.level', /must be one of fatal, error, warn, info, debug, trace/],
    ['mlrun section', { mlrun: 'x' }, 'mlrun', /must be a mapping .*got the string "x"/],
    ['webhook section', { webhook: [] }, 'webhook', /must be a mapping .*got a list/],
    ['log section', { log: 3 }, 'log', /must be a mapping/],
    ['corrections a list', { webhook: { corrections: [true] } }, 'webhook.corrections', /must be a mapping .*got a list/],
    ['root a list', [1], '(root)', /must be a mapping with keys mlrun, webhook, log, discovery, mirror, policy, got a list/],
    ['root a string', 'hello', '(root)', /got the string "hello"/],
  ];
  it.each(cases)('%s', (_name, input, key, reason) => {
    const problems = problemsOf(validateConfig(input));
    expect(problems).toHaveLength(1);
    expect(problems[0]!.key).toBe(key);
    expect(problems[0]!.reason).toMatch(reason);
  });

  it('reports all problems at once, one per key', () => {
    const problems = problemsOf(
      validateConfig({ mlrun: { imagesTag: 1, version: 2 }, webhook: { mode: 'x', optOutKey: '' }, log: { level: 'x' } }),
    );
    expect(problems.map((p) => p.key).sort()).toEqual(['log.level', 'mlrun.imagesTag', 'mlrun.version', 'webhook.mode', 'webhook.optOutKey']);
  });
});

describe('validateConfig: unknown keys', () => {
  it('at the top level', () => {
    const [p] = problemsOf(validateConfig({ foo: 1 }));
    expect(p).toEqual({ key: 'foo', reason: 'unknown key (allowed: mlrun, webhook, log, discovery, mirror, policy)' });
  });

  it('in a section, listing what is allowed', () => {
    const [p] = problemsOf(validateConfig({ mlrun: { tag: 'x' } }));
    expect(p!.key).toBe('mlrun.tag');
    expect(p!.reason).toMatch(/^unknown key \(allowed: version, compat, imagesTag, imagesRegistry, vendorImagesRegistry, /);
  });

  it('nested', () => {
    const [p] = problemsOf(validateConfig({ webhook: { corrections: { strict: true } } }));
    expect(p!.key).toBe('webhook.corrections.strict');
    expect(p!.reason).toBe('unknown key (allowed: tagImagesWithRegistryPort, exactMlrunPattern)');
  });

  it("suggests the key for MLRun's snake_case and env spellings", () => {
    expect(problemsOf(validateConfig({ mlrun: { images_tag: 'x' } }))[0]!.reason).toMatch(/did you mean mlrun\.imagesTag\?/);
    expect(problemsOf(validateConfig({ mlrun: { MLRUN_IMAGES_TO_ENRICH_REGISTRY: 'x' } }))[0]!.reason).toMatch(
      /did you mean mlrun\.imagesToEnrichRegistry\?/,
    );
  });

  it('suggests the section for a key put at the top level', () => {
    const [p] = problemsOf(validateConfig({ imagesRegistry: 'r/' }));
    expect(p!.key).toBe('imagesRegistry');
    expect(p!.reason).toMatch(/did you mean mlrun\.imagesRegistry\?/);
  });
});

describe('validateConfig: runtime problems (buildRuntime)', () => {
  it('refuses an invalid regex in imagesToEnrichRegistry with its key', () => {
    const problems = problemsOf(validateConfig({ mlrun: { imagesToEnrichRegistry: '^mlrun/*,^python:(3' } }));
    expect(problems).toHaveLength(1);
    expect(problems[0]!.key).toBe('mlrun.imagesToEnrichRegistry');
    expect(problems[0]!.reason).toMatch(/invalid regular expression|pattern not supported/);
    expect(problems[0]!.reason).toContain('^python:(3');
  });

  it('refuses an unsupported MLRun version', () => {
    const [p] = problemsOf(validateConfig({ mlrun: { version: '0.9.0' } }));
    expect(p!.key).toBe('mlrun.version');
    expect(p!.reason).toMatch(/older than 0\.10\.0/);
  });

  it('refuses a version-looking string that is not semver', () => {
    const [p] = problemsOf(validateConfig({ mlrun: { version: '1.6' } }));
    expect(p!.key).toBe('mlrun.version');
    expect(p!.reason).toMatch(/not an MLRun version/);
  });

  it('reports compat under mlrun.compat', () => {
    const [p] = problemsOf(validateConfig({ mlrun: { compat: 'nope' } }));
    expect(p!.key).toBe('mlrun.compat');
  });

  it('takes compat as a label too (v1.4.1, 1.10.0rc18, 1.9): it only picks rules, it is never a tag', () => {
    for (const [compat, family] of [['v1.4.1', 'B'], ['1.10.0rc18', 'F'], ['1.9', 'E']] as const) {
      const r = loadConfigText(`mlrun:\n  version: "1.9.2"\n  compat: "${compat}"\n`, 'test');
      expect(r.ok && r.runtime.resolver.rules.family, compat).toBe(family);
    }
    // The server version becomes the tag: a label there is refused, not rewritten.
    expect(validateConfig({ mlrun: { version: 'v1.9.2' } }).ok).toBe(false);
  });

  it('accepts the versions MLRun reports', () => {
    for (const version of ['1.9.2', '1.10.0-rc18', '1.10.0+a1b2c3d4', '0.0.0+unstable', '1.4.1', '1.2.3']) {
      expect(validateConfig({ mlrun: { version } }).ok, version).toBe(true);
    }
  });
});

describe('validateConfig / loadConfigText never throw', () => {
  it('on arbitrary values', () => {
    fc.assert(
      fc.property(fc.anything(), (v) => {
        const r = validateConfig(v);
        return typeof r.ok === 'boolean';
      }),
      { numRuns: 300 },
    );
  });

  it('on arbitrary config-shaped values', () => {
    const leaf = fc.oneof(fc.string(), fc.constant(null), fc.boolean(), fc.double(), fc.constantFrom('1.9.2', '^mlrun/*', '(', 'enforce'));
    const section = fc.dictionary(
      fc.constantFrom('version', 'compat', 'imagesTag', 'imagesToEnrichRegistry', 'mode', 'level', 'corrections', 'x'),
      leaf,
    );
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom('mlrun', 'webhook', 'log', 'other'), fc.oneof(section, leaf)), (v) => {
        const r = validateConfig(v);
        return r.ok || r.problems.every((p) => p.key.length > 0 && p.reason.length > 0);
      }),
      { numRuns: 300 },
    );
  });

  it('on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        const r = loadConfigText(text, 'x.yaml', {});
        return r.ok || r.problems.length > 0;
      }),
      { numRuns: 300 },
    );
  });
});

describe('EMBEDDED_DEFAULT_CONFIG', () => {
  it('is what loadConfig uses without a file, and builds a runtime', () => {
    const r = loadConfig({});
    expect(r.source).toBe('embedded default');
    const rt = okRuntime(r);
    expect(rt.config.mlrun.version).toBe('1.9.2');
    expect(rt.config.mlrun.imagesRegistry).toBe('datanode-registry.example/');
    expect(rt.config.webhook.mode).toBe('enforce');
    // A local try shows both an auto tag and the registry prefix.
    expect(resolveImage(r, 'mlrun/mlrun')).toBe('datanode-registry.example/mlrun/mlrun:1.9.2');
  });

  it('passes validateConfig', () => {
    expect(validateConfig(EMBEDDED_DEFAULT_CONFIG).ok).toBe(true);
  });

  it('is frozen and not changed by loads with env overrides', () => {
    const before = JSON.stringify(EMBEDDED_DEFAULT_CONFIG);
    loadConfig({ env: { MLRUN_IMAGES_TAG: 'x', MLRUN_IMAGE_WEBHOOK_MODE: 'report' } });
    expect(JSON.stringify(EMBEDDED_DEFAULT_CONFIG)).toBe(before);
    expect(Object.isFrozen(EMBEDDED_DEFAULT_CONFIG.mlrun)).toBe(true);
  });
});

describe('loadConfig: files', () => {
  it('reads YAML', () => {
    const p = file('mlrun:\n  version: "1.8.0"\n  imagesTag: "1.8.0-custom"\nwebhook:\n  mode: report\nlog:\n  level: debug\n');
    const r = loadConfig({ file: p });
    expect(r.source).toBe(p);
    const rt = okRuntime(r);
    expect(rt.config.mlrun.version).toBe('1.8.0');
    expect(rt.config.mlrun.imagesTag).toBe('1.8.0-custom');
    expect(rt.config.webhook.mode).toBe('report');
    expect(rt.config.log.level).toBe('debug');
  });

  it('reads JSON', () => {
    const p = file(JSON.stringify({ mlrun: { version: '1.10.0-rc18', imagesRegistry: 'reg.example' } }), 'json');
    const rt = okRuntime(loadConfig({ file: p }));
    expect(rt.config.mlrun.version).toBe('1.10.0-rc18');
  });

  it('refuses an empty document (empty file, only comments, null), even when env overrides are set', () => {
    for (const text of ['', '\n', '# only a comment\n', '---\n', '~\n', 'null\n']) {
      for (const env of [{}, { MLRUN_IMAGES_TAG: 'x' }]) {
        const problems = problemsOf(loadConfig({ file: file(text), env }));
        expect(problems, JSON.stringify(text)).toEqual([{ key: '(root)', reason: expect.stringMatching(/^the config is empty/) as unknown as string }]);
      }
    }
  });

  it('takes an explicit empty mapping ({}) as the schema defaults, not the embedded default', () => {
    expect(okRuntime(loadConfig({ file: file('{}\n') })).config).toEqual(EXPECTED_DEFAULT_CONFIG);
    expect(okRuntime(loadConfig({ file: file('mlrun: {}\n') })).config).toEqual(EXPECTED_DEFAULT_CONFIG);
  });

  it('reports a YAML syntax error with its line', () => {
    const p = file('mlrun:\n  version: "1.9.2"\n  imagesTag: [1,\nwebhook: {}\n');
    const r = loadConfig({ file: p });
    expect(r.source).toBe(p);
    const problems = problemsOf(r);
    expect(problems[0]!.key).toBe('(file)');
    expect(problems[0]!.reason).toMatch(/syntax error at line \d+, column \d+: /);
  });

  it('reports the line of a compact-mapping error exactly', () => {
    const problems = problemsOf(loadConfig({ file: file('mlrun:\n  version: "1.9.2"\nlog: level: info\n') }));
    expect(problems[0]).toMatchObject({ key: '(file)' });
    expect(problems[0]!.reason).toMatch(/at line 3, column \d+: Nested mappings/);
  });

  it('refuses duplicate keys with the line', () => {
    const problems = problemsOf(loadConfig({ file: file('mlrun:\n  imagesTag: a\n  imagesTag: b\n') }));
    expect(problems[0]!.key).toBe('(file)');
    expect(problems[0]!.reason).toMatch(/line 3.*unique/);
  });

  it('refuses several YAML documents', () => {
    const problems = problemsOf(loadConfig({ file: file('mlrun: {}\n---\nlog: {}\n') }));
    expect(problems[0]!.reason).toMatch(/single YAML document/);
  });

  it('refuses an unresolved alias without throwing', () => {
    const problems = problemsOf(loadConfig({ file: file('mlrun: *nothing\n') }));
    expect(problems[0]!.key).toBe('(file)');
  });

  it('reports an unreadable file', () => {
    const missing = join(tmp, 'does-not-exist.yaml');
    const r = loadConfig({ file: missing });
    expect(r.source).toBe(missing);
    expect(problemsOf(r)).toEqual([{ key: '(file)', reason: expect.stringMatching(/cannot read .*ENOENT/) as unknown as string }]);
    const dir = join(tmp, 'a-directory');
    mkdirSync(dir);
    expect(problemsOf(loadConfig({ file: dir }))[0]!.reason).toMatch(/cannot read .*EISDIR/);
  });

  it('reports schema problems of a file with the dotted key', () => {
    const problems = problemsOf(loadConfig({ file: file('mlrun:\n  imagesTag: 1.10\n') }));
    expect(problems).toEqual([{ key: 'mlrun.imagesTag', reason: expect.stringMatching(/got the number 1\.1\b.*quote/) as unknown as string }]);
  });

  it('refuses a top-level list', () => {
    expect(problemsOf(loadConfig({ file: file('- a\n- b\n') }))[0]!.key).toBe('(root)');
  });

  it('refuses an invalid enrich regex from a file', () => {
    const problems = problemsOf(loadConfig({ file: file('mlrun:\n  imagesToEnrichRegistry: "^mlrun/*,[unclosed"\n') }));
    expect(problems[0]!.key).toBe('mlrun.imagesToEnrichRegistry');
  });

  it('refuses an unsupported version from a file', () => {
    expect(problemsOf(loadConfig({ file: file('mlrun:\n  version: "0.6.0"\n') }))[0]!.key).toBe('mlrun.version');
  });

  it('null imagesToEnrichRegistry in the file means the version default', () => {
    const r = loadConfig({ file: file('mlrun:\n  version: "1.9.2"\n  imagesRegistry: reg.example\n  imagesToEnrichRegistry: null\n') });
    expect(resolveImage(r, 'mlrun/mlrun:1.9.2')).toBe('reg.example/mlrun/mlrun:1.9.2');
  });
});

describe('readEnvOverrides: MLRun read_env (json.loads) behaviour', () => {
  const mlrunValue = (name: string, value: string) => readEnvOverrides({ [name]: value });

  it.each([
    ['1.6.0', '1.6.0'], // invalid JSON ("extra data"): the raw string, as in MLRun
    ['"1.6"', '1.6'], // a JSON string
    ['  "1.6"  ', '1.6'], // json.loads skips surrounding whitespace
    ['"1.6.0-rc1"', '1.6.0-rc1'],
    ['1.6.0-rc1', '1.6.0-rc1'],
    ['', ''], // json.loads("") fails: "" (set but empty)
    ['{"a"', '{"a"'], // broken JSON: raw
    ['latest', 'latest'],
    ['"\\u0031.6"', '1.6'], // JSON escapes are decoded
    ['null', ''], // None: falsy, like ""
  ])('MLRUN_IMAGES_TAG=%j → %j', (value, expected) => {
    const r = mlrunValue('MLRUN_IMAGES_TAG', value);
    expect(r.problems).toEqual([]);
    expect(r.config.mlrun?.imagesTag).toBe(expected);
    expect(r.sources['mlrun.imagesTag']).toBe('MLRUN_IMAGES_TAG');
  });

  it.each([
    ['1.6', /a number 1\.6/],
    ['2', /a number 2/],
    ['1e3', /a number/],
    ['-0', /a number/],
    ['NaN', /a number/], // Python's json.loads accepts NaN/Infinity
    ['-Infinity', /a number/],
    ['true', /a boolean/],
    ['[1, 2]', /a list/],
    ['[NaN]', /a list/],
    ['{"tag": "x"}', /an object/],
  ])('MLRUN_IMAGES_TAG=%s is refused', (value, what) => {
    const r = mlrunValue('MLRUN_IMAGES_TAG', value);
    expect(r.config.mlrun?.imagesTag).toBeUndefined();
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]!.key).toBe('env MLRUN_IMAGES_TAG');
    expect(r.problems[0]!.reason).toMatch(what);
    expect(r.problems[0]!.reason).toMatch(/json\.loads/);
    expect(r.problems[0]!.reason).toMatch(/quote/);
  });

  it('the 1.6 refusal shows how to quote it', () => {
    expect(mlrunValue('MLRUN_IMAGES_TAG', '1.6').problems[0]!.reason).toContain(`MLRUN_IMAGES_TAG='"1.6"'`);
  });

  it('maps each MLRun variable to its key', () => {
    const r = readEnvOverrides({
      MLRUN_IMAGES_REGISTRY: 'reg.example/',
      MLRUN_IMAGES_TAG: '1.9.1',
      MLRUN_VENDOR_IMAGES_REGISTRY: 'vendor.example/',
      MLRUN_IMAGES_TO_ENRICH_REGISTRY: '^mlrun/*',
      MLRUN_VERSION: '1.9.2',
      MLRUN_OTHER: '1',
      UNRELATED: 'x',
    });
    expect(r.problems).toEqual([]);
    expect(r.config).toEqual({
      mlrun: {
        imagesRegistry: 'reg.example/',
        imagesTag: '1.9.1',
        vendorImagesRegistry: 'vendor.example/',
        imagesToEnrichRegistry: '^mlrun/*',
        version: '1.9.2',
      },
    });
  });

  it('unset variables override nothing', () => {
    expect(readEnvOverrides({ MLRUN_IMAGES_TAG: undefined })).toEqual({ config: {}, sources: {}, notes: [], problems: [] });
  });

  it('null for imagesToEnrichRegistry means no prefixing ("" not the version default), with a note', () => {
    const r = mlrunValue('MLRUN_IMAGES_TO_ENRICH_REGISTRY', 'null');
    expect(r.config.mlrun?.imagesToEnrichRegistry).toBe('');
    expect(r.notes.join('\n')).toMatch(/no image is prefixed/);
  });

  it('null for the registries is ""', () => {
    expect(mlrunValue('MLRUN_IMAGES_REGISTRY', 'null').config.mlrun?.imagesRegistry).toBe('');
    expect(mlrunValue('MLRUN_VENDOR_IMAGES_REGISTRY', ' null ').config.mlrun?.vendorImagesRegistry).toBe('');
  });

  it('null for MLRUN_VERSION is refused', () => {
    expect(mlrunValue('MLRUN_VERSION', 'null').problems[0]!.key).toBe('env MLRUN_VERSION');
  });

  it("takes the webhook's own variables literally; empty means unset", () => {
    expect(readEnvOverrides({ MLRUN_IMAGE_WEBHOOK_MODE: 'report', MLRUN_IMAGE_WEBHOOK_LOG_LEVEL: 'debug' }).config).toEqual({
      webhook: { mode: 'report' },
      log: { level: 'debug' },
    });
    expect(readEnvOverrides({ MLRUN_IMAGE_WEBHOOK_MODE: '', MLRUN_IMAGE_WEBHOOK_LOG_LEVEL: '' }).config).toEqual({});
  });
});

describe('loadConfig: env over file over defaults', () => {
  it('env wins over the file; other file keys stay', () => {
    const p = file('mlrun:\n  version: "1.9.2"\n  imagesTag: from-file\n  imagesRegistry: file.example/\n');
    const rt = okRuntime(loadConfig({ file: p, env: { MLRUN_IMAGES_TAG: 'from-env' } }));
    expect(rt.config.mlrun.imagesTag).toBe('from-env');
    expect(rt.config.mlrun.imagesRegistry).toBe('file.example/');
    expect(rt.notes).toContain('mlrun.imagesTag set from env MLRUN_IMAGES_TAG');
  });

  it('env fills a section the file does not have', () => {
    const rt = okRuntime(loadConfig({ file: file('log:\n  level: warn\n'), env: { MLRUN_VERSION: '1.8.0', MLRUN_IMAGE_WEBHOOK_MODE: 'report' } }));
    expect(rt.config.mlrun.version).toBe('1.8.0');
    expect(rt.config.webhook.mode).toBe('report');
    expect(rt.config.log.level).toBe('warn');
  });

  it('env wins over the embedded default', () => {
    const r = loadConfig({ env: { MLRUN_IMAGES_REGISTRY: '"quay.example/"', MLRUN_IMAGES_TAG: '"1.9.1"' } });
    expect(resolveImage(r, 'mlrun/mlrun')).toBe('quay.example/mlrun/mlrun:1.9.1');
  });

  it('MLRUN_IMAGES_TO_ENRICH_REGISTRY=null disables prefixing, as in MLRun', () => {
    const r = loadConfig({ env: { MLRUN_IMAGES_TO_ENRICH_REGISTRY: 'null' } });
    expect(okRuntime(r).config.mlrun.imagesToEnrichRegistry).toBe('');
    expect(resolveImage(r, 'mlrun/mlrun')).toBe('mlrun/mlrun:1.9.2');
  });

  it('a refused env value fails the load, together with file problems', () => {
    const r = loadConfig({ file: file('mlrun:\n  compat: 3\n'), env: { MLRUN_IMAGES_TAG: '1.6' } });
    const keys = problemsOf(r).map((p) => p.key);
    expect(keys).toEqual(['env MLRUN_IMAGES_TAG', 'mlrun.compat']);
    expect(r.source).not.toBe('embedded default');
  });

  it('a bad value from env names the variable', () => {
    const [p] = problemsOf(loadConfig({ env: { MLRUN_IMAGE_WEBHOOK_MODE: 'dry-run' } }));
    expect(p!.key).toBe('webhook.mode');
    expect(p!.reason).toMatch(/must be one of enforce, report.*from env MLRUN_IMAGE_WEBHOOK_MODE/);
    const [q] = problemsOf(loadConfig({ env: { MLRUN_IMAGES_TO_ENRICH_REGISTRY: '(' } }));
    expect(q!.key).toBe('mlrun.imagesToEnrichRegistry');
    expect(q!.reason).toMatch(/from env MLRUN_IMAGES_TO_ENRICH_REGISTRY/);
    const [v] = problemsOf(loadConfig({ env: { MLRUN_VERSION: '0.5.0' } }));
    expect(v!.key).toBe('mlrun.version');
    expect(v!.reason).toMatch(/from env MLRUN_VERSION/);
  });

  it('a file whose mlrun section is not a mapping is reported, not hidden by env', () => {
    const [p] = problemsOf(loadConfig({ file: file('mlrun: yes\n'), env: { MLRUN_IMAGES_TAG: 'x' } }));
    expect(p!.key).toBe('mlrun');
  });
});
