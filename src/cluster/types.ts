/**
 * Plain values of the Kubernetes-API edge: the trimmed views of the objects we watch (only what image discovery
 * needs of each object) and the discovered MLRun install. No config types and no client-node types in here, so
 * the config layer can merge an install without knowing where it came from.
 */

/** The variables of the MLRun API container that decide how MLRun resolves images. */
export const IMAGE_KEYS = [
  'MLRUN_IMAGES_REGISTRY',
  'MLRUN_IMAGES_TAG',
  'MLRUN_VENDOR_IMAGES_REGISTRY',
  'MLRUN_IMAGES_TO_ENRICH_REGISTRY',
] as const;
export type ImageKey = (typeof IMAGE_KEYS)[number];

export interface EnvVarView {
  name: string;
  /** Set when the spec gives `value` (possibly ""), or neither value nor valueFrom (then ""). */
  value?: string;
  configMapKeyRef?: { name: string; key: string; optional: boolean };
  secretKeyRef?: { name: string; key: string; optional: boolean };
  /** `fieldRef.fieldPath`; metadata.name and metadata.namespace are resolved, the rest is runtime-only. */
  fieldRef?: string;
  /** resourceFieldRef and any valueFrom kind this version does not know: a value only the kubelet knows. */
  runtimeOnly?: string;
}

export interface EnvFromView {
  prefix: string;
  configMapRef?: { name: string; optional: boolean };
  secretRef?: { name: string; optional: boolean };
}

/** The MLRun API container as a Pod or a Deployment's template declares it. */
export interface ContainerView {
  image: string | undefined;
  env: EnvVarView[];
  envFrom: EnvFromView[];
}

export interface PodView {
  name: string;
  namespace: string;
  /** Ready condition True and not terminating. */
  ready: boolean;
  terminating: boolean;
  /**
   * When the container last read its environment: the container's running.startedAt (a container restart reads
   * ConfigMaps again), else status.startTime, else creationTimestamp. Milliseconds; undefined if none is given.
   */
  startedAtMs: number | undefined;
  createdAtMs: number | undefined;
  /** undefined when the Pod has no container of the configured name. */
  container: ContainerView | undefined;
}

export interface DeploymentView {
  name: string;
  namespace: string;
  container: ContainerView | undefined;
}

/** One observed content of a ConfigMap; `data: undefined` means the ConfigMap did not exist. */
export interface ConfigMapVersion {
  data: Readonly<Record<string, string>> | undefined;
  /** When the watch saw this content (ms); undefined: it was already there when we started watching. */
  seenAtMs: number | undefined;
}

/** Versions of one ConfigMap, oldest first; the last one is the current content. */
export type ConfigMapHistory = readonly ConfigMapVersion[];

export interface EnvValue {
  /** The raw string the container sees (before MLRun's json.loads). */
  value: string;
  /** The object and key it came from, e.g. "ConfigMap mlrun/mlrun-override-env key MLRUN_IMAGES_REGISTRY". */
  source: string;
}

export interface NotFollowed {
  key: string;
  /** What would decide the value, e.g. "Secret mlrun/creds key registry". */
  source: string;
  reason: string;
  /** The value the key would have if the Secret does not set it (envFrom secretRef only). */
  otherwise?: EnvValue;
}

export interface PendingChange {
  /** An image key, or "serverVersion". */
  key: string;
  current: string | undefined;
  next: string | undefined;
  /** Where the next value comes from (or what removes it). */
  source: string;
  /** When the change was seen (ms), when known (ConfigMap edits). */
  sinceMs: number | undefined;
}

export interface MlrunInstall {
  namespace: string;
  /** Image tag of the MLRun API container (the server version), undefined when it cannot be read. */
  serverVersion: string | undefined;
  serverVersionSource: string;
  /** The spec followed: "Pod NS/NAME" (the Ready chief Pod) or "Deployment NS/NAME" (no Ready chief Pod). */
  followed: string;
  /** Raw values of the image keys the MLRun API sees; a key it does not set is absent (MLRun's default). */
  env: Partial<Record<ImageKey, EnvValue>>;
  notFollowed: NotFollowed[];
  /** Changes MLRun has not applied yet (it will when its API Pod restarts or the rollout finishes). */
  pending: PendingChange[];
  /** Things that make the discovered install doubtful (a missing non-optional ConfigMap, an unreadable image). */
  problems: string[];
  /**
   * True when a ConfigMap in effect was taken as found when the watch started (after a webhook restart we cannot
   * tell whether it was edited after the MLRun API Pod started).
   */
  configMapsAsFound: boolean;
  /** When this value was computed (ISO 8601). */
  observedAt: string;
}
