/**
 * Python 3.11 character predicates and case mappings used by the `re` emulation.
 *
 * Why not JavaScript's own: Python's `\w` is `str.isalnum() or '_'`, its `\s` is `str.isspace()`
 * (29 code points, not JavaScript's `\s`), and `re`'s case-insensitive matching compares
 * `lower()` plus a small table of extra equivalences (`re._casefix`), not Unicode case folding.
 * Node's ICU data is Unicode 15+, Python 3.11's is 14.0: they agree on every code point assigned
 * in Unicode 14 (the differential tests check this); only later additions can differ.
 */

/** `str.isspace()` code points (= `\s` for str patterns), stable since long before Unicode 14. */
export const PY_SPACE_CPS: readonly number[] = [
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001,
  0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f,
  0x205f, 0x3000,
];
const SPACE_SET = new Set(PY_SPACE_CPS);

const WORD_RE = /^[\p{L}\p{N}_]$/u;
const DIGIT_RE = /^\p{Nd}$/u;

/** Unicode `\w`: `str.isalnum()` or `_` (equal to [\p{L}\p{N}_] on Unicode 14). */
export function isWordU(cp: number): boolean {
  if (cp < 0x80) return isWordA(cp);
  return WORD_RE.test(String.fromCodePoint(cp));
}

/** ASCII `\w` ((?a) flag): `[A-Za-z0-9_]`. */
export function isWordA(cp: number): boolean {
  return (cp >= 0x61 && cp <= 0x7a) || (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x30 && cp <= 0x39) || cp === 0x5f;
}

/** Unicode `\d`: `str.isdecimal()` (= general category Nd). */
export function isDigitU(cp: number): boolean {
  if (cp < 0x80) return cp >= 0x30 && cp <= 0x39;
  return DIGIT_RE.test(String.fromCodePoint(cp));
}

export function isDigitA(cp: number): boolean {
  return cp >= 0x30 && cp <= 0x39;
}

export function isSpaceU(cp: number): boolean {
  return SPACE_SET.has(cp);
}

/** ASCII `\s`: space, \t \n \v \f \r (not 0x1c-0x1f, unlike str.isspace()). */
export function isSpaceA(cp: number): boolean {
  return cp === 0x20 || (cp >= 0x09 && cp <= 0x0d);
}

// CPython's Py_UNICODE_TOLOWER/TOUPPER return the first code point of the full (SpecialCasing)
// mapping, which is what the first code point of JavaScript's locale-independent
// toLowerCase()/toUpperCase() of a lone character gives. BMP results are cached: sre lowers every
// input character under (?i), and this keeps that to one array read after the first time.
let lowerCache: Int32Array | null = null;
let upperCache: Int32Array | null = null;

function firstCp(s: string, fallback: number): number {
  return s.codePointAt(0) ?? fallback;
}

/** Python's `lower()` of one code point as sre uses it (`_sre.unicode_tolower`). */
export function pyLower(cp: number): number {
  if (cp < 0x80) return cp >= 0x41 && cp <= 0x5a ? cp + 0x20 : cp;
  if (cp > 0xffff) return firstCp(String.fromCodePoint(cp).toLowerCase(), cp);
  lowerCache ??= new Int32Array(0x10000).fill(-1);
  let v = lowerCache[cp]!;
  if (v < 0) {
    v = firstCp(String.fromCharCode(cp).toLowerCase(), cp);
    lowerCache[cp] = v;
  }
  return v;
}

/**
 * Lowercase letters of Unicode 14 whose uppercase partner came later (U+A7DC, U+A7CB, U+A7D2,
 * U+A7D4 in Node's ICU): Python 3.11 leaves them unchanged. unicode.test.ts finds any new ones.
 */
const UPPER_ADDED_AFTER_14 = new Set([0x19b, 0x264, 0xa7d3, 0xa7d5]);

/** Python's `upper()` of one code point as sre uses it. */
export function pyUpper(cp: number): number {
  if (cp < 0x80) return cp >= 0x61 && cp <= 0x7a ? cp - 0x20 : cp;
  if (UPPER_ADDED_AFTER_14.has(cp)) return cp;
  if (cp > 0xffff) return firstCp(String.fromCodePoint(cp).toUpperCase(), cp);
  upperCache ??= new Int32Array(0x10000).fill(-1);
  let v = upperCache[cp]!;
  if (v < 0) {
    v = firstCp(String.fromCharCode(cp).toUpperCase(), cp);
    upperCache[cp] = v;
  }
  return v;
}

/** `_sre.unicode_iscased`: the character changes under lower() or upper(). */
export function pyIsCased(cp: number): boolean {
  return pyLower(cp) !== cp || pyUpper(cp) !== cp;
}

/** `_sre.ascii_tolower`. */
export function asciiLower(cp: number): number {
  return cp >= 0x41 && cp <= 0x5a ? cp + 0x20 : cp;
}

export function asciiIsCased(cp: number): boolean {
  return (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a);
}

/**
 * `re._casefix._EXTRA_CASES` of CPython 3.11 as equivalence classes of lowercase code points:
 * characters whose lower() differ but that Python still matches case-insensitively (they share an
 * upper()), e.g. 's' and U+017F LATIN SMALL LETTER LONG S. A test compares it with CPython's.
 */
const CASE_FIX_CLASSES: readonly (readonly number[])[] = [
  [0x69, 0x131], [0x73, 0x17f], [0xb5, 0x3bc], [0x345, 0x3b9, 0x1fbe], [0x390, 0x1fd3], [0x3b0, 0x1fe3],
  [0x3b2, 0x3d0], [0x3b5, 0x3f5], [0x3b8, 0x3d1], [0x3ba, 0x3f0], [0x3c0, 0x3d6], [0x3c1, 0x3f1],
  [0x3c2, 0x3c3], [0x3c6, 0x3d5], [0x432, 0x1c80], [0x434, 0x1c81], [0x43e, 0x1c82], [0x441, 0x1c83],
  [0x442, 0x1c84, 0x1c85], [0x44a, 0x1c86], [0x463, 0x1c87], [0x1c88, 0xa64b], [0x1e61, 0x1e9b],
  [0xfb05, 0xfb06],
];

/** lowercase code point → the other members of its class (like `_EXTRA_CASES[lo]`). */
export const CASE_FIXES: ReadonlyMap<number, readonly number[]> = new Map(
  CASE_FIX_CLASSES.flatMap((cls) => cls.map((c) => [c, cls.filter((o) => o !== c)] as const)),
);
