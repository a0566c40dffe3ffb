/** Random Python patterns and inputs for the differential tests (deterministic per seed). */

export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    // mulberry32
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Characters where Python's rules differ from naive ones: case folding, Unicode classes, newlines, non-BMP. */
export const ALPHABET = [
  'a', 'b', 'c', 'A', 'B', 'k', 'K', 's', 'S', 'i', 'I', '0', '1', '9', '_', '-', '.', '/', ':', ' ', '\n', '\t',
  '\u212a', '\u017f', '\u0130', '\u0131', '\u00df', '\u1e9e', '\u00e9', '\u00c9', '\u0345', '\u03b9', '\u1fbe',
  '\u03c3', '\u03c2', '\u03a3', '\u0663', '\u00a0', '\u001c', '\u2028', '\ufeff', '\u{10400}', '\u{10428}',
  '\u{1f600}', '\u00b5', '\u03bc', '\u1c80', '\u0432', '\u00aa', '\u2160',
];

const LITS = ['a', 'b', 'A', 'k', 'K', 's', 'i', 'I', '0', '_', '-', '/', ':', ' ', 'é', 'É', '\u212a', '\u017f', '\u0130',
  '\u0131', '\u00df', '\u03c3', '\u03a3', '\u{10400}', '\u{10428}', '\u0345', '\\.', '\\n', '\\-', '\\x41', '\\u00e9', '\\U0001F600', '\\0'];
const ESCAPES = ['\\d', '\\D', '\\w', '\\W', '\\s', '\\S'];
const ASSERTS = ['\\b', '\\B', '\\A', '\\Z', '^', '$'];
const QUANTS = ['*', '+', '?', '*?', '+?', '??', '{2}', '{1,3}', '{,2}', '{2,}', '{0}', '{1,2}?'];
const SCOPED = ['(?:', '(', '(?P<g>', '(?i:', '(?-i:', '(?a:', '(?u:', '(?s:', '(?m:', '(?x:', '(?ai:', '(?i-s:'];
const GLOBAL = ['', '', '', '(?i)', '(?a)', '(?s)', '(?m)', '(?ai)', '(?im)', '(?x)', '(?is)'];
const SOUP = ['a', '(', ')', '[', ']', '[^', '{', '}', '{1,', '*', '+', '?', '|', '\\', '\\1', '(?P=g)', '(?<=', '(?<!', '(?=',
  '(?!', '(?>', '*+', '(?(1)', '\\N{', '\\q', '\\8', '(?P<1>', '-', 'z-a', '\\400', '(?z)', '(?L)', '(?-a:', '#', '\n'];

export class PatternGen {
  constructor(private readonly r: () => number) {}

  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.r() * xs.length)]!;
  }

  private cls(): string {
    const parts: string[] = [];
    const n = 1 + Math.floor(this.r() * 3);
    for (let i = 0; i < n; i++) {
      const k = this.r();
      if (k < 0.3) parts.push(this.pick(['a-z', 'A-Z', '0-9', 'a-c', 'K-k', '\u00c0-\u00ff', '\u0370-\u03ff', '\\x00-\\x7f', '\u{10400}-\u{10430}', 'h-j']));
      else if (k < 0.5) parts.push(this.pick(ESCAPES));
      else parts.push(this.pick(['a', 'A', 'k', 's', 'i', '_', '.', '-', '\\]', 'é', '\u212a', '\u017f', '\u0131', '\u03c3', '\u{10400}', '\u00b5', ' ']));
    }
    return `[${this.r() < 0.3 ? '^' : ''}${parts.join('')}]`;
  }

  /** A fixed-width piece for a lookbehind body. */
  private fixed(depth: number): string {
    const n = 1 + Math.floor(this.r() * 2);
    let s = '';
    for (let i = 0; i < n; i++) {
      const k = this.r();
      if (k < 0.4) s += this.pick(LITS);
      else if (k < 0.6) s += this.cls();
      else if (k < 0.75) s += this.pick(ESCAPES);
      else if (k < 0.85) s += '.';
      else if (k < 0.92 && depth < 2) s += `(?:${this.fixed(depth + 1)}){2}`;
      else s += this.pick(ASSERTS);
    }
    return s;
  }

  private atom(depth: number): string {
    const k = this.r();
    if (k < 0.35) return this.pick(LITS);
    if (k < 0.5) return this.cls();
    if (k < 0.58) return this.pick(ESCAPES);
    if (k < 0.63) return '.';
    if (k < 0.7) return this.pick(ASSERTS);
    if (depth >= 3) return this.pick(LITS);
    if (k < 0.85) return `${this.pick(SCOPED)}${this.alt(depth + 1)})`;
    if (k < 0.92) return `${this.pick(['(?=', '(?!'])}${this.alt(depth + 1)})`;
    return `${this.pick(['(?<=', '(?<!'])}${this.fixed(depth + 1)})`;
  }

  private seq(depth: number): string {
    const n = Math.floor(this.r() * 4) + (depth === 0 ? 1 : 0);
    let s = '';
    for (let i = 0; i < n; i++) {
      const a = this.atom(depth);
      s += a;
      if (!ASSERTS.includes(a) && this.r() < 0.35) s += this.pick(QUANTS);
    }
    return s;
  }

  private alt(depth: number): string {
    let s = this.seq(depth);
    while (this.r() < 0.2) s += '|' + this.seq(depth);
    return s;
  }

  pattern(): string {
    if (this.r() < 0.12) {
      // Token soup: mostly invalid, exercises re.error parity.
      let s = '';
      const n = 1 + Math.floor(this.r() * 8);
      for (let i = 0; i < n; i++) s += this.r() < 0.5 ? this.pick(SOUP) : this.pick(LITS);
      return s;
    }
    return this.pick(GLOBAL) + this.alt(0);
  }

  /** Inputs: random strings over ALPHABET plus the pattern's own literal characters. */
  inputs(pattern: string, count: number, maxLen: number): string[] {
    const own = Array.from(pattern).filter((c) => !'\\()[]{}?*+|^$'.includes(c));
    const pool = own.length > 0 ? [...ALPHABET, ...own, ...own] : ALPHABET;
    const out = ['', '\n'];
    for (let i = 2; i < count; i++) {
      const len = Math.floor(this.r() * (maxLen + 1));
      let s = '';
      for (let j = 0; j < len; j++) s += this.pick(pool);
      out.push(s);
      // `$` matches before a final newline: give every pattern that case too.
      if (i % 3 === 0) out.push(s + '\n');
    }
    // The pattern's literal characters in order often spell a matching input.
    out.push(own.join(''), own.join('') + '\n');
    return out;
  }
}
