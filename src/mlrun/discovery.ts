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
import { readNestedMembers } from '../python/json.js';

export const CLIENT_VERSION_LABEL = 'mlrun/client_version';
export const CLIENT_PYTHON_VERSION_LABEL = 'mlrun/client_python_version';
export const EXEC_CONFIG_ENV = 'MLRUN_EXEC_CONFIG';
export const PYTHON_VERSION_ENV = 'MLRUN_PYTHON_VERSION';

export type VersionSource = 'pod-label' | 'exec-config' | 'env' | 'none';

/**
 * Limits on what discovery reads from a Pod (docs/reliability.md). Each is far above what MLRun writes; past one the
 * value is skipped with a note (and a limit code for metrics), and MLRun's own fallback applies.
 */
export const DISCOVERY_LIMITS = {
  /**
   * Characters of one MLRUN_EXEC_CONFIG value that are parsed. MLRun puts a run object there (metadata, spec,
   * parameters; code travels in MLRUN_EXEC_CODE): a few KiB. Reading 256 KiB costs 0.5-2.5 ms, at worst ~3 ms.
   */
  execConfigMaxLength: 256 * 1024,
  /** Nesting of objects/arrays in MLRUN_EXEC_CONFIG. A run object nests about 6 deep. Checked by a linear scan
   *  before reading (its own note and limit code); the reader keeps one stack entry per level and refuses deeper. */
  execConfigMaxDepth: 64,
  /** Characters of MLRUN_EXEC_CONFIG parsed over all containers of one Pod (two full-size run objects). */
  execConfigBudget: 512 * 1024,
  /** A client or python version longer than this is ignored: it could never make a valid tag (at most 128
   *  characters), and it is used as a memo key and printed in logs and warnings. */
  versionMaxLength: 128,
  /** Notes kept per Pod; they become warnings, which are capped again downstream. */
  maxNotes: 16,
} as const;

/** Why discovery skipped something: a small fixed set (a metric label). */
export type DiscoveryLimit = 'exec-config-too-large' | 'exec-config-too-deep' | 'exec-config-budget' | 'version-too-long';

export interface ClientVersions {
  clientVersion: string | null;
  clientPythonVersion: string | null;
  clientVersionSource: VersionSource;
  clientPythonVersionSource: VersionSource;
  /** Things skipped on the way (malformed JSON, non-string values, values past a limit); at most maxNotes. */
  notes: readonly string[];
  /** The limits that made discovery skip something, each once. */
  limits: readonly DiscoveryLimit[];
}

type Field = 'clientVersion' | 'clientPythonVersion';

interface State {
  out: ClientVersions;
  /** Characters of MLRUN_EXEC_CONFIG parsed so far for this Pod. */
  parsed: number;
}

/** Most Pods have nothing to note: they share these (never modified) instead of two new lists each. */
const NO_NOTES: readonly string[] = Object.freeze([]);
const NO_LIMITS: readonly DiscoveryLimit[] = Object.freeze([]);

function note(st: State, text: string, limit?: DiscoveryLimit): void {
  const { out } = st;
  if (out.notes.length < DISCOVERY_LIMITS.maxNotes) out.notes = [...out.notes, text];
  if (limit && !out.limits.includes(limit)) out.limits = [...out.limits, limit];
}

/** First found wins, per field. */
function set(out: ClientVersions, field: Field, value: string | undefined, source: VersionSource): void {
  if (value === undefined || out[field] !== null) return;
  out[field] = value;
  if (field === 'clientVersion') out.clientVersionSource = source;
  else out.clientPythonVersionSource = source;
}

/** A version-like string value, or undefined: non-strings, "" and over-long values (with a note) do not count. */
function versionValue(st: State, v: unknown, what: string): string | undefined {
  if (typeof v !== 'string' || v === '') return undefined;
  if (v.length > DISCOVERY_LIMITS.versionMaxLength) {
    note(st, `${what} is longer than ${DISCOVERY_LIMITS.versionMaxLength} characters; ignored`, 'version-too-long');
    return undefined;
  }
  return v;
}

export function discoverClientVersions(pod: unknown): ClientVersions {
  const out: ClientVersions = {
    clientVersion: null,
    clientPythonVersion: null,
    clientVersionSource: 'none',
    clientPythonVersionSource: 'none',
    notes: NO_NOTES,
    limits: NO_LIMITS,
  };
  const st: State = { out, parsed: 0 };
  const metadata = isObj(pod) && isObj(pod.metadata) ? pod.metadata : undefined;
  const labels = metadata && isObj(metadata.labels) ? metadata.labels : undefined;

  if (labels) {
    set(out, 'clientVersion', versionValue(st, labels[CLIENT_VERSION_LABEL], `label ${CLIENT_VERSION_LABEL}`), 'pod-label');
    set(out, 'clientPythonVersion', versionValue(st, labels[CLIENT_PYTHON_VERSION_LABEL], `label ${CLIENT_PYTHON_VERSION_LABEL}`), 'pod-label');
  }
  if (out.clientVersion !== null && out.clientPythonVersion !== null) return out;

  const spec = isObj(pod) && isObj(pod.spec) ? pod.spec : undefined;
  const containers = spec && Array.isArray(spec.containers) ? spec.containers : [];
  let pythonEnv: string | undefined;
  // First found wins, so once both are known nothing after (the rest of this env list, the other containers) can
  // change the answer: reading stops there. A job's exec config comes early in an env list of dozens of entries.
  search: for (const c of containers) {
    if (!isObj(c) || !Array.isArray(c.env)) continue;
    for (const e of c.env) {
      if (!isObj(e)) continue;
      if (e.name === EXEC_CONFIG_ENV) {
        readExecConfig(e.value, c.name, st);
        if (out.clientVersion !== null && out.clientPythonVersion !== null) break search;
      } else if (e.name === PYTHON_VERSION_ENV && pythonEnv === undefined) {
        pythonEnv = versionValue(st, e.value, `env ${PYTHON_VERSION_ENV} of container ${containerLabel(c.name)}`);
      }
    }
  }
  set(out, 'clientPythonVersion', pythonEnv, 'env');
  return out;
}

/** A container name for a note: names are checked by the API server only after admission, so bound it here. */
function containerLabel(name: unknown): string {
  if (typeof name !== 'string') return '?';
  return name.length <= 63 ? name : `${name.slice(0, 62)}…`;
}

/**
 * Whether the JSON text nests objects/arrays at most maxDepth deep. One pass, brackets inside strings ignored; the
 * text is not validated here (readNestedMembers does that).
 */
export function jsonNestingWithin(text: string, maxDepth: number): boolean {
  // Fewer opening brackets than maxDepth + 1 (inside strings or not) cannot nest deeper: counted with native
  // indexOf, this settles the common case (a run object has a few dozen) without the character loop below.
  if (countWithin(text, '{', countWithin(text, '[', 0, maxDepth), maxDepth) <= maxDepth) return true;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: the next unit is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) return false;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return true;
}

/** start + occurrences of ch in text, counting stops once past max. */
function countWithin(text: string, ch: string, start: number, max: number): number {
  let n = start;
  for (let i = text.indexOf(ch); i !== -1 && n <= max; i = text.indexOf(ch, i + 1)) n++;
  return n;
}

function readExecConfig(value: unknown, containerName: unknown, st: State): void {
  if (typeof value !== 'string') return; // valueFrom: not readable by an admission webhook
  // A run object is parsed only when it can hold the labels: most exec configs of non-MLRun-SDK runs do not.
  if (!value.includes('client_')) return;
  const where = `${EXEC_CONFIG_ENV} of container ${containerLabel(containerName)}`;
  const { execConfigMaxLength, execConfigMaxDepth, execConfigBudget } = DISCOVERY_LIMITS;
  if (value.length > execConfigMaxLength) {
    note(st, `${where} is longer than ${execConfigMaxLength} characters; not read`, 'exec-config-too-large');
    return;
  }
  if (st.parsed + value.length > execConfigBudget) {
    note(st, `${where} not read: this Pod's MLRUN_EXEC_CONFIG values exceed ${execConfigBudget} characters in all`, 'exec-config-budget');
    return;
  }
  st.parsed += value.length;
  if (!jsonNestingWithin(value, execConfigMaxDepth)) {
    note(st, `${where} nests deeper than ${execConfigMaxDepth} levels; not read`, 'exec-config-too-deep');
    return;
  }
  // Read as MLRun reads it (Python's json.loads, which takes NaN and Infinity), two labels picked out, nothing built.
  const read = readNestedMembers(value, RUN_LABELS_PATH, RUN_CLIENT_LABELS, execConfigMaxDepth);
  if (!read.valid) {
    // No parser message: it would quote the input, and this env var can carry secrets.
    note(st, `${where} is not valid JSON; ignored`);
    return;
  }
  if (!read.members) return;
  runLabel(st, read.members[0], CLIENT_VERSION_LABEL, 'clientVersion', where);
  runLabel(st, read.members[1], CLIENT_PYTHON_VERSION_LABEL, 'clientPythonVersion', where);
}

const RUN_LABELS_PATH = ['metadata', 'labels'] as const;
const RUN_CLIENT_LABELS = [CLIENT_VERSION_LABEL, CLIENT_PYTHON_VERSION_LABEL] as const;

/** One client label of a run object: absent, null or "" say nothing; anything but a string is noted. */
function runLabel(st: State, v: unknown, key: string, field: Field, where: string): void {
  if (v === undefined || v === null || v === '') return;
  if (typeof v !== 'string') {
    note(st, `${where}: label ${key} is not a string; ignored`);
    return;
  }
  set(st.out, field, versionValue(st, v, `${where}: label ${key}`), 'exec-config');
}
