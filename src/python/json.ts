/**
 * The members of one nested object of a JSON text, read as Python's `json.loads(text)` followed by
 * `run[path[0]][path[1]]...[key]` would read them, without building the document.
 *
 * Why not JSON.parse: MLRUN_EXEC_CONFIG is written by Python (`json.dumps`, whose default allow_nan writes NaN,
 * Infinity and -Infinity for such run parameters) and read by Python (`mlrun run --from-env`: `json.loads`).
 * JSON.parse refuses those three words, so a run with a NaN parameter would lose its client version here and be
 * resolved as MLRun would not. And a job's exec config is unique to its run: parsing it built a few dozen objects
 * and interned every key, per admission, for two labels (ADR 0017).
 *
 * Grammar: Python's `json` module (its C scanner, strict mode): RFC 8259 JSON plus NaN, Infinity and -Infinity;
 * whitespace is space, tab, CR and LF; control characters inside strings are refused; integers of more than 4,300
 * digits are refused (CPython's default int_max_str_digits); duplicate keys: the last wins (a dict). One pass, linear
 * in the text; iterative, with the nesting bounded by `maxDepth`.
 */

/** A member whose value is neither a string nor null (a number, true/false, an object, an array, NaN…). */
export const NOT_A_STRING: unique symbol = Symbol('not a string');
export type MemberValue = string | null | typeof NOT_A_STRING | undefined;

export type NestedMembers =
  /** The text is not what json.loads accepts, or nests deeper than maxDepth. */
  | { valid: false }
  /**
   * `members[i]` is keys[i]'s value (undefined: absent); `members` is undefined when the text is not an object, or
   * a step of the path is absent or not an object.
   */
  | { valid: true; members: MemberValue[] | undefined };

const INVALID: NestedMembers = Object.freeze({ valid: false });

/** Where the whitespace from i ends (space, tab, LF, CR). Most run objects have none: one comparison. */
function skip(text: string, i: number): number {
  let c = text.charCodeAt(i);
  while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = text.charCodeAt(++i);
  return i;
}

/**
 * The index of the closing quote of the string whose opening quote is at `open`, or -1 when it is not a valid
 * string (a control character, a bad escape, no end). `escaped` then tells whether it held a backslash (its text
 * needs decoding): a module variable rather than an object per string.
 */
let escaped = false;
function stringEnd(text: string, open: number): number {
  escaped = false;
  const n = text.length;
  for (let i = open + 1; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) return i;
    if (c < 0x20) return -1;
    if (c !== 0x5c) continue;
    escaped = true;
    const e = text.charCodeAt(++i);
    if (e === 0x75 /* u */) {
      for (let k = 0; k < 4; k++) if (!isHex(text.charCodeAt(++i))) return -1;
    } else if (!(e === 0x22 || e === 0x5c || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74)) {
      return -1;
    }
  }
  return -1;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** The string between the quotes at open and end (escapes decoded: the grammar was checked, so JSON.parse agrees). */
function stringAt(text: string, open: number, end: number, hasEscape: boolean): string {
  return hasEscape ? (JSON.parse(text.slice(open, end + 1)) as string) : text.slice(open + 1, end);
}

/**
 * Which of wants[from..to) the key between the quotes at open and end is, or -1. Compared in place when it has no
 * escape; else decoded, once, and only when its length could decode to one of them (an escape is 2 to 6 characters
 * for one unit, so the text decodes to between a sixth of its length and all of it): a flood of short escaped keys
 * decodes nothing.
 */
function keyIndex(text: string, open: number, end: number, hasEscape: boolean, wants: readonly string[], from: number, to: number): number {
  const raw = end - open - 1;
  if (!hasEscape) {
    for (let k = from; k < to; k++) if (raw === wants[k]!.length && text.startsWith(wants[k]!, open + 1)) return k;
    return -1;
  }
  for (let k = from; k < to; k++) {
    if (raw >= wants[k]!.length && raw <= 6 * wants[k]!.length) {
      const key = stringAt(text, open, end, true);
      for (let j = from; j < to; j++) if (wants[j] === key) return j;
      return -1;
    }
  }
  return -1;
}

/**
 * CPython refuses to convert an integer of more than this many digits (the sign not counted): json.loads raises
 * ValueError. The default of `sys.int_max_str_digits` since 3.11 and in 3.7.14, 3.8.14, 3.9.14 and 3.10.7 (a
 * PYTHONINTMAXSTRDIGITS set in the job's image would move it there, not here). Fractions and exponents: no limit.
 */
export const PYTHON_INT_MAX_DIGITS = 4300;

/**
 * Where the number, NaN, Infinity or -Infinity at i ends, or -1. By hand rather than a sticky regex: a run object
 * has a few numbers, and the regex machinery was more code to bring back into the caches per admission than this.
 * Backtracks as the C scanner does: "1." and "1e" end after the 1 (and the text is then refused by what follows).
 */
function numberEnd(text: string, i: number): number {
  let k = i;
  let c = text.charCodeAt(k);
  if (c === 0x4e /* N */) return text.startsWith('NaN', k) ? k + 3 : -1;
  if (c === 0x49 /* I */) return text.startsWith('Infinity', k) ? k + 8 : -1;
  if (c === 0x2d /* - */) {
    c = text.charCodeAt(++k);
    if (c === 0x49) return text.startsWith('Infinity', k) ? k + 8 : -1;
  }
  const first = k;
  if (c === 0x30) k++;
  else if (c >= 0x31 && c <= 0x39) while (isDigit(text.charCodeAt(++k)));
  else return -1;
  const digits = k - first;
  let integer = true;
  if (text.charCodeAt(k) === 0x2e && isDigit(text.charCodeAt(k + 1))) {
    integer = false;
    k += 2;
    while (isDigit(text.charCodeAt(k))) k++;
  }
  c = text.charCodeAt(k);
  if (c === 0x65 || c === 0x45) {
    let e = k + 1;
    const sign = text.charCodeAt(e);
    if (sign === 0x2b || sign === 0x2d) e++;
    if (isDigit(text.charCodeAt(e))) {
      integer = false;
      while (isDigit(text.charCodeAt(++e)));
      k = e;
    }
  }
  return integer && digits > PYTHON_INT_MAX_DIGITS ? -1 : k;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** A frame of the stack for an array; an object's frame is its path step (-1: off the path). */
const ARRAY = -2;

export function readNestedMembers(text: string, path: readonly string[], keys: readonly string[], maxDepth: number): NestedMembers {
  // Per open container: ARRAY, or for an object how many steps of the path lead to it (-1: off the path).
  const frames: number[] = [];
  let members: MemberValue[] | undefined;
  // What the value about to be read is: the object of path step `nextStep` (-1: none), or keys[nextKey] (-1: none).
  let nextStep = 0;
  let nextKey = -1;
  let i = skip(text, 0);
  // Each turn reads one value at i, then what follows it up to the next value (or the end).
  for (;;) {
    const c = text.charCodeAt(i);
    let opened = false;
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (frames.length >= maxDepth) return INVALID;
      const isObject = c === 0x7b;
      frames.push(isObject ? nextStep : ARRAY);
      if (isObject && nextStep === path.length) members = new Array<MemberValue>(keys.length);
      if (nextKey >= 0) members![nextKey] = NOT_A_STRING;
      i = skip(text, i + 1);
      const close = isObject ? 0x7d : 0x5d;
      if (text.charCodeAt(i) === close) {
        frames.pop();
        i++;
      } else opened = true;
    } else if (c === 0x22 /* " */) {
      const end = stringEnd(text, i);
      if (end < 0) return INVALID;
      if (nextKey >= 0) members![nextKey] = stringAt(text, i, end, escaped);
      i = end + 1;
    } else if (c === 0x6e /* n */ && text.startsWith('null', i)) {
      if (nextKey >= 0) members![nextKey] = null;
      i += 4;
    } else {
      let end = -1;
      if (c === 0x74 /* t */ && text.startsWith('true', i)) end = i + 4;
      else if (c === 0x66 /* f */ && text.startsWith('false', i)) end = i + 5;
      else end = numberEnd(text, i);
      if (end < 0) return INVALID;
      if (nextKey >= 0) members![nextKey] = NOT_A_STRING;
      i = end;
    }

    // After the value: a container just opened wants its first element; else a separator or closing brackets.
    if (!opened) {
      for (;;) {
        i = skip(text, i);
        const depth = frames.length;
        if (depth === 0) return i === text.length ? { valid: true, members } : INVALID;
        const d = text.charCodeAt(i);
        if (d === 0x2c /* , */) {
          i = skip(text, i + 1);
          break;
        }
        if (d !== (frames[depth - 1] === ARRAY ? 0x5d : 0x7d)) return INVALID;
        frames.pop();
        i++;
      }
    }

    // The next value: an array element, or a member (its key and colon read here).
    const step = frames[frames.length - 1]!;
    nextStep = -1;
    nextKey = -1;
    if (step === ARRAY) continue;
    if (text.charCodeAt(i) !== 0x22) return INVALID;
    const end = stringEnd(text, i);
    if (end < 0) return INVALID;
    if (step >= 0 && step < path.length) {
      if (keyIndex(text, i, end, escaped, path, step, step + 1) >= 0) {
        // Last wins: a later member of this name replaces what the earlier one led to.
        members = undefined;
        nextStep = step + 1;
      }
    } else if (step === path.length) {
      nextKey = keyIndex(text, i, end, escaped, keys, 0, keys.length);
    }
    i = skip(text, end + 1);
    if (text.charCodeAt(i) !== 0x3a /* : */) return INVALID;
    i = skip(text, i + 1);
  }
}
