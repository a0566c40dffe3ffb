import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load.js';
import { buildRuntime } from '../../src/config/runtime.js';

/** The first problem's key and reason, or 'ok'. */
function verdict(raw: unknown): string {
  const r = validateConfig(raw);
  return r.ok ? 'ok' : `${r.problems[0]!.key}: ${r.problems[0]!.reason}`;
}

describe('discovery, mirror and policy sections: validated at load like every key', () => {
  it.each([
    [{ discovery: { enabled: true, namespaces: ['mlrun', 'tenant-a'] } }, 'ok'],
    [{ discovery: { namespaces: ['*'] } }, 'ok'],
    [{ discovery: { namespaces: ['Bad_NS'] } }, /^discovery\.namespaces\.0: /],
    [{ discovery: { namespaces: [] } }, /^discovery\.namespaces: /],
    [{ discovery: { overrides: { imagesRegistry: 'https://reg.example/' } } }, /^discovery\.overrides\.imagesRegistry: /],
    [{ discovery: { overrides: { imagesToEnrichRegistry: '^mlrun/(' } } }, /^discovery\.overrides\.imagesToEnrichRegistry: invalid regular expression/],
    [{ discovery: { overrides: { imagesTag: null, imagesRegistry: 'reg.example:5000/mirror' } } }, 'ok'],
    [{ discovery: { syncTimeoutSeconds: 601 } }, /^discovery\.syncTimeoutSeconds: /],
    [{ mirror: { enabled: true, missing: 'keep-original', insecureRegistries: ['datanode.local:5000'] } }, 'ok'],
    [{ mirror: { insecureRegistries: ['http://datanode.local'] } }, /^mirror\.insecureRegistries\.0: /],
    [{ mirror: { missing: 'drop' } }, /^mirror\.missing: must be one of rewrite, keep-original/],
    [{ mirror: { budgetMs: 8000 } }, /^mirror\.budgetMs: /],
    [{ mirror: { pythonVersions: ['3.9', '3.11'] } }, 'ok'],
    [{ mirror: { pythonVersions: ['3.9.18'] } }, /^mirror\.pythonVersions\.0: /],
    [{ policy: { pinTags: 'deny', mlrunVersion: '1.9.2', namespaces: ['prod'] } }, 'ok'],
    [{ policy: { pinTags: 'block' } }, /^policy\.pinTags: must be one of off, warn, deny, rewrite/],
    [{ policy: { mlrunVersion: '1.9' } }, /^policy\.mlrunVersion: /],
    [{ policy: { allow: ['^busybox:', '^(a+)+$'] } }, 'ok'],
    [{ policy: { allow: ['^ok', '(unclosed'] } }, /^policy\.allow\[1\]: invalid regular expression/],
    [{ policy: { allow: ['(a)\\1'] } }, /^policy\.allow\[0\]: pattern not supported/],
    [{ policy: { digestRegistries: ['reg.example:5000'] } }, 'ok'],
    [{ policy: null, mirror: null, discovery: { overrides: null } }, 'ok'],
  ])('%j → %s', (raw, expected) => {
    const v = verdict(raw);
    if (typeof expected === 'string') expect(v).toBe(expected);
    else expect(v).toMatch(expected);
  });

  it('the runtime carries the compiled allow list (linear matcher, re.match) and an unprefixed resolver', () => {
    const v = validateConfig({ mlrun: { imagesRegistry: 'reg.example/' }, policy: { allow: ['^busybox', 'nginx$'] } });
    if (!v.ok) throw new Error(JSON.stringify(v.problems));
    const r = buildRuntime(v.config);
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    const { allow, unprefixed } = r.runtime.policy;
    expect(allow.map((a) => a.match('busybox:1.36'))).toEqual([true, false]);
    // re.match anchors at the start only: "nginx$" does not match "my/nginx".
    expect(allow[1]!.match('my/nginx')).toBe(false);
    expect(allow[1]!.match('nginx')).toBe(true);
    expect(r.runtime.resolver.resolve('mlrun/mlrun', '1.9.2', null)).toMatchObject({ ok: true, image: 'reg.example/mlrun/mlrun:1.9.2' });
    expect(unprefixed.resolve('mlrun/mlrun', '1.9.2', null)).toMatchObject({ ok: true, image: 'mlrun/mlrun:1.9.2' });
  });
});
