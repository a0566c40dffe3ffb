/** Shared set-up of the production-policy and mirror admission tests: configs, Pods, a registry view, denials. */
import { expect } from 'vitest';
import { podCreateReview } from '../../src/admission/review.js';
import type { AdmissionResult, AdmissionSummary, MirrorStateName, RegistryView } from '../../src/admission/types.js';
import { validateAndBuild } from '../../src/config/load.js';
import type { Runtime } from '../../src/config/runtime.js';

export type Obj = Record<string, any>;

export const REGISTRY = 'registry.local:5000';
export const RECORD = 'mlrun-image-webhook/images';
export const DIGEST = `sha256:${'ab'.repeat(32)}`;

/** A runtime from a config document, through the real loader (schema defaults, validation, compilation). */
export function runtimeOf(raw: Obj): Runtime {
  const r = validateAndBuild({ mlrun: { version: '1.9.2', imagesRegistry: `${REGISTRY}/`, ...raw.mlrun }, ...withoutMlrun(raw) });
  if (!r.ok) throw new Error(r.problems.map((p) => `${p.key}: ${p.reason}`).join('; '));
  return r.runtime;
}

function withoutMlrun(raw: Obj): Obj {
  const { mlrun: _m, ...rest } = raw;
  return rest;
}

/** A Pod with the given container images (names c0, c1...), no MLRun client version: the server's 1.9.2 applies. */
export function pod(images: string[], metadata: Obj = {}): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', ...metadata },
    spec: { containers: images.map((image, i) => ({ name: `c${i}`, image })) },
  };
}

export const review = (object: Obj, namespace = 'prod', request: Obj = {}): Obj =>
  podCreateReview(object, { uid: 'e911857d-c318-11e8-bbad-025000000001', namespace, request });

/**
 * The registry cache as admission sees it: a plain object implementing RegistryView, recording every image asked,
 * so a test can prove an image on an unconfigured host is never even looked at.
 */
export class FakeRegistry implements RegistryView {
  readonly asked: string[] = [];
  constructor(private readonly known: Record<string, { state: MirrorStateName; digest?: string }> = {}) {}
  state(image: string): { state: MirrorStateName; digest?: string } {
    this.asked.push(image);
    return this.known[image] ?? { state: 'unknown' };
  }
}

/** Checks a denial the way the API server reads it and returns its message. */
export function denied(result: AdmissionResult, body: Obj): { message: string; warnings: string[]; summary: AdmissionSummary } {
  expect(result.status).toBe(200);
  if (result.status !== 200) throw new Error('unreachable');
  const res = result.body.response;
  expect(res.uid).toBe(body.request.uid);
  expect(res.allowed).toBe(false);
  expect(res.patch).toBeUndefined();
  expect(res.patchType).toBeUndefined();
  expect(res.status).toMatchObject({ code: 403, reason: 'Forbidden' });
  expect(result.summary.outcome).toBe('denied');
  for (const w of res.warnings ?? []) expect(w.length).toBeLessThanOrEqual(256);
  return { message: res.status!.message, warnings: res.warnings ?? [], summary: result.summary };
}

export function ok(result: AdmissionResult): { summary: AdmissionSummary; warnings: string[] } {
  if (result.status !== 200) throw new Error(`status ${result.status}`);
  return { summary: result.summary, warnings: result.body.response.warnings ?? [] };
}

export const imagesOf = (p: Obj): string[] => (p.spec.containers ?? []).map((c: Obj) => c.image);
export const recordOf = (p: Obj): Obj => JSON.parse(p.metadata?.annotations?.[RECORD] ?? '{}');
