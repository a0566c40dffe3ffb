/**
 * Python 3.11 `re` pattern parser: a port of CPython's `re/_parser.py` (sre_parse) plus the
 * compile-time checks of `re/_compiler.py`, for str patterns.
 *
 * Why: MLRun evaluates `images_to_enrich_registry` with Python's `re.match`. Parsing with Python's
 * own rules reports the same `re.error` messages and positions Python would, and gives the typed
 * parse tree that the linear matcher (`vm.ts`) and the JavaScript emitter (`src/mlrun/pyregex.ts`)
 * compile. Constructs Python accepts but nothing here can run (atomic groups, possessive
 * quantifiers, conditionals, `\N{...}`, nesting beyond MAX_NESTING) are recorded in
 * `Parser.unsupported` while parsing continues, so a later `re.error` still wins, as in Python.
 */

import { PY_SPACE_CPS } from '../unicode.js';

/** What Python's re.compile raises: re.error mostly, ValueError/OverflowError for a few checks outside the parser. */
export type PyCompileError = 're.error' | 'ValueError' | 'OverflowError';

// ---------------------------------------------------------------------------------------------
// Constants mirrored from CPython 3.11 (re/_constants.py, _sre on a 64-bit build)
// ---------------------------------------------------------------------------------------------

export const F_TEMPLATE = 1;
export const F_I = 2;
export const F_L = 4;
export const F_M = 8;
export const F_S = 16;
export const F_U = 32;
export const F_X = 64;
export const F_DEBUG = 128;
export const F_A = 256;
const FLAGS = new Map<string, number>([
  ['i', F_I],
  ['L', F_L],
  ['m', F_M],
  ['s', F_S],
  ['x', F_X],
  ['a', F_A],
  ['t', F_TEMPLATE],
  ['u', F_U],
]);
export const TYPE_FLAGS = F_A | F_L | F_U;
const GLOBAL_FLAGS = F_DEBUG | F_TEMPLATE;

export const MAXREPEAT = 4294967295;
const MAXGROUPS = 1073741823;
const MAXCODE = 4294967295n;
const MAXWIDTH = 1n << 64n;

/** Group nesting beyond this is refused (Python itself dies with RecursionError around ~490). */
export const MAX_NESTING = 100;

const DIGITS = new Set('0123456789');
const OCTDIGITS = new Set('01234567');
const HEXDIGITS = new Set('0123456789abcdefABCDEF');
const ASCIILETTERS = new Set('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ');
const WHITESPACE = new Set(' \t\n\r\v\f');
const SPECIAL_CHARS = new Set('.\\[{()*+?^$|');
const REPEAT_CHARS = new Set('*+?{');

const ESCAPES = new Map<string, number>([
  ['\\a', 7],
  ['\\b', 8],
  ['\\f', 12],
  ['\\n', 10],
  ['\\r', 13],
  ['\\t', 9],
  ['\\v', 11],
  ['\\\\', 92],
]);

export type Cat = 'd' | 'D' | 'w' | 'W' | 's' | 'S';
export type AtKind = 'beginning' | 'end' | 'beginning_string' | 'end_string' | 'boundary' | 'non_boundary';

const CATEGORY_ESCAPES = new Map<string, Cat>([
  ['\\d', 'd'],
  ['\\D', 'D'],
  ['\\s', 's'],
  ['\\S', 'S'],
  ['\\w', 'w'],
  ['\\W', 'W'],
]);
const AT_ESCAPES = new Map<string, AtKind>([
  ['\\A', 'beginning_string'],
  ['\\b', 'boundary'],
  ['\\B', 'non_boundary'],
  ['\\Z', 'end_string'],
]);

// ---------------------------------------------------------------------------------------------
// AST (a typed mirror of sre_parse's SubPattern items)
// ---------------------------------------------------------------------------------------------

export type SetItem =
  | { k: 'lit'; cp: number }
  | { k: 'range'; lo: number; hi: number }
  | { k: 'cat'; cat: Cat };

export type RepeatMode = 'greedy' | 'lazy' | 'possessive';

export type Node =
  | { t: 'lit'; cp: number }
  | { t: 'any' }
  | { t: 'set'; negate: boolean; items: SetItem[] }
  | { t: 'cat'; cat: Cat }
  | { t: 'at'; at: AtKind }
  | { t: 'group'; gid: number | null; add: number; del: number; atomic: boolean; body: Sub; pos: number }
  | { t: 'assert'; behind: boolean; negate: boolean; body: Sub }
  | { t: 'repeat'; min: number; max: number; mode: RepeatMode; item: Node; pos: number }
  | { t: 'ref'; gid: number; pos: number }
  | { t: 'cond'; gid: number; yes: Node[]; no: Node[] | null };

/** Alternation: one sequence per branch. */
export type Sub = Node[][];

type Width = readonly [bigint, bigint];

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/** Mirrors `re.error(msg, pattern, pos)`; `pos` is a code-point index like Python's. */
export class PyReError extends Error {
  constructor(
    readonly msg: string,
    readonly pos: number | undefined,
    readonly pyType: PyCompileError = 're.error',
  ) {
    super(msg);
  }
}

export interface UnsupportedInfo {
  reason: string;
  position?: number;
}

function cpLen(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

export function cpOf(s: string): number {
  return s.codePointAt(0) ?? 0;
}

const NON_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

/** Approximation of Python's `repr(str)` (used inside a few error messages). */
function pyRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const cp = cpOf(ch);
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += '\\' + quote;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch !== ' ' && NON_PRINTABLE.test(ch)) {
      if (cp < 0x100) out += '\\x' + cp.toString(16).padStart(2, '0');
      else if (cp < 0x10000) out += '\\u' + cp.toString(16).padStart(4, '0');
      else out += '\\U' + cp.toString(16).padStart(8, '0');
    } else out += ch;
  }
  return out + quote;
}

const IDENTIFIER = /^[\p{XID_Start}_]\p{XID_Continue}*$/u;
function isIdentifier(s: string): boolean {
  return IDENTIFIER.test(s);
}

const ALPHA = /^\p{L}+$/u;
function isAlpha(s: string): boolean {
  return ALPHA.test(s);
}

const PY_SPACE_SET = new Set(PY_SPACE_CPS);

/**
 * Python `int(s)` for the conditional-group number: optional surrounding whitespace, optional
 * sign, Unicode decimal digits with single underscores between them. Returns null if invalid.
 */
function pyInt(s: string): bigint | null {
  const cps = Array.from(s, cpOf);
  let i = 0;
  let j = cps.length;
  while (i < j && PY_SPACE_SET.has(cps[i]!)) i++;
  while (j > i && PY_SPACE_SET.has(cps[j - 1]!)) j--;
  let neg = false;
  if (i < j && (cps[i] === 0x2b || cps[i] === 0x2d)) {
    neg = cps[i] === 0x2d;
    i++;
  }
  if (i >= j) return null;
  let value = 0n;
  let prevUnderscore = true; // no leading underscore
  for (let k = i; k < j; k++) {
    const c = cps[k]!;
    if (c === 0x5f) {
      if (prevUnderscore) return null;
      prevUnderscore = true;
      continue;
    }
    const d = decimalValue(c);
    if (d === null) return null;
    value = value * 10n + BigInt(d);
    prevUnderscore = false;
  }
  if (prevUnderscore) return null;
  return neg ? -value : value;
}

const ND = /^\p{Nd}$/u;
function decimalValue(cp: number): number | null {
  if (cp >= 0x30 && cp <= 0x39) return cp - 0x30;
  if (!ND.test(String.fromCodePoint(cp))) return null;
  // Unicode encodes every decimal digit set as a contiguous run starting at zero.
  let start = cp;
  while (start > 0 && ND.test(String.fromCodePoint(start - 1))) start--;
  return (cp - start) % 10;
}

// ---------------------------------------------------------------------------------------------
// Tokenizer (port of sre_parse.Tokenizer; one token = one code point or `\` + one code point)
// ---------------------------------------------------------------------------------------------

class Tokenizer {
  private index = 0;
  next: string | null = null;
  private nextLen = 0;

  constructor(private readonly cps: readonly string[]) {
    this.advance();
  }

  private advance(): void {
    let index = this.index;
    const cps = this.cps;
    if (index >= cps.length) {
      this.next = null;
      this.nextLen = 0;
      return;
    }
    let ch = cps[index]!;
    let len = 1;
    if (ch === '\\') {
      index += 1;
      if (index >= cps.length) throw new PyReError('bad escape (end of pattern)', cps.length - 1);
      ch += cps[index]!;
      len = 2;
    }
    this.index = index + 1;
    this.next = ch;
    this.nextLen = len;
  }

  match(c: string): boolean {
    if (c === this.next) {
      this.advance();
      return true;
    }
    return false;
  }

  get(): string | null {
    const t = this.next;
    this.advance();
    return t;
  }

  getwhile(n: number, charset: ReadonlySet<string>): string {
    let result = '';
    for (let i = 0; i < n; i++) {
      const c = this.next;
      if (c === null || !charset.has(c)) break;
      result += c;
      this.advance();
    }
    return result;
  }

  getuntil(terminator: string, name: string): string {
    let result = '';
    for (;;) {
      const c = this.next;
      this.advance();
      if (c === null) {
        if (!result) throw this.error('missing ' + name);
        throw this.error(`missing ${terminator}, unterminated name`, cpLen(result));
      }
      if (c === terminator) {
        if (!result) throw this.error('missing ' + name, 1);
        break;
      }
      result += c;
    }
    return result;
  }

  tell(): number {
    return this.index - this.nextLen;
  }

  seek(index: number): void {
    this.index = index;
    this.advance();
  }

  error(msg: string, offset = 0): PyReError {
    return new PyReError(msg, this.tell() - offset);
  }

  checkgroupname(name: string, offset: number): void {
    if (!isIdentifier(name)) {
      throw this.error(`bad character in group name ${pyRepr(name)}`, cpLen(name) + offset);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Parser (port of sre_parse._parse_sub / _parse / _escape / _class_escape / _parse_flags)
// ---------------------------------------------------------------------------------------------

/** Class escape result: a literal (possibly of unknown value, for `\N{…}`) or a category. */
type ClassCode = { k: 'lit'; cp: number; unknown: boolean } | { k: 'cat'; cat: Cat };

export class Parser {
  flags = 0;
  private readonly groupdict = new Map<string, number>();
  private readonly groupwidths: (Width | null)[] = [null];
  private lookbehindgroups: number | null = null;
  private readonly grouprefpos = new Map<bigint, number>();
  unsupported: UnsupportedInfo | null = null;
  private depth = 0;

  constructor(private readonly src: Tokenizer) {}

  private get groups(): number {
    return this.groupwidths.length;
  }

  /** Remember the first construct we cannot translate, but keep validating like Python. */
  private refuse(reason: string, position?: number): void {
    if (this.unsupported === null) {
      this.unsupported = position === undefined ? { reason } : { reason, position };
    }
  }

  private opengroup(name: string | null): number {
    const gid = this.groups;
    this.groupwidths.push(null);
    if (this.groups > MAXGROUPS) throw new PyReError('too many groups', undefined);
    if (name !== null) {
      const ogid = this.groupdict.get(name);
      if (ogid !== undefined) {
        throw new PyReError(
          `redefinition of group name ${pyRepr(name)} as group ${gid}; was group ${ogid}`,
          undefined,
        );
      }
      this.groupdict.set(name, gid);
    }
    return gid;
  }

  private checkgroup(gid: number): boolean {
    return gid < this.groups && this.groupwidths[gid] !== null;
  }

  private checklookbehindgroup(gid: number): void {
    if (this.lookbehindgroups !== null) {
      if (!this.checkgroup(gid)) throw this.src.error('cannot refer to an open group');
      if (gid >= this.lookbehindgroups) {
        throw this.src.error('cannot refer to group defined in the same lookbehind subpattern');
      }
    }
  }

  groupWidth(gid: number): Width {
    return this.groupwidths[gid] ?? [0n, 0n];
  }

  /** Top level: sre_parse.parse() */
  parsePattern(): Sub {
    const src = this.src;
    const p = this.parseSub(false, 0);
    // fix_flags() for a str pattern
    if ((this.flags & F_A) !== 0 && (this.flags & F_U) !== 0) {
      // Python raises ValueError here, not re.error; MLRun fails the same way.
      throw new PyReError('ASCII and UNICODE flags are incompatible', undefined, 'ValueError');
    }
    if ((this.flags & F_A) === 0) this.flags |= F_U;
    if (src.next !== null) throw src.error('unbalanced parenthesis');
    for (const [g, pos] of this.grouprefpos) {
      if (g >= BigInt(this.groups)) throw new PyReError(`invalid group reference ${g}`, pos);
    }
    return p;
  }

  private parseSub(verbose: boolean, nested: number): Sub {
    const items: Node[][] = [];
    for (;;) {
      items.push(this.parse(verbose, nested + 1, nested === 0 && items.length === 0));
      if (!this.src.match('|')) break;
      if (nested === 0) verbose = (this.flags & F_X) !== 0;
    }
    return items;
  }

  private parse(verbose: boolean, nested: number, first: boolean): Node[] {
    const src = this.src;
    const seq: Node[] = [];
    for (;;) {
      const thisTok = src.next;
      if (thisTok === null) break;
      if (thisTok === '|' || thisTok === ')') break;
      src.get();

      if (verbose) {
        if (WHITESPACE.has(thisTok)) continue;
        if (thisTok === '#') {
          for (;;) {
            const t = src.get();
            if (t === null || t === '\n') break;
          }
          continue;
        }
      }

      if (thisTok[0] === '\\') {
        seq.push(this.escape(thisTok));
      } else if (!SPECIAL_CHARS.has(thisTok)) {
        seq.push({ t: 'lit', cp: cpOf(thisTok) });
      } else if (thisTok === '[') {
        seq.push(this.parseSet());
      } else if (REPEAT_CHARS.has(thisTok)) {
        const here = src.tell();
        let min: number;
        let max: number;
        if (thisTok === '?') {
          min = 0;
          max = 1;
        } else if (thisTok === '*') {
          min = 0;
          max = MAXREPEAT;
        } else if (thisTok === '+') {
          min = 1;
          max = MAXREPEAT;
        } else {
          // '{'
          if (src.next === '}') {
            seq.push({ t: 'lit', cp: 0x7b });
            continue;
          }
          min = 0;
          max = MAXREPEAT;
          let lo = '';
          let hi = '';
          while (src.next !== null && DIGITS.has(src.next)) lo += src.get();
          if (src.match(',')) {
            while (src.next !== null && DIGITS.has(src.next)) hi += src.get();
          } else {
            hi = lo;
          }
          if (!src.match('}')) {
            seq.push({ t: 'lit', cp: 0x7b });
            src.seek(here);
            continue;
          }
          if (lo) min = repeatNumber(lo);
          if (hi) {
            max = repeatNumber(hi);
            if (max < min) throw src.error('min repeat greater than max repeat', src.tell() - here);
          }
        }
        const last = seq.length > 0 ? seq[seq.length - 1] : undefined;
        if (last === undefined || last.t === 'at') {
          throw src.error('nothing to repeat', src.tell() - here + 1);
        }
        if (last.t === 'repeat') throw src.error('multiple repeat', src.tell() - here + 1);
        let mode: RepeatMode = 'greedy';
        if (src.match('?')) mode = 'lazy';
        else if (src.match('+')) {
          mode = 'possessive';
          this.refuse('possessive quantifiers (*+, ++, ?+, {m,n}+) are not supported (ADR 0003)', here - 1);
        }
        seq[seq.length - 1] = { t: 'repeat', min, max, mode, item: last, pos: here - 1 };
      } else if (thisTok === '.') {
        seq.push({ t: 'any' });
      } else if (thisTok === '(') {
        const r = this.parseGroup(verbose, nested, first, seq.length > 0);
        if (r === 'global-flags') {
          verbose = (this.flags & F_X) !== 0;
          continue;
        }
        if (r !== null) seq.push(r);
      } else if (thisTok === '^') {
        seq.push({ t: 'at', at: 'beginning' });
      } else if (thisTok === '$') {
        seq.push({ t: 'at', at: 'end' });
      }
    }
    return seq;
  }

  private parseSet(): Node {
    const src = this.src;
    const here = src.tell() - 1;
    const items: SetItem[] = [];
    const negate = src.match('^');
    for (;;) {
      const t = src.get();
      if (t === null) throw src.error('unterminated character set', src.tell() - here);
      if (t === ']' && items.length > 0) break;
      const code1: ClassCode = t[0] === '\\' ? this.classEscape(t) : { k: 'lit', cp: cpOf(t), unknown: false };
      if (src.match('-')) {
        const that = src.get();
        if (that === null) throw src.error('unterminated character set', src.tell() - here);
        if (that === ']') {
          items.push(setItemOf(code1));
          items.push({ k: 'lit', cp: 0x2d });
          break;
        }
        const code2: ClassCode =
          that[0] === '\\' ? this.classEscape(that) : { k: 'lit', cp: cpOf(that), unknown: false };
        if (code1.k !== 'lit' || code2.k !== 'lit') {
          throw src.error(`bad character range ${t}-${that}`, cpLen(t) + 1 + cpLen(that));
        }
        if (!code1.unknown && !code2.unknown && code2.cp < code1.cp) {
          throw src.error(`bad character range ${t}-${that}`, cpLen(t) + 1 + cpLen(that));
        }
        items.push({ k: 'range', lo: code1.cp, hi: code2.cp });
      } else {
        items.push(setItemOf(code1));
      }
    }
    return { t: 'set', negate, items };
  }

  /** `(` has been consumed. Returns the node to append, null (comment) or 'global-flags'. */
  private parseGroup(verbose: boolean, nested: number, first: boolean, hasItems: boolean): Node | null | 'global-flags' {
    const src = this.src;
    const start = src.tell() - 1;
    let capture = true;
    let atomic = false;
    let name: string | null = null;
    let add = 0;
    let del = 0;
    if (src.match('?')) {
      const ch = src.get();
      if (ch === null) throw src.error('unexpected end of pattern');
      if (ch === 'P') {
        if (src.match('<')) {
          name = src.getuntil('>', 'group name');
          src.checkgroupname(name, 1);
        } else if (src.match('=')) {
          const refName = src.getuntil(')', 'group name');
          src.checkgroupname(refName, 1);
          const gid = this.groupdict.get(refName);
          if (gid === undefined) throw src.error(`unknown group name ${pyRepr(refName)}`, cpLen(refName) + 1);
          if (!this.checkgroup(gid)) throw src.error('cannot refer to an open group', cpLen(refName) + 1);
          this.checklookbehindgroup(gid);
          return { t: 'ref', gid, pos: start };
        } else {
          const c2 = src.get();
          if (c2 === null) throw src.error('unexpected end of pattern');
          throw src.error('unknown extension ?P' + c2, cpLen(c2) + 2);
        }
      } else if (ch === ':') {
        capture = false;
      } else if (ch === '#') {
        for (;;) {
          if (src.next === null) throw src.error('missing ), unterminated comment', src.tell() - start);
          if (src.get() === ')') break;
        }
        return null;
      } else if (ch === '=' || ch === '!' || ch === '<') {
        let c: string = ch;
        let behind = false;
        let outerLookbehind: number | null = null;
        if (c === '<') {
          const c3 = src.get();
          if (c3 === null) throw src.error('unexpected end of pattern');
          if (c3 !== '=' && c3 !== '!') throw src.error('unknown extension ?<' + c3, cpLen(c3) + 2);
          c = c3;
          behind = true;
          outerLookbehind = this.lookbehindgroups;
          if (outerLookbehind === null) this.lookbehindgroups = this.groups;
        }
        const p = this.nestedSub(verbose, nested + 1, start);
        if (behind && outerLookbehind === null) this.lookbehindgroups = null;
        if (!src.match(')')) throw src.error('missing ), unterminated subpattern', src.tell() - start);
        return { t: 'assert', behind, negate: c === '!', body: p };
      } else if (ch === '(') {
        return this.parseConditional(verbose, nested, start);
      } else if (ch === '>') {
        capture = false;
        atomic = true;
        this.refuse('atomic groups (?>...) are not supported (ADR 0003)', start);
      } else if (FLAGS.has(ch) || ch === '-') {
        const fl = this.parseFlags(ch);
        if (fl === null) {
          if (!first || hasItems) {
            throw src.error('global flags not at the start of the expression', src.tell() - start);
          }
          return 'global-flags';
        }
        [add, del] = fl;
        capture = false;
      } else {
        throw src.error('unknown extension ?' + ch, cpLen(ch) + 1);
      }
    }

    let gid: number | null = null;
    if (capture) {
      try {
        gid = this.opengroup(name);
      } catch (e) {
        if (e instanceof PyReError) throw src.error(e.msg, cpLen(name ?? '') + 1);
        throw e;
      }
    }
    const subVerbose = (verbose || (add & F_X) !== 0) && (del & F_X) === 0;
    const p = this.nestedSub(subVerbose, nested + 1, start);
    if (!src.match(')')) throw src.error('missing ), unterminated subpattern', src.tell() - start);
    if (gid !== null) this.groupwidths[gid] = this.width(p);
    return { t: 'group', gid, add, del, atomic, body: p, pos: start };
  }

  private nestedSub(verbose: boolean, nested: number, start: number): Sub {
    this.depth++;
    try {
      if (this.depth > MAX_NESTING) {
        this.refuse(`groups nested deeper than ${MAX_NESTING} levels are not supported`, start);
      }
      return this.parseSub(verbose, nested);
    } finally {
      this.depth--;
    }
  }

  private parseConditional(verbose: boolean, nested: number, start: number): Node {
    const src = this.src;
    const condname = src.getuntil(')', 'group name');
    let condgroup: number;
    if (isIdentifier(condname)) {
      src.checkgroupname(condname, 1);
      const g = this.groupdict.get(condname);
      if (g === undefined) throw src.error(`unknown group name ${pyRepr(condname)}`, cpLen(condname) + 1);
      condgroup = g;
    } else {
      const v = pyInt(condname);
      if (v === null || v < 0n) {
        throw src.error(`bad character in group name ${pyRepr(condname)}`, cpLen(condname) + 1);
      }
      if (v === 0n) throw src.error('bad group number', cpLen(condname) + 1);
      if (v >= BigInt(MAXGROUPS)) throw src.error(`invalid group reference ${v}`, cpLen(condname) + 1);
      if (!this.grouprefpos.has(v)) this.grouprefpos.set(v, src.tell() - cpLen(condname) - 1);
      condgroup = Number(v);
    }
    this.checklookbehindgroup(condgroup);
    this.refuse('conditional groups (?(id)yes|no) are not supported', start);
    this.depth++;
    try {
      const yes = this.parse(verbose, nested + 1, false);
      let no: Node[] | null = null;
      if (src.match('|')) {
        no = this.parse(verbose, nested + 1, false);
        if (src.next === '|') throw src.error('conditional backref with more than two branches');
      }
      if (!src.match(')')) throw src.error('missing ), unterminated subpattern', src.tell() - start);
      return { t: 'cond', gid: condgroup, yes, no };
    } finally {
      this.depth--;
    }
  }

  /** sre_parse._parse_flags; returns null for global flags `(?flags)`. */
  private parseFlags(first: string): [number, number] | null {
    const src = this.src;
    let add = 0;
    let del = 0;
    let c: string | null = first;
    if (c !== '-') {
      for (;;) {
        const flag = FLAGS.get(c)!;
        if (c === 'L') throw src.error("bad inline flags: cannot use 'L' flag with a str pattern");
        add |= flag;
        if ((flag & TYPE_FLAGS) !== 0 && (add & TYPE_FLAGS) !== flag) {
          throw src.error("bad inline flags: flags 'a', 'u' and 'L' are incompatible");
        }
        c = src.get();
        if (c === null) throw src.error('missing -, : or )');
        if (c === ')' || c === '-' || c === ':') break;
        if (!FLAGS.has(c)) throw src.error(isAlpha(c) ? 'unknown flag' : 'missing -, : or )', cpLen(c));
      }
    }
    if (c === ')') {
      this.flags |= add;
      return null;
    }
    if ((add & GLOBAL_FLAGS) !== 0) throw src.error('bad inline flags: cannot turn on global flag', 1);
    if (c === '-') {
      c = src.get();
      if (c === null) throw src.error('missing flag');
      if (!FLAGS.has(c)) throw src.error(isAlpha(c) ? 'unknown flag' : 'missing flag', cpLen(c));
      for (;;) {
        const flag = FLAGS.get(c)!;
        if ((flag & TYPE_FLAGS) !== 0) throw src.error("bad inline flags: cannot turn off flags 'a', 'u' and 'L'");
        del |= flag;
        c = src.get();
        if (c === null) throw src.error('missing :');
        if (c === ':') break;
        if (!FLAGS.has(c)) throw src.error(isAlpha(c) ? 'unknown flag' : 'missing :', cpLen(c));
      }
    }
    if ((del & GLOBAL_FLAGS) !== 0) throw src.error('bad inline flags: cannot turn off global flag', 1);
    if ((add & del) !== 0) throw src.error('bad inline flags: flag turned on and off', 1);
    return [add, del];
  }

  /** sre_parse._escape (outside a character class). */
  private escape(esc: string): Node {
    const src = this.src;
    const cat = CATEGORY_ESCAPES.get(esc);
    if (cat !== undefined) return { t: 'cat', cat };
    const at = AT_ESCAPES.get(esc);
    if (at !== undefined) return { t: 'at', at };
    const simple = ESCAPES.get(esc);
    if (simple !== undefined) return { t: 'lit', cp: simple };
    const c = esc.slice(1);
    const common = this.commonEscape(esc, c);
    if (common !== undefined) return { t: 'lit', cp: common.cp };
    if (c === '0') {
      const e = esc + src.getwhile(2, OCTDIGITS);
      return { t: 'lit', cp: parseInt(e.slice(1), 8) };
    }
    if (DIGITS.has(c)) {
      let e = esc;
      if (src.next !== null && DIGITS.has(src.next)) {
        e += src.get();
        if (OCTDIGITS.has(e[1]!) && OCTDIGITS.has(e[2]!) && src.next !== null && OCTDIGITS.has(src.next)) {
          e += src.get();
          const v = parseInt(e.slice(1), 8);
          if (v > 0o377) {
            throw src.error(`octal escape value ${e} outside of range 0-0o377`, cpLen(e));
          }
          return { t: 'lit', cp: v };
        }
      }
      const group = parseInt(e.slice(1), 10);
      if (group < this.groups) {
        if (!this.checkgroup(group)) throw src.error('cannot refer to an open group', cpLen(e));
        this.checklookbehindgroup(group);
        return { t: 'ref', gid: group, pos: src.tell() - cpLen(e) };
      }
      throw src.error(`invalid group reference ${group}`, cpLen(e) - 1);
    }
    if (cpLen(esc) === 2 && !ASCIILETTERS.has(c)) return { t: 'lit', cp: cpOf(c) };
    throw src.error(`bad escape ${esc}`, cpLen(esc));
  }

  /** sre_parse._class_escape (inside a character class). */
  private classEscape(esc: string): ClassCode {
    const src = this.src;
    const simple = ESCAPES.get(esc);
    if (simple !== undefined) return { k: 'lit', cp: simple, unknown: false };
    const cat = CATEGORY_ESCAPES.get(esc);
    if (cat !== undefined) return { k: 'cat', cat };
    const c = esc.slice(1);
    const common = this.commonEscape(esc, c);
    if (common !== undefined) return { k: 'lit', cp: common.cp, unknown: common.unknown };
    if (OCTDIGITS.has(c)) {
      const e = esc + src.getwhile(2, OCTDIGITS);
      const v = parseInt(e.slice(1), 8);
      if (v > 0o377) throw src.error(`octal escape value ${e} outside of range 0-0o377`, cpLen(e));
      return { k: 'lit', cp: v, unknown: false };
    }
    if (cpLen(esc) === 2 && !DIGITS.has(c) && !ASCIILETTERS.has(c)) {
      return { k: 'lit', cp: cpOf(c), unknown: false };
    }
    throw src.error(`bad escape ${esc}`, cpLen(esc));
  }

  /** `\x`, `\u`, `\U`, `\N{…}` — identical inside and outside classes. */
  private commonEscape(esc: string, c: string): { cp: number; unknown: boolean } | undefined {
    const src = this.src;
    if (c === 'x' || c === 'u' || c === 'U') {
      const n = c === 'x' ? 2 : c === 'u' ? 4 : 8;
      const e = esc + src.getwhile(n, HEXDIGITS);
      if (cpLen(e) !== n + 2) throw src.error(`incomplete escape ${e}`, cpLen(e));
      const v = parseInt(e.slice(2), 16);
      if (v > 0x10ffff) throw src.error(`bad escape ${e}`, cpLen(e));
      return { cp: v, unknown: false };
    }
    if (c === 'N') {
      const start = src.tell() - 2;
      if (!src.match('{')) throw src.error('missing {');
      const charname = src.getuntil('}', 'character name');
      // Unicode names, aliases and CJK/Hangul algorithmic names only use these characters.
      if (!/^[A-Za-z0-9 -]+$/.test(charname)) {
        throw src.error(`undefined character name ${pyRepr(charname)}`, cpLen(charname) + 4);
      }
      // We cannot check the name against Python's unicodedata (Unicode 14) reliably.
      this.refuse('named Unicode escapes \\N{...} are not supported', start);
      return { cp: 0xfffd, unknown: true };
    }
    return undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Widths (SubPattern.getwidth) — exact, with bigint to mirror Python's unbounded ints
  // -------------------------------------------------------------------------------------------

  width(sub: Sub): Width {
    if (sub.length === 1) return this.seqWidth(sub[0]!);
    let lo = MAXWIDTH;
    let hi = 0n;
    for (const branch of sub) {
      const [l, h] = this.seqWidth(branch);
      if (l < lo) lo = l;
      if (h > hi) hi = h;
    }
    return [lo, hi];
  }

  seqWidth(seq: readonly Node[]): Width {
    let lo = 0n;
    let hi = 0n;
    for (const n of seq) {
      const [l, h] = this.nodeWidth(n);
      lo += l;
      hi += h;
    }
    return [lo < MAXWIDTH ? lo : MAXWIDTH, hi < MAXWIDTH ? hi : MAXWIDTH];
  }

  private nodeWidth(n: Node): Width {
    switch (n.t) {
      case 'lit':
      case 'any':
      case 'set':
      case 'cat':
        return [1n, 1n];
      case 'at':
      case 'assert':
        return [0n, 0n];
      case 'group':
        return this.width(n.body);
      case 'repeat': {
        const [i, j] = this.nodeWidth(n.item);
        const lo = i * BigInt(n.min);
        const hi = n.max === MAXREPEAT && j !== 0n ? MAXWIDTH : j * BigInt(n.max);
        return [lo, hi];
      }
      case 'ref':
        return this.groupWidth(n.gid);
      case 'cond': {
        let [i, j] = this.seqWidth(n.yes);
        if (n.no !== null) {
          const [l, h] = this.seqWidth(n.no);
          if (l < i) i = l;
          if (h > j) j = h;
        } else {
          i = 0n;
        }
        return [i, j];
      }
    }
  }
}

function setItemOf(code: ClassCode): SetItem {
  return code.k === 'lit' ? { k: 'lit', cp: code.cp } : { k: 'cat', cat: code.cat };
}

function repeatNumber(digits: string): number {
  if (digits.length > 4300) {
    // int() refuses such strings before sre_parse can compare (CPython's int_max_str_digits default).
    throw new PyReError(
      `Exceeds the limit (4300 digits) for integer string conversion: value has ${digits.length} digits; use sys.set_int_max_str_digits() to increase the limit`,
      undefined,
      'ValueError',
    );
  }
  const trimmed = digits.replace(/^0+(?=\d)/, '');
  const v = trimmed.length > 10 ? Infinity : Number(trimmed);
  if (v >= MAXREPEAT) throw new PyReError('the repetition number is too large', undefined, 'OverflowError');
  return v;
}

// ---------------------------------------------------------------------------------------------
// Compile-time checks (re/_compiler.py): look-behind width, TEMPLATE flag
// ---------------------------------------------------------------------------------------------

export function compileChecks(parser: Parser, sub: Sub, flags: number): void {
  for (const branch of sub) for (const n of branch) compileCheckNode(parser, n, flags);
}

function compileCheckNode(parser: Parser, n: Node, flags: number): void {
  switch (n.t) {
    case 'repeat': {
      if ((flags & F_TEMPLATE) !== 0) {
        const op = n.mode === 'lazy' ? 'MIN_REPEAT' : n.mode === 'possessive' ? 'POSSESSIVE_REPEAT' : 'MAX_REPEAT';
        throw new PyReError(`internal: unsupported template operator ${op}`, undefined);
      }
      compileCheckNode(parser, n.item, flags);
      return;
    }
    case 'group':
      compileChecks(parser, n.body, flags);
      return;
    case 'assert':
      if (n.behind) {
        const [lo, hi] = parser.width(n.body);
        if (lo > MAXCODE) throw new PyReError('looks too much behind', undefined);
        if (lo !== hi) throw new PyReError('look-behind requires fixed-width pattern', undefined);
      }
      compileChecks(parser, n.body, flags);
      return;
    case 'cond':
      for (const x of n.yes) compileCheckNode(parser, x, flags);
      if (n.no !== null) for (const x of n.no) compileCheckNode(parser, x, flags);
      return;
    default:
      return;
  }
}

export type PyCompileFailure = { ok: false; kind: PyCompileError | 'unsupported'; reason: string; position?: number };

/** Python's `str(re.error)`: message, position and, for multi-line patterns, line and column. */
export function pyErrorResult(e: PyReError, pattern: readonly string[]): PyCompileFailure {
  if (e.pos === undefined) return { ok: false, kind: e.pyType, reason: e.msg };
  let reason = `${e.msg} at position ${e.pos}`;
  if (pattern.includes('\n')) {
    let line = 1;
    let lastNl = -1;
    for (let i = 0; i < e.pos && i < pattern.length; i++) {
      if (pattern[i] === '\n') {
        line++;
        lastNl = i;
      }
    }
    reason += ` (line ${line}, column ${e.pos - lastNl})`;
  }
  return { ok: false, kind: e.pyType, reason, position: e.pos };
}

export function unsupportedResult(u: UnsupportedInfo): PyCompileFailure {
  return u.position === undefined
    ? { ok: false, kind: 'unsupported', reason: u.reason }
    : { ok: false, kind: 'unsupported', reason: u.reason, position: u.position };
}

export interface ParsedPattern {
  parser: Parser;
  ast: Sub;
  /** Global flags after fix_flags (F_U added unless F_A). */
  flags: number;
  cps: readonly string[];
}

/**
 * Parse and run Python's compile-time checks. Throws PyReError exactly where Python raises;
 * `parser.unsupported` holds the first construct Python accepts but we refuse.
 */
export function parsePython(cps: readonly string[]): ParsedPattern {
  const parser = new Parser(new Tokenizer(cps));
  const ast = parser.parsePattern();
  compileChecks(parser, ast, parser.flags);
  return { parser, ast, flags: parser.flags, cps };
}
