/**
 * The MLRun install of one namespace, from what the watch keeps of it (pure: no I/O, the clock comes in).
 *
 * MLRun reads its environment once, when the API container starts, so the install in effect is the one of the
 * Ready chief Pod's spec, with each ConfigMap as it was when that container started. A ConfigMap edit (timed by
 * when the watch saw it) is adopted once a chief Pod whose container started after it is Ready; until then it is
 * reported as pending, as is a Deployment template that differs from the running Pod (a rollout in progress).
 * With no Ready chief Pod, the Deployment's template and the current ConfigMaps are what the next Pod will run.
 */
import { parseReference } from '../image/reference.js';
import { imageEnv, type ConfigMapLookup, type ImageEnv } from './env.js';
import {
  IMAGE_KEYS,
  type ConfigMapHistory,
  type ConfigMapVersion,
  type ContainerView,
  type DeploymentView,
  type EnvValue,
  type MlrunInstall,
  type PendingChange,
  type PodView,
} from './types.js';

/** Versions kept per ConfigMap beyond the ones some existing chief Pod still runs with. */
export const MAX_CONFIGMAP_VERSIONS = 8;

export interface WatchedConfigMap {
  /** When the watch of this ConfigMap started (ms): content seen then is taken as found. */
  watchedSinceMs: number;
  history: ConfigMapHistory;
}

export interface NamespaceSnapshot {
  namespace: string;
  deployment: DeploymentView | undefined;
  pods: readonly PodView[];
  /** Every ConfigMap the specs reference, by name. */
  configMaps: ReadonlyMap<string, WatchedConfigMap>;
}

// ---------------------------------------------------------------------------------------------------------------
// ConfigMap history

function sameData(a: ConfigMapVersion['data'], b: ConfigMapVersion['data']): boolean {
  if (a === undefined || b === undefined) return a === b;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

/**
 * Records what the watch now sees of a ConfigMap (undefined: it does not exist). The first observation is taken
 * as found (no time); later ones are timed with `nowMs`. Unchanged content returns the same history.
 */
export function observeConfigMap(
  prev: WatchedConfigMap | undefined,
  data: Readonly<Record<string, string>> | undefined,
  nowMs: number,
): WatchedConfigMap {
  if (!prev) return { watchedSinceMs: nowMs, history: [{ data, seenAtMs: undefined }] };
  const last = prev.history[prev.history.length - 1];
  if (last && sameData(last.data, data)) return prev;
  return { ...prev, history: [...prev.history, { data, seenAtMs: nowMs }] };
}

/**
 * Did a container that started at `startMs` read this version? Kubernetes timestamps have whole seconds
 * (truncated), so the container started in [startMs, startMs + 1 s): only a start time strictly after the moment
 * we saw the change proves the container read it.
 */
function readBy(v: ConfigMapVersion, startMs: number | undefined): boolean {
  return v.seenAtMs === undefined || startMs === undefined || startMs > v.seenAtMs;
}

/** The version a container started at `startMs` runs with. */
export function versionAt(h: ConfigMapHistory, startMs: number | undefined): ConfigMapVersion | undefined {
  for (let i = h.length - 1; i >= 0; i--) if (readBy(h[i]!, startMs)) return h[i];
  return h[0];
}

/** Drops versions no existing chief Pod runs with (keeps the current one), bounded by MAX_CONFIGMAP_VERSIONS. */
export function pruneHistory(w: WatchedConfigMap, podStarts: readonly (number | undefined)[]): WatchedConfigMap {
  const h = w.history;
  if (h.length <= 1) return w;
  const keep = new Set<ConfigMapVersion>([h[h.length - 1]!]);
  for (const s of podStarts) {
    const v = versionAt(h, s);
    if (v) keep.add(v);
  }
  let next = h.filter((v) => keep.has(v));
  if (next.length > MAX_CONFIGMAP_VERSIONS) next = next.slice(next.length - MAX_CONFIGMAP_VERSIONS);
  return next.length === h.length ? w : { ...w, history: next };
}

// ---------------------------------------------------------------------------------------------------------------
// Which spec, which ConfigMaps

/** Names of the ConfigMaps a container reads (envFrom and configMapKeyRef). */
export function referencedConfigMaps(c: ContainerView | undefined): string[] {
  if (!c) return [];
  const names = new Set<string>();
  for (const f of c.envFrom) if (f.configMapRef) names.add(f.configMapRef.name);
  for (const e of c.env) if (e.configMapKeyRef) names.add(e.configMapKeyRef.name);
  return [...names];
}

/** Chief Pods whose containers may become (or are) the running MLRun API: not terminating, with the container. */
export function livePods(pods: readonly PodView[]): PodView[] {
  return pods.filter((p) => !p.terminating && p.container !== undefined);
}

/** The Ready chief Pod to follow: the one whose container started last (during a rollout, the new one). */
export function followedPod(pods: readonly PodView[]): PodView | undefined {
  let best: PodView | undefined;
  for (const p of livePods(pods)) {
    if (!p.ready) continue;
    if (!best || (p.startedAtMs ?? 0) > (best.startedAtMs ?? 0) || ((p.startedAtMs ?? 0) === (best.startedAtMs ?? 0) && p.name > best.name)) {
      best = p;
    }
  }
  return best;
}

/** The server version is the image tag of the MLRun API container (MLRUN_VERSION in its env does not change it). */
export function serverVersionOf(image: string | undefined, owner: string): { version?: string; source: string; problem?: string } {
  const source = `${owner} image ${image ?? '(none)'}`;
  if (image === undefined) return { source, problem: `${owner}: the MLRun API container has no image` };
  const ref = parseReference(image);
  if (!ref.valid) return { source, problem: `${owner}: image ${JSON.stringify(image)} is not an image reference (${ref.reason})` };
  if (ref.tag === undefined) {
    return { source, problem: `${owner}: image ${image} has no tag, so the MLRun version cannot be read from it` };
  }
  return { version: ref.tag, source };
}

// ---------------------------------------------------------------------------------------------------------------
// The install

export function computeInstall(
  s: NamespaceSnapshot,
  nowMs: number,
  names: { deployment: string; container: string },
): MlrunInstall | undefined {
  const pod = followedPod(s.pods);
  const base = { namespace: s.namespace, observedAt: new Date(nowMs).toISOString() };
  if (pod) return { ...base, ...followPod(s, pod, names) };
  if (s.deployment) return { ...base, ...followDeployment(s, s.deployment, names) };
  return undefined;
}

type Followed = Omit<MlrunInstall, 'namespace' | 'observedAt'>;

function currentLookup(s: NamespaceSnapshot): ConfigMapLookup {
  return (name) => {
    const h = s.configMaps.get(name)?.history;
    return h?.[h.length - 1]?.data;
  };
}

/** No Ready chief Pod: the Deployment's template with the current ConfigMaps is what the next Pod will run. */
function followDeployment(s: NamespaceSnapshot, d: DeploymentView, names: { container: string }): Followed {
  const owner = `Deployment ${s.namespace}/${d.name}`;
  const none = { followed: owner, pending: [], configMapsAsFound: false };
  if (!d.container) {
    return { ...none, serverVersion: undefined, serverVersionSource: owner, env: {}, notFollowed: [], problems: [`${owner} has no container ${names.container}`] };
  }
  const env = imageEnv(d.container, currentLookup(s), { namespace: s.namespace, owner });
  const v = serverVersionOf(d.container.image, owner);
  return {
    ...none,
    serverVersion: v.version,
    serverVersionSource: v.source,
    env: env.env,
    notFollowed: env.notFollowed,
    problems: [...(v.problem ? [v.problem] : []), ...env.problems],
  };
}

/** A Ready chief Pod: its spec, each ConfigMap as its container read it; what a restart would change is pending. */
function followPod(s: NamespaceSnapshot, pod: PodView, names: { deployment: string }): Followed {
  const ns = s.namespace;
  const owner = `Pod ${ns}/${pod.name}`;
  const container = pod.container!;
  let asFound = false;
  const changedSince: number[] = [];
  const inEffect: ConfigMapLookup = (name) => {
    const w = s.configMaps.get(name);
    if (!w) return undefined;
    const v = versionAt(w.history, pod.startedAtMs);
    if (v && v.seenAtMs === undefined && (pod.startedAtMs === undefined || pod.startedAtMs <= w.watchedSinceMs)) asFound = true;
    const last = w.history[w.history.length - 1];
    if (v !== last && last?.seenAtMs !== undefined) changedSince.push(last.seenAtMs);
    return v?.data;
  };
  const now = imageEnv(container, inEffect, { namespace: ns, owner, podName: pod.name });
  const version = serverVersionOf(container.image, owner);
  const problems = [...(version.problem ? [version.problem] : []), ...now.problems];

  // What the next chief Pod would run: the Deployment's template (else this Pod's spec) with current ConfigMaps.
  const nextContainer = s.deployment?.container ?? container;
  const nextOwner = s.deployment?.container ? `Deployment ${ns}/${s.deployment.name ?? names.deployment}` : owner;
  const next = imageEnv(nextContainer, currentLookup(s), { namespace: ns, owner: nextOwner, podName: s.deployment?.container ? undefined : pod.name });
  for (const p of next.problems) if (!problems.includes(p)) problems.push(`a restarted MLRun API Pod would not start: ${p}`);
  const sinceMs = changedSince.length > 0 ? Math.min(...changedSince) : undefined;
  const pending = pendingChanges(
    { version: version.version, env: now },
    { version: serverVersionOf(nextContainer.image, nextOwner), env: next, owner: nextOwner },
    sinceMs,
  );
  return {
    serverVersion: version.version,
    serverVersionSource: version.source,
    followed: owner,
    env: now.env,
    notFollowed: now.notFollowed,
    pending,
    problems,
    configMapsAsFound: asFound,
  };
}

function pendingChanges(
  now: { version: string | undefined; env: ImageEnv },
  next: { version: { version?: string; source: string }; env: ImageEnv; owner: string },
  sinceMs: number | undefined,
): PendingChange[] {
  const pending: PendingChange[] = [];
  if (next.version.version !== now.version) {
    pending.push({ key: 'serverVersion', current: now.version, next: next.version.version, source: next.version.source, sinceMs: undefined });
  }
  for (const key of IMAGE_KEYS) {
    const a: EnvValue | undefined = now.env.env[key];
    const b: EnvValue | undefined = next.env.env[key];
    if (a?.value === b?.value) continue;
    const unknown = next.env.notFollowed.find((n) => n.key === key);
    if (!a && !b && unknown && now.env.notFollowed.some((n) => n.key === key)) continue;
    pending.push({
      key,
      current: a?.value,
      next: b?.value,
      source: b?.source ?? (unknown ? `${unknown.source}, not followed: ${unknown.reason}` : `unset in ${next.owner}`),
      sinceMs,
    });
  }
  return pending;
}
