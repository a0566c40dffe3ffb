import { describe, it, expect } from 'vitest';
import { CASE_FIXES, isDigitU, isSpaceU, isWordU, pyLower, pyUpper } from '../../src/python/unicode.js';
import { askPython, oracleUnavailable } from './oracle.js';

/*
 * The Unicode data the matcher uses, checked against CPython 3.11 on every code point assigned in
 * its Unicode version (14.0): `lower()`/`upper()` as sre uses them, `\w \d \s`, and
 * `re._casefix._EXTRA_CASES`. Code points assigned later may differ (Node's ICU is newer).
 */
const unavailable = oracleUnavailable();

interface Tables {
  version: string;
  unidata: string;
  unassigned: [number, number][];
  word: [number, number][];
  digit: [number, number][];
  space: [number, number][];
  cased: [number, number, number][];
  casefix: Record<string, number[]>;
}

function membership(ranges: readonly [number, number][]): Uint8Array {
  const m = new Uint8Array(0x110000);
  for (const [lo, hi] of ranges) m.fill(1, lo, hi + 1);
  return m;
}

describe.skipIf(unavailable !== null)(`Unicode tables against CPython 3.11${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  const t = (unavailable === null ? askPython([['#tables']])[0] : null) as Tables;

  it('re._casefix equivalences are the same', () => {
    const ours = Object.fromEntries([...CASE_FIXES].map(([k, v]) => [String(k), [...v].sort((a, b) => a - b)]));
    const theirs = Object.fromEntries(Object.entries(t.casefix).map(([k, v]) => [k, [...v].sort((a, b) => a - b)]));
    expect(ours).toEqual(theirs);
  });

  it('lower(), upper(), \\w, \\d and \\s agree on every assigned code point', () => {
    const unassigned = membership(t.unassigned);
    const word = membership(t.word);
    const digit = membership(t.digit);
    const space = membership(t.space);
    const lower = new Map<number, number>();
    const upper = new Map<number, number>();
    for (const [cp, lo, up] of t.cased) {
      lower.set(cp, lo);
      upper.set(cp, up);
    }
    const diffs: string[] = [];
    let checked = 0;
    for (let cp = 0; cp <= 0x10ffff && diffs.length < 20; cp++) {
      if (unassigned[cp] === 1) continue;
      checked++;
      const hex = cp.toString(16);
      if (pyLower(cp) !== (lower.get(cp) ?? cp)) diffs.push(`lower U+${hex}`);
      if (pyUpper(cp) !== (upper.get(cp) ?? cp)) diffs.push(`upper U+${hex}`);
      if (isWordU(cp) !== (word[cp] === 1)) diffs.push(`\\w U+${hex}`);
      if (isDigitU(cp) !== (digit[cp] === 1)) diffs.push(`\\d U+${hex}`);
      if (isSpaceU(cp) !== (space[cp] === 1)) diffs.push(`\\s U+${hex}`);
    }
    expect(diffs).toEqual([]);
    expect(checked).toBeGreaterThan(280_000); // Unicode 14: ~145k assigned + 137k private use
  }, 120_000);
});
