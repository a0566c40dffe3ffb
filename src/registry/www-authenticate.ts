/**
 * WWW-Authenticate parsing (RFC 9110 §11.6.1): a header holds one or more challenges separated by commas, each
 * `scheme [ token68 | #auth-param ]`, where a param value is a token or a quoted string (with `\` escapes, and
 * commas allowed inside quotes). A comma alone cannot tell "next param" from "next challenge"; what follows it can:
 * `name =` continues the current challenge, a bare token starts a new one.
 *
 * Registries send `Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a:pull"`
 * or `Basic realm="Registry Realm"`. One left-to-right scan, no regular expressions, so the time is linear in the
 * header's length; headers longer than WWW_AUTHENTICATE_MAX_LENGTH are refused outright.
 */

export const WWW_AUTHENTICATE_MAX_LENGTH = 8192;

export interface Challenge {
  /** Lowercased (schemes are case-insensitive). */
  scheme: string;
  /** Param names lowercased; the first occurrence of a name wins. */
  params: Map<string, string>;
  token68?: string;
}

export type ParseChallengesResult = { ok: true; challenges: Challenge[] } | { ok: false; reason: string };

const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;
const TOKEN68 = new Uint8Array(128);
for (const c of '-._~+/0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz') TOKEN68[c.charCodeAt(0)] = 1;

const isT = (table: Uint8Array, code: number): boolean => code < 128 && table[code] === 1;
const isWs = (code: number): boolean => code === 0x20 || code === 0x09;

/** Parses a WWW-Authenticate header value (several header lines may be joined with ", " first). */
export function parseWwwAuthenticate(header: string): ParseChallengesResult {
  if (header.length > WWW_AUTHENTICATE_MAX_LENGTH) {
    return { ok: false, reason: `WWW-Authenticate header too long (${header.length} > ${WWW_AUTHENTICATE_MAX_LENGTH})` };
  }
  const s = header;
  const n = s.length;
  let i = 0;
  const challenges: Challenge[] = [];

  const skipWs = (): void => {
    while (i < n && isWs(s.charCodeAt(i))) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < n && isT(TCHAR, s.charCodeAt(i))) i++;
    return s.slice(start, i);
  };
  // After a comma (and blanks): does `token OWS "=" (not "==" token68 padding)` follow? Scans at most to the
  // next non-token character, and the scan is not repeated (the caller consumes what it looked at).
  const paramFollows = (): boolean => {
    let j = i;
    while (j < n && isT(TCHAR, s.charCodeAt(j))) j++;
    if (j === i) return false;
    while (j < n && isWs(s.charCodeAt(j))) j++;
    return j < n && s.charCodeAt(j) === 0x3d;
  };
  const fail = (what: string): ParseChallengesResult => ({ ok: false, reason: `malformed WWW-Authenticate: ${what} at ${i}` });

  for (;;) {
    // Empty list elements (", ,") are allowed by the list syntax.
    while (i < n && (isWs(s.charCodeAt(i)) || s.charCodeAt(i) === 0x2c)) i++;
    if (i >= n) break;
    const scheme = readToken();
    if (scheme === '') return fail('expected an auth scheme');
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: new Map() };
    challenges.push(challenge);
    if (i < n && !isWs(s.charCodeAt(i)) && s.charCodeAt(i) !== 0x2c) return fail('unexpected character after scheme');
    skipWs();
    if (i >= n) break;
    if (s.charCodeAt(i) === 0x2c) continue; // a scheme with no params, then the next challenge

    // token68: token68 chars then "="* and then end or comma, and no "name=value" shape.
    if (!paramFollows() || isToken68Here(s, i)) {
      const start = i;
      while (i < n && isT(TOKEN68, s.charCodeAt(i))) i++;
      while (i < n && s.charCodeAt(i) === 0x3d) i++;
      if (i === start) return fail('expected token68 or auth-param');
      challenge.token68 = s.slice(start, i);
      skipWs();
      if (i < n && s.charCodeAt(i) !== 0x2c) return fail('unexpected character after token68');
      continue;
    }

    // auth-params until a comma is followed by something that is not a param.
    for (;;) {
      const name = readToken().toLowerCase();
      skipWs();
      if (s.charCodeAt(i) !== 0x3d) return fail('expected "="');
      i++;
      skipWs();
      let value: string;
      if (s.charCodeAt(i) === 0x22) {
        i++;
        let out = '';
        let chunk = i;
        for (;;) {
          if (i >= n) return fail('unterminated quoted string');
          const c = s.charCodeAt(i);
          if (c === 0x22) break;
          if (c === 0x5c) {
            out += s.slice(chunk, i);
            i++;
            if (i >= n) return fail('unterminated quoted string');
            chunk = i;
          }
          i++;
        }
        value = out + s.slice(chunk, i);
        i++; // closing quote
      } else {
        value = readToken();
        if (value === '') return fail('expected a token or quoted string');
      }
      if (!challenge.params.has(name)) challenge.params.set(name, value);
      skipWs();
      if (i >= n) break;
      if (s.charCodeAt(i) !== 0x2c) return fail('expected "," between parameters');
      while (i < n && (isWs(s.charCodeAt(i)) || s.charCodeAt(i) === 0x2c)) i++;
      if (i >= n || !paramFollows()) break;
    }
  }
  return { ok: true, challenges };
}

/** `abc==` style token68: token68 chars then at least one "=" and then end, blanks or a comma. */
function isToken68Here(s: string, start: number): boolean {
  let j = start;
  while (j < s.length && isT(TOKEN68, s.charCodeAt(j))) j++;
  if (j === start || s.charCodeAt(j) !== 0x3d) return false;
  while (j < s.length && s.charCodeAt(j) === 0x3d) j++;
  while (j < s.length && isWs(s.charCodeAt(j))) j++;
  // "realm=x" has a token after "=", so it is a param; "abc=" / "abc==" followed by end or comma is token68.
  return j >= s.length || s.charCodeAt(j) === 0x2c;
}
