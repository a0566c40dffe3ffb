/**
 * Linear-time `re.match` for the parse tree of `parse.ts`: a Thompson NFA simulation (ADR 0005).
 *
 * Why not a backtracking engine: nested quantifiers (`^(\w+\s?)*$`) make V8 take exponential time
 * on a 31-character image. `re.match`'s answer (match or not) does not depend on the order in
 * which Python backtracks, so simulating all threads at once gives MLRun's answer in
 * O(program size × (input length + 1)) steps.
 *
 * - Character tests follow `re/_compiler.py` exactly: under IGNORECASE a literal compares
 *   `lower(ch)` (plus `re._casefix` equivalences), a set containing a cased member tests
 *   `lower(ch)` against its lowered members (categories included), non-BMP set members keep
 *   sre's quirks (see Builder.set); `\d \w \s \b` are Unicode unless the ASCII flag is in force.
 * - Lookarounds become per-position truth tables, each computed on first use by one pass over the
 *   whole input: a lookbehind body runs forward from every position and marks where it ends
 *   (fixed width, so it started exactly `width` earlier); a lookahead body is compiled reversed
 *   and runs backward from every position, marking where it begins. Each pass is itself linear.
 * - Refused (kind 'unsupported'): backreferences (no linear algorithm can match them) and programs larger
 *   than MAX_PROGRAM_SIZE instructions (counted repeats are expanded, so this caps the per-
 *   character cost). Captures are not tracked: nothing needs them.
 */

import {
  F_I,
  F_M,
  F_S,
  F_U,
  MAXREPEAT,
  TYPE_FLAGS,
  type AtKind,
  type Cat,
  type Node,
  type SetItem,
  type Sub,
  type UnsupportedInfo,
} from './parse.js';
import {
  CASE_FIXES,
  asciiIsCased,
  asciiLower,
  isDigitA,
  isDigitU,
  isSpaceA,
  isSpaceU,
  isWordA,
  isWordU,
  pyIsCased,
  pyLower,
  pyUpper,
} from '../unicode.js';

/**
 * Instructions in one pattern, lookaround bodies included. Every input character costs at most
 * twice this many steps: the worst pattern under the cap costs ~1.5M steps (~10-20 ms on an idle
 * core) on a 700-character image, once per image (results are memoised upstream). Real enrich
 * patterns compile to 10-25 instructions; `[a-z0-9]{1,255}` to 510.
 */
export const MAX_PROGRAM_SIZE = 1000;

/** Code points lowered for case-insensitive ranges, per pattern: 16 full-BMP ranges. */
const MAX_RANGE_WALK = 16 * 0x10000;

const OP_CHAR = 0;
const OP_CLASS = 1;
const OP_SPLIT = 2;
const OP_JMP = 3;
const OP_ASSERT = 4;
const OP_LOOK = 5;
const OP_MATCH = 6;

const AT_BEGIN = 0;
const AT_BEGIN_LINE = 1;
const AT_END = 2;
const AT_END_LINE = 3;
const AT_END_STRING = 4;
const AT_BOUNDARY_U = 5;
const AT_NON_BOUNDARY_U = 6;
const AT_BOUNDARY_A = 7;
const AT_NON_BOUNDARY_A = 8;

const FOLD_NONE = 0;
const FOLD_ASCII = 1;
const FOLD_UNICODE = 2;

class Refusal {
  constructor(readonly info: UnsupportedInfo) {}
}

// ---------------------------------------------------------------------------------------------
// Character classes
// ---------------------------------------------------------------------------------------------

interface ClassSpec {
  fold: number;
  negate: boolean;
  /** Sorted, merged [lo, hi] pairs tested against the (folded) character. */
  ranges: number[];
  /** sre's RANGE_UNI_IGNORE pairs: folded char or its upper() in range. */
  uniRanges: number[];
  cats: { cat: Cat; unicode: boolean }[];
}

class CharClass {
  constructor(private readonly spec: ClassSpec) {}

  test(cp: number): boolean {
    const { fold, ranges, uniRanges, cats } = this.spec;
    const c = fold === FOLD_UNICODE ? pyLower(cp) : fold === FOLD_ASCII ? asciiLower(cp) : cp;
    let hit = inRanges(ranges, c);
    for (let i = 0; !hit && i < uniRanges.length; i += 2) {
      const lo = uniRanges[i]!;
      const hi = uniRanges[i + 1]!;
      if (lo <= c && c <= hi) hit = true;
      else {
        const u = pyUpper(c);
        hit = lo <= u && u <= hi;
      }
    }
    for (let i = 0; !hit && i < cats.length; i++) hit = catTest(cats[i]!.cat, cats[i]!.unicode, c);
    return hit !== this.spec.negate;
  }
}

function inRanges(r: readonly number[], c: number): boolean {
  // Binary search over [lo, hi] pairs.
  let a = 0;
  let b = (r.length >> 1) - 1;
  while (a <= b) {
    const m = (a + b) >> 1;
    if (c < r[2 * m]!) b = m - 1;
    else if (c > r[2 * m + 1]!) a = m + 1;
    else return true;
  }
  return false;
}

function catTest(cat: Cat, unicode: boolean, c: number): boolean {
  switch (cat) {
    case 'd':
      return unicode ? isDigitU(c) : isDigitA(c);
    case 'D':
      return !(unicode ? isDigitU(c) : isDigitA(c));
    case 'w':
      return unicode ? isWordU(c) : isWordA(c);
    case 'W':
      return !(unicode ? isWordU(c) : isWordA(c));
    case 's':
      return unicode ? isSpaceU(c) : isSpaceA(c);
    case 'S':
      return !(unicode ? isSpaceU(c) : isSpaceA(c));
  }
}

function mergeRanges(pairs: [number, number][]): number[] {
  pairs.sort((p, q) => p[0] - q[0]);
  const out: number[] = [];
  for (const [lo, hi] of pairs) {
    const n = out.length;
    if (n > 0 && lo <= out[n - 1]! + 1) {
      if (hi > out[n - 1]!) out[n - 1] = hi;
    } else out.push(lo, hi);
  }
  return out;
}

/** Code points → one-point ranges (deduplicated; mergeRanges sorts and merges). */
function pointsToRanges(points: Iterable<number>): [number, number][] {
  return [...new Set(points)].map((c) => [c, c] as [number, number]);
}

// ---------------------------------------------------------------------------------------------
// Compiler: parse tree → instructions
// ---------------------------------------------------------------------------------------------

interface Prog {
  op: Int32Array;
  x: Int32Array;
  y: Int32Array;
  // Run-time buffers, allocated once. A thread list holds only character-consuming instructions;
  // `mark[pc] === gen` says pc was already visited while building the current list.
  list0: Int32Array;
  list1: Int32Array;
  mark: Int32Array;
  gen: number;
  stack: Int32Array;
}

interface Look {
  prog: Prog;
  ahead: boolean;
}

class Shared {
  size = 0;
  readonly classes: CharClass[] = [];
  readonly looks: Look[] = [];
  readonly setCache = new Map<Node, Map<number, { op: number; arg: number }>>();
  /** Code points walked to lower case-insensitive ranges (sre walks them too, once per load). */
  walked = 0;
  private readonly lookCache = new Map<Node, Map<number, number>>();

  count(): void {
    if (++this.size > MAX_PROGRAM_SIZE) {
      throw new Refusal({
        reason: `the pattern needs more than ${MAX_PROGRAM_SIZE} matcher instructions (counted repeats are expanded); this cap keeps matching linear and cheap`,
      });
    }
  }

  lookFor(n: Extract<Node, { t: 'assert' }>, flags: number): number {
    let byFlags = this.lookCache.get(n);
    const known = byFlags?.get(flags);
    if (known !== undefined) return known;
    const b = new Builder(this, !n.behind);
    b.sub(n.body, flags);
    b.emit(OP_MATCH);
    const idx = this.looks.length;
    this.looks.push({ prog: b.finish(), ahead: !n.behind });
    if (byFlags === undefined) {
      byFlags = new Map();
      this.lookCache.set(n, byFlags);
    }
    byFlags.set(flags, idx);
    return idx;
  }
}

class Builder {
  readonly op: number[] = [];
  readonly x: number[] = [];
  readonly y: number[] = [];

  /** `reverse`: emit sequences back to front (lookahead bodies run right to left). */
  constructor(
    private readonly shared: Shared,
    private readonly reverse: boolean,
  ) {}

  get pc(): number {
    return this.op.length;
  }

  emit(o: number, a = 0, b = 0): number {
    this.shared.count();
    this.op.push(o);
    this.x.push(a);
    this.y.push(b);
    return this.op.length - 1;
  }

  finish(): Prog {
    const n = this.op.length;
    return {
      op: Int32Array.from(this.op),
      x: Int32Array.from(this.x),
      y: Int32Array.from(this.y),
      list0: new Int32Array(n),
      list1: new Int32Array(n),
      mark: new Int32Array(n),
      gen: 0,
      stack: new Int32Array(2 * n + 2),
    };
  }

  sub(sub: Sub, flags: number): void {
    if (sub.length === 1) {
      this.seq(sub[0]!, flags);
      return;
    }
    const ends: number[] = [];
    for (let i = 0; i < sub.length; i++) {
      if (i < sub.length - 1) {
        const split = this.emit(OP_SPLIT);
        this.x[split] = this.pc;
        this.seq(sub[i]!, flags);
        ends.push(this.emit(OP_JMP));
        this.y[split] = this.pc;
      } else {
        this.seq(sub[i]!, flags);
      }
    }
    for (const j of ends) this.x[j] = this.pc;
  }

  private seq(seq: readonly Node[], flags: number): void {
    if (this.reverse) for (let i = seq.length - 1; i >= 0; i--) this.node(seq[i]!, flags);
    else for (const n of seq) this.node(n, flags);
  }

  private node(n: Node, flags: number): void {
    switch (n.t) {
      case 'lit':
        this.literal(n.cp, false, flags);
        return;
      case 'any':
        this.cls({ fold: FOLD_NONE, negate: true, ranges: (flags & F_S) !== 0 ? [] : [10, 10], uniRanges: [], cats: [] });
        return;
      case 'cat':
        // sre_parse makes `\d` outside a class an IN with one category: never case-folded.
        this.cls({ fold: FOLD_NONE, negate: false, ranges: [], uniRanges: [], cats: [{ cat: n.cat, unicode: (flags & F_U) !== 0 }] });
        return;
      case 'set': {
        // A repeated set (`[a-z]{50}`) is compiled once per flags and shared by every copy.
        const known = this.shared.setCache.get(n)?.get(flags);
        if (known !== undefined) {
          this.emit(known.op, known.arg);
          return;
        }
        const at = this.pc;
        this.set(n.negate, n.items, flags);
        const entry = { op: this.op[at]!, arg: this.x[at]! };
        let byFlags = this.shared.setCache.get(n);
        if (byFlags === undefined) {
          byFlags = new Map();
          this.shared.setCache.set(n, byFlags);
        }
        byFlags.set(flags, entry);
        return;
      }
      case 'at':
        this.emit(OP_ASSERT, atCode(n.at, flags));
        return;
      case 'group': {
        let inner = flags;
        if (n.add !== 0 || n.del !== 0) {
          // re._compiler._combine_flags
          inner = (n.add & TYPE_FLAGS) !== 0 ? flags & ~TYPE_FLAGS : flags;
          inner = (inner | n.add) & ~n.del;
        }
        this.sub(n.body, inner);
        return;
      }
      case 'assert':
        this.emit(OP_LOOK, this.shared.lookFor(n, flags), n.negate ? 1 : 0);
        return;
      case 'repeat':
        this.repeat(n.item, n.min, n.max, flags);
        return;
      case 'ref':
        throw new Refusal({
          reason:
            'backreferences (\\N, (?P=name)) are not supported: no linear-time matcher can evaluate them, and enrich patterns must run in linear time',
          position: n.pos,
        });
      case 'cond':
        // The parser has already refused conditionals; never reached.
        throw new Refusal({ reason: 'conditional groups (?(id)yes|no) are not supported' });
    }
  }

  /** Greedy and lazy repeats accept the same strings; only the boolean answer is needed. */
  private repeat(item: Node, min: number, max: number, flags: number): void {
    const before = this.pc;
    if (min > 0) {
      this.node(item, flags);
      // An item without instructions (an empty group) repeats to nothing: do not expand it.
      if (this.pc === before) return;
      for (let i = 1; i < min; i++) this.node(item, flags);
    }
    if (max === MAXREPEAT) {
      const head = this.emit(OP_SPLIT);
      this.x[head] = this.pc;
      const bodyStart = this.pc;
      this.node(item, flags);
      if (this.pc === bodyStart) {
        this.y[head] = this.pc;
        return;
      }
      this.emit(OP_JMP, head);
      this.y[head] = this.pc;
      return;
    }
    const splits: number[] = [];
    for (let i = min; i < max; i++) {
      const split = this.emit(OP_SPLIT);
      this.x[split] = this.pc;
      splits.push(split);
      const bodyStart = this.pc;
      this.node(item, flags);
      if (this.pc === bodyStart) break;
    }
    for (const s of splits) this.y[s] = this.pc;
  }

  private cls(spec: ClassSpec): void {
    const idx = this.shared.classes.length;
    this.shared.classes.push(new CharClass(spec));
    this.emit(OP_CLASS, idx);
  }

  /** re._compiler._compile for LITERAL / NOT_LITERAL. */
  private literal(cp: number, negate: boolean, flags: number): void {
    const exact = (): void => {
      if (negate) this.cls({ fold: FOLD_NONE, negate: true, ranges: [cp, cp], uniRanges: [], cats: [] });
      else this.emit(OP_CHAR, cp);
    };
    if ((flags & F_I) === 0) return exact();
    if ((flags & F_U) !== 0) {
      if (!pyIsCased(cp)) return exact();
      const lo = pyLower(cp);
      const members = [lo, ...(CASE_FIXES.get(lo) ?? [])];
      this.cls({ fold: FOLD_UNICODE, negate, ranges: mergeRanges(pointsToRanges(members)), uniRanges: [], cats: [] });
      return;
    }
    if (!asciiIsCased(cp)) return exact();
    const lo = asciiLower(cp);
    this.cls({ fold: FOLD_ASCII, negate, ranges: [lo, lo], uniRanges: [], cats: [] });
  }

  /** re._compiler._optimize_charset + the IN / IN_IGNORE / IN_UNI_IGNORE choice. */
  private set(negate: boolean, items: readonly SetItem[], flags: number): void {
    const first = items[0];
    if (first !== undefined && first.k === 'lit' && items.every((it) => it.k === 'lit' && it.cp === first.cp)) {
      // sre_parse turns a set of one (deduplicated) literal into LITERAL / NOT_LITERAL.
      this.literal(first.cp, negate, flags);
      return;
    }
    const unicode = (flags & F_U) !== 0;
    const ignore = (flags & F_I) !== 0;
    const fixup = ignore ? (unicode ? pyLower : asciiLower) : null;
    const fixes = ignore && unicode ? CASE_FIXES : null;
    const iscased = unicode ? pyIsCased : asciiIsCased;
    const pairs: [number, number][] = [];
    const uniRanges: number[] = [];
    const cats: ClassSpec['cats'] = [];
    let hascased = false;
    const mark = (c: number): void => {
      pairs.push([c, c]);
      const extra = fixes?.get(c);
      if (extra) for (const k of extra) pairs.push([k, k]);
    };
    for (const it of items) {
      if (it.k === 'cat') {
        cats.push({ cat: it.cat, unicode });
      } else if (fixup === null) {
        if (it.k === 'lit') pairs.push([it.cp, it.cp]);
        else pairs.push([it.lo, it.hi]);
      } else if (it.k === 'lit') {
        const lo = fixup(it.cp);
        if (lo > 0xffff) {
          // sre's charmap covers the BMP; a larger code point goes to the tail un-lowered, so
          // it is compared with lower(ch) as is (CPython quirk, reproduced).
          pairs.push([it.cp, it.cp]);
          hascased = true;
        } else {
          mark(lo);
          if (iscased(it.cp)) hascased = true;
        }
      } else {
        let overflow = false;
        // Python walks the range lowering each member; past the BMP it keeps the whole range
        // as RANGE_UNI_IGNORE instead (lower(ch) or upper(lower(ch)) in range).
        const run: number[] = [];
        for (let c = it.lo; c <= it.hi; c++) {
          if (++this.shared.walked > MAX_RANGE_WALK) {
            throw new Refusal({
              reason: `case-insensitive character ranges cover more than ${MAX_RANGE_WALK} code points in total; this cap bounds the work at load`,
            });
          }
          const lo = fixup(c);
          if (lo > 0xffff) {
            overflow = true;
            break;
          }
          run.push(lo);
        }
        for (const lo of run) mark(lo);
        if (overflow) {
          uniRanges.push(it.lo, it.hi);
          hascased = true;
        } else if (!hascased) {
          for (let c = it.lo; c <= it.hi && !hascased; c++) hascased = iscased(c);
        }
      }
    }
    const fold = ignore && hascased ? (unicode ? FOLD_UNICODE : FOLD_ASCII) : FOLD_NONE;
    this.cls({ fold, negate, ranges: mergeRanges(pairs), uniRanges, cats });
  }
}

function atCode(at: AtKind, flags: number): number {
  const multiline = (flags & F_M) !== 0;
  const ascii = (flags & F_U) === 0;
  switch (at) {
    case 'beginning':
      return multiline ? AT_BEGIN_LINE : AT_BEGIN;
    case 'end':
      return multiline ? AT_END_LINE : AT_END;
    case 'beginning_string':
      return AT_BEGIN;
    case 'end_string':
      return AT_END_STRING;
    case 'boundary':
      return ascii ? AT_BOUNDARY_A : AT_BOUNDARY_U;
    case 'non_boundary':
      return ascii ? AT_NON_BOUNDARY_A : AT_NON_BOUNDARY_U;
  }
}

// ---------------------------------------------------------------------------------------------
// Run time
// ---------------------------------------------------------------------------------------------

/** Code point starting at UTF-16 index p (a lone surrogate is its own code point, as in Python). */
function cpAt(s: string, p: number): number {
  const c = s.charCodeAt(p);
  if (c >= 0xd800 && c <= 0xdbff && p + 1 < s.length) {
    const d = s.charCodeAt(p + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
  }
  return c;
}

/** Code point ending at UTF-16 index p. */
function cpBefore(s: string, p: number): number {
  const d = s.charCodeAt(p - 1);
  if (d >= 0xdc00 && d <= 0xdfff && p >= 2) {
    const c = s.charCodeAt(p - 2);
    if (c >= 0xd800 && c <= 0xdbff) return ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
  }
  return d;
}

export class LinearMatcher {
  /** Instructions in the main program and all lookaround bodies. */
  readonly programSize: number;
  /** Steps of the last match (closure visits + character tests); for the linearity tests. */
  steps = 0;

  private readonly classes: CharClass[];
  /** classes × 128: the class's answer for each ASCII code point. */
  private readonly asciiTable: Uint8Array;
  private readonly looks: Look[];
  private readonly tables: (Uint8Array | null)[];
  private readonly prefix: string;
  private readonly startPc: number;
  private readonly alwaysAfterPrefix: boolean;
  private s = '';
  private n = 0;
  private hit = false;

  constructor(
    private readonly main: Prog,
    shared: Shared,
  ) {
    this.programSize = shared.size;
    this.classes = shared.classes;
    this.looks = shared.looks;
    this.tables = this.looks.map(() => null);
    this.asciiTable = new Uint8Array(this.classes.length * 128);
    this.classes.forEach((cls, i) => {
      for (let c = 0; c < 128; c++) this.asciiTable[i * 128 + c] = cls.test(c) ? 1 : 0;
    });
    // Fast path: the literal characters every match starts with (after `^`/`\A`, true at 0).
    let pc = 0;
    let prefix = '';
    for (;;) {
      const o = main.op[pc];
      if (o === OP_CHAR) prefix += String.fromCodePoint(main.x[pc]!);
      else if (o === OP_ASSERT && prefix === '' && (main.x[pc] === AT_BEGIN || main.x[pc] === AT_BEGIN_LINE)) {
        // true at position 0
      } else break;
      pc++;
    }
    this.prefix = prefix;
    this.startPc = pc;
    this.alwaysAfterPrefix = reachesMatchUnconditionally(main, pc);
  }

  match(s: string): boolean {
    this.steps = 0;
    if (this.prefix !== '' && !s.startsWith(this.prefix)) return false;
    if (this.alwaysAfterPrefix) return true;
    this.s = s;
    this.n = s.length;
    for (let i = 0; i < this.tables.length; i++) this.tables[i] = null;
    try {
      return this.runMain(this.main, this.startPc, this.prefix.length);
    } finally {
      this.s = '';
      for (let i = 0; i < this.tables.length; i++) this.tables[i] = null;
    }
  }

  /** Start a new thread list of prog (a fresh visit generation). */
  private static newList(prog: Prog): void {
    if (++prog.gen === 0x3fffffff) {
      prog.mark.fill(0);
      prog.gen = 1;
    }
  }

  /**
   * Add the closure of `pc0` at position p to `list` (holding `size` entries); returns the new
   * size. Sets `this.hit` when the closure reaches MATCH.
   */
  private add(prog: Prog, list: Int32Array, size: number, pc0: number, p: number): number {
    const { op, x, y, stack, mark } = prog;
    const gen = prog.gen;
    let sp = 0;
    stack[sp++] = pc0;
    while (sp > 0) {
      const pc = stack[--sp]!;
      if (mark[pc] === gen) continue;
      mark[pc] = gen;
      this.steps++;
      switch (op[pc]) {
        case OP_CHAR:
        case OP_CLASS:
          list[size++] = pc;
          break;
        case OP_JMP:
          stack[sp++] = x[pc]!;
          break;
        case OP_SPLIT:
          stack[sp++] = y[pc]!;
          stack[sp++] = x[pc]!;
          break;
        case OP_ASSERT:
          if (this.at(x[pc]!, p)) stack[sp++] = pc + 1;
          break;
        case OP_LOOK:
          if ((this.lookTable(x[pc]!)[p] === 1) !== (y[pc] === 1)) stack[sp++] = pc + 1;
          break;
        default:
          // OP_MATCH
          this.hit = true;
          break;
      }
    }
    return size;
  }

  /**
   * Advance every thread of `cur` over code point cp into `next` (closures at p2). Returns the
   * size of `next`; sets `this.hit` when some thread reaches MATCH (and stops there if asked).
   */
  private step(prog: Prog, cur: Int32Array, size: number, next: Int32Array, cp: number, p2: number, stopOnHit: boolean): number {
    const { op, x } = prog;
    const tab = this.asciiTable;
    let nsize = 0;
    for (let i = 0; i < size; i++) {
      const pc = cur[i]!;
      let ok: boolean;
      if (op[pc] === OP_CHAR) ok = x[pc] === cp;
      else {
        this.steps++;
        const k = x[pc]!;
        ok = cp < 128 ? tab[(k << 7) + cp] === 1 : this.classes[k]!.test(cp);
      }
      if (ok) {
        nsize = this.add(prog, next, nsize, pc + 1, p2);
        if (this.hit && stopOnHit) return nsize;
      }
    }
    return nsize;
  }

  private runMain(prog: Prog, pc0: number, p0: number): boolean {
    const s = this.s;
    const n = this.n;
    this.hit = false;
    LinearMatcher.newList(prog);
    let cur = prog.list0;
    let next = prog.list1;
    let size = this.add(prog, cur, 0, pc0, p0);
    let p = p0;
    while (!this.hit && size > 0 && p < n) {
      const cp = cpAt(s, p);
      p += cp > 0xffff ? 2 : 1;
      LinearMatcher.newList(prog);
      size = this.step(prog, cur, size, next, cp, p, true);
      const t = cur;
      cur = next;
      next = t;
    }
    return this.hit;
  }

  private lookTable(idx: number): Uint8Array {
    const known = this.tables[idx];
    if (known) return known;
    const { prog, ahead } = this.looks[idx]!;
    const s = this.s;
    const n = this.n;
    const t = new Uint8Array(n + 1);
    // A lookaround is evaluated in the middle of an outer closure: keep the outer `hit`.
    const outerHit = this.hit;
    let cur = prog.list0;
    let next = prog.list1;
    let size = 0;
    let p = ahead ? n : 0;
    LinearMatcher.newList(prog);
    for (;;) {
      // A body may start (lookbehind) or end (lookahead) at every position.
      this.hit = false;
      size = this.add(prog, cur, size, 0, p);
      if (this.hit) t[p] = 1;
      if (ahead ? p <= 0 : p >= n) break;
      const cp = ahead ? cpBefore(s, p) : cpAt(s, p);
      const len = cp > 0xffff ? 2 : 1;
      p = ahead ? p - len : p + len;
      LinearMatcher.newList(prog);
      this.hit = false;
      size = this.step(prog, cur, size, next, cp, p, false);
      if (this.hit) t[p] = 1;
      const tmp = cur;
      cur = next;
      next = tmp;
    }
    this.hit = outerHit;
    this.tables[idx] = t;
    return t;
  }

  private at(kind: number, p: number): boolean {
    const s = this.s;
    const n = this.n;
    switch (kind) {
      case AT_BEGIN:
        return p === 0;
      case AT_BEGIN_LINE:
        return p === 0 || s.charCodeAt(p - 1) === 10;
      case AT_END:
        return p === n || (p + 1 === n && s.charCodeAt(p) === 10);
      case AT_END_LINE:
        return p === n || s.charCodeAt(p) === 10;
      case AT_END_STRING:
        return p === n;
      default: {
        // sre: neither \b nor \B matches in an empty string.
        if (n === 0) return false;
        const unicode = kind === AT_BOUNDARY_U || kind === AT_NON_BOUNDARY_U;
        const word = unicode ? isWordU : isWordA;
        const before = p > 0 && word(cpBefore(s, p));
        const after = p < n && word(cpAt(s, p));
        return kind === AT_BOUNDARY_U || kind === AT_BOUNDARY_A ? before !== after : before === after;
      }
    }
  }
}

/** MATCH reachable from pc through jumps and splits alone (no assertion, no character). */
function reachesMatchUnconditionally(prog: Prog, pc0: number): boolean {
  const seen = new Set<number>();
  const stack = [pc0];
  while (stack.length > 0) {
    const pc = stack.pop()!;
    if (seen.has(pc)) continue;
    seen.add(pc);
    const o = prog.op[pc];
    if (o === OP_MATCH) return true;
    if (o === OP_JMP) stack.push(prog.x[pc]!);
    else if (o === OP_SPLIT) stack.push(prog.x[pc]!, prog.y[pc]!);
  }
  return false;
}

export type LinearCompileResult = { ok: true; matcher: LinearMatcher } | { ok: false; info: UnsupportedInfo };

/** Compile a parsed pattern (global flags after fix_flags) into a linear-time `re.match`. */
export function compileLinear(ast: Sub, flags: number): LinearCompileResult {
  const shared = new Shared();
  try {
    const b = new Builder(shared, false);
    b.sub(ast, flags);
    b.emit(OP_MATCH);
    return { ok: true, matcher: new LinearMatcher(b.finish(), shared) };
  } catch (e) {
    if (e instanceof Refusal) return { ok: false, info: e.info };
    throw e;
  }
}

