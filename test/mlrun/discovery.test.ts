import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { discoverClientVersions } from '../../src/mlrun/discovery.js';

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
