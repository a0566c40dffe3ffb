/**
 * Python `re` for MLRun's enrich patterns: the matcher and a JavaScript RegExp emitter.
 *
 * `compilePythonMatcher` (what the engine uses) is the linear-time matcher of
 * `src/python/re/` (ADR 0005): CPython 3.11's parser and error messages, then a Thompson NFA
 * simulation, so no pattern can make an image cost more than O(pattern × image) steps.
 *
 * `translatePythonRegex` is the older emitter (ADR 0003): it re-emits the parsed pattern as a
 * JavaScript RegExp source for the `u` flag (plus `i` for `(?i)`), meant for sticky `y` with
 * `lastIndex = 0`. V8 backtracks, so its result must not be run on request data; it stays for
 * callers that want a RegExp source (today only its tests). It refuses, beyond what the parser
 * refuses, scoped `(?i:…)`/`(?-i:…)`, switching `(?a:…)`/`(?u:…)` under `(?i)`, backreferences
 * to groups that may not take part in every match, any backreference under `(?i)`, and repeat
 * counts above 65535. Residual difference: under JS `i`, `\w`/`\W`/`\b` treat U+0345 as a
 * word character where Python does not.
 */

import {
  F_A,
  F_I,
  F_M,
  F_S,
  MAXREPEAT,
  PyReError,
  TYPE_FLAGS,
  parsePython,
  pyErrorResult,
  unsupportedResult,
  type AtKind,
  type Node,
  type PyCompileError,
  type SetItem,
  type Sub,
  type UnsupportedInfo,
} from '../python/re/parse.js';
import { PY_SPACE_CPS } from '../python/unicode.js';

export type { PyCompileError } from '../python/re/parse.js';
export { compilePythonMatcher, type PyMatcherResult } from '../python/re/index.js';

export type PyRegexResult =
  | { ok: true; source: string; flags: string }
  | { ok: false; kind: PyCompileError | 'unsupported'; reason: string; position?: number };

/** Largest repeat count the emitter translates; beyond it V8 may overflow its backtrack stack. */
const MAX_JS_REPEAT = 65535;

// ---------------------------------------------------------------------------------------------
// Backreference safety: JS backreferences to unset groups match the empty string (Python fails),
// and JS resets captures at each quantifier iteration (Python keeps them). We therefore only
// translate references to groups that participate exactly once in every successful path: groups
// reachable from the root through plain groups only (no alternation, quantifier, look-around).
// ---------------------------------------------------------------------------------------------

function collectMandatoryGroups(sub: Sub, spine: boolean, out: Set<number>): void {
  const single = sub.length === 1;
  for (const branch of sub) for (const n of branch) mandatoryNode(n, spine && single, out);
}

function mandatoryNode(n: Node, spine: boolean, out: Set<number>): void {
  switch (n.t) {
    case 'group':
      if (n.gid !== null && spine) out.add(n.gid);
      collectMandatoryGroups(n.body, spine, out);
      return;
    case 'repeat':
      mandatoryNode(n.item, spine && n.min === 1 && n.max === 1, out);
      return;
    case 'assert':
      collectMandatoryGroups(n.body, false, out);
      return;
    case 'cond':
      for (const x of n.yes) mandatoryNode(x, false, out);
      if (n.no !== null) for (const x of n.no) mandatoryNode(x, false, out);
      return;
    default:
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// Emitter: AST → JavaScript source for flags `u` (+ `i`), used with sticky `y`
// ---------------------------------------------------------------------------------------------

const JS_SYNTAX = new Set('^$\\.*+?()[]{}|/');
const JS_CLASS_SPECIAL = new Set('\\]-^[');

const HEX = (cp: number): string => `\\u{${cp.toString(16).toUpperCase()}}`;

/** Unicode `\w` of Python 3.11 (str.isalnum() or '_') — verified equal on Unicode 14. */
const U_WORD = '\\p{L}\\p{N}_';
const U_DIGIT = '\\p{Nd}';
const U_NOT_DIGIT = '\\P{Nd}';

function rangesBody(ranges: readonly (readonly [number, number])[]): string {
  return ranges.map(([lo, hi]) => (lo === hi ? classChar(lo) : `${classChar(lo)}-${classChar(hi)}`)).join('');
}

function complementRanges(cps: readonly number[]): [number, number][] {
  const sorted = [...new Set(cps)].sort((a, b) => a - b);
  const out: [number, number][] = [];
  let next = 0;
  for (const c of sorted) {
    if (c > next) out.push([next, c - 1]);
    next = c + 1;
  }
  if (next <= 0x10ffff) out.push([next, 0x10ffff]);
  return out;
}

function toRanges(cps: readonly number[]): [number, number][] {
  const sorted = [...new Set(cps)].sort((a, b) => a - b);
  const out: [number, number][] = [];
  for (const c of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && last[1] + 1 === c) last[1] = c;
    else out.push([c, c]);
  }
  return out;
}

const ASCII_SPACE_CPS = [0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20];
const ASCII_WORD_CPS: number[] = [];
for (let c = 0; c < 0x80; c++) {
  if (/[A-Za-z0-9_]/.test(String.fromCharCode(c))) ASCII_WORD_CPS.push(c);
}
const ASCII_DIGIT_CPS = [0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39];

const U_SPACE = rangesBody(toRanges(PY_SPACE_CPS));
const U_NOT_SPACE = rangesBody(complementRanges(PY_SPACE_CPS));
const A_WORD = rangesBody(toRanges(ASCII_WORD_CPS));
const A_NOT_WORD = rangesBody(complementRanges(ASCII_WORD_CPS));
const A_DIGIT = rangesBody(toRanges(ASCII_DIGIT_CPS));
const A_NOT_DIGIT = rangesBody(complementRanges(ASCII_DIGIT_CPS));
const A_SPACE = rangesBody(toRanges(ASCII_SPACE_CPS));
const A_NOT_SPACE = rangesBody(complementRanges(ASCII_SPACE_CPS));

function literalChar(cp: number): string {
  if (cp < 0x80) {
    const ch = String.fromCharCode(cp);
    if (JS_SYNTAX.has(ch)) return '\\' + ch;
    if (cp >= 0x20 && cp < 0x7f) return ch;
  }
  return HEX(cp);
}

function classChar(cp: number): string {
  if (cp < 0x80) {
    const ch = String.fromCharCode(cp);
    if (JS_CLASS_SPECIAL.has(ch)) return '\\' + ch;
    if (cp >= 0x20 && cp < 0x7f) return ch;
  }
  return HEX(cp);
}

function isAsciiLetter(cp: number): boolean {
  return (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a);
}

/**
 * Python's `(?i)` treats 'I', 'i', U+0130 'İ' (lower() is 'i') and U+0131 'ı' (same upper() as
 * 'i', see re._casefix) as one class; JavaScript's simple case folding keeps 'İ' and 'ı' apart.
 * This is the only disagreement on Unicode-14 characters, so we spell the class out.
 */
const DOTTED_I_CLUSTER = [0x49, 0x69, 0x130, 0x131];
const DOTTED_I_CLASS_BODY = 'i\\u{131}\\u{130}';

function inDottedICluster(lo: number, hi: number): boolean {
  return DOTTED_I_CLUSTER.some((c) => c >= lo && c <= hi);
}

/** Python's lower() of one code point (first code point of the full lowercase mapping). */
function pyLower(cp: number): number {
  return String.fromCodePoint(cp).toLowerCase().codePointAt(0) ?? cp;
}

class Emitter {
  /** True when the JS `i` flag is used (global `(?i)` in Unicode mode). */
  readonly jsIgnoreCase: boolean;

  constructor(
    private readonly refuse: (reason: string, position?: number) => void,
    private readonly mandatory: ReadonlySet<number>,
    globalFlags: number,
  ) {
    this.jsIgnoreCase = (globalFlags & F_I) !== 0 && (globalFlags & F_A) === 0;
  }

  sub(sub: Sub, flags: number): string {
    return sub.map((b) => this.seq(b, flags)).join('|');
  }

  private seq(seq: readonly Node[], flags: number): string {
    return seq.map((n) => this.node(n, flags)).join('');
  }

  private asciiFold(flags: number): boolean {
    return (flags & F_I) !== 0 && (flags & F_A) !== 0;
  }

  private unicodeFold(flags: number): boolean {
    return (flags & F_I) !== 0 && (flags & F_A) === 0;
  }

  private node(n: Node, flags: number): string {
    switch (n.t) {
      case 'lit':
        if (this.asciiFold(flags) && isAsciiLetter(n.cp)) {
          return `[${classChar(n.cp)}${classChar(n.cp ^ 0x20)}]`;
        }
        if (this.unicodeFold(flags) && inDottedICluster(n.cp, n.cp)) return `[${DOTTED_I_CLASS_BODY}]`;
        return literalChar(n.cp);
      case 'any':
        return (flags & F_S) !== 0 ? '[^]' : '[^\\n]';
      case 'cat':
        return this.set(false, [{ k: 'cat', cat: n.cat }], flags);
      case 'set':
        return this.set(n.negate, n.items, flags);
      case 'at':
        return this.at(n.at, flags);
      case 'group': {
        let inner = flags;
        if (n.add !== 0 || n.del !== 0) {
          inner = (n.add & TYPE_FLAGS) !== 0 ? flags & ~TYPE_FLAGS : flags;
          inner = (inner | n.add) & ~n.del;
          if ((inner & F_I) !== (flags & F_I)) {
            this.refuse(
              'scoped case-insensitivity (?i:...) / (?-i:...) needs RegExp pattern modifiers, which Node 20 lacks',
              n.pos,
            );
          } else if ((inner & F_I) !== 0 && (inner & F_A) !== (flags & F_A)) {
            this.refuse('switching between ASCII and Unicode matching inside a case-insensitive pattern', n.pos);
          }
        }
        const body = this.sub(n.body, inner);
        return n.gid !== null ? `(${body})` : `(?:${body})`;
      }
      case 'assert':
        return `(?${n.behind ? '<' : ''}${n.negate ? '!' : '='}${this.sub(n.body, flags)})`;
      case 'repeat': {
        if ((n.min > MAX_JS_REPEAT && n.min !== MAXREPEAT) || (n.max > MAX_JS_REPEAT && n.max !== MAXREPEAT)) {
          this.refuse(
            `repeat counts above ${MAX_JS_REPEAT} are not translated (the JavaScript engine may overflow its backtracking stack)`,
            n.pos,
          );
        }
        const item = this.node(n.item, flags);
        const atomic =
          n.item.t === 'lit' || n.item.t === 'any' || n.item.t === 'set' || n.item.t === 'cat' ||
          n.item.t === 'group' || n.item.t === 'ref';
        return (atomic ? item : `(?:${item})`) + quantifier(n.min, n.max) + (n.mode === 'lazy' ? '?' : '');
      }
      case 'ref':
        if (!this.mandatory.has(n.gid)) {
          this.refuse(
            `backreference to group ${n.gid}, which may not take part in every match: JavaScript treats a reference to an unset group as empty (Python fails) and resets captures on each repetition`,
            n.pos,
          );
        } else if ((flags & F_I) !== 0) {
          this.refuse(
            'case-insensitive backreferences are not supported (Python compares lower(), JavaScript case-folds)',
            n.pos,
          );
        }
        return `(?:\\${n.gid})`;
      case 'cond':
        return '(?:)';
    }
  }

  private at(kind: AtKind, flags: number): string {
    const multiline = (flags & F_M) !== 0;
    switch (kind) {
      case 'beginning':
        return multiline ? '(?<![^\\n])' : '^';
      case 'end':
        return multiline ? '(?![^\\n])' : '(?=\\n?$)';
      case 'beginning_string':
        return '^';
      case 'end_string':
        return '$';
      case 'boundary': {
        const w = (flags & F_A) !== 0 ? A_WORD : U_WORD;
        return `(?:(?<=[${w}])(?![${w}])|(?<![${w}])(?=[${w}]))`;
      }
      case 'non_boundary': {
        // Python's \B never matches in an empty string.
        const w = (flags & F_A) !== 0 ? A_WORD : U_WORD;
        return `(?:(?<=[${w}])(?=[${w}])|(?<![${w}])(?![${w}])(?:(?<=[^])|(?=[^])))`;
      }
    }
  }

  private set(negate: boolean, items: readonly SetItem[], flags: number): string {
    const ascii = (flags & F_A) !== 0;
    const fold = this.asciiFold(flags);
    const ufold = this.unicodeFold(flags);
    // sre_parse turns a set whose only (deduplicated) member is a literal into a plain literal.
    const singleLiteral = items.every((it) => it.k === 'lit' && items[0]?.k === 'lit' && it.cp === items[0].cp);
    const pos: string[] = [];
    const neg: string[] = [];
    for (const it of items) {
      if (it.k === 'lit') {
        if (ufold && !singleLiteral && it.cp >= 0x10000 && pyLower(it.cp) !== it.cp) {
          // CPython quirk: in a case-insensitive multi-member set, a non-BMP literal whose
          // lowercase differs from itself is compared against lower(ch) unchanged and therefore
          // never matches (re.match('(?i)[\U00010400a]', '\U00010400') is None).
          continue;
        }
        pos.push(classChar(it.cp));
        if (fold && isAsciiLetter(it.cp)) pos.push(classChar(it.cp ^ 0x20));
        if (ufold && inDottedICluster(it.cp, it.cp)) pos.push(DOTTED_I_CLASS_BODY);
      } else if (it.k === 'range') {
        pos.push(it.lo === it.hi ? classChar(it.lo) : `${classChar(it.lo)}-${classChar(it.hi)}`);
        if (ufold && inDottedICluster(it.lo, it.hi)) pos.push(DOTTED_I_CLASS_BODY);
        if (fold) {
          for (const [a, b, delta] of [
            [0x61, 0x7a, -0x20],
            [0x41, 0x5a, 0x20],
          ] as const) {
            const lo = Math.max(a, it.lo);
            const hi = Math.min(b, it.hi);
            if (lo <= hi) pos.push(`${classChar(lo + delta)}-${classChar(hi + delta)}`);
          }
        }
      } else if (ascii) {
        pos.push(
          { d: A_DIGIT, D: A_NOT_DIGIT, w: A_WORD, W: A_NOT_WORD, s: A_SPACE, S: A_NOT_SPACE }[it.cat],
        );
      } else if (it.cat === 'W') {
        neg.push(U_WORD);
      } else {
        pos.push({ d: U_DIGIT, D: U_NOT_DIGIT, w: U_WORD, s: U_SPACE, S: U_NOT_SPACE }[it.cat]);
      }
    }
    if (neg.length === 0) return `[${negate ? '^' : ''}${pos.join('')}]`;
    const union = [...(pos.length > 0 ? [`[${pos.join('')}]`] : []), ...[...new Set(neg)].map((b) => `[^${b}]`)];
    if (!negate) return union.length === 1 ? union[0]! : `(?:${union.join('|')})`;
    return `(?:(?!${union.join('|')})[^])`;
  }
}

function quantifier(min: number, max: number): string {
  if (max === MAXREPEAT) {
    if (min === 0) return '*';
    if (min === 1) return '+';
    return `{${min},}`;
  }
  if (min === 0 && max === 1) return '?';
  if (min === max) return `{${min}}`;
  return `{${min},${max}}`;
}

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

/**
 * Translate a Python (3.11, str) regular expression into a JavaScript RegExp source + flags such
 * that `new RegExp(source, flags + 'y')` with `lastIndex = 0` answers `re.match(pattern, s)`.
 * Never throws. The RegExp backtracks: do not run it on untrusted input (use compilePythonMatcher).
 */
export function translatePythonRegex(pattern: string): PyRegexResult {
  if (typeof pattern !== 'string') {
    return { ok: false, kind: 'unsupported', reason: 'pattern must be a string' };
  }
  const cps = Array.from(pattern);
  try {
    const { parser, ast, flags: globalFlags } = parsePython(cps);
    const mandatory = new Set<number>();
    collectMandatoryGroups(ast, true, mandatory);
    const emitter = new Emitter(
      (reason, position) => {
        if (parser.unsupported === null) {
          parser.unsupported = position === undefined ? { reason } : { reason, position };
        }
      },
      mandatory,
      globalFlags,
    );
    const source = emitter.sub(ast, globalFlags);
    if (parser.unsupported !== null) return unsupportedResult(parser.unsupported);
    const flags = emitter.jsIgnoreCase ? 'iu' : 'u';
    try {
      // Construct and run once: V8 reports some limits only when it first compiles the pattern.
      new RegExp(source, flags + 'y').test('');
    } catch (e) {
      return {
        ok: false,
        kind: 'unsupported',
        reason: `the JavaScript engine rejected the translated pattern: ${(e as Error).message}`,
      };
    }
    return { ok: true, source, flags };
  } catch (e) {
    if (e instanceof PyReError) return pyErrorResult(e, cps);
    // Defensive: e.g. RangeError from pathological nesting depth.
    return {
      ok: false,
      kind: 'unsupported',
      reason: `pattern could not be translated: ${e instanceof Error ? e.message : String(e)}`,
    };
  }
}
