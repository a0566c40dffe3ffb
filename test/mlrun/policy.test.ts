import { describe, expect, it } from 'vitest';
import { compileResolver } from '../../src/mlrun/engine.js';
import { pinAction, pinMessage, pinReport, pinVerdict, type PinContext, type PinTagsMode, type PinVerdict } from '../../src/mlrun/policy.js';
import { rulesForVersion } from '../../src/mlrun/rules.js';

function ctx(mlrunVersion: string | null, python: string | null = '3.9.18', allow: string[] = []): PinContext {
  const r = rulesForVersion('1.9.2');
  if (!r.ok) throw new Error(r.reason);
  const unprefixed = compileResolver(
    { imagesTag: '', imagesRegistry: '', vendorImagesRegistry: '', imagesToEnrichRegistry: r.rules.defaultEnrichPatterns, serverVersion: '1.9.2' },
    { rules: r.rules },
  );
  return {
    mlrunVersion,
    allow: allow.map((source) => ({ source, match: (s: string) => new RegExp(source).test(s) })),
    unprefixed,
    clientPythonVersion: python,
  };
}

/** kind + the suggestion, as one readable string per row. */
function brief(v: PinVerdict): string {
  switch (v.kind) {
    case 'floating':
      return `floating/${v.why} -> ${v.suggestion.exact ? v.suggestion.image : v.suggestion.template}`;
    case 'off-pin':
      return `off-pin ${v.version} -> ${v.suggestion.exact ? v.suggestion.image : ''}`;
    case 'allowed':
      return `allowed by ${v.pattern}`;
    default:
      return v.kind;
  }
}

describe('pinVerdict: every image shape, with a namespace pinned to MLRun 1.9.2 (py3.9 client)', () => {
  it.each([
    // MLRun images
    ['mlrun/mlrun', 'floating/untagged -> mlrun/mlrun:1.9.2-py39'],
    ['mlrun/mlrun:1.9.2', 'pinned'],
    ['mlrun/mlrun:1.9.2-py39', 'pinned'],
    ['mlrun/mlrun:1.10.0', 'off-pin 1.10.0 -> mlrun/mlrun:1.9.2-py39'],
    ['mlrun/mlrun:1.10.0-py39', 'off-pin 1.10.0 -> mlrun/mlrun:1.9.2-py39'],
    ['mlrun/mlrun:1.10.0-rc18', 'off-pin 1.10.0-rc18 -> mlrun/mlrun:1.9.2-py39'],
    ['mlrun/mlrun@sha256:' + 'a'.repeat(64), 'pinned'],
    ['mlrun/mlrun:1.8.0@sha256:' + 'a'.repeat(64), 'off-pin 1.8.0 -> mlrun/mlrun:1.9.2-py39'],
    ['mlrun/mlrun:latest', 'floating/moving-tag -> mlrun/mlrun:1.9.2-py39'],
    ['mlrun/mlrun:unstable-py39', 'floating/moving-tag -> mlrun/mlrun:1.9.2-py39'],
    ['mlrun/mlrun:my-build', 'pinned'],
    // mlrun-kfp keeps MLRun's 1.9 exemption from the python suffix.
    ['mlrun/mlrun-kfp:1.10.0', 'off-pin 1.10.0 -> mlrun/mlrun-kfp:1.9.2'],
    // registry-prefixed and registry with a port: the user's registry is kept; a port is not a tag.
    ['datanode.local/mlrun/mlrun:1.10.0', 'off-pin 1.10.0 -> datanode.local/mlrun/mlrun:1.9.2-py39'],
    ['localhost:5000/mlrun/mlrun', 'floating/untagged -> localhost:5000/mlrun/mlrun:1.9.2-py39'],
    ['localhost:5000/mlrun/mlrun:1.9.2', 'pinned'],
    ['quay.io/mlrun/mlrun-gpu', 'floating/untagged -> quay.io/mlrun/mlrun-gpu:1.9.2-py39'],
    // external images
    ['nginx', 'floating/untagged -> nginx:<version>'],
    ['nginx:latest', 'floating/moving-tag -> nginx:<version>'],
    ['nginx:1.27', 'pinned'],
    ['docker.io/library/nginx:1.27@sha256:' + 'b'.repeat(64), 'pinned'],
    ['localhost:5000/team/app', 'floating/untagged -> localhost:5000/team/app:<version>'],
    // a version-looking tag on a non-MLRun image is the user's business
    ['python:3.9', 'pinned'],
    ['not a reference', 'not-a-reference'],
  ])('%s → %s', (image, expected) => {
    expect(brief(pinVerdict(image, ctx('1.9.2')))).toBe(expected);
  });

  it('without a pinned version, MLRun images are only checked for floating tags (no exact suggestion)', () => {
    expect(brief(pinVerdict('mlrun/mlrun:1.10.0', ctx(null)))).toBe('pinned');
    expect(brief(pinVerdict('mlrun/mlrun', ctx(null)))).toBe('floating/untagged -> mlrun/mlrun:<version>');
  });

  it('a py3.11 client gets the unsuffixed pinned tag; the suggestion follows the namespace engine rules', () => {
    expect(brief(pinVerdict('mlrun/mlrun', ctx('1.9.2', '3.11.7')))).toBe('floating/untagged -> mlrun/mlrun:1.9.2');
    expect(brief(pinVerdict('mlrun/ml-base:1.9.2', ctx('1.10.0', '3.11.7')))).toBe('off-pin 1.9.2 -> mlrun/ml-base:1.10.0');
  });

  it('the operator allow list exempts matching images (first match named)', () => {
    expect(brief(pinVerdict('nginx', ctx('1.9.2', null, ['^busybox', '^nginx$'])))).toBe('allowed by ^nginx$');
  });
});

describe('pinAction', () => {
  const untaggedMlrun = pinVerdict('mlrun/mlrun', ctx('1.9.2'));
  const untaggedExternal = pinVerdict('nginx', ctx('1.9.2'));
  const pinned = pinVerdict('nginx:1.27', ctx('1.9.2'));
  it.each([
    ['off', untaggedMlrun, false, 'none'],
    ['warn', untaggedMlrun, false, 'warn'],
    ['deny', untaggedMlrun, false, 'deny'],
    ['rewrite', untaggedMlrun, false, 'rewrite'],
    // nothing exact to write for nginx: rewrite falls back to deny
    ['rewrite', untaggedExternal, false, 'deny'],
    // kubectl debug is never denied
    ['deny', untaggedExternal, true, 'warn'],
    ['rewrite', untaggedExternal, true, 'warn'],
    ['rewrite', untaggedMlrun, true, 'rewrite'],
    ['deny', pinned, false, 'none'],
  ] as const)('%s on %o (ephemeral %s) → %s', (mode, verdict, ephemeral, action) => {
    expect(pinAction(verdict, mode as PinTagsMode, ephemeral)).toBe(action);
  });
});

describe('pinMessage names the container and exactly what to write', () => {
  it.each([
    ['mlrun/mlrun:1.10.0', 'container "main": image "mlrun/mlrun:1.10.0" is MLRun 1.10.0, but this namespace is pinned to MLRun 1.9.2; use image "mlrun/mlrun:1.9.2-py39"'],
    ['mlrun/mlrun', 'container "main": image "mlrun/mlrun" has no tag (the kubelet pulls "latest"); use image "mlrun/mlrun:1.9.2-py39"'],
    ['nginx', 'container "main": image "nginx" has no tag (the kubelet pulls "latest"); pin a version, e.g. "nginx:<version>" or a digest'],
    ['nginx:latest', 'container "main": image "nginx:latest" uses the moving tag "latest"; pin a version, e.g. "nginx:<version>" or a digest'],
  ])('%s', (image, message) => {
    expect(pinMessage('main', image, pinVerdict(image, ctx('1.9.2')))).toBe(message);
  });
});

describe('pinReport: the decision in plain values (CLI resolve, logs)', () => {
  it.each([
    ['mlrun/mlrun:1.10.0', 'rewrite', false, { verdict: 'off-pin', action: 'rewrite', suggestion: 'mlrun/mlrun:1.9.2-py39', exact: true }],
    ['nginx', 'rewrite', false, { verdict: 'floating', action: 'deny', suggestion: 'nginx:<version>', exact: false }],
    ['nginx', 'deny', true, { verdict: 'floating', action: 'warn', suggestion: 'nginx:<version>', exact: false }],
    ['nginx:1.27', 'deny', false, { verdict: 'pinned', action: 'none', message: '' }],
    ['mlrun/mlrun', 'off', false, { verdict: 'floating', action: 'none', suggestion: 'mlrun/mlrun:1.9.2-py39', exact: true }],
  ] as const)('%s with pinTags %s (ephemeral %s)', (image, mode, ephemeral, expected) => {
    const r = pinReport('main', image, ctx('1.9.2'), mode as PinTagsMode, ephemeral);
    expect(r).toMatchObject(expected);
    const v = pinVerdict(image, ctx('1.9.2'));
    expect(r.message).toBe(pinMessage('main', image, v));
  });
});

describe('the suggestion always carries the pinned version', () => {
  it('even from an engine compiled with mlrun.imagesTag (which MLRun puts before any client version)', () => {
    const r = rulesForVersion('1.9.2');
    if (!r.ok) throw new Error(r.reason);
    const unprefixed = compileResolver(
      { imagesTag: '1.10.0', imagesRegistry: '', vendorImagesRegistry: '', imagesToEnrichRegistry: r.rules.defaultEnrichPatterns, serverVersion: '1.9.2' },
      { rules: r.rules },
    );
    const v = pinVerdict('mlrun/mlrun:1.10.0', { ...ctx('1.9.2'), unprefixed });
    expect(brief(v)).toBe('off-pin 1.10.0 -> mlrun/mlrun:1.9.2');
  });
});
