/**
 * Raw API objects (JSON from a watch, or client-node's deserialized list items, whose timestamps are Dates) →
 * the small views image discovery keeps. Everything else of an object (other containers, volumes, status
 * history, managedFields) is dropped before it reaches a cache, which is what bounds the informers' memory.
 * Never throws: a field of the wrong type is read as missing.
 */
import { isJsonObject, type JsonObject } from '../util/json.js';
import type { ContainerView, DeploymentView, EnvFromView, EnvVarView, PodView } from './types.js';

/** Caps on what is kept of one container (Kubernetes itself bounds an object to ~1.5 MiB). */
const MAX_ENV_ENTRIES = 1000;
const MAX_ENV_FROM = 100;

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const obj = (v: unknown): JsonObject => (isJsonObject(v) ? v : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function timeMs(v: unknown): number | undefined {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? undefined : v.getTime();
  if (typeof v !== 'string') return undefined;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? undefined : ms;
}

function envVar(raw: unknown): EnvVarView | undefined {
  const e = obj(raw);
  const name = str(e['name']);
  if (name === undefined) return undefined;
  const from = e['valueFrom'];
  if (!isJsonObject(from)) return { name, value: str(e['value']) ?? '' };
  const cm = from['configMapKeyRef'];
  if (isJsonObject(cm)) {
    return { name, configMapKeyRef: { name: str(cm['name']) ?? '', key: str(cm['key']) ?? '', optional: cm['optional'] === true } };
  }
  const secret = from['secretKeyRef'];
  if (isJsonObject(secret)) {
    return {
      name,
      secretKeyRef: { name: str(secret['name']) ?? '', key: str(secret['key']) ?? '', optional: secret['optional'] === true },
    };
  }
  const field = from['fieldRef'];
  if (isJsonObject(field)) return { name, fieldRef: str(field['fieldPath']) ?? '' };
  return { name, runtimeOnly: Object.keys(from).join(', ') || 'valueFrom' };
}

function envFrom(raw: unknown): EnvFromView | undefined {
  const e = obj(raw);
  const prefix = str(e['prefix']) ?? '';
  const cm = e['configMapRef'];
  if (isJsonObject(cm)) return { prefix, configMapRef: { name: str(cm['name']) ?? '', optional: cm['optional'] === true } };
  const secret = e['secretRef'];
  if (isJsonObject(secret)) return { prefix, secretRef: { name: str(secret['name']) ?? '', optional: secret['optional'] === true } };
  return undefined;
}

/** The named container of a pod spec, or undefined. */
function containerView(podSpec: unknown, containerName: string): ContainerView | undefined {
  const c = arr(obj(podSpec)['containers']).find((x) => isJsonObject(x) && x['name'] === containerName);
  if (!isJsonObject(c)) return undefined;
  const env = arr(c['env']).slice(0, MAX_ENV_ENTRIES).map(envVar).filter((x): x is EnvVarView => x !== undefined);
  const from = arr(c['envFrom']).slice(0, MAX_ENV_FROM).map(envFrom).filter((x): x is EnvFromView => x !== undefined);
  return { image: str(c['image']), env, envFrom: from };
}

export function podView(raw: unknown, containerName: string): PodView {
  const p = obj(raw);
  const meta = obj(p['metadata']);
  const status = obj(p['status']);
  const terminating = meta['deletionTimestamp'] !== undefined && meta['deletionTimestamp'] !== null;
  const readyCondition = arr(status['conditions']).find((c) => isJsonObject(c) && c['type'] === 'Ready');
  const ready = isJsonObject(readyCondition) && readyCondition['status'] === 'True' && !terminating;
  const cs = arr(status['containerStatuses']).find((c) => isJsonObject(c) && c['name'] === containerName);
  const running = obj(obj(obj(cs)['state'])['running']);
  const createdAtMs = timeMs(meta['creationTimestamp']);
  return {
    name: str(meta['name']) ?? '',
    namespace: str(meta['namespace']) ?? '',
    ready,
    terminating,
    startedAtMs: timeMs(running['startedAt']) ?? timeMs(status['startTime']) ?? createdAtMs,
    createdAtMs,
    container: containerView(obj(p['spec']), containerName),
  };
}

export function deploymentView(raw: unknown, containerName: string): DeploymentView {
  const d = obj(raw);
  const meta = obj(d['metadata']);
  return {
    name: str(meta['name']) ?? '',
    namespace: str(meta['namespace']) ?? '',
    container: containerView(obj(obj(obj(d['spec'])['template'])['spec']), containerName),
  };
}

/** A ConfigMap's string data (binaryData never becomes env: the kubelet reads only data). */
export function configMapData(raw: unknown): Record<string, string> {
  const data = obj(obj(raw)['data']);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(data)) if (typeof v === 'string') out[k] = v;
  return out;
}
