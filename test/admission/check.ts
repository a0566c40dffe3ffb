/** The answer checked the way the API server does it, shared by the admission tests. */
import jsonpatch, { type Operation } from 'fast-json-patch';
import { expect } from 'vitest';
import type { AdmissionResult } from '../../src/admission/types.js';
import { applyPatchStrict } from '../helpers/jsonpatch.js';

type Obj = Record<string, any>;

/** Checks the answer the way the API server does and returns the patched Pod. */
export function check(result: AdmissionResult, body: Obj): { pod: Obj; patch: Obj[] } {
  expect(result.status).toBe(200);
  if (result.status !== 200) throw new Error('unreachable');
  const res = result.body;
  expect(res.apiVersion).toBe('admission.k8s.io/v1');
  expect(res.kind).toBe('AdmissionReview');
  expect(res.response.uid).toBe(body.request.uid);
  expect(res.response.allowed).toBe(true);
  // The text the server sends is this answer, byte for byte.
  expect(result.json).toBe(JSON.stringify(res));
  let patch: Obj[] = [];
  if (res.response.patch !== undefined) {
    expect(res.response.patchType).toBe('JSONPatch');
    patch = JSON.parse(Buffer.from(res.response.patch, 'base64').toString('utf8'));
    expect(patch.length).toBeGreaterThan(0);
    expect(jsonpatch.validate(patch as Operation[], body.request.object)).toBeUndefined();
    for (const op of patch) {
      // Only image fields and the webhook's own annotations may change.
      expect(op.path).toMatch(/^\/spec\/(containers|initContainers|ephemeralContainers)\/\d+\/image$|^\/metadata(\/annotations(\/.+)?)?$/);
    }
  } else {
    expect(res.response.patchType).toBeUndefined();
  }
  // Warnings: the API server truncates one past 256 characters and drops all past 4096 in total (shared budget).
  const warnings = res.response.warnings ?? [];
  for (const w of warnings) expect(w.length).toBeLessThanOrEqual(256);
  expect(warnings.join('').length).toBeLessThanOrEqual(2048);
  // Audit annotation keys get "<webhook name>/" in front and must then be qualified names.
  for (const key of Object.keys(res.response.auditAnnotations ?? {})) expect(key).toMatch(QUALIFIED_NAME);
  const pod = applyPatchStrict(body.request.object, patch as never) as Obj;
  // fast-json-patch, an applier written independently of the strict one above, agrees.
  const viaLibrary = jsonpatch.applyPatch(structuredClone(body.request.object), patch as Operation[], true, false).newDocument;
  expect(viaLibrary).toEqual(pod);
  // The patched Pod's annotation keys must pass the API server's metadata validation.
  for (const key of Object.keys(pod.metadata?.annotations ?? {})) {
    if (!Object.keys(body.request.object?.metadata?.annotations ?? {}).includes(key)) expect(key).toMatch(QUALIFIED_KEY);
  }
  // The API server's total for annotations: a Pod within it before the patch stays within it after.
  if (annotationBytes(body.request.object) <= 256 * 1024) expect(annotationBytes(pod)).toBeLessThanOrEqual(256 * 1024);
  return { pod, patch };
}

/** What the API server counts against 256 KiB: len(key) + len(value) in UTF-8 bytes, over all annotations. */
export function annotationBytes(pod: Obj | undefined): number {
  let n = 0;
  for (const [k, v] of Object.entries(pod?.metadata?.annotations ?? {})) n += Buffer.byteLength(k) + Buffer.byteLength(String(v));
  return n;
}

const QUALIFIED_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const QUALIFIED_KEY = /^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

