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
import { AuthFailure, basicAuth, getToken, type TokenSourceOptions } from './token.js';
import { createTransport, TransportError, type HttpResponse, type Transport } from './transport.js';
import { parseWwwAuthenticate } from './www-authenticate.js';

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
const AUTH_HINT_TTL_MS = 3600_000;
const TOKENS_MAX = 1024;
/** host[:port] or [ipv6][:port], as a registry is written in an image name. */
const REGISTRY_HOST_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:]+\])(?::[0-9]{1,5})?$/;
const DIGEST_RE = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,256}$/;

type AuthHint = { scheme: 'basic' } | { scheme: 'bearer'; realm: string; service: string | undefined };

interface AuthorizedRequest {
  kind: 'manifest' | 'ping';
  t: Pick<RegistryTarget, 'registry' | 'apiHost'>;
  url: URL;
  method: 'GET' | 'HEAD';
  headers: Record<string, string>;
  scope: string | undefined;
  cred: RegistryCredential | undefined;
}

interface Outcome extends CheckResult {
  /** Not worth caching even briefly: depends on this process's load or the caller (busy, aborted). */
  transient?: boolean;
}

export function createRegistryClient(options: RegistryClientOptions = {}): RegistryClient {
  return new Client(options);
}

class Client implements RegistryClient {
  private readonly o: Required<Omit<RegistryClientOptions, 'caFile' | 'ca' | 'insecureRegistries' | 'keyring' | 'onRequest'>>;
  private readonly transport: Transport;
  private readonly limiter: Limiter;
  private readonly insecure: Set<string>;
  private readonly results: TtlLru<CheckResult>;
  private readonly inflight = new Map<string, Promise<Outcome>>();
  private readonly authHints: TtlLru<AuthHint>;
  private readonly tokens: TtlLru<string>;

  constructor(private readonly options: RegistryClientOptions) {
    this.o = {
      timeoutMs: options.timeoutMs ?? 5000,
      concurrency: options.concurrency ?? 8,
      maxQueue: options.maxQueue ?? 64,
      presentTtlMs: options.presentTtlMs ?? 5 * 60_000,
      missingTtlMs: options.missingTtlMs ?? 30_000,
      unknownTtlMs: options.unknownTtlMs ?? 5_000,
      cacheEntries: options.cacheEntries ?? 2000,
      maxBodyBytes: options.maxBodyBytes ?? 64 * 1024,
      maxRedirects: options.maxRedirects ?? 3,
      maxCredentialAttempts: options.maxCredentialAttempts ?? 3,
      userAgent: options.userAgent ?? 'mlrun-image-webhook',
      now: options.now ?? Date.now,
    };
    const ca = options.ca ?? (options.caFile === undefined ? undefined : readCa(options.caFile));
    this.transport = createTransport({ ca, maxSockets: this.o.concurrency });
    this.limiter = new Limiter(this.o.concurrency, this.o.maxQueue);
    this.insecure = new Set(options.insecureRegistries ?? []);
    this.results = new TtlLru<CheckResult>(this.o.cacheEntries, CACHE_KEY_MAX, this.o.now);
    this.authHints = new TtlLru<AuthHint>(AUTH_HINTS_MAX, CACHE_KEY_MAX, this.o.now);
    this.tokens = new TtlLru<string>(TOKENS_MAX, 4 * CACHE_KEY_MAX, this.o.now);
  }

  async check(image: string, { signal }: { signal?: AbortSignal } = {}): Promise<CheckResult> {
    const target = targetFor(image);
    if (!target.ok) return { state: 'unknown', reason: target.reason };
    const t = target.target;
    const key = `${t.apiHost}/${t.repository}@${t.reference}`;
    const hit = this.results.get(key);
    if (hit) return { ...hit };
    let pending = this.inflight.get(key);
    if (!pending) {
      // Not tied to the caller's signal: a second caller may be waiting on the same request, and a finished
      // lookup still fills the cache for the next admission.
      const p = this.lookup(t).then((r) => {
        this.cacheResult(key, r);
        return r;
      });
      this.inflight.set(key, p);
      void p.finally(() => this.inflight.delete(key));
      pending = p;
    }
    return publicResult(await untilAborted(pending, signal));
  }

  async ping(registry: string, { signal }: { signal?: AbortSignal } = {}): Promise<PingResult> {
    if (registry.length > 300 || !REGISTRY_HOST_RE.test(registry)) return { reachable: false, reason: 'invalid registry host' };
    return untilAborted(this.pingNow(registry), signal, { reachable: false, reason: 'aborted' });
  }

  close(): void {
    this.transport.close();
  }

  private isInsecure(hostPort: string): boolean {
    return this.insecure.has(hostPort);
  }

  private baseUrl(t: Pick<RegistryTarget, 'registry' | 'apiHost'>): string {
    return `${this.isInsecure(t.registry) || this.isInsecure(t.apiHost) ? 'http' : 'https'}://${t.apiHost}`;
  }

  /** Tries the matching credentials in turn (like the kubelet): the next one only when one was refused. */
  private async lookup(t: RegistryTarget): Promise<Outcome> {
    const keyring = this.options.keyring;
    const creds = keyring ? lookupCredentials(keyring, t.name).slice(0, this.o.maxCredentialAttempts) : [];
    const attempts: Array<RegistryCredential | undefined> = creds.length > 0 ? creds : [undefined];
    let last: Outcome = { state: 'unknown', reason: 'unauthorized' };
    for (const cred of attempts) {
      try {
        const scope = `repository:${t.repository}:pull`;
        last = classify(await this.authorized('manifest', t, t.manifestPath, 'HEAD', { Accept: MANIFEST_ACCEPT }, scope, cred));
      } catch (err) {
        last = failureOutcome(err);
      }
      if (!(last.state === 'unknown' && last.reason?.startsWith('unauthorized'))) break;
    }
    return last;
  }

  private cacheResult(key: string, r: Outcome): void {
    if (r.transient) return;
    const ttl = r.state === 'present' ? this.o.presentTtlMs : r.state === 'missing' ? this.o.missingTtlMs : this.o.unknownTtlMs;
    this.results.set(key, publicResult(r), ttl);
  }

  private async pingNow(registry: string): Promise<PingResult> {
    const t = { registry, apiHost: registryApiHost(registry) };
    try {
      const res = await this.call('ping', registry, new URL('/v2/', this.baseUrl(t)), 'GET', {});
      const challenges = parseWwwAuthenticate(headerValue(res.headers['www-authenticate']));
      const auth = res.status === 401 && challenges.ok ? (challenges.challenges[0]?.scheme ?? 'unknown') : 'none';
      const result: PingResult = { reachable: true, status: res.status, auth };
      if (res.status !== 401) return res.status === 200 ? result : { ...result, reason: `HTTP ${res.status}` };
      this.rememberChallenge(t.apiHost, res.headers['www-authenticate']);
      const cred = this.options.keyring ? lookupCredentials(this.options.keyring, registry)[0] : undefined;
      if (!cred) return result;
      // With credentials: can we get in? (Bearer: a token without scope, as `docker login` asks for.)
      const again = await this.authorized('ping', t, '/v2/', 'GET', {}, undefined, cred);
      if (again.status === 200) return { ...result, authenticated: true };
      return { ...result, authenticated: false, reason: `HTTP ${again.status} with credentials` };
    } catch (err) {
      const reason = err instanceof AuthFailure || err instanceof TransportError ? err.reason : 'internal error';
      return { reachable: !(err instanceof TransportError), reason };
    }
  }

  /** One HTTP exchange under the global limit and the per-request deadline. Throws TransportError. */
  private async call(
    kind: RequestEvent['kind'],
    registry: string,
    url: URL,
    method: 'GET' | 'HEAD',
    headers: Record<string, string>,
  ): Promise<HttpResponse> {
    const signal = AbortSignal.timeout(this.o.timeoutMs);
    const started = performance.now();
    const report = (status: number | undefined, outcome: string): void =>
      this.options.onRequest?.({ registry, kind, status, outcome, durationMs: performance.now() - started });
    let release: () => void;
    try {
      release = await this.limiter.acquire(signal);
    } catch (err) {
      const reason = err instanceof BusyError ? 'busy' : 'timeout (waiting for a request slot)';
      report(undefined, reason);
      throw new TransportError(reason);
    }
    try {
      const res = await this.transport.request({
        url,
        method,
        headers: { 'User-Agent': this.o.userAgent, ...headers },
        signal,
        maxBodyBytes: this.o.maxBodyBytes,
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

  private tokenSource(registry: string): TokenSourceOptions {
    return {
      get: (url, headers) => this.call('token', registry, url, 'GET', headers),
      isInsecure: (hostPort) => this.isInsecure(hostPort),
      cache: this.tokens,
      maxRedirects: this.o.maxRedirects,
      maxBodyBytes: this.o.maxBodyBytes,
    };
  }

  private rememberChallenge(apiHost: string, header: string | string[] | undefined): AuthHint | undefined {
    if (header === undefined) return undefined;
    const parsed = parseWwwAuthenticate(headerValue(header));
    if (!parsed.ok) return undefined;
    const bearer = parsed.challenges.find((c) => c.scheme === 'bearer' && c.params.has('realm'));
    const hint: AuthHint | undefined = bearer
      ? { scheme: 'bearer', realm: bearer.params.get('realm')!, service: bearer.params.get('service') }
      : parsed.challenges.some((c) => c.scheme === 'basic')
        ? { scheme: 'basic' }
        : undefined;
    if (hint) this.authHints.set(apiHost, hint, AUTH_HINT_TTL_MS);
    return hint;
  }

  /** Sends `method path` with the auth the registry wants; one retry after a 401 that taught us something. */
  private async authorized(
    kind: 'manifest' | 'ping',
    t: Pick<RegistryTarget, 'registry' | 'apiHost'>,
    path: string,
    method: 'GET' | 'HEAD',
    headers: Record<string, string>,
    scope: string | undefined,
    cred: RegistryCredential | undefined,
  ): Promise<HttpResponse> {
    const req: AuthorizedRequest = { kind, t, url: new URL(path, this.baseUrl(t)), method, headers, scope, cred };
    const first = await this.sendWith(req, this.authHints.get(t.apiHost), false);
    if (first.res.status !== 401) return first.res;
    const hint = this.rememberChallenge(t.apiHost, first.res.headers['www-authenticate']);
    if (!hint) return first.res;
    if (hint.scheme === 'basic' && (!cred || first.sent === 'basic')) return first.res;
    // A token just fetched and refused is final; a cached one may have expired or been revoked early: refresh once.
    if (hint.scheme === 'bearer' && first.sent === 'fresh') return first.res;
    return (await this.sendWith(req, hint, true)).res;
  }

  private async sendWith(
    { kind, t, url, method, headers, scope, cred }: AuthorizedRequest,
    hint: AuthHint | undefined,
    forceToken: boolean,
  ): Promise<{ res: HttpResponse; sent: 'none' | 'basic' | 'cached' | 'fresh' }> {
    let authorization: string | undefined;
    let sent: 'none' | 'basic' | 'cached' | 'fresh' = 'none';
    if (hint?.scheme === 'bearer') {
      const registryInsecure = this.isInsecure(t.registry) || this.isInsecure(t.apiHost);
      const got = await getToken(this.tokenSource(t.registry), hint, registryInsecure, scope, cred, forceToken);
      authorization = `Bearer ${got.token}`;
      sent = got.fresh ? 'fresh' : 'cached';
    } else if (hint?.scheme === 'basic' && cred) {
      authorization = basicAuth(cred);
      sent = 'basic';
    }
    const res = await this.call(kind, t.registry, url, method, authorization ? { ...headers, Authorization: authorization } : headers);
    return { res, sent };
  }
}

function failureOutcome(err: unknown): Outcome {
  if (err instanceof AuthFailure) return { state: 'unknown', reason: err.reason };
  if (err instanceof TransportError) {
    // busy / no slot in time say something about this process, not the registry: never cached.
    return { state: 'unknown', reason: err.reason, transient: err.reason === 'busy' || err.reason.startsWith('timeout (waiting') };
  }
  return { state: 'unknown', reason: 'internal error', transient: true };
}

function readCa(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    throw new Error(`cannot read the registry CA bundle ${file}: ${typeof code === 'string' ? code : 'read failed'}`);
  }
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
