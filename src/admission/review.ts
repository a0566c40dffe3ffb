/** Builds the AdmissionReview the API server would send for a Pod CREATE (CLI `mutate`, tests). */
import { isJsonObject } from '../util/json.js';

export interface PodReviewOptions {
  uid?: string;
  namespace?: string;
  /** Extra or overriding request fields (operation, subResource, oldObject, dryRun...). */
  request?: Record<string, unknown>;
}

export function podCreateReview(pod: unknown, options: PodReviewOptions = {}): Record<string, unknown> {
  const metadata = isJsonObject(pod) && isJsonObject(pod.metadata) ? pod.metadata : undefined;
  const namespace = options.namespace ?? (typeof metadata?.namespace === 'string' ? metadata.namespace : undefined);
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: options.uid ?? 'mutate-cli',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      operation: 'CREATE',
      ...(namespace !== undefined ? { namespace } : {}),
      object: pod,
      ...options.request,
    },
  };
}
