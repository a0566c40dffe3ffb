/** The record annotation's reader and writer on their own: sizes are exact, trimming keeps this pass's entries first. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ADMISSION_LIMITS as L } from '../../src/admission/limits.js';
import { otherAnnotationsBytes, readRecord, writeRecord, type RecordMap } from '../../src/admission/record.js';
import type { ImageDecision } from '../../src/admission/types.js';

const decision = (name: string, reason = 'tag from server version 1.9.2'): ImageDecision => ({
  kind: 'containers', name, index: 0, original: 'mlrun/mlrun', image: 'mlrun/mlrun:1.9.2', changed: true, reasonCode: 'tag', reasons: [reason],
});
const earlier = (entries: Record<string, unknown>): RecordMap => Object.assign(Object.create(null) as RecordMap, entries);

describe('writeRecord', () => {
  it('writes the whole record, earlier entries kept and this pass winning, when it fits', () => {
    const w = writeRecord(earlier({ 'containers/old': { from: 'a', to: 'b', reason: 'r' }, 'containers/c': { from: 'x', to: 'y' } }), [decision('c')], 10_000);
    expect(w.kind).toBe('full');
    if (w.kind === 'full') {
      expect(JSON.parse(w.value)).toEqual({
        'containers/old': { from: 'a', to: 'b', reason: 'r' },
        'containers/c': { from: 'mlrun/mlrun', to: 'mlrun/mlrun:1.9.2', reason: 'tag from server version 1.9.2' },
      });
    }
  });

  it('uses every byte of room: a record of exactly `room` bytes is written, one byte less trims it', () => {
    const full = writeRecord(earlier({}), [decision('c', 'é'.repeat(50))], 1e6);
    if (full.kind !== 'full') throw new Error('expected full');
    const bytes = Buffer.byteLength(full.value);
    expect(writeRecord(earlier({}), [decision('c', 'é'.repeat(50))], bytes).kind).toBe('full');
    const trimmed = writeRecord(earlier({}), [decision('c', 'é'.repeat(50))], bytes - 1);
    expect(trimmed).toMatchObject({ kind: 'trimmed', entries: 1, of: 1 });
  });

  it("keeps this pass's entries before earlier ones, drops earlier entries not of its shape, and never exceeds room", () => {
    const old = earlier({ 'containers/a': { from: 'p', to: 'q' }, junk: 7, 'containers/b': { from: 'r', to: 's' } });
    const ours = [decision('x'), decision('y')];
    const slimOurs = JSON.stringify({ 'containers/x': { from: 'mlrun/mlrun', to: 'mlrun/mlrun:1.9.2' }, 'containers/y': { from: 'mlrun/mlrun', to: 'mlrun/mlrun:1.9.2' } });
    const w = writeRecord(old, ours, slimOurs.length + 5);
    expect(w.kind).toBe('trimmed');
    if (w.kind === 'trimmed') {
      expect(Object.keys(JSON.parse(w.value))).toEqual(['containers/x', 'containers/y']);
      expect(Buffer.byteLength(w.value)).toBeLessThanOrEqual(slimOurs.length + 5);
      expect(w.of).toBe(5);
    }
    expect(writeRecord(old, ours, 10)).toEqual({ kind: 'omitted', room: 10 });
    expect(writeRecord(old, ours, -50)).toMatchObject({ kind: 'omitted' });
  });
});

describe('writeRecord with no earlier record (written as text, no merged map)', () => {
  const text = fc.string({ unit: 'binary', maxLength: 30 });
  const decisionArb = fc.record({
    kind: fc.constantFrom('containers', 'initContainers', 'ephemeralContainers'),
    // A few names, so that two containers of one kind sometimes share one (the map keeps one entry).
    name: fc.oneof(fc.constantFrom('a', 'b', 'c"d', 'é'), text),
    index: fc.nat(20),
    original: text,
    image: text,
    changed: fc.boolean(),
    reasonCode: fc.constant('tag'),
    reasons: fc.array(text, { maxLength: 3 }),
    policy: fc.option(fc.record({ verdict: fc.constantFrom('off-pin', 'floating', 'pinned'), action: fc.constantFrom('none', 'warn', 'rewrite', 'deny') }), { nil: undefined }),
    digest: fc.option(fc.constantFrom('resolved', 'unresolved'), { nil: undefined }),
    mirror: fc.option(fc.constantFrom('present', 'missing', 'unknown'), { nil: undefined }),
  }) as fc.Arbitrary<ImageDecision>;

  it('writes what merging into an empty record writes: the same text, size checks and trimming', () => {
    fc.assert(
      fc.property(fc.array(decisionArb, { maxLength: 20 }), fc.integer({ min: -10, max: 4000 }), (ds, room) => {
        const { json, ...fast } = writeRecord(undefined, ds, room) as { json?: string; kind: string; value?: string };
        expect(fast).toEqual(writeRecord(earlier({}), ds, room));
        // The text for the patch, written with it, is the value as a JSON string.
        if (json !== undefined) expect(json).toBe(JSON.stringify(fast.value));
        // A second pass over the same decisions (its entry texts remembered) writes the same.
        expect(writeRecord(undefined, ds, room)).toEqual({ ...fast, ...(json !== undefined ? { json } : {}) });
      }),
      { numRuns: 500 },
    );
  });
});

describe('writeRecord: entry texts remembered per reasons list', () => {
  // The engine hands out one reasons list per memoised resolution; a list seen again with another from or to
  // (a decision built around the same list) must not get the text remembered for the first.
  it.each([
    ['another to', { image: 'mlrun/mlrun:1.10.0' }],
    ['another from', { original: 'mlrun/mlrun ' }],
  ])('a shared list with %s is written afresh', (_n, other) => {
    const reasons = ['tag from server version 1.9.2'];
    const first = { ...decision('c'), reasons };
    const second = { ...first, ...other };
    const read = (d: ImageDecision) => {
      const w = writeRecord(undefined, [d], 10_000);
      return w.kind === 'full' ? JSON.parse(w.value)['containers/c'] : undefined;
    };
    expect(read(first)).toEqual({ from: first.original, to: first.image, reason: reasons[0] });
    expect(read(second)).toEqual({ from: second.original, to: second.image, reason: reasons[0] });
    expect(read(first)).toEqual({ from: first.original, to: first.image, reason: reasons[0] });
  });
});

describe('readRecord', () => {
  it.each([
    [undefined, false, 0],
    ['', false, 0],
    ['not json', false, 0],
    ['[1,2]', false, 0],
    [JSON.stringify({ 'containers/c': { from: 'a', to: 'b' } }), false, 1],
    [`{"a":${'['.repeat(9)}${']'.repeat(9)}}`, false, 0], // deeper than any record of ours
    ['x'.repeat(L.maxRecordBytes + 1), true, 0],
  ])('%j → tooLarge %s, %i entries', (value, tooLarge, entries) => {
    const r = readRecord(value);
    expect(r.tooLarge).toBe(tooLarge);
    expect(Object.keys(r.record ?? {})).toHaveLength(entries);
  });
});

describe('otherAnnotationsBytes', () => {
  it('counts UTF-8 bytes of keys and values, except the record key', () => {
    expect(otherAnnotationsBytes({ 'a/b': 'é', r: 'xxxxxxxx', n: 5 }, 'r')).toBe(3 + 2 + 1);
    expect(otherAnnotationsBytes(undefined, 'r')).toBe(0);
  });
});

describe('writeRecord: policy, digest and mirror codes', () => {
  const flagged = (over: Partial<ImageDecision>): ImageDecision => ({ ...decision('c'), ...over });

  it('writes the codes next to from/to/reason, and keeps them when trimming drops the reasons', () => {
    const d = flagged({ policy: { verdict: 'off-pin', action: 'rewrite' }, digest: 'resolved', mirror: 'present', reasons: ['r'.repeat(200)] });
    const full = writeRecord(earlier({}), [d], 10_000);
    expect(full.kind === 'full' && JSON.parse(full.value)).toEqual({
      'containers/c': { from: 'mlrun/mlrun', to: 'mlrun/mlrun:1.9.2', reason: 'r'.repeat(200), policy: 'off-pin/rewrite', digest: 'resolved', mirror: 'present' },
    });
    const slim = writeRecord(earlier({}), [d], 150);
    expect(slim.kind === 'trimmed' && JSON.parse(slim.value)).toEqual({
      'containers/c': { from: 'mlrun/mlrun', to: 'mlrun/mlrun:1.9.2', policy: 'off-pin/rewrite', digest: 'resolved', mirror: 'present' },
    });
  });

  it("a decision with policy action none writes no policy code; an earlier record's long codes are not copied into a trimmed one", () => {
    const d = flagged({ policy: { verdict: 'pinned', action: 'none' } });
    const w = writeRecord(earlier({}), [d], 10_000);
    expect(w.kind === 'full' && JSON.parse(w.value)['containers/c']).not.toHaveProperty('policy');
    const old = earlier({ 'containers/x': { from: 'a', to: 'b', policy: 'p'.repeat(100), mirror: 'missing', reason: 'r'.repeat(500) } });
    const t = writeRecord(old, [d], 200);
    expect(t.kind === 'trimmed' && JSON.parse(t.value)['containers/x']).toEqual({ from: 'a', to: 'b', mirror: 'missing' });
  });

  it("an unchanged container flagged again, whose image is the earlier entry's result, keeps the earlier entry as it is", () => {
    const before = { from: 'mlrun/mlrun', to: 'reg/mlrun/mlrun:1.9.2', reason: 'tag; prefix', digest: 'unresolved' };
    const again = flagged({ original: 'reg/mlrun/mlrun:1.9.2', image: 'reg/mlrun/mlrun:1.9.2', changed: false, digest: 'unresolved', reasons: ['unchanged'] });
    const w = writeRecord(earlier({ 'containers/c': before }), [again], 10_000);
    expect(w.kind === 'full' && JSON.parse(w.value)).toEqual({ 'containers/c': before });
    // a changed image is this pass's entry
    const changed = flagged({ original: 'reg/mlrun/mlrun:1.9.2', image: 'reg/mlrun/mlrun:1.9.2@sha256:' + 'a'.repeat(64), digest: 'resolved', reasons: ['digest'] });
    const w2 = writeRecord(earlier({ 'containers/c': before }), [changed], 10_000);
    expect(w2.kind === 'full' && JSON.parse(w2.value)['containers/c']).toMatchObject({ from: 'reg/mlrun/mlrun:1.9.2', digest: 'resolved' });
  });
});
