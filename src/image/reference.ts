/**
 * Docker / OCI image reference parser (the grammar of github.com/distribution/reference).
 *
 * Why a hand-written parser rather than one big regular expression or a dependency:
 *
 * - The MLRun engine (`src/mlrun/`) deliberately reproduces MLRun's *string heuristics*
 *   (e.g. "any ':' means the image already has a tag"), bugs included, because the webhook must
 *   produce exactly what MLRun would. This module is the *real* grammar, used where we need the
 *   truth rather than bug-compatibility: opt-in corrections, the admission layer's warnings about
 *   malformed images, and the CLI.
 * - It runs on every container image of every admitted Pod, so it must be linear-time on any
 *   input (no backtracking regular expressions; the length is checked before anything else) and
 *   must never throw.
 * - Hand-written scanning lets us report *specific* reasons with positions ("invalid separator
 *   \"___\" ... at position 9") instead of a bare "invalid reference format".
 * - It is lossless: every valid result keeps the parts exactly as written (no lowercasing, no
 *   defaults), so `format(parseReference(s)) === s`. Normalisation lives in separate fields.
 *
 * Grammar (distribution/reference):
 *
 *   reference   := name [ ":" tag ] [ "@" digest ]
 *   name        := [ domain "/" ] path-component *( "/" path-component )
 *   domain      := host [ ":" port ]
 *   host        := domain-name | "[" ipv6 "]"
 *   domain-name := label *( "." label ),  label := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
 *   port        := [0-9]+
 *   path-component := [a-z0-9]+ *( separator [a-z0-9]+ ),  separator := "." | "_" | "__" | "-"+
 *   tag         := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 *   digest      := algorithm ":" encoded
 *   algorithm   := [A-Za-z][A-Za-z0-9]* *( [-_+.] [A-Za-z][A-Za-z0-9]* )
 *   encoded     := [0-9a-fA-F]{32,}
 *
 * Domain detection follows docker's `splitDockerDomain`: the first "/"-separated component is a
 * registry only if it contains "." or ":" or is exactly "localhost"; otherwise the whole name is a
 * path on Docker Hub.
 *
 * Deliberate decisions (documented deviations / refinements of the upstream grammar):
 *
 * - An uppercase first component that is not domain-like (`Foo/bar`) is rejected with
 *   "repository name must be lowercase". (Current upstream `splitDockerDomain` treats it as a
 *   registry host named "Foo"; such an image cannot be pulled in practice.)
 * - IPv6 hosts must be structurally valid (1–4 hex digit groups, at most one "::", 8 groups
 *   without "::"); upstream only requires `[0-9a-fA-F:]+`. Zone identifiers (`[fe80::1%eth0]`) and
 *   embedded IPv4 (`[::ffff:1.2.3.4]`) are rejected, as upstream does (neither "%" nor "." is
 *   allowed by its character class).
 * - Ports must be 0–65535 (upstream accepts any digit string).
 * - Digests: sha256 / sha384 / sha512 must have exactly 64 / 96 / 128 *lowercase* hex digits (as
 *   go-digest enforces); their algorithm names must be lowercase. Other algorithms are accepted
 *   per the grammar (>= 32 hex digits, either case) even though go-digest would report them as
 *   "unsupported".
 * - A bare 64-character lowercase hex string is rejected (docker's ParseNormalizedNamed does so:
 *   it is ambiguous with an image ID).
 * - The 255-character limit applies to the name as written AND to its normalised form
 *   (`docker.io/library/...`); upstream checks the normalised one.
 * - Registry names are compared case-sensitively for normalisation (`index.docker.io` →
 *   `docker.io`, but `Docker.IO` is kept as written), as upstream does.
 * - `familiar` keeps the `docker.io/` prefix when stripping it would change the meaning on
 *   re-parse (`docker.io/foo.bar/baz`, `docker.io/localhost/x`), and keeps `library/` for a bare
 *   64-hex name, so `parseReference(familiar)` always normalises back to the same reference.
 */

/** Maximum length of the name part (domain + path), as in distribution/reference. */
export const NAME_TOTAL_LENGTH_MAX = 255;
/** Maximum tag length. */
export const TAG_MAX_LENGTH = 128;
/** Hard cap on the whole input, checked before anything else so junk input returns at once. */
export const REFERENCE_MAX_LENGTH = 4096;

export const DEFAULT_DOMAIN = 'docker.io';
export const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
export const OFFICIAL_REPO_PREFIX = 'library/';

/** Registered digest algorithms and the exact number of (lowercase) hex digits they need. */
const REGISTERED_DIGESTS: ReadonlyMap<string, number> = new Map([
  ['sha256', 64],
  ['sha384', 96],
  ['sha512', 128],
]);

export interface ReferenceParts {
  /** Registry host[:port], exactly as written; undefined when the reference has none. */
  domain?: string | undefined;
  /** Repository path (without domain). */
  path: string;
  tag?: string | undefined;
  digest?: string | undefined;
}

export interface NormalizedName {
  /** `docker.io` when no registry was written; `index.docker.io` becomes `docker.io`. */
  domain: string;
  /** With `library/` added for single-component Docker Hub names. */
  path: string;
  /** `domain/path`. */
  name: string;
  /** Canonical string: `name[:tag][@digest]` (no default tag is added). */
  full: string;
}

export interface ValidReference {
  valid: true;
  original: string;
  /** Registry exactly as written, or undefined. */
  domain: string | undefined;
  /** Repository path exactly as written. */
  path: string;
  tag: string | undefined;
  digest: string | undefined;
  /** Name as written: `[domain/]path`. */
  name: string;
  hasExplicitDomain: boolean;
  normalized: NormalizedName;
  /** Short familiar form, e.g. `mlrun/mlrun:1.9.2` or `python:3.11`. */
  familiar: string;
}

export interface InvalidReference {
  valid: false;
  original: string;
  /** Human-readable reason. */
  reason: string;
  /**
   * 0-based (UTF-16) index in `original` of the offending character, when meaningful; for
   * something missing ("foo:", "quay.io/") it points at the character before the gap.
   * Always < original.length.
   */
  position?: number;
}

export type ParsedReference = ValidReference | InvalidReference;

// ---------------------------------------------------------------------------------------------
// Character classes (lookup tables built once at module load; ASCII only, everything else is
// invalid everywhere in a reference).

const SLASH = 0x2f;
const COLON = 0x3a;
const DOT = 0x2e;
const UNDERSCORE = 0x5f;
const DASH = 0x2d;
const PLUS = 0x2b;

const C_LOWER = 1; // a-z
const C_UPPER = 2; // A-Z
const C_DIGIT = 4; // 0-9
const C_HEX = 8; // 0-9a-fA-F

const CHAR_CLASS = new Uint8Array(128);
for (let c = 0x61; c <= 0x7a; c++) CHAR_CLASS[c] = C_LOWER;
for (let c = 0x41; c <= 0x5a; c++) CHAR_CLASS[c] = C_UPPER;
for (let c = 0x30; c <= 0x39; c++) CHAR_CLASS[c] = C_DIGIT | C_HEX;
for (let c = 0x61; c <= 0x66; c++) CHAR_CLASS[c] = C_LOWER | C_HEX;
for (let c = 0x41; c <= 0x46; c++) CHAR_CLASS[c] = C_UPPER | C_HEX;

function cls(code: number): number {
  return code < 128 ? (CHAR_CLASS[code] ?? 0) : 0;
}
const isLowerAlnum = (code: number): boolean => (cls(code) & (C_LOWER | C_DIGIT)) !== 0;
const isAlnum = (code: number): boolean => (cls(code) & (C_LOWER | C_UPPER | C_DIGIT)) !== 0;
const isAlpha = (code: number): boolean => (cls(code) & (C_LOWER | C_UPPER)) !== 0;
const isDigit = (code: number): boolean => (cls(code) & C_DIGIT) !== 0;
const isHex = (code: number): boolean => (cls(code) & C_HEX) !== 0;
const isUpper = (code: number): boolean => (cls(code) & C_UPPER) !== 0;
const isWord = (code: number): boolean => isAlnum(code) || code === UNDERSCORE;

const WHITESPACE = /\s/u;
const IMAGE_ID = /^[a-f0-9]{64}$/;

// ---------------------------------------------------------------------------------------------
// Small helpers for reason strings.

const QUOTE_MAX = 80;

/** JSON-style quoting (escapes control characters), truncated for very long values. */
function quote(s: string): string {
  const shown = s.length > QUOTE_MAX ? `${s.slice(0, QUOTE_MAX)}…` : s;
  return JSON.stringify(shown);
}

/** Quoted description of the character (code point) at `index`. */
function charAt(s: string, index: number): string {
  const cp = s.codePointAt(index) ?? 0;
  const ch = String.fromCodePoint(cp);
  const q = JSON.stringify(ch);
  return cp < 0x20 || cp === 0x7f || cp > 0x7e
    ? `${q} (U+${cp.toString(16).toUpperCase().padStart(4, '0')})`
    : q;
}

interface Failure {
  reason: string;
  position?: number;
}

function fail(reason: string, position?: number): Failure {
  return position === undefined ? { reason } : { reason, position };
}

function invalid(original: string, f: Failure): InvalidReference {
  return f.position === undefined
    ? { valid: false, original, reason: f.reason }
    : { valid: false, original, reason: f.reason, position: f.position };
}

// ---------------------------------------------------------------------------------------------
// Domain

/** splitDockerDomain's heuristic: is this first name component a registry? */
export function looksLikeDomain(component: string): boolean {
  return component === 'localhost' || component.includes('.') || component.includes(':');
}

function checkIPv6(inner: string, offset: number, bracketed: string): Failure | undefined {
  const bad = (why: string) => fail(`invalid IPv6 address ${quote(bracketed)}: ${why}`, offset);
  if (inner.length === 0) return bad('empty');
  for (let i = 0; i < inner.length; i++) {
    const c = inner.charCodeAt(i);
    if (c === 0x25 /* % */) {
      return fail(
        `invalid IPv6 address ${quote(bracketed)}: zone identifiers ("%...") are not allowed in image references`,
        offset + i,
      );
    }
    if (c === DOT) {
      return fail(
        `invalid IPv6 address ${quote(bracketed)}: embedded IPv4 notation is not allowed in image references`,
        offset + i,
      );
    }
    if (!isHex(c) && c !== COLON) {
      return fail(
        `invalid character ${charAt(inner, i)} in IPv6 address ${quote(bracketed)} at position ${offset + i}`,
        offset + i,
      );
    }
  }
  const dbl = inner.indexOf('::');
  if (dbl >= 0 && inner.indexOf('::', dbl + 1) >= 0) return bad('"::" may appear only once');
  const groupsOf = (s: string): string[] => (s === '' ? [] : s.split(':'));
  const groups = dbl >= 0 ? [...groupsOf(inner.slice(0, dbl)), ...groupsOf(inner.slice(dbl + 2))] : inner.split(':');
  for (const g of groups) {
    if (g.length === 0) return bad('empty group');
    if (g.length > 4) return bad(`group ${quote(g)} has more than 4 hex digits`);
  }
  if (dbl >= 0 ? groups.length > 7 : groups.length !== 8) {
    return bad(dbl >= 0 ? 'too many groups' : 'expected 8 groups (or "::")');
  }
  return undefined;
}

function checkPort(port: string, offset: number, domain: string): Failure | undefined {
  if (port.length === 0) return fail(`missing port after ":" in registry ${quote(domain)}`, offset);
  for (let i = 0; i < port.length; i++) {
    if (!isDigit(port.charCodeAt(i))) {
      return fail(
        `invalid port ${quote(port)} in registry ${quote(domain)}: invalid character ${charAt(port, i)} at position ${offset + i}`,
        offset + i,
      );
    }
  }
  const significant = port.replace(/^0+/, '');
  if (significant.length > 5 || Number(significant) > 65535) {
    return fail(`invalid port ${quote(port)} in registry ${quote(domain)}: must be at most 65535`, offset);
  }
  return undefined;
}

function checkHostName(host: string, offset: number, domain: string): Failure | undefined {
  if (host.length === 0) return fail(`missing registry host in ${quote(domain)}`, offset);
  let labelStart = 0;
  for (let i = 0; i <= host.length; i++) {
    const c = i < host.length ? host.charCodeAt(i) : DOT;
    if (c === DOT) {
      if (i === labelStart) {
        return fail(`empty label in registry host ${quote(host)} at position ${offset + i}`, offset + i);
      }
      if (host.charCodeAt(i - 1) === DASH) {
        return fail(
          `registry host label must not end with "-" in ${quote(host)} at position ${offset + i - 1}`,
          offset + i - 1,
        );
      }
      labelStart = i + 1;
    } else if (c === DASH) {
      if (i === labelStart) {
        return fail(
          `registry host label must not start with "-" in ${quote(host)} at position ${offset + i}`,
          offset + i,
        );
      }
    } else if (!isAlnum(c)) {
      return fail(
        `invalid character ${charAt(host, i)} in registry host ${quote(host)} at position ${offset + i}`,
        offset + i,
      );
    }
  }
  return undefined;
}

function checkDomain(domain: string): Failure | undefined {
  // The domain always starts at position 0 of the input.
  if (domain.charCodeAt(0) === 0x5b /* [ */) {
    const close = domain.indexOf(']');
    if (close < 0) return fail(`invalid registry ${quote(domain)}: missing "]" after IPv6 address`, 0);
    const bracketed = domain.slice(0, close + 1);
    const err = checkIPv6(domain.slice(1, close), 1, bracketed);
    if (err) return err;
    if (close + 1 === domain.length) return undefined;
    if (domain.charCodeAt(close + 1) !== COLON) {
      return fail(
        `invalid character ${charAt(domain, close + 1)} after IPv6 address in registry ${quote(domain)} at position ${close + 1}`,
        close + 1,
      );
    }
    return checkPort(domain.slice(close + 2), close + 2, domain);
  }
  const colon = domain.indexOf(':');
  const host = colon < 0 ? domain : domain.slice(0, colon);
  const hostErr = checkHostName(host, 0, domain);
  if (hostErr) return hostErr;
  return colon < 0 ? undefined : checkPort(domain.slice(colon + 1), colon + 1, domain);
}

// ---------------------------------------------------------------------------------------------
// Path

const isSepChar = (c: number): boolean => c === DOT || c === UNDERSCORE || c === DASH;

function checkPath(path: string, offset: number, domain: string | undefined): Failure | undefined {
  const n = path.length;
  if (n === 0) return fail(`missing repository path after registry ${quote(domain ?? '')}`, Math.max(0, offset - 1));
  let atComponentStart = true;
  let i = 0;
  while (i < n) {
    const c = path.charCodeAt(i);
    if (c === SLASH) {
      if (atComponentStart) {
        if (i === 0) {
          return domain === undefined
            ? fail('repository name must not start with "/"', offset)
            : fail(`empty path component ("//") after registry ${quote(domain)} at position ${offset}`, offset);
        }
        return fail(`empty path component ("//") at position ${offset + i - 1}`, offset + i - 1);
      }
      atComponentStart = true;
      i++;
    } else if (isLowerAlnum(c)) {
      atComponentStart = false;
      i++;
    } else if (isSepChar(c)) {
      if (atComponentStart) {
        return fail(
          `path component must start with a lowercase letter or digit, not ${charAt(path, i)} (position ${offset + i})`,
          offset + i,
        );
      }
      // Scan the whole separator run, then check it is ".", "_", "__" or "-"+.
      const start = i;
      let allDash = true;
      while (i < n && isSepChar(path.charCodeAt(i))) {
        if (path.charCodeAt(i) !== DASH) allDash = false;
        i++;
      }
      const run = path.slice(start, i);
      if (!(allDash || run === '.' || run === '_' || run === '__')) {
        return fail(
          `invalid separator ${quote(run)} in repository path at position ${offset + start} (allowed: ".", "_", "__", or one or more "-")`,
          offset + start,
        );
      }
      if (i === n || path.charCodeAt(i) === SLASH) {
        return fail(
          `path component must not end with separator ${quote(run)} (position ${offset + start})`,
          offset + start,
        );
      }
      // The next character is validated by the next loop iteration; it must be a lowercase
      // letter or digit (anything else produces its own specific error).
    } else if (isUpper(c)) {
      return fail(
        `repository name must be lowercase (found ${charAt(path, i)} at position ${offset + i})`,
        offset + i,
      );
    } else {
      return fail(`invalid character ${charAt(path, i)} at position ${offset + i}`, offset + i);
    }
  }
  if (atComponentStart) {
    return fail('repository name must not end with "/"', offset + n - 1);
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Tag and digest

function checkTag(tag: string, offset: number): Failure | undefined {
  if (tag.length === 0) return fail('empty tag after ":"', offset - 1);
  if (tag.length > TAG_MAX_LENGTH) {
    return fail(
      `invalid tag ${quote(tag)}: too long (${tag.length} characters; max ${TAG_MAX_LENGTH})`,
      offset + TAG_MAX_LENGTH,
    );
  }
  for (let i = 0; i < tag.length; i++) {
    const c = tag.charCodeAt(i);
    if (isWord(c)) continue;
    if (c === DOT || c === DASH) {
      if (i === 0) {
        return fail(
          `invalid tag ${quote(tag)}: must start with a letter, digit or "_" (not ${charAt(tag, 0)})`,
          offset,
        );
      }
      continue;
    }
    return fail(
      `invalid tag ${quote(tag)}: invalid character ${charAt(tag, i)} at position ${offset + i}`,
      offset + i,
    );
  }
  return undefined;
}

function checkAlgorithm(alg: string, offset: number, digest: string): Failure | undefined {
  const bad = (why: string, pos: number) => fail(`invalid digest ${quote(digest)}: ${why}`, pos);
  if (alg.length === 0) return bad('missing algorithm before ":"', offset);
  let atComponentStart = true;
  for (let i = 0; i < alg.length; i++) {
    const c = alg.charCodeAt(i);
    if (atComponentStart) {
      if (!isAlpha(c)) {
        return bad(
          `algorithm ${quote(alg)} components must start with a letter (found ${charAt(alg, i)} at position ${offset + i})`,
          offset + i,
        );
      }
      atComponentStart = false;
    } else if (c === DASH || c === UNDERSCORE || c === PLUS || c === DOT) {
      atComponentStart = true;
    } else if (!isAlnum(c)) {
      return bad(
        `invalid character ${charAt(alg, i)} in algorithm ${quote(alg)} at position ${offset + i}`,
        offset + i,
      );
    }
  }
  if (atComponentStart) return bad(`algorithm ${quote(alg)} must not end with a separator`, offset + alg.length - 1);
  return undefined;
}

function checkDigest(digest: string, offset: number): Failure | undefined {
  if (digest.length === 0) return fail('empty digest after "@"', offset - 1);
  const at = digest.indexOf('@');
  if (at >= 0) return fail(`multiple "@" in reference (position ${offset + at})`, offset + at);
  const colon = digest.indexOf(':');
  if (colon < 0) {
    return fail(`invalid digest ${quote(digest)}: expected "<algorithm>:<hex>", e.g. "sha256:<64 hex digits>"`, offset);
  }
  const alg = digest.slice(0, colon);
  const encoded = digest.slice(colon + 1);
  const algErr = checkAlgorithm(alg, offset, digest);
  if (algErr) return algErr;
  const encOffset = offset + colon + 1;
  // Where to point for a wrong length: the encoded part, or the ":" when it is empty.
  const lengthPos = encoded.length === 0 ? encOffset - 1 : encOffset;
  let hasUpper = -1;
  for (let i = 0; i < encoded.length; i++) {
    const c = encoded.charCodeAt(i);
    if (!isHex(c)) {
      return fail(
        `invalid digest ${quote(digest)}: encoded part must be hexadecimal (invalid character ${charAt(encoded, i)} at position ${encOffset + i})`,
        encOffset + i,
      );
    }
    if (hasUpper < 0 && isUpper(c)) hasUpper = i;
  }
  const lowerAlg = alg.toLowerCase();
  const expected = REGISTERED_DIGESTS.get(lowerAlg);
  if (expected !== undefined) {
    if (alg !== lowerAlg) {
      return fail(`invalid digest ${quote(digest)}: algorithm must be lowercase ${quote(lowerAlg)}`, offset);
    }
    if (encoded.length !== expected) {
      return fail(
        `invalid digest ${quote(digest)}: ${alg} requires exactly ${expected} hex digits, got ${encoded.length}`,
        lengthPos,
      );
    }
    if (hasUpper >= 0) {
      return fail(
        `invalid digest ${quote(digest)}: ${alg} hex digits must be lowercase (found ${charAt(encoded, hasUpper)} at position ${encOffset + hasUpper})`,
        encOffset + hasUpper,
      );
    }
  } else if (encoded.length < 32) {
    return fail(
      `invalid digest ${quote(digest)}: encoded part must have at least 32 hex digits, got ${encoded.length}`,
      lengthPos,
    );
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Normalisation

function familiarName(normDomain: string, normPath: string, tag: string | undefined, digest: string | undefined): string {
  if (normDomain !== DEFAULT_DOMAIN) return `${normDomain}/${normPath}`;
  let path = normPath;
  if (path.startsWith(OFFICIAL_REPO_PREFIX)) {
    const rest = path.slice(OFFICIAL_REPO_PREFIX.length);
    // Keep "library/" when the short form would be read as an image ID.
    if (!rest.includes('/') && !(tag === undefined && digest === undefined && IMAGE_ID.test(rest))) path = rest;
  }
  const slash = path.indexOf('/');
  // Keep "docker.io/" when the first component would otherwise be taken for a registry.
  if (slash >= 0 && looksLikeDomain(path.slice(0, slash))) return `${normDomain}/${normPath}`;
  return path;
}

function suffix(tag: string | undefined, digest: string | undefined): string {
  return (tag === undefined ? '' : `:${tag}`) + (digest === undefined ? '' : `@${digest}`);
}

// ---------------------------------------------------------------------------------------------
// Public API

/**
 * Parses an image reference. Pure, linear-time, never throws (for any input, even non-strings
 * coming from untyped JSON).
 */
export function parseReference(input: string): ParsedReference {
  if (typeof input !== 'string') {
    return { valid: false, original: '', reason: `reference must be a string, got ${input === null ? 'null' : typeof input}` };
  }
  try {
    return parseString(input);
  } catch (err) {
    // Defensive only: the parser has no known throwing path (property tests check this reason
    // never appears). A webhook must not crash on one odd image.
    return { valid: false, original: input, reason: `internal parser error: ${String(err)}` };
  }
}

function parseString(input: string): ParsedReference {
  const len = input.length;
  if (len === 0) return invalid(input, fail('empty reference'));
  if (len > REFERENCE_MAX_LENGTH) {
    return invalid(
      input,
      fail(
        `reference too long (${len} characters; max ${REFERENCE_MAX_LENGTH} for a whole reference, ${NAME_TOTAL_LENGTH_MAX} for the name)`,
      ),
    );
  }
  const leading = WHITESPACE.test(input.charAt(0));
  const trailing = WHITESPACE.test(input.charAt(len - 1));
  if (leading || trailing) {
    if (input.trim().length === 0) return invalid(input, fail('blank reference (whitespace only)', 0));
    return invalid(
      input,
      fail(`reference has ${leading ? 'leading' : 'trailing'} whitespace`, leading ? 0 : len - 1),
    );
  }
  if (len === 64 && IMAGE_ID.test(input)) {
    return invalid(
      input,
      fail('invalid repository name: a 64-character hexadecimal string is ambiguous with an image ID'),
    );
  }

  // Split: name[:tag][@digest]. The digest starts at the first "@"; the tag is after the first ":"
  // following the last "/" of what precedes it (path components and tags never contain ":").
  const at = input.indexOf('@');
  const nameTagEnd = at < 0 ? len : at;
  const lastSlash = input.lastIndexOf('/', nameTagEnd - 1);
  let colon = input.indexOf(':', lastSlash + 1);
  if (colon >= nameTagEnd) colon = -1;
  const nameEnd = colon < 0 ? nameTagEnd : colon;

  if (nameEnd === 0) {
    return invalid(input, fail(`missing repository name before ${quote(input.charAt(0))}`, 0));
  }
  if (nameEnd > NAME_TOTAL_LENGTH_MAX) {
    return invalid(
      input,
      fail(`reference too long (name is ${nameEnd} characters; max ${NAME_TOTAL_LENGTH_MAX} for the name)`),
    );
  }
  const name = input.slice(0, nameEnd);

  let domain: string | undefined;
  let path = name;
  let pathOffset = 0;
  const firstSlash = name.indexOf('/');
  if (firstSlash >= 0 && looksLikeDomain(name.slice(0, firstSlash))) {
    domain = name.slice(0, firstSlash);
    path = name.slice(firstSlash + 1);
    pathOffset = firstSlash + 1;
    const domErr = checkDomain(domain);
    if (domErr) return invalid(input, domErr);
  }
  const pathErr = checkPath(path, pathOffset, domain);
  if (pathErr) return invalid(input, pathErr);

  let tag: string | undefined;
  if (colon >= 0) {
    tag = input.slice(colon + 1, nameTagEnd);
    const tagErr = checkTag(tag, colon + 1);
    if (tagErr) return invalid(input, tagErr);
  }
  let digest: string | undefined;
  if (at >= 0) {
    digest = input.slice(at + 1);
    const digestErr = checkDigest(digest, at + 1);
    if (digestErr) return invalid(input, digestErr);
  }

  const normDomain = domain === undefined || domain === LEGACY_DEFAULT_DOMAIN ? DEFAULT_DOMAIN : domain;
  const normPath = normDomain === DEFAULT_DOMAIN && !path.includes('/') ? OFFICIAL_REPO_PREFIX + path : path;
  const normName = `${normDomain}/${normPath}`;
  if (normName.length > NAME_TOTAL_LENGTH_MAX) {
    return invalid(
      input,
      fail(
        `reference too long (name is ${normName.length} characters once normalised to ${quote(normName)}; max ${NAME_TOTAL_LENGTH_MAX} for the name)`,
      ),
    );
  }
  const tail = suffix(tag, digest);
  return {
    valid: true,
    original: input,
    domain,
    path,
    tag,
    digest,
    name,
    hasExplicitDomain: domain !== undefined,
    normalized: { domain: normDomain, path: normPath, name: normName, full: normName + tail },
    familiar: familiarName(normDomain, normPath, tag, digest) + tail,
  };
}

/**
 * Builds a reference string from parts: `[domain/]path[:tag][@digest]`. Pure concatenation, no
 * validation (parse the result if you need to know it is valid). Never throws.
 */
export function formatReference(parts: ReferenceParts): string {
  const name = parts.domain === undefined ? parts.path : `${parts.domain}/${parts.path}`;
  return name + suffix(parts.tag, parts.digest);
}

/** Rebuilds the string of a parsed reference; `format(parseReference(s)) === s` for valid `s`. */
export function format(ref: ValidReference): string {
  return formatReference(ref);
}

export function isValidReference(input: string): boolean {
  return parseReference(input).valid;
}

/** Canonical form (`docker.io/library/python:3.11`), or undefined when the input is invalid. */
export function normalizeReference(input: string): string | undefined {
  const ref = parseReference(input);
  return ref.valid ? ref.normalized.full : undefined;
}

/** Same reference with another tag (undefined removes it). The result is re-validated. */
export function withTag(ref: ValidReference, tag: string | undefined): ParsedReference {
  return parseReference(formatReference({ domain: ref.domain, path: ref.path, tag, digest: ref.digest }));
}

/** Same reference with another digest (undefined removes it). The result is re-validated. */
export function withDigest(ref: ValidReference, digest: string | undefined): ParsedReference {
  return parseReference(formatReference({ domain: ref.domain, path: ref.path, tag: ref.tag, digest }));
}

export interface WithDomainOptions {
  /**
   * Which path to put under the new registry:
   * - `'as-written'` (default): `python:3.11` → `<registry>/python:3.11`
   * - `'normalized'`: `python:3.11` → `<registry>/library/python:3.11` (what Docker Hub
   *   pull-through caches expect)
   */
  path?: 'as-written' | 'normalized';
}

/**
 * Replaces the registry of a reference. `registry` may carry a path prefix
 * (`registry.example/mirror`); its first component must look like a registry (contain "." or ":"
 * or be "localhost"), otherwise it would be read as a Docker Hub namespace and the result is
 * reported invalid. `undefined` removes the registry (the image then refers to Docker Hub).
 * The result is re-validated (e.g. the new name may exceed 255 characters).
 */
export function withDomain(
  ref: ValidReference,
  registry: string | undefined,
  options: WithDomainOptions = {},
): ParsedReference {
  const path = options.path === 'normalized' ? ref.normalized.path : ref.path;
  if (registry === undefined) {
    return parseReference(formatReference({ path, tag: ref.tag, digest: ref.digest }));
  }
  const slash = registry.indexOf('/');
  const host = slash < 0 ? registry : registry.slice(0, slash);
  const rebuilt = formatReference({ domain: registry, path, tag: ref.tag, digest: ref.digest });
  if (!looksLikeDomain(host)) {
    return {
      valid: false,
      original: rebuilt,
      reason: `${quote(host)} is not a registry host (it must contain "." or ":" or be "localhost")`,
      position: 0,
    };
  }
  return parseReference(rebuilt);
}
