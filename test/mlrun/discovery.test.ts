import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DISCOVERY_LIMITS, discoverClientVersions, jsonNestingWithin } from '../../src/mlrun/discovery.js';

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../fixtures/mlrun-pods/${name}`, import.meta.url), 'utf8')) as unknown;
const execConfig = (labels: Record<string, unknown>) => JSON.stringify({ metadata: { labels } });
const pod = (labels: Record<string, string> | undefined, env: Array<{ name: string; value?: string }>) => ({
  metadata: { labels },
  spec: { containers: [{ name: 'base', image: 'mlrun/mlrun', env }] },
});

describe('discoverClientVersions', () => {
  it('job pod: from MLRUN_EXEC_CONFIG run labels', () => {
    expect(discoverClientVersions(fixture('job-pod.json'))).toMatchObject({
      clientVersion: '1.9.2',
      clientPythonVersion: '3.9.18',
      clientVersionSource: 'exec-config',
      clientPythonVersionSource: 'exec-config',
      notes: [],
    });
  });

  it('workflow runner: pod labels win', () => {
    expect(discoverClientVersions(fixture('workflow-runner-pod.json'))).toMatchObject({
      clientVersionSource: 'pod-label',
      clientPythonVersionSource: 'pod-label',
    });
  });

  it.each(['dask-worker-pod.json', 'nuclio-serving-pod.json', 'kaniko-build-pod.json', 'kfp-step-pod.json'])(
    '%s carries no client version',
    (f) => {
      const v = discoverClientVersions(fixture(f));
      expect(v.clientVersion).toBeNull();
      expect(v.clientVersionSource).toBe('none');
    },
  );

  it('precedence per field: label, then exec config, then MLRUN_PYTHON_VERSION', () => {
    const p = pod({ 'mlrun/client_version': '1.10.0' }, [
      { name: 'MLRUN_PYTHON_VERSION', value: '3.11.7' },
      { name: 'MLRUN_EXEC_CONFIG', value: execConfig({ 'mlrun/client_version': '1.9.0', 'mlrun/client_python_version': '3.9.18' }) },
    ]);
    expect(discoverClientVersions(p)).toMatchObject({
      clientVersion: '1.10.0',
      clientVersionSource: 'pod-label',
      clientPythonVersion: '3.9.18',
      clientPythonVersionSource: 'exec-config',
    });
    const onlyEnv = pod(undefined, [{ name: 'MLRUN_PYTHON_VERSION', value: '3.11.7' }]);
    expect(discoverClientVersions(onlyEnv)).toMatchObject({ clientVersion: null, clientPythonVersion: '3.11.7', clientPythonVersionSource: 'env' });
  });

  it('ignores malformed JSON and non-string labels with a note', () => {
    const bad = discoverClientVersions(pod(undefined, [{ name: 'MLRUN_EXEC_CONFIG', value: '{"metadata": {"labels": {"mlrun/client_version": "1.9' }]));
    expect(bad.clientVersion).toBeNull();
    expect(bad.notes[0]).toMatch(/MLRUN_EXEC_CONFIG of container base is not valid JSON/);
    // The note reaches warnings and logs: it must not quote the value (exec configs carry credentials).
    const secret = discoverClientVersions(pod(undefined, [{ name: 'MLRUN_EXEC_CONFIG', value: '{"client_":"1", "password": s3cr3tvalue123}' }]));
    expect(secret.notes).toHaveLength(1);
    expect(secret.notes[0]).not.toMatch(/s3cr3t|password/);
    const num = discoverClientVersions(pod(undefined, [{ name: 'MLRUN_EXEC_CONFIG', value: execConfig({ 'mlrun/client_version': 1.9 }) }]));
    expect(num.clientVersion).toBeNull();
    expect(num.notes[0]).toMatch(/not a string/);
  });

  it('reads a run object with NaN or Infinity parameters, as Python wrote it and MLRun reads it', () => {
    // json.dumps({"spec": {"parameters": {"alpha": float("nan")}}, ...}) writes NaN; JSON.parse would refuse it.
    const value = '{"spec": {"parameters": {"alpha": NaN, "max": Infinity}}, "metadata": {"labels": {"mlrun/client_version": "1.9.2", "mlrun/client_python_version": "3.11.7"}}}';
    expect(discoverClientVersions(pod(undefined, [{ name: 'MLRUN_EXEC_CONFIG', value }]))).toMatchObject({
      clientVersion: '1.9.2',
      clientPythonVersion: '3.11.7',
      clientVersionSource: 'exec-config',
      notes: [],
    });
  });

  it('does not parse a run object that cannot hold the client labels', () => {
    const v = discoverClientVersions(pod(undefined, [{ name: 'MLRUN_EXEC_CONFIG', value: '{not json, and no labels' }]));
    expect(v).toMatchObject({ clientVersion: null, notes: [] });
    // JSON may escape "/" as "\/": still found
    const escaped = discoverClientVersions(pod(undefined, [{ name: 'MLRUN_EXEC_CONFIG', value: '{"metadata":{"labels":{"mlrun\\/client_version":"1.9.2"}}}' }]));
    expect(escaped.clientVersion).toBe('1.9.2');
  });

  it.each([null, 42, 'pod', [], { spec: 'x' }, { metadata: { labels: 'x' }, spec: { containers: 'x' } }, { spec: { containers: [null, { env: [null, 7] }] } }])(
    'never throws on odd input %j',
    (input) => {
      expect(discoverClientVersions(input)).toMatchObject({ clientVersion: null, clientPythonVersion: null });
    },
  );
});

describe('discovery limits', () => {
  const L = DISCOVERY_LIMITS;
  const labelsAt = (depth: number) => {
    // {"metadata":{"labels":{...}},"pad":[[[...]]]}: the labels are readable, the padding sets the depth.
    const pad = '['.repeat(depth - 1) + ']'.repeat(depth - 1);
    return `{"metadata":{"labels":{"mlrun/client_version":"1.9.2"}},"pad":${pad}}`;
  };

  it('jsonNestingWithin counts brackets outside strings only', () => {
    expect(jsonNestingWithin('{"a":[1,{"b":2}]}', 3)).toBe(true);
    expect(jsonNestingWithin('{"a":[1,{"b":2}]}', 2)).toBe(false);
    expect(jsonNestingWithin('{"a":"[[[[{{{{"}', 1)).toBe(true);
    expect(jsonNestingWithin('{"a":"\\"[[[["}', 1)).toBe(true); // an escaped quote does not end the string
    expect(jsonNestingWithin('[]'.repeat(10_000), 1)).toBe(true); // siblings are not depth
  });

  it('jsonNestingWithin agrees with a plain bracket walk on random bracket/quote strings (bracket-count shortcut included)', () => {
    const walk = (text: string, max: number) => {
      let depth = 0;
      let inString = false;
      for (let i = 0; i < text.length; i++) {
        const c = text[i];
        if (inString) {
          if (c === '\\') i++;
          else if (c === '"') inString = false;
        } else if (c === '"') inString = true;
        else if (c === '{' || c === '[') {
          if (++depth > max) return false;
        } else if (c === '}' || c === ']') depth--;
      }
      return true;
    };
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('{', '}', '[', ']', '"', '\\', 'a', ':', ','), { maxLength: 80 }),
        fc.integer({ min: 0, max: 12 }),
        (chars, max) => {
          const text = chars.join('');
          expect(jsonNestingWithin(text, max)).toBe(walk(text, max));
        },
      ),
      { numRuns: 2000 },
    );
    // The shortcut's edge: exactly max opening brackets anywhere cannot exceed max; one more nested can.
    expect(jsonNestingWithin('['.repeat(5) + '{', 6)).toBe(true);
    expect(jsonNestingWithin('['.repeat(6) + '{', 6)).toBe(false);
    expect(jsonNestingWithin('"' + '['.repeat(7) + '"', 6)).toBe(true); // over the count, but all inside a string
  });

  it(`parses an exec config nested exactly ${L.execConfigMaxDepth} deep, not one deeper`, () => {
    const at = labelsAt(L.execConfigMaxDepth);
    expect(jsonNestingWithin(at, L.execConfigMaxDepth)).toBe(true);
    expect(discoverClientVersions(pod(undefined, [{ name: 'MLRUN_EXEC_CONFIG', value: at }]))).toMatchObject({ clientVersion: '1.9.2', limits: [] });
    const deeper = discoverClientVersions(pod(undefined, [{ name: 'MLRUN_EXEC_CONFIG', value: labelsAt(L.execConfigMaxDepth + 1) }]));
    expect(deeper).toMatchObject({ clientVersion: null, limits: ['exec-config-too-deep'] });
    expect(deeper.notes[0]).toMatch(new RegExp(`nests deeper than ${L.execConfigMaxDepth} levels; not read`));
  });

  it(`parses an exec config of ${L.execConfigMaxLength} characters, not one more`, () => {
    const sized = (n: number) => {
      const base = execConfig({ 'mlrun/client_version': '1.9.2' });
      return `${base.slice(0, -1)},"pad":"${'x'.repeat(n - base.length - 9)}"}`;
    };
    expect(sized(L.execConfigMaxLength)).toHaveLength(L.execConfigMaxLength);
    expect(discoverClientVersions(pod(undefined, [{ name: 'MLRUN_EXEC_CONFIG', value: sized(L.execConfigMaxLength) }])).clientVersion).toBe('1.9.2');
    const over = discoverClientVersions(pod(undefined, [{ name: 'MLRUN_EXEC_CONFIG', value: sized(L.execConfigMaxLength + 1) }]));
    expect(over).toMatchObject({ clientVersion: null, limits: ['exec-config-too-large'] });
    expect(over.notes[0]).toMatch(/is longer than \d+ characters; not read/);
  });

  it('spends at most execConfigBudget characters of parsing per Pod, across containers', () => {
    // Each config is under the per-value cap but holds no labels, so discovery keeps looking: the budget stops it.
    const useless = `{"client_":"${'x'.repeat(L.execConfigMaxLength - 20)}"}`;
    const n = Math.floor(L.execConfigBudget / useless.length) + 1;
    const containers = Array.from({ length: n }, (_, i) => ({ name: `c${i}`, env: [{ name: 'MLRUN_EXEC_CONFIG', value: useless }] }));
    containers.push({ name: 'late', env: [{ name: 'MLRUN_EXEC_CONFIG', value: execConfig({ 'mlrun/client_version': '1.9.2' }) }] });
    const v = discoverClientVersions({ spec: { containers } });
    expect(v.limits).toEqual(['exec-config-budget']);
    expect(v.clientVersion).toBeNull();
    expect(v.notes.filter((x) => /exceed \d+ characters in all/.test(x)).length).toBeGreaterThan(0);
  });

  it(`ignores a version longer than ${L.versionMaxLength} characters (as if absent), with a note`, () => {
    const long = '1'.repeat(L.versionMaxLength + 1);
    const atCap = '1'.repeat(L.versionMaxLength);
    expect(discoverClientVersions(pod({ 'mlrun/client_version': atCap }, [])).clientVersion).toBe(atCap);
    // Over-long label: ignored, the exec config (next in precedence) answers.
    const p = pod({ 'mlrun/client_version': long, 'mlrun/client_python_version': long }, [
      { name: 'MLRUN_EXEC_CONFIG', value: execConfig({ 'mlrun/client_version': '1.9.2', 'mlrun/client_python_version': long }) },
      { name: 'MLRUN_PYTHON_VERSION', value: '3.9.18' },
    ]);
    const v = discoverClientVersions(p);
    expect(v).toMatchObject({ clientVersion: '1.9.2', clientVersionSource: 'exec-config', clientPythonVersion: '3.9.18', clientPythonVersionSource: 'env', limits: ['version-too-long'] });
    expect(v.notes).toHaveLength(3);
    for (const n of v.notes) expect(n).toMatch(new RegExp(`longer than ${L.versionMaxLength} characters; ignored`));
    const env = discoverClientVersions(pod(undefined, [{ name: 'MLRUN_PYTHON_VERSION', value: long }]));
    expect(env).toMatchObject({ clientPythonVersion: null, limits: ['version-too-long'] });
  });

  it('stops reading once both versions are known: the rest of that env list and the later containers are not looked at', () => {
    let read = 0;
    const watched = (name: string, value: string) => ({
      get name() {
        read++;
        return name;
      },
      value,
    });
    const both = execConfig({ 'mlrun/client_version': '1.9.2', 'mlrun/client_python_version': '3.9.18' });
    const long = '3'.repeat(L.versionMaxLength + 1);
    const p = {
      spec: {
        containers: [
          { name: 'main', env: [{ name: 'MLRUN_EXEC_CONFIG', value: both }, watched('MLRUN_PYTHON_VERSION', long), watched('OTHER', 'x')] },
          { name: 'side', env: [watched('MLRUN_PYTHON_VERSION', long)] },
        ],
      },
    };
    const v = discoverClientVersions(p);
    expect(v).toMatchObject({ clientVersion: '1.9.2', clientPythonVersion: '3.9.18', clientPythonVersionSource: 'exec-config', notes: [] });
    expect(read).toBe(0);
    // One version still missing: the search goes on (and notes what it skips on the way).
    const onlyClient = execConfig({ 'mlrun/client_version': '1.9.2' });
    p.spec.containers[0]!.env[0] = { name: 'MLRUN_EXEC_CONFIG', value: onlyClient };
    expect(discoverClientVersions(p)).toMatchObject({ clientVersion: '1.9.2', clientPythonVersion: null, limits: ['version-too-long'] });
    expect(read).toBeGreaterThan(0);
  });

  it('keeps at most maxNotes notes, and each limit once', () => {
    const containers = Array.from({ length: L.maxNotes + 5 }, (_, i) => ({ name: `c${i}`, env: [{ name: 'MLRUN_EXEC_CONFIG', value: '{"client_": oops' }] }));
    const v = discoverClientVersions({ spec: { containers } });
    expect(v.notes).toHaveLength(L.maxNotes);
    const deep = Array.from({ length: 3 }, (_, i) => ({ name: `c${i}`, env: [{ name: 'MLRUN_EXEC_CONFIG', value: labelsAt(L.execConfigMaxDepth + 1) }] }));
    expect(discoverClientVersions({ spec: { containers: deep } }).limits).toEqual(['exec-config-too-deep']);
  });
});
