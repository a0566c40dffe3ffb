/** Test-side object handling against the envtest API server: apply fixtures, play kubelet for chief Pods. */
import { readFileSync } from 'node:fs';
import { CoreV1Api, KubernetesObjectApi, type KubeConfig, type KubernetesObject, type V1Pod } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';

const FIXTURES = new URL('../fixtures/mlrun-install/', import.meta.url);

type Obj = KubernetesObject & { metadata: { name: string; namespace?: string }; [k: string]: unknown };

/** The objects of a fixture file, moved to namespace `ns` when given (the Namespace object is renamed too). */
export function fixture(file: string, ns?: string): Obj[] {
  const docs = parseAllDocuments(readFileSync(new URL(file, FIXTURES), 'utf8')).map((d) => d.toJS() as Obj);
  return docs
    .filter((d) => d && d.kind)
    .map((d) => {
      if (!ns) return d;
      if (d.kind === 'Namespace') return { ...d, metadata: { ...d.metadata, name: ns } };
      return { ...d, metadata: { ...d.metadata, namespace: ns } };
    });
}

export class Cluster {
  readonly objects: KubernetesObjectApi;
  readonly core: CoreV1Api;
  constructor(kc: KubeConfig) {
    this.objects = KubernetesObjectApi.makeApiClient(kc);
    this.core = kc.makeApiClient(CoreV1Api);
  }

  /** Create, or replace what exists (like kubectl apply for whole objects). */
  async apply(objs: Obj[]): Promise<void> {
    for (const o of objs) {
      try {
        await this.objects.create(o);
      } catch (e) {
        if ((e as { code?: number }).code !== 409) throw e;
        const existing = await this.objects.read(o as never);
        await this.objects.replace({ ...o, metadata: { ...o.metadata, resourceVersion: existing.metadata?.resourceVersion } });
      }
    }
  }

  async namespace(ns: string): Promise<void> {
    await this.apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }]);
  }

  /** What a ReplicaSet controller would create for the Deployment `d` (its template), named `name`. */
  async createPod(d: Obj, name: string): Promise<void> {
    const template = (d['spec'] as { template: { metadata: { labels: Record<string, string> }; spec: unknown } }).template;
    await this.objects.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: d.metadata.namespace!, labels: template.metadata.labels },
      spec: template.spec,
    } as Obj);
  }

  /** What the kubelet would report once the containers run and pass readiness: started `at`, Ready. */
  async markReady(ns: string, name: string, at: Date): Promise<void> {
    const pod: V1Pod = await this.core.readNamespacedPod({ name, namespace: ns });
    pod.status = {
      phase: 'Running',
      startTime: at,
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: at }],
      containerStatuses: (pod.spec?.containers ?? []).map((c) => ({
        name: c.name,
        image: c.image ?? '',
        imageID: '',
        ready: true,
        restartCount: 0,
        state: { running: { startedAt: at } },
      })),
    };
    await this.core.replaceNamespacedPodStatus({ name, namespace: ns, body: pod });
  }

  async deletePod(ns: string, name: string): Promise<void> {
    await this.core.deleteNamespacedPod({ name, namespace: ns, gracePeriodSeconds: 0 });
  }
}

/** The chief Deployment of a fixture. */
export function chief(objs: Obj[]): Obj {
  const d = objs.find((o) => o.kind === 'Deployment' && o.metadata.name === 'mlrun-api-chief');
  if (!d) throw new Error('fixture has no mlrun-api-chief');
  return d;
}

/** A deep copy with the chief container changed by `edit`. */
export function withChiefContainer(d: Obj, edit: (c: { image: string; env?: unknown[]; envFrom?: unknown[] }) => void): Obj {
  const copy = structuredClone(d);
  const containers = (copy['spec'] as { template: { spec: { containers: { name: string; image: string }[] } } }).template.spec.containers;
  edit(containers.find((c) => c.name === 'mlrun-api')!);
  return copy;
}

/** The first whole second strictly after `ms`: a container started then provably read what was seen at `ms`. */
export function secondAfter(ms: number): number {
  return (Math.floor(ms / 1000) + 1) * 1000;
}
