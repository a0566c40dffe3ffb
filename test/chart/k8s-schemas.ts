/**
 * Validates rendered manifests against the Kubernetes OpenAPI schemas (kubernetes-models), and CRD objects
 * (cert-manager, Prometheus Operator) against the few structural rules we rely on.
 */
import { MutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Namespace, Pod, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import type { K8sObject } from './helm.js';

type Validator = (obj: K8sObject) => void;

const builtin = (Model: new (data: never) => { validate(): void }): Validator => (obj) => new Model(obj as never).validate();

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function crd(check: (obj: K8sObject) => string | undefined): Validator {
  return (obj) => {
    if (!obj.metadata || typeof obj.metadata.name !== 'string' || !NAME.test(obj.metadata.name) || obj.metadata.name.length > 253) {
      throw new Error(`${obj.kind}: metadata.name ${String(obj.metadata?.name)} is not a valid name`);
    }
    if (typeof obj.metadata.namespace !== 'string' || obj.metadata.namespace === '') throw new Error(`${obj.kind}: no namespace`);
    if (typeof obj.spec !== 'object' || obj.spec === null) throw new Error(`${obj.kind}: no spec`);
    const problem = check(obj);
    if (problem) throw new Error(`${obj.kind} ${obj.metadata.name}: ${problem}`);
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const spec = (o: K8sObject) => o.spec as any;

const validators: Record<string, Validator> = {
  'v1/ConfigMap': builtin(ConfigMap),
  'v1/Secret': builtin(Secret),
  'v1/Service': builtin(Service),
  'v1/ServiceAccount': builtin(ServiceAccount),
  'v1/Pod': builtin(Pod),
  'v1/Namespace': builtin(Namespace),
  'apps/v1/Deployment': builtin(Deployment),
  'batch/v1/Job': builtin(Job),
  'policy/v1/PodDisruptionBudget': builtin(PodDisruptionBudget),
  'networking.k8s.io/v1/NetworkPolicy': builtin(NetworkPolicy),
  'rbac.authorization.k8s.io/v1/Role': builtin(Role),
  'rbac.authorization.k8s.io/v1/RoleBinding': builtin(RoleBinding),
  'rbac.authorization.k8s.io/v1/ClusterRole': builtin(ClusterRole),
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': builtin(ClusterRoleBinding),
  'admissionregistration.k8s.io/v1/MutatingWebhookConfiguration': builtin(MutatingWebhookConfiguration),
  'cert-manager.io/v1/Issuer': crd((o) => {
    const s = spec(o);
    const types = ['selfSigned', 'ca', 'acme', 'vault', 'venafi'].filter((t) => t in s);
    return types.length === 1 ? undefined : `exactly one issuer type expected, got ${types.join(',') || 'none'}`;
  }),
  'cert-manager.io/v1/Certificate': crd((o) => {
    const s = spec(o);
    if (typeof s.secretName !== 'string' || !s.secretName) return 'spec.secretName missing';
    if (!s.issuerRef || typeof s.issuerRef.name !== 'string') return 'spec.issuerRef.name missing';
    if (!s.isCA && (!Array.isArray(s.dnsNames) || s.dnsNames.length === 0)) return 'spec.dnsNames missing';
    for (const k of ['duration', 'renewBefore']) if (k in s && !/^([0-9.]+(h|m|s))+$/.test(s[k])) return `spec.${k} ${s[k]} is not a Go duration`;
    return undefined;
  }),
  'monitoring.coreos.com/v1/ServiceMonitor': crd((o) => {
    const s = spec(o);
    if (!s.selector?.matchLabels) return 'spec.selector.matchLabels missing';
    if (!Array.isArray(s.endpoints) || s.endpoints.length === 0) return 'spec.endpoints missing';
    return s.endpoints.every((e: { port?: string }) => typeof e.port === 'string') ? undefined : 'endpoint without port name';
  }),
  'monitoring.coreos.com/v1/PrometheusRule': crd((o) => {
    const s = spec(o);
    if (!Array.isArray(s.groups) || s.groups.length === 0) return 'spec.groups missing';
    for (const g of s.groups) {
      if (typeof g.name !== 'string') return 'group without name';
      for (const r of g.rules ?? []) {
        if (typeof r.expr !== 'string' || !r.expr.trim()) return `rule ${r.alert ?? r.record} without expr`;
        if (!r.alert && !r.record) return 'rule without alert or record';
        // PromQL sanity: balanced brackets (the templates build selectors by string concatenation).
        for (const [a, b] of ['()', '{}', '[]']) {
          if (r.expr.split(a).length !== r.expr.split(b).length) return `rule ${r.alert}: unbalanced ${a}${b} in ${r.expr}`;
        }
      }
    }
    return undefined;
  }),
};

/** Throws with the object and the first schema violation. */
export function validateManifest(obj: K8sObject): void {
  const key = `${obj.apiVersion}/${obj.kind}`;
  const v = validators[key];
  if (!v) throw new Error(`no validator for ${key} (${obj.metadata?.name}); add one in test/chart/k8s-schemas.ts`);
  try {
    v(obj);
  } catch (err) {
    throw new Error(`${key} ${obj.metadata?.name}: ${(err as Error).message}`);
  }
}
