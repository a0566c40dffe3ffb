/**
 * Bearer tokens from a registry's token realm (the distribution token spec): GET realm?service=&scope= with Basic
 * credentials when we have them, a few redirects, a bounded body, and a cache per (realm, service, scope,
 * credential) until `expires_in` runs out on our clock.
 */
import type { RegistryCredential } from './docker-config.js';
import type { HttpResponse } from './transport.js';
import type { TtlLru } from './cache.js';

/** A refusal or a broken realm; `reason` is safe to show (no token, no credential, no body). */
export class AuthFailure extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'AuthFailure';
  }
}

export interface BearerChallenge {
  realm: string;
  service: string | undefined;
}

export interface TokenSourceOptions {
  /** One GET under the client's limits; throws TransportError. */
  get(url: URL, headers: Record<string, string>): Promise<HttpResponse>;
  /** Whether plain HTTP is allowed to this host[:port]. */
  isInsecure(hostPort: string): boolean;
  cache: TtlLru<string>;
  maxRedirects: number;
  maxBodyBytes: number;
}

const DEFAULT_TOKEN_SECONDS = 60; // the token spec's default when expires_in is absent
const MAX_TOKEN_SECONDS = 24 * 3600;

export function basicAuth(cred: RegistryCredential): string {
  return `Basic ${Buffer.from(`${cred.username}:${cred.password}`, 'utf8').toString('base64')}`;
}

/**
 * A token for `scope` (undefined: a token without scope, as `docker login` asks for). `fresh` tells the caller
 * whether it came from the realm just now: a refused fresh token is final, a refused cached one is worth a refresh.
 */
export async function getToken(
  o: TokenSourceOptions,
  challenge: BearerChallenge,
  registryInsecure: boolean,
  scope: string | undefined,
  cred: RegistryCredential | undefined,
  force: boolean,
): Promise<{ token: string; fresh: boolean }> {
  const key = `${challenge.realm}\n${challenge.service ?? ''}\n${scope ?? ''}\n${cred ? `${cred.origin}\n${cred.username}` : ''}`;
  if (!force) {
    const cached = o.cache.get(key);
    if (cached !== undefined) return { token: cached, fresh: false };
  }
  const res = await requestToken(o, realmUrl(challenge, scope), registryInsecure, cred);
  if (res.status === 401 || res.status === 403) throw new AuthFailure(`unauthorized (token endpoint answered HTTP ${res.status})`);
  if (res.status !== 200) throw new AuthFailure(`token endpoint answered HTTP ${res.status}`);
  if (res.truncated) throw new AuthFailure(`token response larger than ${o.maxBodyBytes} bytes`);
  const parsed = readTokenResponse(res.body);
  if (typeof parsed === 'string') throw new AuthFailure(parsed);
  // Local receipt time + expires_in, not issued_at: the realm's clock may differ from ours. The margin keeps us
  // from sending a token in its last seconds.
  o.cache.set(key, parsed.token, parsed.expiresIn * 1000 - Math.min(30_000, parsed.expiresIn * 100));
  return { token: parsed.token, fresh: true };
}

function realmUrl(challenge: BearerChallenge, scope: string | undefined): URL {
  let url: URL;
  try {
    url = new URL(challenge.realm);
  } catch {
    throw new AuthFailure('token realm is not a valid URL');
  }
  if (challenge.service !== undefined) url.searchParams.set('service', challenge.service);
  if (scope !== undefined) url.searchParams.set('scope', scope);
  return url;
}

async function requestToken(o: TokenSourceOptions, start: URL, registryInsecure: boolean, cred: RegistryCredential | undefined): Promise<HttpResponse> {
  let url = start;
  let auth = cred ? basicAuth(cred) : undefined;
  for (let hop = 0; ; hop++) {
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new AuthFailure('token realm must be http(s)');
    // Credentials travel in clear only to hosts the operator listed as insecure (or when the registry itself is).
    if (url.protocol === 'http:' && !registryInsecure && !o.isInsecure(url.host)) {
      throw new AuthFailure(`token realm ${url.host} uses plain HTTP and is not listed as insecure`);
    }
    const res = await o.get(url, auth ? { Authorization: auth } : {});
    const location = res.headers.location;
    if (res.status < 300 || res.status >= 400 || res.status === 304 || typeof location !== 'string') return res;
    if (hop >= o.maxRedirects) throw new AuthFailure('token realm: too many redirects');
    let next: URL;
    try {
      next = new URL(location, url);
    } catch {
      throw new AuthFailure('token realm: bad redirect');
    }
    // As browsers and curl do: credentials are not forwarded to another origin.
    if (next.origin !== url.origin) auth = undefined;
    url = next;
  }
}

export function readTokenResponse(body: Buffer): { token: string; expiresIn: number } | string {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    return 'token response is not JSON';
  }
  if (typeof doc !== 'object' || doc === null) return 'token response is not a JSON object';
  const d = doc as Record<string, unknown>;
  const token = typeof d.token === 'string' && d.token !== '' ? d.token : d.access_token;
  // Visible ASCII only: anything else cannot go into a header.
  if (typeof token !== 'string' || token === '' || token.length > 16 * 1024 || !/^[\x21-\x7e]+$/.test(token)) {
    return 'token response has no usable token';
  }
  const e = d.expires_in;
  const expiresIn = typeof e === 'number' && Number.isFinite(e) && e > 0 ? Math.min(e, MAX_TOKEN_SECONDS) : DEFAULT_TOKEN_SECONDS;
  return { token, expiresIn };
}
