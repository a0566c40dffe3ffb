/**
 * The registry client: does a registry hold an image? `HEAD /v2/<name>/manifests/<ref>` answers it without
 * downloading anything. 200 → present, 404 → missing, anything else (or no answer) → unknown with a short reason.
 *
 * Auth follows the distribution token spec: try with what we know about the registry (anonymous, Basic, or a
 * cached Bearer token); on 401 read WWW-Authenticate, fetch a pull token for `repository:<name>:pull` from the realm
 * (with Basic credentials when the keyring has some), retry once. The scheme each registry asked for is remembered,
 * so a warm check costs one HEAD.
 *
 * Secrets: credentials and tokens only ever go into Authorization headers. Reasons are built from status codes
 * and error codes, never from response bodies, header values or Node error messages; nothing here logs.
 */
import { readFileSync } from 'node:fs';
import { TtlLru } from './cache.js';
import { lookupCredentials, type Keyring, type RegistryCredential } from './docker-config.js';
import { BusyError, Limiter } from './limiter.js';
import { MANIFEST_ACCEPT, registryApiHost, targetFor, type RegistryTarget } from './target.js';
import { createTransport, TransportError, type HttpResponse, type Transport } from './transport.js';
import { parseWwwAuthenticate, type Challenge } from './www-authenticate.js';

export type ImageState = 'present' | 'missing' | 'unknown';

export interface CheckResult {
  state: ImageState;
  /** `Docker-Content-Digest` of the manifest (present only). */
  digest?: string;
  /** Content-Type of the manifest: an OCI index / Docker manifest list for multi-arch images (present only). */
  mediaType?: string;
  /** Why the state is unknown: "unauthorized", "timeout", "connection refused", "HTTP 503", "busy"... */
  reason?: string;
}

export interface PingResult {
  reachable: boolean;
  /** HTTP status of `GET /v2/` (without credentials). */
  status?: number;
  /** The auth scheme the registry asked for, lowercased ("bearer", "basic"), or "none". */
  auth?: string;
  /** Whether the keyring's credentials were accepted (only when the registry asks for auth and we have some). */
  authenticated?: boolean;
  reason?: string;
}

/** One HTTP exchange, for metrics. Carries no header, URL query or body. */
export interface RequestEvent {
  registry: string;
  kind: 'manifest' | 'token' | 'ping';
  /** HTTP status, or undefined when there was no answer. */
  status: number | undefined;
  /** "ok" for any HTTP answer, else the transport reason ("timeout", "busy"...). */
  outcome: string;
  durationMs: number;
}

export interface RegistryClientOptions {
  /** Per HTTP request (a check may make up to four: HEAD, token, HEAD, and a refresh). Default 5000. */
  timeoutMs?: number;
  /** Requests in flight at once, over all registries. Default 8. */
  concurrency?: number;
  /** Requests allowed to wait for a slot; beyond that a check is "unknown: busy" at once. Default 64. */
  maxQueue?: number;
  /** PEM CA bundle (file path or content) trusted in addition to the system roots. */
  caFile?: string;
  ca?: string | Buffer;
  /** Registries (host[:port] as written in image names) reached over plain HTTP. Nothing else is. */
  insecureRegistries?: readonly string[];
  keyring?: Keyring;
  /** How long answers are kept. Defaults: present 5 min, missing 30 s, unknown 5 s (0 = not cached). */
  presentTtlMs?: number;
  missingTtlMs?: number;
  unknownTtlMs?: number;
  /** Cached answers kept at most (LRU). Default 2000. */
  cacheEntries?: number;
  /** Bytes read at most from any response body (token and error responses). Default 64 KiB. */
  maxBodyBytes?: number;
  /** Redirects followed at most for the token realm. Default 3. */
  maxRedirects?: number;
  /** Credentials tried at most per image when several match. Default 3. */
  maxCredentialAttempts?: number;
  userAgent?: string;
  /** Clock for cache and token expiry (tests move it). Default Date.now. */
  now?: () => number;
  onRequest?: (event: RequestEvent) => void;
}

export interface RegistryClient {
  check(image: string, options?: { signal?: AbortSignal }): Promise<CheckResult>;
  ping(registry: string, options?: { signal?: AbortSignal }): Promise<PingResult>;
  /** Closes kept-alive connections. */
  close(): void;
}

/** Longest cache key kept: a valid name is ≤ 255, a tag ≤ 128, a digest ≤ ~140. */
const CACHE_KEY_MAX = 600;
/** Registries whose auth scheme is remembered, and tokens kept. */
const AUTH_HINTS_MAX = 256;
const TOKENS_MAX = 1024;
const DEFAULT_TOKEN_SECONDS = 60; // the token spec's default when expires_in is absent
const MAX_TOKEN_SECONDS = 24 * 3600;
const DIGEST_RE = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,256}$/;

type AuthHint = { scheme: 'none' } | { scheme: 'basic' } | { scheme: 'bearer'; realm: string; service: string | undefined };

interface Outcome extends CheckResult {
  /** Not worth caching even briefly: depends on this process's load or the caller (busy, aborted). */
  transient?: boolean;
}

class AuthFailure extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

export function createRegistryClient(options: RegistryClientOptions = {}): RegistryClient {
  const o = {
    timeoutMs: options.timeoutMs ?? 5000,
    presentTtlMs: options.presentTtlMs ?? 5 * 60_000,
    missingTtlMs: options.missingTtlMs ?? 30_000,
    unknownTtlMs: options.unknownTtlMs ?? 5_000,
    maxBodyBytes: options.maxBodyBytes ?? 64 * 1024,
    maxRedirects: options.maxRedirects ?? 3,
    maxCredentialAttempts: options.maxCredentialAttempts ?? 3,
    userAgent: options.userAgent ?? 'mlrun-image-webhook',
    now: options.now ?? Date.now,
  };
  const concurrency = options.concurrency ?? 8;
  const ca = options.ca ?? (options.caFile === undefined ? undefined : readFileSync(options.caFile));
  const transport: Transport = createTransport({ ca, maxSockets: concurrency });
  const limiter = new Limiter(concurrency, options.maxQueue ?? 64);
  const insecure = new Set(options.insecureRegistries ?? []);
  const results = new TtlLru<CheckResult>(options.cacheEntries ?? 2000, CACHE_KEY_MAX, o.now);
  const inflight = new Map<string, Promise<Outcome>>();
  const authHints = new TtlLru<AuthHint>(AUTH_HINTS_MAX, CACHE_KEY_MAX, o.now);
  const tokens = new TtlLru<string>(TOKENS_MAX, 4 * CACHE_KEY_MAX, o.now);

  const isInsecure = (hostPort: string): boolean => insecure.has(hostPort);
  const baseUrl = (t: Pick<RegistryTarget, 'registry' | 'apiHost'>): string =>
    `${isInsecure(t.registry) || isInsecure(t.apiHost) ? 'http' : 'https'}://${t.apiHost}`;

  /** One HTTP exchange under the global limit and the per-request deadline. Throws TransportError. */
  async function call(
    kind: RequestEvent['kind'],
    registry: string,
    url: URL,
    method: 'GET' | 'HEAD',
    headers: Record<string, string>,
  ): Promise<HttpResponse> {
    const signal = AbortSignal.timeout(o.timeoutMs);
    const started = performance.now();
    const report = (status: number | undefined, outcome: string): void =>
      options.onRequest?.({ registry, kind, status, outcome, durationMs: performance.now() - started });
    let release: () => void;
    try {
      release = await limiter.acquire(signal);
    } catch (err) {
      const reason = err instanceof BusyError ? 'busy' : 'timeout (waiting for a request slot)';
      report(undefined, reason);
      throw new TransportError(reason);
    }
    try {
      const res = await transport.request({
        url,
        method,
        headers: { 'User-Agent': o.userAgent, ...headers },
        signal,
        maxBodyBytes: o.maxBodyBytes,
      });
      report(res.status, 'ok');
      return res;
    } catch (err) {
      const reason = err instanceof TransportError ? err.reason : 'request failed';
      report(undefined, reason);
      throw new TransportError(reason);
    } finally {
      release();
    }
  }

  async function fetchToken(
    registry: string,
    hint: Extract<AuthHint, { scheme: 'bearer' }>,
    scope: string | undefined,
    cred: RegistryCredential | undefined,
    force: boolean,
  ): Promise<string> {
    const key = `${hint.realm}\n${hint.service ?? ''}\n${scope ?? ''}\n${cred ? `${cred.origin}\n${cred.username}` : ''}`;
    if (!force) {
      const cached = tokens.get(key);
      if (cached !== undefined) return cached;
    }
    let url: URL;
    try {
      url = new URL(hint.realm);
    } catch {
      throw new AuthFailure('token realm is not a valid URL');
    }
    if (hint.service !== undefined) url.searchParams.set('service', hint.service);
    if (scope !== undefined) url.searchParams.set('scope', scope);
    const registryInsecure = isInsecure(registry) || isInsecure(registryApiHost(registry));
    let auth: string | undefined = cred ? basicAuth(cred) : undefined;
    let res: HttpResponse | undefined;
    for (let hop = 0; ; hop++) {
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new AuthFailure('token realm must be http(s)');
      // Credentials travel in clear only to hosts the operator listed as insecure (or when the registry itself is).
      if (url.protocol === 'http:' && !registryInsecure && !isInsecure(url.host)) {
        throw new AuthFailure(`token realm ${url.host} uses plain HTTP and is not listed as insecure`);
      }
      res = await call('token', registry, url, 'GET', auth ? { Authorization: auth } : {});
      const location = res.headers.location;
      if (res.status < 300 || res.status >= 400 || res.status === 304 || typeof location !== 'string') break;
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
    if (res.status === 401 || res.status === 403) throw new AuthFailure(`unauthorized (token endpoint answered HTTP ${res.status})`);
    if (res.status !== 200) throw new AuthFailure(`token endpoint answered HTTP ${res.status}`);
    if (res.truncated) throw new AuthFailure(`token response larger than ${o.maxBodyBytes} bytes`);
    const parsed = readTokenResponse(res.body);
    if (typeof parsed === 'string') throw new AuthFailure(parsed);
    // Local receipt time + expires_in, not issued_at: the realm's clock may differ from ours, and the margin keeps
    // us from sending a token in its last seconds.
    const ttl = parsed.expiresIn * 1000 - Math.min(30_000, parsed.expiresIn * 100);
    tokens.set(key, parsed.token, ttl);
    return parsed.token;
  }

  function rememberChallenge(apiHost: string, header: string | string[] | undefined): AuthHint | undefined {
    const value = Array.isArray(header) ? header.join(', ') : header;
    if (value === undefined) return undefined;
    const parsed = parseWwwAuthenticate(value);
    if (!parsed.ok) return undefined;
    const bearer = parsed.challenges.find((c) => c.scheme === 'bearer' && c.params.has('realm'));
    const hint: AuthHint | undefined = bearer
      ? { scheme: 'bearer', realm: bearer.params.get('realm')!, service: bearer.params.get('service') }
      : parsed.challenges.some((c: Challenge) => c.scheme === 'basic')
        ? { scheme: 'basic' }
        : undefined;
    if (hint) authHints.set(apiHost, hint, 3600_000);
    return hint;
  }

  /** Sends `method url` with the auth the registry wants; one retry after a 401 that taught us something. */
  async function authorized(
    kind: 'manifest' | 'ping',
    t: Pick<RegistryTarget, 'registry' | 'apiHost'>,
    path: string,
    method: 'GET' | 'HEAD',
    headers: Record<string, string>,
    scope: string | undefined,
    cred: RegistryCredential | undefined,
  ): Promise<HttpResponse> {
    const url = new URL(path, baseUrl(t));
    const attempt = async (hint: AuthHint | undefined, force: boolean): Promise<{ res: HttpResponse; sent: boolean }> => {
      let authorization: string | undefined;
      if (hint?.scheme === 'bearer') authorization = `Bearer ${await fetchToken(t.registry, hint, scope, cred, force)}`;
      else if (hint?.scheme === 'basic' && cred) authorization = basicAuth(cred);
      const res = await call(kind, t.registry, url, method, authorization ? { ...headers, Authorization: authorization } : headers);
      return { res, sent: authorization !== undefined };
    };
    const known = authHints.get(t.apiHost);
    const first = await attempt(known, false);
    if (first.res.status !== 401) return first.res;
    const hint = rememberChallenge(t.apiHost, first.res.headers['www-authenticate']);
    if (!hint) return first.res;
    if (hint.scheme === 'basic' && (!cred || first.sent)) return first.res;
    // Bearer: a 401 with a cached token means it expired or was revoked early: fetch a fresh one.
    return (await attempt(hint, true)).res;
  }

  async function lookup(t: RegistryTarget): Promise<Outcome> {
    const creds = options.keyring ? lookupCredentials(options.keyring, t.name).slice(0, o.maxCredentialAttempts) : [];
    const attempts: Array<RegistryCredential | undefined> = creds.length > 0 ? creds : [undefined];
    let last: Outcome = { state: 'unknown', reason: 'unauthorized' };
    for (const cred of attempts) {
      try {
        const res = await authorized('manifest', t, t.manifestPath, 'HEAD', { Accept: MANIFEST_ACCEPT }, `repository:${t.repository}:pull`, cred);
        last = classify(res);
      } catch (err) {
        if (err instanceof AuthFailure) last = { state: 'unknown', reason: err.reason };
        else if (err instanceof TransportError) last = { state: 'unknown', reason: err.reason, transient: err.reason === 'busy' || err.reason.startsWith('timeout (waiting') };
        else last = { state: 'unknown', reason: 'internal error', transient: true };
      }
      // Like the kubelet: the next matching credential only when this one was refused.
      if (!(last.state === 'unknown' && last.reason?.startsWith('unauthorized'))) break;
    }
    return last;
  }

  function cacheResult(key: string, r: Outcome): void {
    if (r.transient) return;
    const ttl = r.state === 'present' ? o.presentTtlMs : r.state === 'missing' ? o.missingTtlMs : o.unknownTtlMs;
    results.set(key, publicResult(r), ttl);
  }

  return {
    async check(image, { signal } = {}) {
      const target = targetFor(image);
      if (!target.ok) return { state: 'unknown', reason: target.reason };
      const t = target.target;
      const key = `${t.apiHost}/${t.repository}@${t.reference}`;
      const hit = results.get(key);
      if (hit) return { ...hit };
      let pending = inflight.get(key);
      if (!pending) {
        // Not tied to the caller's signal: a second caller may be waiting on the same request, and a finished
        // lookup still fills the cache for the next admission.
        pending = lookup(t).then((r) => {
          cacheResult(key, r);
          return r;
        });
        const p = pending;
        inflight.set(key, p);
        void p.finally(() => inflight.delete(key));
      }
      return publicResult(await untilAborted(pending, signal));
    },

    async ping(registry, { signal } = {}) {
      const t = { registry, apiHost: registryApiHost(registry) };
      const run = async (): Promise<PingResult> => {
        try {
          const url = new URL('/v2/', baseUrl(t));
          const res = await call('ping', registry, url, 'GET', {});
          const challenges = parseWwwAuthenticate(headerValue(res.headers['www-authenticate']));
          const auth = res.status === 401 && challenges.ok ? (challenges.challenges[0]?.scheme ?? 'unknown') : 'none';
          const result: PingResult = { reachable: true, status: res.status, auth };
          if (res.status !== 401) return res.status === 200 ? result : { ...result, reason: `HTTP ${res.status}` };
          rememberChallenge(t.apiHost, res.headers['www-authenticate']);
          const cred = options.keyring ? lookupCredentials(options.keyring, registry)[0] : undefined;
          if (!cred) return result;
          const again = await authorized('ping', t, '/v2/', 'GET', {}, undefined, cred);
          return { ...result, authenticated: again.status === 200, ...(again.status === 200 ? {} : { reason: `HTTP ${again.status} with credentials` }) };
        } catch (err) {
          const reason = err instanceof AuthFailure || err instanceof TransportError ? err.reason : 'internal error';
          return { reachable: !(err instanceof TransportError), reason };
        }
      };
      return untilAborted(run(), signal, { reachable: false, reason: 'aborted' });
    },

    close: () => transport.close(),
  };
}

function classify(res: HttpResponse): Outcome {
  switch (res.status) {
    case 200: {
      const out: Outcome = { state: 'present' };
      const digest = headerValue(res.headers['docker-content-digest']);
      if (digest.length <= 300 && DIGEST_RE.test(digest)) out.digest = digest;
      const type = headerValue(res.headers['content-type']).split(';')[0]!.trim();
      if (type !== '' && type.length <= 256) out.mediaType = type;
      return out;
    }
    case 404:
      return { state: 'missing' };
    case 401:
      return { state: 'unknown', reason: 'unauthorized' };
    case 403:
      return { state: 'unknown', reason: 'forbidden (HTTP 403)' };
    case 429:
      return { state: 'unknown', reason: 'rate limited (HTTP 429)' };
    default:
      return { state: 'unknown', reason: `HTTP ${res.status}` };
  }
}

function readTokenResponse(body: Buffer): { token: string; expiresIn: number } | string {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    return 'token response is not JSON';
  }
  if (typeof doc !== 'object' || doc === null) return 'token response is not a JSON object';
  const d = doc as Record<string, unknown>;
  const token = typeof d.token === 'string' && d.token !== '' ? d.token : d.access_token;
  // Visible ASCII only: anything else could not go into a header (and Node's error would be confusing).
  if (typeof token !== 'string' || token === '' || token.length > 16 * 1024 || !/^[\x21-\x7e]+$/.test(token)) {
    return 'token response has no usable token';
  }
  const e = d.expires_in;
  const expiresIn = typeof e === 'number' && Number.isFinite(e) && e > 0 ? Math.min(e, MAX_TOKEN_SECONDS) : DEFAULT_TOKEN_SECONDS;
  return { token, expiresIn };
}

function basicAuth(cred: RegistryCredential): string {
  return `Basic ${Buffer.from(`${cred.username}:${cred.password}`, 'utf8').toString('base64')}`;
}

function headerValue(v: string | string[] | undefined): string {
  return Array.isArray(v) ? v.join(', ') : (v ?? '');
}

function publicResult(r: CheckResult): CheckResult {
  const out: CheckResult = { state: r.state };
  if (r.digest !== undefined) out.digest = r.digest;
  if (r.mediaType !== undefined) out.mediaType = r.mediaType;
  if (r.reason !== undefined) out.reason = r.reason;
  return out;
}

/** The promise's value, or `onAbort` (default "unknown: aborted"/"timeout") as soon as the signal fires. */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined, onAbort?: T): Promise<T> {
  if (!signal) return p;
  const aborted = (): T =>
    onAbort ?? ({ state: 'unknown', reason: (signal.reason as { name?: string } | undefined)?.name === 'TimeoutError' ? 'timeout' : 'aborted' } as T);
  if (signal.aborted) return Promise.resolve(aborted());
  return new Promise<T>((resolve, reject) => {
    const onAbortEvent = (): void => resolve(aborted());
    signal.addEventListener('abort', onAbortEvent, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbortEvent);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbortEvent);
        reject(e);
      },
    );
  });
}
