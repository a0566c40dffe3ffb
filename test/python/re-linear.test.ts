import { describe, it, expect } from 'vitest';
import { compileInstrumentedMatcher, MAX_PROGRAM_SIZE } from '../../src/python/re/index.js';

/*
 * Linearity without timing: the matcher counts its steps (closure visits + character tests).
 * A Thompson simulation visits each instruction at most once per position and list, so a match
 * costs at most 2 × (instructions, lookaround bodies included) × (input length + 1) steps.
 */
const C = 2;

const CATASTROPHIC: [string, string][] = [
  ['^(\\w+\\s?)*$', 'a'.repeat(100_000) + '!'],
  ['^(\\w+\\s?)*$', 'ab '.repeat(30_000) + '!'],
  ['(.*a){20}', 'a'.repeat(19) + 'b'.repeat(50_000)],
  ['^([a-z0-9]+[-./]?)*$', 'mlrun-' + 'x'.repeat(100_000) + '!'],
  ['(a|aa)+$', 'a'.repeat(50_000) + 'b'],
  ['^(a*)*$', 'a'.repeat(100_000) + 'b'],
  ['(?i)(k+)+\u212a$', 'k'.repeat(20_000) + 'x'],
  ['(?=(a+)+$)a', 'a'.repeat(50_000) + 'b'],
  ['(?!(a+)+b)a*c', 'a'.repeat(50_000) + 'b'],
  ['(.*)*(?<=b)\\b$', 'ab'.repeat(20_000) + '!'],
  ['(?s)(.|\\n)*z', 'a\n'.repeat(20_000)],
  ['^(\\d+)*$', '1'.repeat(100_000) + 'x'],
  ['\\b\\w+\\B!', 'x'.repeat(10_000)],
];

describe('linear time: steps ≤ 2 · program size · (input length + 1)', () => {
  it.each(CATASTROPHIC)('%j on %#', (pattern, input) => {
    const m = compileInstrumentedMatcher(pattern);
    if (!m.ok) throw new Error(m.reason);
    m.match(input);
    const steps = m.lastSteps();
    expect(steps).toBeGreaterThan(input.length); // the counter really counts
    expect(steps).toBeLessThanOrEqual(C * m.programSize * (input.length + 1));
  });

  it('grows linearly: doubling the input at most doubles the steps (plus a constant)', () => {
    for (const [pattern] of CATASTROPHIC) {
      const m = compileInstrumentedMatcher(pattern);
      if (!m.ok) throw new Error(m.reason);
      const cost = (n: number): number => {
        m.match('a1 b'.repeat(n) + '!');
        return m.lastSteps();
      };
      const small = cost(2_000);
      const large = cost(4_000);
      expect({ pattern, ratioOk: large <= 2 * small + 4 * m.programSize }).toEqual({ pattern, ratioOk: true });
    }
  });

  it('refuses programs above the documented cap with a reason', () => {
    expect(compileInstrumentedMatcher(`a{${MAX_PROGRAM_SIZE}}`)).toMatchObject({
      ok: false,
      kind: 'unsupported',
      reason: new RegExp(`more than ${MAX_PROGRAM_SIZE} matcher instructions`),
    });
    expect(compileInstrumentedMatcher('(?:(?:a{40}){40}){40}')).toMatchObject({ ok: false, kind: 'unsupported' });
    expect(compileInstrumentedMatcher(`a{${MAX_PROGRAM_SIZE - 1}}`)).toMatchObject({ ok: true });
    // Python's own limit comes first: OverflowError, not our cap.
    expect(compileInstrumentedMatcher('a{4294967295}')).toMatchObject({ ok: false, kind: 'OverflowError' });
    // Case-insensitive ranges are lowered code point by code point at load, as sre does: capped.
    expect(compileInstrumentedMatcher('(?i)[\\x00-\\uffff]{900}')).toMatchObject({ ok: true, programSize: 901 });
    const manyRanges = '(?i)' + Array.from({ length: 17 }, (_, i) => `[\\x00-\\u${(0xffff - i).toString(16)}]`).join('');
    expect(compileInstrumentedMatcher(manyRanges)).toMatchObject({ ok: false, kind: 'unsupported', reason: /code points in total/ });
    // An empty item repeats to nothing and costs nothing, however large the count.
    expect(compileInstrumentedMatcher('(?:){4294967294}x')).toMatchObject({ ok: true, programSize: 2 });
  });
});
