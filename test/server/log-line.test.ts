/** The per-admission log line: what it says (python version, reasons), its level, and that it stays bounded. */
import fc from 'fast-check';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { AdmissionSummary, ImageDecision } from '../../src/admission/types.js';
import { clip, LOG_MAX_CHANGES, LOG_MAX_STRING, LOG_MAX_WARNINGS, logAdmission, type LookupNote } from '../../src/server/app.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { logCapture, NOTHING_WAVE2 } from './helpers.js';

function decision(i: number, over: Partial<ImageDecision> = {}): ImageDecision {
  return {
    kind: 'containers',
    name: `c${i}`,
    index: i,
    original: 'mlrun/mlrun',
    image: 'datanode-registry.example/mlrun/mlrun:1.9.2-py39',
    changed: true,
    reasonCode: 'tag+prefix',
    reasons: ['tag from client version 1.9.2 + py39 for python 3.9.18', 'prefixed images registry (pattern ^mlrun/*)'],
    ...over,
  };
}

const SHARED_REASONS: readonly string[] = ['one reasons list, as the engine memoises it'];

function summary(over: Partial<AdmissionSummary> = {}): AdmissionSummary {
  return {
    uid: 'u1',
    namespace: 'mlrun',
    name: 'p',
    operation: 'CREATE',
    outcome: 'mutated',
    decisions: [decision(0)],
    decisionsOmitted: 0,
    imagesSeen: 1,
    changedByReason: { 'tag+prefix': 1 },
    imageWarnings: 0,
    limits: [],
    clientVersion: '1.9.2',
    clientPythonVersion: '3.9.18',
    warnings: [],
    ...NOTHING_WAVE2,
    ...over,
  };
}

function logOne(s: AdmissionSummary) {
  const logs = logCapture();
  logAdmission(createLogger({ destination: logs }), s, 0.0012);
  expect(logs.lines).toHaveLength(1);
  return logs.lines[0];
}

/** The line's members built as a plain object, the way the line was written through pino before (the reference). */
function expectedMembers(s: AdmissionSummary, seconds: number, lookup?: LookupNote): Record<string, unknown> {
  const changed = s.decisions.filter((d) => d.changed);
  const changes = changed.slice(0, LOG_MAX_CHANGES).map((d) => ({ container: clip(`${d.kind}/${d.name}`), from: clip(d.original), to: clip(d.image), reasonCode: d.reasonCode }));
  const total = Object.values(s.changedByReason).reduce((a, b) => a + b!, 0);
  const out: Record<string, unknown> = {
    uid: clip(s.uid),
    namespace: s.namespace === undefined ? undefined : clip(s.namespace),
    pod: s.name === undefined ? undefined : clip(s.name),
    operation: s.operation === undefined ? undefined : clip(s.operation),
    outcome: s.outcome,
    images: s.imagesSeen,
    changes,
    warnings: s.warnings.slice(0, LOG_MAX_WARNINGS).map((w) => clip(w)),
    duration_ms: Math.round(seconds * 1e6) / 1e3,
  };
  if (Math.max(total, changed.length) > changes.length) out.changesOmitted = Math.max(total, changed.length) - changes.length;
  if (s.warnings.length > LOG_MAX_WARNINGS) out.warningsOmitted = s.warnings.length - LOG_MAX_WARNINGS;
  if (s.limits.length > 0) out.limits = s.limits;
  if (s.detail) out.detail = clip(s.detail);
  if (s.clientVersion) out.clientVersion = clip(s.clientVersion);
  if (s.clientPythonVersion) out.clientPythonVersion = clip(s.clientPythonVersion);
  if (lookup) out.registryLookup = lookup;
  if (s.production) {
    out.production = true;
    out.policyMode = s.policyMode;
    const acted = s.policy
      .filter((e) => e.action !== 'none')
      .map((e) => Object.fromEntries(['policy', 'container', 'verdict', 'action', 'image', 'suggestion'].flatMap((k) => ((e as Record<string, string>)[k] === undefined ? [] : [[k, clip((e as Record<string, string>)[k]!)]]))));
    if (acted.length > 0) out.policy = acted;
    if (s.policyOmitted > 0) out.policyOmitted = s.policyOmitted;
  }
  return out;
}

describe('admission log line', () => {
  it('names the client versions and each changed image: container, from, to and reason code', () => {
    const line = logOne(summary({ decisions: [decision(0), decision(1, { kind: 'initContainers', name: 'init', changed: false, reasonCode: 'unchanged' })] }));
    expect(line).toMatchObject({ level: 'info', msg: 'admission', uid: 'u1', clientVersion: '1.9.2', clientPythonVersion: '3.9.18', images: 1 });
    // Only the changed image; the engine's prose reasons stay in the record annotation, not on every line.
    expect(line.changes).toEqual([
      { container: 'containers/c0', from: 'mlrun/mlrun', to: 'datanode-registry.example/mlrun/mlrun:1.9.2-py39', reasonCode: 'tag+prefix' },
    ]);
    expect(line.changesOmitted).toBeUndefined();
    expect(line.warnings).toEqual([]);
  });

  it('lists the warnings and limits', () => {
    const line = logOne(summary({ warnings: ['mlrun-image-webhook: w1', 'mlrun-image-webhook: w2'], limits: ['record-trimmed'] }));
    expect(line).toMatchObject({ level: 'warn', warnings: ['mlrun-image-webhook: w1', 'mlrun-image-webhook: w2'], limits: ['record-trimmed'] });
    expect(line.warningsOmitted).toBeUndefined();
  });

  it('cuts a long warning even when there are few warnings', () => {
    const line = logOne(summary({ warnings: ['short', 'y'.repeat(10_000), 'z'] }));
    expect(line.warnings).toEqual(['short', clip('y'.repeat(10_000)), 'z']);
    expect(line.warningsOmitted).toBeUndefined();
  });

  it.each([
    ['MLRun would raise for an image', summary({ outcome: 'unchanged', decisions: [decision(0, { changed: false, reasonCode: 'error', warning: 'w' })], changedByReason: {}, warnings: ['w'] }), 'warn'],
    ['the Pod could not be understood', summary({ outcome: 'error', decisions: [], changedByReason: {} }), 'warn'],
    ['a limit was hit', summary({ limits: ['image-too-long'] }), 'warn'],
    ['a plain mutation', summary(), 'info'],
  ] as const)('level when %s', (_name, s, level) => {
    expect(logOne(s).level).toBe(level);
  });

  it('a change text kept by its reasons list is used only for the same from, to and reason code', () => {
    const reasons = ['shared'];
    const a = decision(0, { reasons, original: 'mlrun/mlrun', image: 'r.example/mlrun/mlrun:1.9.2', reasonCode: 'tag+prefix' });
    const b = decision(1, { reasons, original: 'mlrun/mlrun', image: 'r.example/mlrun/mlrun:1.9.2', reasonCode: 'tag+prefix' });
    const c = decision(2, { reasons, original: 'mlrun/ml-base', image: 'r.example/mlrun/ml-base:1.9.2', reasonCode: 'tag+prefix' });
    const d = decision(3, { reasons, original: 'mlrun/ml-base', image: 'r.example/mlrun/ml-base:1.9.2', reasonCode: 'prefix' });
    for (let round = 0; round < 2; round++) {
      const line = logOne(summary({ decisions: [a, b, c, d, a], changedByReason: { 'tag+prefix': 4, prefix: 1 } }));
      expect(line.changes).toEqual(
        [a, b, c, d, a].map((x) => ({ container: `containers/${x.name}`, from: x.original, to: x.image, reasonCode: x.reasonCode })),
      );
    }
  });

  it('escapes what JSON must: quotes, backslashes, control characters and lone surrogates; the rest as it is', () => {
    const raw: string[] = [];
    const odd = ['a"b', 'a\\b', 'a\nb', 'a\u0000b', 'a\u007fb', 'a\ud800b', 'a\udc00', '\ud83d\ude00 ok', 'é/ü:1.0'];
    for (const text of odd) {
      logAdmission(createLogger({ destination: { write: (l: string) => void raw.push(l) } }), summary({ uid: text, decisions: [decision(0, { name: text })] }), 0.001);
      const line = raw.pop()!;
      expect(line).toContain(`"uid":${JSON.stringify(text)}`);
      expect(line).toContain(`"container":${JSON.stringify(`containers/${text}`)}`);
      expect(JSON.parse(line).uid).toBe(text);
    }
  });

  it('is bounded: at most LOG_MAX_CHANGES changes plus a count of the rest, strings and warnings cut', () => {
    const long = 'x'.repeat(10_000);
    const decisions = Array.from({ length: 64 }, (_, i) => decision(i, { name: long, original: long, image: long, reasons: [long] }));
    const warnings = Array.from({ length: 50 }, () => long);
    // 64 kept by the admission layer, 936 more past its cap: all changed.
    const line = logOne(summary({ decisions, decisionsOmitted: 936, imagesSeen: 1000, changedByReason: { 'tag+prefix': 1000 }, warnings, uid: long, detail: long, clientPythonVersion: long }));
    expect(line.changes).toHaveLength(LOG_MAX_CHANGES);
    expect(line.changesOmitted).toBe(1000 - LOG_MAX_CHANGES);
    expect(line.warnings).toHaveLength(LOG_MAX_WARNINGS);
    expect(line.warningsOmitted).toBe(50 - LOG_MAX_WARNINGS);
    for (const c of line.changes) for (const v of Object.values(c) as string[]) expect(v.length).toBeLessThanOrEqual(LOG_MAX_STRING + 30);
    expect(line.uid.length).toBeLessThanOrEqual(LOG_MAX_STRING + 30);
    // Whatever the Pod, the line is a few tens of KiB at most.
    expect(JSON.stringify(line).length).toBeLessThan((LOG_MAX_CHANGES * 5 + LOG_MAX_WARNINGS + 10) * (LOG_MAX_STRING + 40));
  });

  it("is byte for byte the line pino writes for the same members (the line is written as text, not through pino's object path)", () => {
    // Any text a Pod can carry, quotes, backslashes and control characters included (well-formed: see writeLine).
    const text = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.string({ unit: 'binary-ascii', maxLength: 40 }), fc.constant('x'.repeat(400)));
    const opt = (a: fc.Arbitrary<string>) => fc.option(a, { nil: undefined });
    const dec = fc.record({
      kind: fc.constantFrom('containers', 'initContainers', 'ephemeralContainers'),
      name: text,
      original: text,
      image: text,
      changed: fc.boolean(),
      reasonCode: fc.constantFrom('tag+prefix', 'prefix', 'error', 'unchanged', 'limit', 'pin+tag'),
    });
    const entry = fc.record(
      {
        policy: fc.constantFrom('pin-tags', 'pin-digests'),
        container: text,
        verdict: fc.constantFrom('floating', 'pinned', 'digest'),
        action: fc.constantFrom('none', 'warn', 'deny', 'rewrite', 'resolved'),
        image: text,
        suggestion: text,
      },
      { requiredKeys: ['policy', 'container', 'verdict', 'action', 'image'] },
    );
    const sum = fc.record({
      uid: text,
      namespace: opt(text),
      name: opt(text),
      operation: opt(text),
      outcome: fc.constantFrom('mutated', 'unchanged', 'skipped', 'denied', 'error', 'reported'),
      decisions: fc.array(dec, { maxLength: 25 }),
      extraChanged: fc.nat(50),
      imagesSeen: fc.nat(1000),
      warnings: fc.array(text, { maxLength: 12 }),
      limits: fc.subarray(['image-too-long', 'too-many-containers', 'version-too-long']),
      detail: opt(text),
      clientVersion: fc.option(text, { nil: null }),
      clientPythonVersion: fc.option(text, { nil: null }),
      production: fc.boolean(),
      policyMode: fc.constantFrom('off', 'enforce', 'report'),
      policy: fc.array(entry, { maxLength: 4 }),
      policyOmitted: fc.nat(3),
    });
    const lookup = fc.option(fc.record({ images: fc.nat(9), ms: fc.double({ min: 0, max: 500, noNaN: true }), secondPass: fc.boolean() }), { nil: undefined });
    fc.assert(
      fc.property(sum, lookup, fc.double({ min: 0, max: 30, noNaN: true }), (g, look, seconds) => {
        const { extraChanged, decisions, ...rest } = g;
        const s = summary({
          ...rest,
          // Half of them share one reasons list (the key of the line's kept change texts), so kept texts are met
          // both for the same change (reused) and for other ones (not reused).
          decisions: decisions.map((d, i) => decision(i, { ...(d as Partial<ImageDecision>), ...(i % 2 ? { reasons: SHARED_REASONS } : {}) })),
          changedByReason: { 'tag+prefix': decisions.filter((d) => d.changed).length + extraChanged },
          policy: rest.policy as AdmissionSummary['policy'],
        } as Partial<AdmissionSummary>);
        const ours: string[] = [];
        logAdmission(createLogger({ destination: { write: (l: string) => void ours.push(l) } }), s, seconds, look as LookupNote | undefined);
        expect(ours).toHaveLength(1);
        // pino's own line for the members our line carries, in the same order.
        const { level, time: _time, name: _name, msg, ...members } = JSON.parse(ours[0]!);
        const theirs: string[] = [];
        createLogger({ destination: { write: (l: string) => void theirs.push(l) } })[level as 'info' | 'warn'](members, msg);
        const untimed = (l: string) => l.replace(/"time":"[^"]*"/, '"time":"T"');
        expect(untimed(ours[0]!)).toBe(untimed(theirs[0]!));
        // And the members are what the line is documented to carry, in this order.
        expect(JSON.stringify(members)).toBe(JSON.stringify(expectedMembers(s, seconds, look as LookupNote | undefined)));
      }),
      { numRuns: 300 },
    );
  });

  it("goes through pino's object path for a logger not made by createLogger (its own format is kept)", () => {
    const lines: string[] = [];
    const other = pino({ base: { svc: 'x' }, messageKey: 'message' }, { write: (l: string) => void lines.push(l) });
    logAdmission(other, summary(), 0.0012);
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!);
    expect(line).toMatchObject({ level: 30, svc: 'x', message: 'admission', uid: 'u1', outcome: 'mutated', duration_ms: 1.2 });
    expect(line.changes).toEqual([{ container: 'containers/c0', from: 'mlrun/mlrun', to: 'datanode-registry.example/mlrun/mlrun:1.9.2-py39', reasonCode: 'tag+prefix' }]);
  });

  it('clip keeps short strings and says how much it cut', () => {
    expect(clip('abc', 5)).toBe('abc');
    expect(clip('abcdefgh', 5)).toBe('abcde…(+3 chars)');
  });
});
