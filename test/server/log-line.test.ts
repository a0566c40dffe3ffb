/** The per-admission log line: what it says (python version, reasons), its level, and that it stays bounded. */
import { describe, expect, it } from 'vitest';
import type { AdmissionSummary, ImageDecision } from '../../src/admission/types.js';
import { clip, LOG_MAX_CHANGES, LOG_MAX_STRING, LOG_MAX_WARNINGS, logAdmission } from '../../src/server/app.js';
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

  it('clip keeps short strings and says how much it cut', () => {
    expect(clip('abc', 5)).toBe('abc');
    expect(clip('abcdefgh', 5)).toBe('abcde…(+3 chars)');
  });
});
