/**
 * Strict SemVer 2.0 parsing and precedence, as python-semver (the library MLRun pins) does it.
 *
 * npm's `semver` is not used on purpose: it accepts a leading "v" and other loose forms that make MLRun raise
 * ValueError, and MLRun's behaviour depends on exactly which strings fail to parse.
 */

export interface SemVer {
  major: bigint;
  minor: bigint;
  patch: bigint;
  /** Dot-separated prerelease identifiers; empty when there is no prerelease. */
  prerelease: string[];
}

// python-semver's VersionInfo regex, including its Python-isms: `\d` is any Unicode decimal digit (str pattern)
// and `$` also matches before one final "\n". Prerelease identifiers are strict (no leading zeros in numerics).
const D = '\\p{Nd}';
const NUM = `(?:0|[1-9]${D}*)`;
const PRE_ID = `(?:0|[1-9]${D}*|${D}*[a-zA-Z-][0-9a-zA-Z-]*)`;
const SEMVER_RE = new RegExp(
  `^(${NUM})\\.(${NUM})\\.(${NUM})(?:-(${PRE_ID}(?:\\.${PRE_ID})*))?(?:\\+([0-9a-zA-Z-]+(?:\\.[0-9a-zA-Z-]+)*))?\\n?$`,
  'u',
);

/** Python's int() of a run of Unicode decimal digits (every Nd block is a contiguous run of 0-9). */
function unicodeDigitsToBigInt(text: string): bigint {
  if (/^[0-9]+$/.test(text)) return BigInt(text);
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    let start = cp;
    while (start > 0 && /\p{Nd}/u.test(String.fromCodePoint(start - 1)) && cp - start < 64) start--;
    out += String((cp - start) % 10);
  }
  return BigInt(out);
}

/** Returns undefined when python-semver would raise ValueError. */
export function parseSemver(text: string): SemVer | undefined {
  if (text.length > 256) return undefined;
  const m = SEMVER_RE.exec(text);
  if (!m) return undefined;
  return {
    major: unicodeDigitsToBigInt(m[1]!),
    minor: unicodeDigitsToBigInt(m[2]!),
    patch: unicodeDigitsToBigInt(m[3]!),
    prerelease: m[4] ? m[4].split('.') : [],
  };
}

const NUMERIC = /^\d+$/;

function compareIdentifier(a: string, b: string): number {
  const an = NUMERIC.test(a);
  const bn = NUMERIC.test(b);
  if (an && bn) {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (an) return -1; // numeric identifiers have lower precedence than alphanumeric ones
  if (bn) return 1;
  // ASCII order, as Python's str comparison on these characters
  return a < b ? -1 : a > b ? 1 : 0;
}

/** SemVer 2.0 precedence (build metadata ignored). */
export function compareSemver(a: SemVer, b: SemVer): number {
  for (const k of ['major', 'minor', 'patch'] as const) {
    if (a[k] !== b[k]) return a[k] < b[k] ? -1 : 1;
  }
  const pa = a.prerelease;
  const pb = b.prerelease;
  if (pa.length === 0 || pb.length === 0) {
    if (pa.length === pb.length) return 0;
    return pa.length === 0 ? 1 : -1; // a release is above its prereleases
  }
  const n = Math.min(pa.length, pb.length);
  for (let i = 0; i < n; i++) {
    const c = compareIdentifier(pa[i]!, pb[i]!);
    if (c !== 0) return c;
  }
  return pa.length === pb.length ? 0 : pa.length < pb.length ? -1 : 1;
}

/** Parse a constant known to be valid (for bounds written in code). */
export function semver(text: string): SemVer {
  const v = parseSemver(text);
  if (!v) throw new Error(`internal: invalid semver constant ${text}`);
  return v;
}
