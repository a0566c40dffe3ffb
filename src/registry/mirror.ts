/**
 * MirrorService: what the mirror registries (mlrun.imagesRegistry, mlrun.vendorImagesRegistry, digest registries)
 * hold, for three users:
 * - admission: `state(image)`, synchronous, never I/O (AdmitContext.registry);
 * - the server's second admission pass: `lookup(images, budgetMs)`, one budget for all the images of a request;
 * - the background coverage check: `start()`/`stop()`, every interval ± jitter over the catalogue of the current
 *   MLRun version plus the images recently rewritten; `coverage()` and `onRound` for metrics and logs.
 *
 * Only images on a configured registry (host[:port] and, when configured, its path prefix) are ever looked up:
 * image names come from Pod authors, and the webhook must not be made to contact arbitrary hosts.
 *
 * Staleness rule (one cache, this one: the client is built with present/missing TTL 0 so it only shares in-flight
 * requests and keeps "unknown" answers briefly):
 * - an answer found on the hot path is kept presentTtlMs (present) or missingTtlMs (missing);
 * - an answer found by a background round is kept at least until the next round has surely run
 *   (interval × (1 + jitter) + the round deadline), so catalogue images are answered from memory between rounds
 *   and "known missing" survives them; an image mirrored after a round is seen by the next round, or by the hot
 *   path once its own TTL has passed;
 * - "unknown" answers (registry down, unauthorized, timeout...) are not kept here and never replace a known answer:
 *   a known answer simply expires at its own time, after which state() says unknown (never missing).
 * Nothing here logs; events go to the onRound/onRequest callbacks.
 */
import { readFileSync, statSync } from 'node:fs';
import { createRegistryClient, type CheckResult, type ImageState, type RegistryClient, type RequestEvent } from './client.js';
import { TtlLru } from './cache.js';
import { buildKeyring, DOCKER_CONFIG_MAX_BYTES, type DockerConfigInput, type Keyring } from './docker-config.js';
import { targetFor } from './target.js';

/** Images asked per lookup() call; the rest stay unknown (an admission names a few images, not hundreds). */
export const LOOKUP_MAX_IMAGES = 32;
/** Longest image looked up or remembered: a valid name is ≤ 255, a tag ≤ 128, a digest ≤ ~140. */
export const IMAGE_MAX_LENGTH = 600;
/** Recently rewritten images the background check also covers (LRU). */
export const RECENT_MAX = 512;
/** Catalogue images per round at most (a version's catalogue is a few dozen). */
export const ROUND_CATALOGUE_MAX = 2048;
/** Images listed by name in a round's result (missing, unknown); the counts are always complete. */
export const ROUND_LIST_MAX = 100;
/** Consecutive connection-level failures after which a round stops asking that registry. */
const HOST_FAILURES_MAX = 3;

export interface MirrorState {
  state: ImageState;
  digest?: string;
}

export interface RoundResult {
  present: number;
  missing: number;
  unknown: number;
  /** Missing images, in catalogue order, at most ROUND_LIST_MAX. */
  missingImages: string[];
  /** Unknown images with the reason, at most ROUND_LIST_MAX. */
  unknownImages: Array<{ image: string; reason: string }>;
  /** Registry checks made (images skipped because their registry was unreachable are not counted). */
  checked: number;
  startedAt: number;
  finishedAt: number;
  /** The catalogue callback failed: only recent images were checked. */
  catalogueError?: string;
}

export interface Coverage {
  present: number;
  missing: number;
  unknown: number;
  missingImages: string[];
  unknownImages: Array<{ image: string; reason: string }>;
  /** When the last round finished (ms since the epoch); undefined before the first. */
  lastRunAt: number | undefined;
}

export interface MirrorServiceOptions {
  /**
   * Registries the service may talk to, as configured: `host[:port]` with an optional path prefix
   * (`datanode.local:5000/`, `reg.example/mirror/`). Empty strings are ignored.
   */
  registries: readonly string[];
  insecureRegistries?: readonly string[];
  /** PEM CA bundle file trusted in addition to the system roots (unreadable: createMirrorService refuses). */
  caFile?: string;
  keyring?: Keyring;
  /** Per registry request. Default 5000. */
  timeoutMs?: number;
  /** Registry requests in flight at once (hot path and background together). Default 8. */
  concurrency?: number;
  /** How long answers are kept (see the staleness rule). Defaults 10 min / 60 s. */
  presentTtlMs?: number;
  missingTtlMs?: number;
  /** Answers kept at most (LRU). Default 4096. */
  cacheEntries?: number;
  /** Background round period. Default 600 000 (10 min). */
  intervalMs?: number;
  /** ± fraction of the interval (0 – 0.5). Default 0.1. */
  jitter?: number;
  /** A round stops asking after this long; the rest is unknown. Default intervalMs / 2. */
  roundDeadlineMs?: number;
  /** The images the background check covers (mirror names of the catalogue). */
  catalogue?: () => readonly string[];
  onRound?: (result: RoundResult) => void;
  onRequest?: (event: RequestEvent) => void;
  /** Clock and randomness (tests). */
  now?: () => number;
  random?: () => number;
}

export type CreateMirrorResult = { ok: true; service: MirrorService } | { ok: false; problems: string[] };

/** Builds the service, refusing registries that are not host[:port][/path] and an unreadable CA file. */
export function createMirrorService(options: MirrorServiceOptions): CreateMirrorResult {
  const problems = options.registries.filter((r) => r !== '' && parseRegistryPrefix(r) === undefined).map((r) => `registry ${JSON.stringify(r.slice(0, 300))}: not host[:port][/path]`);
  if (problems.length > 0) return { ok: false, problems };
  try {
    return { ok: true, service: new MirrorService(options) };
  } catch (err) {
    return { ok: false, problems: [err instanceof Error ? err.message : 'cannot create the registry client'] };
  }
}

interface RegistryPrefix {
  host: string;
  /** Path prefix without slashes ('' = the whole registry). */
  path: string;
}

const HOST_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;
/** Repository path components, as in the reference grammar (and the config's REGISTRY_PATTERN). */
const PATH_RE = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;

/** `reg.example:5000/mirror/` → { host: 'reg.example:5000', path: 'mirror' }; undefined when malformed. */
export function parseRegistryPrefix(configured: string): RegistryPrefix | undefined {
  if (configured.length > 300) return undefined;
  const trimmed = configured.endsWith('/') ? configured.slice(0, -1) : configured;
  const slash = trimmed.indexOf('/');
  const host = slash < 0 ? trimmed : trimmed.slice(0, slash);
  const path = slash < 0 ? '' : trimmed.slice(slash + 1);
  if (!HOST_RE.test(host) || (path !== '' && !PATH_RE.test(path))) return undefined;
  return { host: host.toLowerCase(), path };
}

export class MirrorService {
  private readonly client: RegistryClient;
  private readonly prefixes: RegistryPrefix[];
  private readonly known: TtlLru<MirrorState>;
  private readonly recent = new Map<string, true>();
  private readonly presentTtlMs: number;
  private readonly missingTtlMs: number;
  private readonly intervalMs: number;
  private readonly jitter: number;
  private readonly roundDeadlineMs: number;
  private readonly roundWorkers: number;
  private readonly now: () => number;
  private readonly random: () => number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<RoundResult> | undefined;
  private roundAbort: AbortController | undefined;
  private last: RoundResult | undefined;

  constructor(private readonly options: MirrorServiceOptions) {
    this.prefixes = options.registries.filter((r) => r !== '').flatMap((r) => parseRegistryPrefix(r) ?? []);
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.presentTtlMs = options.presentTtlMs ?? 600_000;
    this.missingTtlMs = options.missingTtlMs ?? 60_000;
    this.intervalMs = options.intervalMs ?? 600_000;
    this.jitter = Math.min(0.5, Math.max(0, options.jitter ?? 0.1));
    this.roundDeadlineMs = options.roundDeadlineMs ?? this.intervalMs / 2;
    const concurrency = options.concurrency ?? 8;
    // A round leaves half the request slots to the hot path, so admissions are not told "busy" during a round.
    this.roundWorkers = Math.max(1, Math.floor(concurrency / 2));
    this.known = new TtlLru<MirrorState>(options.cacheEntries ?? 4096, IMAGE_MAX_LENGTH, this.now);
    this.client = createRegistryClient({
      timeoutMs: options.timeoutMs ?? 5000,
      concurrency,
      presentTtlMs: 0,
      missingTtlMs: 0,
      cacheEntries: options.cacheEntries ?? 4096,
      now: this.now,
      ...(options.insecureRegistries ? { insecureRegistries: options.insecureRegistries } : {}),
      ...(options.caFile ? { caFile: options.caFile } : {}),
      ...(options.keyring ? { keyring: options.keyring } : {}),
      ...(options.onRequest ? { onRequest: options.onRequest } : {}),
    });
  }

  /** What is known about an image, from memory only. Unknown: never asked, expired, or not on a configured registry. */
  state(image: string): MirrorState {
    const hit = this.known.get(image);
    if (!hit) return { state: 'unknown' };
    return hit.digest === undefined ? { state: hit.state } : { state: hit.state, digest: hit.digest };
  }

  /** Whether the service may ask about this image at all (its registry and path prefix are configured). */
  covers(image: string): boolean {
    if (image.length > IMAGE_MAX_LENGTH || this.prefixes.length === 0) return false;
    const t = targetFor(image);
    if (!t.ok) return false;
    const host = t.target.registry.toLowerCase();
    const repo = t.target.repository;
    return this.prefixes.some((p) => p.host === host && (p.path === '' || repo === p.path || repo.startsWith(`${p.path}/`)));
  }

  /**
   * Asks the registries about the images not known yet (configured registries only, at most LOOKUP_MAX_IMAGES),
   * and returns when all answered or when `budgetMs` is spent, whichever comes first. Checks still pending then go
   * on (up to the request timeout) and fill the cache for the next admission. Never throws. budgetMs ≤ 0: no-op.
   */
  async lookup(images: readonly string[], budgetMs: number): Promise<void> {
    try {
      // AbortSignal.timeout throws on a fractional delay (the server's remaining budget often is one).
      const ms = Math.floor(budgetMs);
      if (!(ms > 0)) return;
      const wanted = this.selectForLookup(images);
      if (wanted.length === 0) return;
      const signal = AbortSignal.timeout(ms);
      const all = Promise.all(wanted.map((image) => this.checkAndRemember(image, false)));
      await untilAborted(all, signal);
    } catch {
      // lookup never fails an admission
    }
  }

  /** Remembers an image the webhook wrote into a Pod, for the background check (LRU, RECENT_MAX). */
  noteRewritten(image: string): void {
    if (this.recent.has(image)) {
      this.recent.delete(image);
      this.recent.set(image, true);
      return;
    }
    if (!this.covers(image)) return;
    if (this.recent.size >= RECENT_MAX) this.recent.delete(this.recent.keys().next().value as string);
    this.recent.set(image, true);
  }

  /** Starts the background check: a round now, then every interval ± jitter. */
  start(): void {
    if (this.timer !== undefined) return;
    this.schedule(0);
  }

  /** Stops the background check and abandons a running round (its finished answers stay known). */
  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.roundAbort?.abort();
  }

  /** stop() and close the registry connections. */
  close(): void {
    this.stop();
    this.client.close();
  }

  coverage(): Coverage {
    const r = this.last;
    if (!r) return { present: 0, missing: 0, unknown: 0, missingImages: [], unknownImages: [], lastRunAt: undefined };
    return {
      present: r.present,
      missing: r.missing,
      unknown: r.unknown,
      missingImages: [...r.missingImages],
      unknownImages: r.unknownImages.map((u) => ({ ...u })),
      lastRunAt: r.finishedAt,
    };
  }

  /** Runs one round now (a running round is joined, not repeated). Never throws. */
  runRound(): Promise<RoundResult> {
    if (!this.running) {
      this.running = this.round().finally(() => {
        this.running = undefined;
      });
    }
    return this.running;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      void this.runRound().then(() => {
        if (this.timer !== undefined) this.schedule(this.nextDelay());
      });
    }, delayMs);
    this.timer.unref();
  }

  private nextDelay(): number {
    return Math.max(0, this.intervalMs * (1 + this.jitter * (2 * this.random() - 1)));
  }

  private selectForLookup(images: readonly string[]): string[] {
    const out: string[] = [];
    const seen = new Set<string>();
    for (const image of images) {
      if (out.length >= LOOKUP_MAX_IMAGES) break;
      if (typeof image !== 'string' || seen.has(image)) continue;
      seen.add(image);
      if (this.known.get(image) !== undefined || !this.covers(image)) continue;
      out.push(image);
    }
    return out;
  }

  private async checkAndRemember(image: string, background: boolean): Promise<CheckResult> {
    let r: CheckResult;
    try {
      r = await this.client.check(image);
    } catch {
      r = { state: 'unknown', reason: 'internal error' };
    }
    this.remember(image, r, background);
    return r;
  }

  private remember(image: string, r: CheckResult, background: boolean): void {
    if (r.state === 'unknown') return;
    let ttl = r.state === 'present' ? this.presentTtlMs : this.missingTtlMs;
    if (background && ttl > 0) ttl = Math.max(ttl, this.intervalMs * (1 + this.jitter) + this.roundDeadlineMs);
    // The same answer reached by a hot-path look-up sharing a round's request does not shorten the round's term.
    const now = this.now();
    const prev = this.known.get(image);
    const prevExpiry = this.known.expiresAt(image);
    if (prev && prevExpiry !== undefined && prev.state === r.state && prev.digest === r.digest) ttl = Math.max(ttl, prevExpiry - now);
    this.known.set(image, r.digest === undefined ? { state: r.state } : { state: r.state, digest: r.digest }, ttl);
  }

  private roundImages(): { images: string[]; catalogueError?: string } {
    let catalogue: readonly string[] = [];
    let catalogueError: string | undefined;
    try {
      catalogue = this.options.catalogue?.() ?? [];
    } catch (err) {
      catalogueError = err instanceof Error ? err.message.slice(0, 300) : 'catalogue failed';
    }
    const images = [...new Set([...catalogue.slice(0, ROUND_CATALOGUE_MAX), ...this.recent.keys()])];
    return catalogueError === undefined ? { images } : { images, catalogueError };
  }

  private async round(): Promise<RoundResult> {
    const startedAt = this.now();
    const { images, catalogueError } = this.roundImages();
    const abort = new AbortController();
    this.roundAbort = abort;
    const deadline = setTimeout(() => abort.abort(), this.roundDeadlineMs);
    deadline.unref();
    let results: Array<{ image: string; result: CheckResult }>;
    try {
      results = await checkMany(images, {
        workers: this.roundWorkers,
        signal: abort.signal,
        // Not cut by the signal itself: a check still running at the deadline goes on and its answer is kept.
        check: (image, signal) =>
          this.covers(image)
            ? untilAborted(this.checkAndRemember(image, true), signal ?? abort.signal).then((r) => r ?? { state: 'unknown', reason: 'deadline' })
            : Promise.resolve({ state: 'unknown', reason: 'skipped: not on a configured registry' }),
      });
    } finally {
      clearTimeout(deadline);
      if (this.roundAbort === abort) this.roundAbort = undefined;
    }
    const result = summarise(results, startedAt, this.now());
    if (catalogueError !== undefined) result.catalogueError = catalogueError;
    this.last = result;
    try {
      this.options.onRound?.(result);
    } catch {
      // a failing listener does not stop the background check
    }
    return result;
  }
}

function summarise(results: ReadonlyArray<{ image: string; result: CheckResult }>, startedAt: number, finishedAt: number): RoundResult {
  const r: RoundResult = { present: 0, missing: 0, unknown: 0, missingImages: [], unknownImages: [], checked: 0, startedAt, finishedAt };
  for (const { image, result } of results) {
    r[result.state]++;
    if (!result.reason?.startsWith('skipped')) r.checked++;
    if (result.state === 'missing' && r.missingImages.length < ROUND_LIST_MAX) r.missingImages.push(image);
    if (result.state === 'unknown' && r.unknownImages.length < ROUND_LIST_MAX) r.unknownImages.push({ image, reason: result.reason ?? 'unknown' });
  }
  return r;
}

/** Reasons that say the registry cannot be reached at all (as opposed to an HTTP answer). */
const UNREACHABLE = /^(timeout$|connection refused|connection reset|DNS lookup failed|host unreachable|TLS error|invalid HTTP response)/;

export interface CheckManyOptions {
  /** Checks running at once. */
  workers: number;
  /** When it fires, the images not yet asked are unknown ("skipped: deadline") and running checks stop waiting. */
  signal?: AbortSignal;
  check: (image: string, signal: AbortSignal | undefined) => Promise<CheckResult>;
}

/**
 * Checks images with a few workers, in order. After HOST_FAILURES_MAX consecutive connection-level failures on a
 * registry, its remaining images are unknown without a request ("skipped: <registry> unreachable"), so a registry
 * that is down costs a few timeouts, not one per image. Results come back in the order of `images`.
 */
export async function checkMany(images: readonly string[], options: CheckManyOptions): Promise<Array<{ image: string; result: CheckResult }>> {
  const results: Array<{ image: string; result: CheckResult }> = images.map((image) => ({ image, result: { state: 'unknown' } }));
  const failures = new Map<string, { count: number; reason: string }>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < images.length) {
      const i = next++;
      const image = images[i]!;
      const host = registryOf(image);
      const down = failures.get(host);
      if (options.signal?.aborted) {
        results[i]!.result = { state: 'unknown', reason: 'skipped: deadline' };
      } else if (down && down.count >= HOST_FAILURES_MAX) {
        results[i]!.result = { state: 'unknown', reason: `skipped: ${host} unreachable (${down.reason})` };
      } else {
        let r = await options.check(image, options.signal);
        if (r.state === 'unknown' && r.reason === 'aborted' && options.signal?.aborted) r = { state: 'unknown', reason: 'deadline' };
        results[i]!.result = r;
        if (r.state === 'unknown' && r.reason !== undefined && UNREACHABLE.test(r.reason)) {
          failures.set(host, { count: (failures.get(host)?.count ?? 0) + 1, reason: r.reason });
        } else if (r.state !== 'unknown') {
          failures.delete(host);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.workers, images.length)) }, worker));
  return results;
}

function registryOf(image: string): string {
  const t = image.length > IMAGE_MAX_LENGTH ? undefined : targetFor(image);
  return t?.ok ? t.target.apiHost : '(invalid)';
}

/**
 * A keyring from `.dockerconfigjson` files (mounted pull Secrets). A file that cannot be read or is too large is a
 * problem naming the file and the error code; entries the keyring refuses are problems too (never a value).
 */
export function readKeyringFiles(files: readonly string[]): { keyring: Keyring; problems: string[]; unreadable: string[] } {
  const inputs: DockerConfigInput[] = [];
  const unreadable: string[] = [];
  for (const file of files) {
    try {
      const size = statSync(file).size;
      if (size > DOCKER_CONFIG_MAX_BYTES) {
        unreadable.push(`${file}: too large (${size} bytes; max ${DOCKER_CONFIG_MAX_BYTES})`);
        continue;
      }
      inputs.push({ source: file, text: readFileSync(file, 'utf8') });
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      unreadable.push(`${file}: cannot read (${typeof code === 'string' ? code : 'read failed'})`);
    }
  }
  const { keyring, problems } = buildKeyring(inputs);
  return { keyring, problems: [...unreadable, ...problems], unreadable };
}

/** The promise's outcome, or undefined as soon as the signal fires (the promise goes on). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const onAbort = (): void => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve(undefined);
      },
    );
  });
}
