import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { compilePythonMatcher, translatePythonRegex } from '../../src/mlrun/pyregex.js';

/*
 * Expected values below were computed with CPython 3.11.7 (`re.match(p, s) is not None`, and
 * `str(e)` for the `re.error` rows), then pasted here; the tests never call Python.
 * Generator (abridged):
 *   for p, inputs in CASES: for s in inputs: print([p, s, re.match(p, s) is not None])
 *   for p in ERRORS: try: re.compile(p) except re.error as e: print([p, str(e)])
 *   for p in UNSUPPORTED: re.compile(p)   # Python accepts all of them
 */

// [pattern, input, re.match(pattern, input) is not None]
const MATCH_ROWS: ReadonlyArray<readonly [string, string, boolean]> = [
  ["^mlrun/*", "mlrunfoo/bar", true],
  ["^mlrun/*", "mlrun:1.6.0", true],
  ["^mlrun/*", "mlrun", true],
  ["^mlrun/*", "quay.io/mlrun/x", false],
  ["^mlrun/*", "mlrun/mlrun", true],
  ["^mlrun/*", "mlrun-custom/x", true],
  ["^mlrun/*", "localhost:5000/mlrun/x", false],
  ["^mlrun/*", "Mlrun/x", false],
  ["python:3.9", "python:3.9-slim", true],
  ["python:3.9", "python:3x9", true],
  ["python:3.9", "python:3.9", true],
  ["python:3.9", "python:3.1", false],
  ["python:3.9", "docker.io/python:3.9", false],
  ["^python:3.(9|11)$", "python:3.9", true],
  ["^python:3.(9|11)$", "python:3.11", true],
  ["^python:3.(9|11)$", "python:3x9", true],
  ["^python:3.(9|11)$", "python:3.10", false],
  ["^python:3.(9|11)$", "python:3.9-slim", false],
  ["^python:3.(9|11)$", "python:3.9\n", true],
  ["^python:3.(9|11)$", "python:3.11\n\n", false],
  ["^mlrun/mlrun:1.10.0$", "mlrun/mlrun:1.10.0", true],
  ["^mlrun/mlrun:1.10.0$", "mlrun/mlrun:1.10.0-rc1", false],
  ["^mlrun/mlrun:1.10.0$", "mlrun/mlrun:1x10x0", true],
  ["^mlrun/mlrun-gpu", "mlrun/mlrun-gpu:1.6.0", true],
  ["^mlrun/mlrun-gpu", "mlrun/mlrun:1.6.0", false],
  ["^(mlrun|quay.io/mlrun)/", "quay.io/mlrun/mlrun", true],
  ["^(mlrun|quay.io/mlrun)/", "quayXio/mlrun/x", true],
  ["^(mlrun|quay.io/mlrun)/", "mlrun/x", true],
  ["^(mlrun|quay.io/mlrun)/", "docker.io/mlrun/x", false],
  [".*", "", true],
  [".*", "anything", true],
  ["", "", true],
  ["", "mlrun/mlrun", true],
  ["mlrun", "mlrun/mlrun", true],
  ["mlrun", "xmlrun", false],
  [" ^python:3.9", "python:3.9", false],
  [" ^python:3.9", " python:3.9", false],
  ["^busybox", "busybox:1.36", true],
  ["^busybox", "my/busybox", false],
  ["mlrun/ml-base", "mlrun/ml-base:1.6.0", true],
  ["\\Aab\\Z", "ab", true],
  ["\\Aab\\Z", "ab\n", false],
  ["ab$", "ab", true],
  ["ab$", "ab\n", true],
  ["ab$", "ab\n\n", false],
  ["ab$", "abc", false],
  ["$", "", true],
  ["$", "\n", true],
  ["$", "a", false],
  ["^$", "\n", true],
  ["^$", "", true],
  ["(?m)a$\\nb$", "a\nb", true],
  ["(?m)a$\\nb$", "a\nb\n", true],
  ["(?m).*^b", "a\nb", false],
  ["(?m).*^b", "ab", false],
  ["(?m)a$", "a\r\n", false],
  ["a\\Z", "a\n", false],
  ["a.b", "a\nb", false],
  ["a.b", "a\rb", true],
  ["a.b", "a\u2028b", true],
  ["(?s)a.b", "a\nb", true],
  ["(?s:.)a", "\na", true],
  ["^.$", "\ud83d\ude00", true],
  ["\ud83d\ude00.", "\ud83d\ude00x", true],
  ["\\d+$", "\u0663", true],
  ["\\d+$", "12", true],
  ["\\d+$", "1a", false],
  ["(?a)\\d", "\u0663", false],
  ["\\w+$", "\u00e9t\u00e9", true],
  ["\\w+$", "_", true],
  ["\\w+$", "-", false],
  ["(?a)\\w", "\u00e9", false],
  ["\\s", "\u001c", true],
  ["\\s", "\u00a0", true],
  ["\\s", "\ufeff", false],
  ["\\s", "\u0085", true],
  ["(?a)\\s", "\u00a0", false],
  ["\\W", "\u00e9", false],
  ["\\W", "-", true],
  ["\\bfoo\\b", "foo", true],
  ["\\bfoo\\b", "foo bar", true],
  ["\\bfoo\\b", "foobar", false],
  ["\u00e9\\b", "\u00e9a", false],
  ["\u00e9\\b", "\u00e9 ", true],
  ["(?a)\u00e9\\b", "\u00e9a", true],
  ["\\B", "", false],
  ["\\B", " ", true],
  ["\\B", "a", false],
  ["\\b", "", false],
  ["a\\Bb", "ab", true],
  ["\\101\\0", "A\u0000", true],
  ["\\x41\\u00e9\\U0001F600", "A\u00e9\ud83d\ude00", true],
  ["\\t\\n", "\t\n", true],
  ["\\.", ".", true],
  ["\\.", "x", false],
  ["\\-\\#\\ ", "-# ", true],
  ["\\$", "$", true],
  ["[]a]", "]", true],
  ["[^]a]", "b", true],
  ["[^]a]", "]", false],
  ["[a-c]+$", "abc", true],
  ["[a-c]+$", "abd", false],
  ["[\\b]", "\b", true],
  ["[\\b]", "b", false],
  ["[\\d-]", "-", true],
  ["[^\\W\\d]", "a", true],
  ["[^\\W\\d]", "1", false],
  ["[^\\W\\d]", "_", true],
  ["[^\\W\\d]", " ", false],
  ["[\\s\\S]", "\n", true],
  ["[a\\]]", "]", true],
  ["[a-]", "-", true],
  ["[\\x41-\\x43]", "B", true],
  ["[\\x41-\\x43]", "D", false],
  ["[.]", "x", false],
  ["[.]", ".", true],
  ["[[a]", "[", true],
  ["(?P<tag>\\d+)\\.(?P=tag)", "1.1", true],
  ["(?P<tag>\\d+)\\.(?P=tag)", "1.2", false],
  ["(?P<tag>\\d+)\\.(?P=tag)", "12.12", true],
  ["(a)(b)\\2\\1", "abba", true],
  ["(a)(b)\\2\\1", "abab", false],
  ["(?:ab)+$", "abab", true],
  ["(?:ab)+$", "aba", false],
  ["()", "", true],
  ["a(?=b)", "ab", true],
  ["a(?=b)", "ac", false],
  ["a(?!b)", "ac", true],
  ["a(?!b)", "ab", false],
  [".(?<=b)", "b", true],
  [".(?<=b)", "a", false],
  ["..(?<!ab)", "ab", false],
  ["..(?<!ab)", "cb", true],
  ["(?<!x)a", "a", true],
  ["(?P<n>a)(?<=(?P=n))b", "ab", true],
  ["a(?#comment)b", "ab", true],
  ["a{2}", "aa", true],
  ["a{2}", "a", false],
  ["a{,2}b", "b", true],
  ["a{,2}b", "aab", true],
  ["a{,2}b", "aaab", false],
  ["a{2,}$", "aa", true],
  ["a{2,}$", "aaaa", true],
  ["a{2,}$", "a", false],
  ["a{1,2}?b", "ab", true],
  ["x{", "x{", true],
  ["x{}", "x{}", true],
  ["x{1,2", "x{1,2", true],
  ["x{a}", "x{a}", true],
  ["a{,}$", "", true],
  ["a{,}$", "aaa", true],
  ["x{ 1}", "x{ 1}", true],
  ["a*?b", "aab", true],
  ["a??b", "b", true],
  ["(?=a)*b", "b", true],
  ["a|", "x", true],
  ["|a", "x", true],
  ["a|b", "b", true],
  ["a|b", "c", false],
  ["(?i)MLRUN/", "mlrun/x", true],
  ["(?i)stra\u00dfe", "STRASSE", false],
  ["(?i)stra\u00dfe", "STRA\u00dfE", true],
  ["(?i)k", "\u212a", true],
  ["(?ai)k", "\u212a", false],
  ["(?ai)k", "K", true],
  ["(?i)i", "\u0130", true],
  ["(?i)i", "\u0131", true],
  ["(?i)i", "I", true],
  ["(?i)[^i]", "\u0131", false],
  ["(?i)\u03c3", "\u03c2", true],
  ["(?i)\u03c3", "\u03a3", true],
  ["(?i)[a-z]+$", "ABC", true],
  ["(?i)[\ud801\udc00a]", "\ud801\udc00", false],
  ["(?i)[\ud801\udc00a]", "\ud801\udc28", false],
  ["(?x) a b # comment", "ab", true],
  ["(?x)a\\ b", "a b", true],
  ["(?x)[ ]", " ", true],
  ["(?x)a #c\n b", "ab", true],
  ["(?u)a", "a", true],
  ["(?t)ab", "ab", true],
  ["(?#note)(?i)A", "a", true],
  // Scoped flags the JavaScript emitter refuses but the linear matcher runs (ADR 0005).
  ["(?i:a)b", "Ab", true],
  ["(?i:a)b", "ab", true],
  ["(?i:a)b", "AB", false],
  ["(?i:a)b", "aB", false],
  ["(?i)a(?-i:b)", "Ab", true],
  ["(?i)a(?-i:b)", "AB", false],
  ["(?i)a(?-i:b)", "ab", true],
  ["(?i)(?a:\\w)", "K", true],
  ["(?i)(?a:\\w)", "\u212a", false],
  ["(?i)(?a:\\w)", "\u00e9", false],
  ["(?i)(?a:\\w)", "_", true],
  ["(?i)(?a:k)", "\u212a", false],
  ["(?i)(?a:k)", "K", true],
];

/** Rows above whose pattern has a backreference: the linear matcher refuses them (ADR 0005), the emitter still runs them. */
const BACKREF_PATTERNS = new Set(["(?P<tag>\\d+)\\.(?P=tag)", "(a)(b)\\2\\1", "(?P<n>a)(?<=(?P=n))b"]);
/** Rows above the emitter refuses (Node 20 has no RegExp modifiers). */
const EMITTER_REFUSES = new Set(["(?i:a)b", "(?i)a(?-i:b)", "(?i)(?a:\\w)", "(?i)(?a:k)"]);
const RE_ERROR_ROWS: ReadonlyArray<readonly [string, string]> = [
  ["[unclosed", "unterminated character set at position 0"],
  ["(", "missing ), unterminated subpattern at position 0"],
  [")", "unbalanced parenthesis at position 0"],
  ["a)", "unbalanced parenthesis at position 1"],
  ["*", "nothing to repeat at position 0"],
  ["a**", "multiple repeat at position 2"],
  ["a{2,1}", "min repeat greater than max repeat at position 2"],
  ["\\q", "bad escape \\q at position 0"],
  ["\\", "bad escape (end of pattern) at position 0"],
  ["[z-a]", "bad character range z-a at position 1"],
  ["(?P<1>a)", "bad character in group name '1' at position 4"],
  ["(?P<n>a)(?P<n>b)", "redefinition of group name 'n' as group 2; was group 1 at position 12"],
  ["(?P=n)", "unknown group name 'n' at position 4"],
  ["\\1", "invalid group reference 1 at position 1"],
  ["(a\\1)", "cannot refer to an open group at position 2"],
  ["(?<=a+)", "look-behind requires fixed-width pattern"],
  ["(?<=a|bc)", "look-behind requires fixed-width pattern"],
  ["(?L)a", "bad inline flags: cannot use 'L' flag with a str pattern at position 3"],
  ["a(?i)", "global flags not at the start of the expression at position 1"],
  ["(?i", "missing -, : or ) at position 3"],
  ["(?z)", "unknown extension ?z at position 1"],
  ["(?<x>a)", "unknown extension ?<x at position 1"],
  ["\\x4", "incomplete escape \\x4 at position 0"],
  ["\\u12", "incomplete escape \\u12 at position 0"],
  ["\\U00110000", "bad escape \\U00110000 at position 0"],
  ["[\\d-z]", "bad character range \\d-z at position 1"],
  ["\\8", "invalid group reference 8 at position 1"],
  ["\\400", "octal escape value \\400 outside of range 0-0o377 at position 0"],
  ["[\\A]", "bad escape \\A at position 1"],
  ["^*", "nothing to repeat at position 1"],
  ["\\b+", "nothing to repeat at position 2"],
  ["(?P", "unexpected end of pattern at position 3"],
  ["(?#", "missing ), unterminated comment at position 0"],
  ["(?au)", "bad inline flags: flags 'a', 'u' and 'L' are incompatible at position 4"],
  ["(?-a:x)", "bad inline flags: cannot turn off flags 'a', 'u' and 'L' at position 4"],
  ["(?i-i:a)", "bad inline flags: flag turned on and off at position 5"],
  ["a{1,2}{3}", "multiple repeat at position 6"],
  ["(?(1)a|b)", "invalid group reference 1 at position 3"],
  ["(?(0)a)", "bad group number at position 3"],
  ["(?(a)b)", "unknown group name 'a' at position 3"],
  ["(?t)a*", "internal: unsupported template operator MAX_REPEAT"],
  ["\\N", "missing { at position 2"],
  ["\\N{}", "missing character name at position 3"],
  ["\\N{foo_bar}", "undefined character name 'foo_bar' at position 0"],
  ["ab\n(c", "missing ), unterminated subpattern at position 3 (line 2, column 1)"],
  ["[\\w-.]", "bad character range \\w-. at position 1"],
  ["(?<=(a)\\1)", "cannot refer to group defined in the same lookbehind subpattern at position 9"],
  ["a|(?i)b", "global flags not at the start of the expression at position 2"],
  [" (?i)a", "global flags not at the start of the expression at position 1"],
  ["[a-\\d]", "bad character range a-\\d at position 1"],
  ["(?P<a-b>x)", "bad character in group name 'a-b' at position 4"],
  ["(?P=1a)", "bad character in group name '1a' at position 4"],
];
const UNSUPPORTED_PATTERNS: readonly string[] = [
  "(?P<tag>\\d+)\\.(?P=tag)",
  "(a)(b)\\2\\1",
  "(?>a)",
  "a*+",
  "a++",
  "a?+",
  "a{1,2}+",
  "(a)?(?(1)b|c)",
  "\\N{EM DASH}",
  "(a)|\\1",
  "(a)?\\1",
  "(?:(a)|b)\\1",
  "(a)*\\1",
  "(?i)(a)\\1",
  "(?ai)(a)\\1",
  "a{70000}",
  "(((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((())))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))",
];

describe('translatePythonRegex / compilePythonMatcher: re.match parity with CPython 3.11', () => {
  it('has a large enough table', () => {
    expect(MATCH_ROWS.length).toBeGreaterThanOrEqual(80);
  });

  const byPattern = new Map<string, [string, boolean][]>();
  for (const [p, s, m] of MATCH_ROWS) {
    const list = byPattern.get(p) ?? [];
    list.push([s, m]);
    byPattern.set(p, list);
  }
  for (const [pattern, cases] of byPattern) {
    it(`re.match(${JSON.stringify(pattern)}, …)`, () => {
      const m = compilePythonMatcher(pattern);
      if (BACKREF_PATTERNS.has(pattern)) {
        expect(m).toMatchObject({ ok: false, kind: 'unsupported', reason: /backreferences/ });
      } else {
        if (!m.ok) throw new Error(`expected ${JSON.stringify(pattern)} to compile, got ${m.kind}: ${m.reason}`);
        for (const [input, expected] of cases) {
          expect({ input, matched: m.match(input) }).toEqual({ input, matched: expected });
        }
      }
      // The emitter (JavaScript RegExp) answers the same rows, except what it refuses.
      const r = translatePythonRegex(pattern);
      if (EMITTER_REFUSES.has(pattern)) {
        expect(r).toMatchObject({ ok: false, kind: 'unsupported' });
        return;
      }
      if (!r.ok) throw new Error(`expected ${JSON.stringify(pattern)} to translate, got ${r.kind}: ${r.reason}`);
      const re = new RegExp(r.source, r.flags + 'y');
      for (const [input, expected] of cases) {
        re.lastIndex = 0;
        expect({ input, matched: re.test(input) }).toEqual({ input, matched: expected });
      }
    });
  }
});

describe('re.error parity', () => {
  it.each(RE_ERROR_ROWS)('%j raises re.error', (pattern, message) => {
    const r = translatePythonRegex(pattern);
    expect(r).toMatchObject({ ok: false, kind: 're.error', reason: message });
    const m = compilePythonMatcher(pattern);
    expect(m).toMatchObject({ ok: false, kind: 're.error', reason: message });
  });

  it('reports the position of the error like Python', () => {
    expect(translatePythonRegex('[unclosed')).toEqual({
      ok: false,
      kind: 're.error',
      reason: 'unterminated character set at position 0',
      position: 0,
    });
    expect(translatePythonRegex('^mlrun/*,x')).toMatchObject({ ok: true });
    expect(translatePythonRegex('(?<=a+)')).toEqual({
      ok: false,
      kind: 're.error',
      reason: 'look-behind requires fixed-width pattern',
    });
  });

  it('reports compile failures outside re.error with Python\'s own exception type', () => {
    // Python: OverflowError('the repetition number is too large')
    expect(translatePythonRegex('a{4294967295}')).toMatchObject({
      ok: false,
      kind: 'OverflowError',
      reason: 'the repetition number is too large',
    });
    expect(translatePythonRegex('a{4294967294}')).toMatchObject({ ok: false, kind: 'unsupported' });
    // Python: ValueError from int() past 4300 digits, before the range check.
    expect(translatePythonRegex(`a{${'1'.repeat(4301)}}`)).toMatchObject({ ok: false, kind: 'ValueError', reason: /Exceeds the limit \(4300 digits\)/ });
    expect(translatePythonRegex(`a{${'1'.repeat(4300)}}`)).toMatchObject({ ok: false, kind: 'OverflowError' });
    // Python: ValueError('ASCII and UNICODE flags are incompatible'); inline in one group it is re.error.
    expect(translatePythonRegex('(?a)(?u)a')).toMatchObject({
      ok: false,
      kind: 'ValueError',
      reason: 'ASCII and UNICODE flags are incompatible',
    });
    expect(translatePythonRegex('(?au)a')).toMatchObject({ ok: false, kind: 're.error' });
  });

  it('prefers re.error over unsupported when both occur (Python would raise)', () => {
    expect(translatePythonRegex('(?>a)[')).toMatchObject({ ok: false, kind: 're.error' });
    expect(translatePythonRegex('(?i:a)(?<=a*)')).toMatchObject({ ok: false, kind: 're.error' });
  });
});

describe('unsupported constructs (Python accepts, we refuse)', () => {
  it.each(UNSUPPORTED_PATTERNS.map((p) => [p]))('%j is refused as unsupported', (pattern) => {
    const m = compilePythonMatcher(pattern);
    expect(m.ok).toBe(false);
    if (m.ok) return;
    expect(m.kind).toBe('unsupported');
    expect(m.reason.length).toBeGreaterThan(10);
  });

  it.each(UNSUPPORTED_PATTERNS.filter((p) => !BACKREF_PATTERNS.has(p)).map((p) => [p]))('%j is refused by the emitter too', (pattern) => {
    expect(translatePythonRegex(pattern)).toMatchObject({ ok: false, kind: 'unsupported' });
  });

  it('accepts scoped flags that only change parsing, dot, anchors or character classes', () => {
    for (const p of ['(?s:.)', '(?m:^a$)', '(?x: a b )', '(?a:\\w)', '(?i)(?i:a)', '(?u:\\w)']) {
      expect(translatePythonRegex(p)).toMatchObject({ ok: true });
    }
  });

  it('accepts backreferences to groups that always participate', () => {
    expect(translatePythonRegex('(a)(b)\\2\\1')).toMatchObject({ ok: true });
    expect(translatePythonRegex('((a)|b)\\1')).toMatchObject({ ok: true });
    expect(translatePythonRegex('((a)|b)\\2')).toMatchObject({ ok: false, kind: 'unsupported' });
  });
});

describe('matcher behaviour', () => {
  it('uses u (and i for (?i)) flags; caller adds sticky', () => {
    expect(translatePythonRegex('^mlrun/*')).toEqual({ ok: true, source: '^mlrun\\/*', flags: 'u' });
    expect(translatePythonRegex('(?i)mlrun')).toMatchObject({ ok: true, flags: 'iu' });
    expect(translatePythonRegex('(?ai)mlrun')).toMatchObject({ ok: true, flags: 'u' });
  });

  it('is anchored at the start only and reusable across calls', () => {
    const m = compilePythonMatcher('mlrun');
    if (!m.ok) throw new Error(m.reason);
    for (let i = 0; i < 3; i++) {
      expect(m.match('mlrun/mlrun:1.6.0')).toBe(true);
      expect(m.match('xmlrun')).toBe(false);
      expect(m.match('mlrunx')).toBe(true);
    }
    expect(m.programSize).toBe(6);
  });

  it('never throws for odd inputs', () => {
    const m = compilePythonMatcher('\\b\\w+\\B.');
    if (!m.ok) throw new Error(m.reason);
    for (const s of ['', '\ud800', '\udc00a', 'a\ud83d', '\u0000', 'x'.repeat(10_000)]) {
      expect(typeof m.match(s)).toBe('boolean');
    }
    expect(m.match(undefined as unknown as string)).toBe(false);
  });
});

const TOKENS = [
  'a', 'b', '.', '*', '+', '?', '{2}', '{1,3}', '{,2}', '{', '}', '(', ')', '(?:', '(?P<g>', '(?P=g)',
  '\\1', '|', '[', ']', '[^', '^', '$', '\\b', '\\B', '\\d', '\\w', '\\s', '\\W', '-', '(?=', '(?!',
  '(?<=', '(?<!', '(?i)', '(?m)', '(?s)', '(?x)', '(?a)', ' ', '#', '\n', '\\', '\\Z', '\\A', 'é',
  '(?#c)', '*?', '\\x41', '\\0', '\\12', '(?>', '*+', '(?(1)', '(?i:', '(?s:', '\\N{', '\u{1F600}',
];

describe('property: arbitrary patterns', () => {
  const check = (pattern: string): void => {
    const r = translatePythonRegex(pattern);
    if (r.ok) {
      const re = new RegExp(r.source, r.flags + 'y');
      re.lastIndex = 0;
      re.test('mlrun/mlrun:1.6.0');
      const m = compilePythonMatcher(pattern);
      // The linear matcher runs everything the emitter does, except backreferences.
      if (m.ok) expect(typeof m.match('python:3.9')).toBe('boolean');
      else expect(m).toMatchObject({ kind: 'unsupported', reason: /backreferences/ });
    } else {
      expect(['re.error', 'unsupported']).toContain(r.kind);
      expect(typeof r.reason).toBe('string');
    }
  };

  it('never throws on arbitrary strings, and ok results compile', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (p) => {
        check(p);
      }),
      { numRuns: 400 },
    );
  });

  it('never throws on regex-shaped strings, and ok results compile', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...TOKENS), { maxLength: 12 }), (parts) => {
        check(parts.join(''));
      }),
      { numRuns: 600 },
    );
  });
});
