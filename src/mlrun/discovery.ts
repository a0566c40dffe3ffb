/**
 * Where the MLRun client version and python version of a Pod can be found (spec §9).
 *
 * MLRun resolves images with the versions of the SDK client that submitted the run. They reach the Pod in
 * different places depending on who created it; precedence, first found wins, per field:
 *   1. Pod labels mlrun/client_version, mlrun/client_python_version (workflow-runner pods, MLRun >= 1.5).
 *   2. metadata.labels inside the JSON env var MLRUN_EXEC_CONFIG of a container (job, spark, mpijob pods).
 *   3. env MLRUN_PYTHON_VERSION of a container (python version only; workflow runners, 1.9+).
 * Nothing found: null, and MLRun's own fallback applies (images tag, then server version).
 * Pure: reads the Pod object only; malformed data is skipped with a note, never thrown.
 */
import { isJsonObject as isObj } from '../util/json.js';

export const CLIENT_VERSION_LABEL = 'mlrun/client_version';
export const CLIENT_PYTHON_VERSION_LABEL = 'mlrun/client_python_version';
export const EXEC_CONFIG_ENV = 'MLRUN_EXEC_CONFIG';
export const PYTHON_VERSION_ENV = 'MLRUN_PYTHON_VERSION';

export type VersionSource = 'pod-label' | 'exec-config' | 'env' | 'none';

export interface ClientVersions {
  clientVersion: string | null;
  clientPythonVersion: string | null;
  clientVersionSource: VersionSource;
  clientPythonVersionSource: VersionSource;
  /** Things skipped on the way (malformed JSON, non-string values). */
  notes: string[];
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

// MLRUN_EXEC_CONFIG carries a whole run object and can be large; past this it is not parsed.
const MAX_EXEC_CONFIG = 4 * 1024 * 1024;

export function discoverClientVersions(pod: unknown): ClientVersions {
  const out: ClientVersions = {
    clientVersion: null,
    clientPythonVersion: null,
    clientVersionSource: 'none',
    clientPythonVersionSource: 'none',
    notes: [],
  };
  const metadata = isObj(pod) && isObj(pod.metadata) ? pod.metadata : undefined;
  const labels = metadata && isObj(metadata.labels) ? metadata.labels : undefined;
  const set = (field: 'clientVersion' | 'clientPythonVersion', value: string | undefined, source: VersionSource) => {
    if (value === undefined || out[field] !== null) return;
    out[field] = value;
    out[field === 'clientVersion' ? 'clientVersionSource' : 'clientPythonVersionSource'] = source;
  };

  if (labels) {
    set('clientVersion', str(labels[CLIENT_VERSION_LABEL]), 'pod-label');
    set('clientPythonVersion', str(labels[CLIENT_PYTHON_VERSION_LABEL]), 'pod-label');
  }
  if (out.clientVersion !== null && out.clientPythonVersion !== null) return out;

  const spec = isObj(pod) && isObj(pod.spec) ? pod.spec : undefined;
  const containers = spec && Array.isArray(spec.containers) ? spec.containers : [];
  let pythonEnv: string | undefined;
  for (const c of containers) {
    if (!isObj(c) || !Array.isArray(c.env)) continue;
    for (const e of c.env) {
      if (!isObj(e)) continue;
      if (e.name === EXEC_CONFIG_ENV) {
        if (out.clientVersion === null || out.clientPythonVersion === null) readExecConfig(e.value, c.name, out, set);
      } else if (e.name === PYTHON_VERSION_ENV && pythonEnv === undefined) pythonEnv = str(e.value);
    }
    // First found wins, so once both are known the other containers cannot change the answer.
    if (out.clientVersion !== null && out.clientPythonVersion !== null) break;
  }
  set('clientPythonVersion', pythonEnv, 'env');
  return out;
}

function readExecConfig(
  value: unknown,
  containerName: unknown,
  out: ClientVersions,
  set: (f: 'clientVersion' | 'clientPythonVersion', v: string | undefined, s: VersionSource) => void,
): void {
  const where = `${EXEC_CONFIG_ENV} of container ${typeof containerName === 'string' ? containerName : '?'}`;
  if (typeof value !== 'string') return; // valueFrom: not readable by an admission webhook
  if (value.length > MAX_EXEC_CONFIG) {
    out.notes.push(`${where} is larger than ${MAX_EXEC_CONFIG} bytes; not read`);
    return;
  }
  // A run object is parsed only when it can hold the labels: most exec configs of non-MLRun-SDK runs do not.
  if (!value.includes('client_')) return;
  let run: unknown;
  try {
    run = JSON.parse(value);
  } catch {
    // Not the parser's message: V8 quotes a slice of the input there, and this env var can carry secrets.
    out.notes.push(`${where} is not valid JSON; ignored`);
    return;
  }
  const labels = isObj(run) && isObj(run.metadata) && isObj(run.metadata.labels) ? run.metadata.labels : undefined;
  if (!labels) return;
  for (const [key, field] of [
    [CLIENT_VERSION_LABEL, 'clientVersion'],
    [CLIENT_PYTHON_VERSION_LABEL, 'clientPythonVersion'],
  ] as const) {
    const v = labels[key];
    if (v === undefined || v === null || v === '') continue;
    if (typeof v !== 'string') {
      out.notes.push(`${where}: label ${key} is not a string; ignored`);
      continue;
    }
    set(field, v, 'exec-config');
  }
}
