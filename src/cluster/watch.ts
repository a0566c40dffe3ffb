/**
 * Live discovery of the MLRun installs: client-node informers (ListWatch: list, then watch from the list's
 * resourceVersion, relist on 410 Gone) on the chief Deployment (by name), its Pods (by label) and the ConfigMaps
 * its container references (one informer per name, fieldSelector metadata.name=…), in each configured namespace.
 *
 * What client-node's ListWatch does not do, done here (see docs/adr/0007):
 *   - restart after an error, with exponential backoff and jitter (ListWatch stops for good on any error);
 *   - trim every object to the few fields discovery needs before it enters the informer's cache;
 *   - a server-side watch timeout plus a client watchdog, so a half-open connection cannot hang a watch;
 *   - one status per state change (ok / forbidden / unreachable / failing), not one per event.
 * Nothing here blocks a caller: `current()` returns the last computed installs at any time.
 */
import { AppsV1Api, CoreV1Api, KubeConfig, ListWatch, Watch, type KubernetesObject } from '@kubernetes/client-node';
import { computeInstall, livePods, observeConfigMap, pruneHistory, referencedConfigMaps, type WatchedConfigMap } from './install.js';
import { configMapData, deploymentView, podView } from './trim.js';
import type { DeploymentView, MlrunInstall, PodView } from './types.js';

export const DEFAULT_DEPLOYMENT = 'mlrun-api-chief';
export const DEFAULT_CONTAINER = 'mlrun-api';
/** In `namespaces`, every namespace (cluster-wide informers; needs a ClusterRole). */
export const ALL_NAMESPACES = '*';
export const DEFAULT_POD_SELECTOR = 'app.kubernetes.io/name=mlrun,app.kubernetes.io/component=api,app.kubernetes.io/sub-component=chief';

export interface DiscoveryOptions {
  kubeConfig: KubeConfig;
  /** The namespaces to follow; ["*"] follows every namespace that has an MLRun API (cluster-wide informers). */
  namespaces: readonly string[];
  deploymentName?: string;
  containerName?: string;
  podSelector?: string;
  /** Backoff between restarts of a failed informer: initial delay, doubling up to max, with ±50% jitter. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** ConfigMaps watched per namespace at most (each is one watch). */
  maxConfigMapsPerNamespace?: number;
  /** The API server ends each watch after this long (then it is resumed from its resourceVersion). */
  watchTimeoutSeconds?: number;
  clock?: () => number;
  random?: () => number;
  onChange?: (installs: ReadonlyMap<string, MlrunInstall>) => void;
  onStatus?: (status: DiscoveryStatus) => void;
}

export type DiscoveryState = 'starting' | 'ok' | 'forbidden' | 'unreachable' | 'failing';

export interface DiscoveryStatus {
  /** The worst state of any informer: forbidden > unreachable > failing > starting > ok. */
  state: DiscoveryState;
  /** Every informer has listed and none is failing now. */
  synced: boolean;
  /** When `state` was entered (ISO 8601). */
  since: string;
  firstSyncAt: string | undefined;
  /** Last successful list, watch (re)connection or event while synced. */
  lastSyncAt: string | undefined;
  lastError: { at: string; object: string; message: string } | undefined;
  counts: { lists: number; watches: number; restarts: number; errors: number };
}

/** What an informer keeps of an object: identity for ListWatch, and our view. */
interface Trimmed<V> extends KubernetesObject {
  metadata: { name: string; namespace: string; resourceVersion: string };
  view: V;
}

type ConfigMapView = Record<string, string>;

// ---------------------------------------------------------------------------------------------------------------

interface FeedSpec<V> {
  what: string;
  path: string;
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
  list: () => Promise<{ metadata?: { resourceVersion?: string }; items: unknown[] }>;
  view: (raw: unknown) => V;
}

function trimmed<V>(raw: unknown, view: (raw: unknown) => V): Trimmed<V> {
  const meta = (raw as { metadata?: { name?: string; namespace?: string; resourceVersion?: string } } | null)?.metadata ?? {};
  return { metadata: { name: meta.name ?? '', namespace: meta.namespace ?? '', resourceVersion: meta.resourceVersion ?? '' }, view: view(raw) };
}

/** One informer, restarted with backoff after errors. */
class Feed<V> {
  state: DiscoveryState = 'starting';
  listed = false;
  closed = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  readonly informer: ListWatch<Trimmed<V>>;

  constructor(
    readonly owner: InstallWatcher,
    readonly spec: FeedSpec<V>,
  ) {
    const listFn = async () => {
      owner.counts.lists++;
      const list = await spec.list();
      const items = list.items.map((raw) => trimmed(raw, spec.view));
      this.listed = true;
      this.healthy();
      return { metadata: { resourceVersion: list.metadata?.resourceVersion ?? '' }, items } as never;
    };
    const watch = new FeedWatch(owner.kubeConfig, this, owner.watchTimeoutSeconds);
    this.informer = new ListWatch<Trimmed<V>>(spec.path, watch, listFn, false, spec.labelSelector, spec.fieldSelector);
    const changed = () => {
      owner.sawEvent();
      owner.schedule();
    };
    this.informer.on('add', changed);
    this.informer.on('update', changed);
    this.informer.on('delete', changed);
    this.informer.on('error', (err: unknown) => this.failed(err));
  }

  start(): void {
    this.informer.start().catch((err: unknown) => this.failed(err));
  }

  stop(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.informer.stop().catch(() => undefined);
  }

  get(name: string, namespace: string): V | undefined {
    return this.informer.get(name, namespace)?.view;
  }

  /** Objects of one namespace, or of all (undefined). */
  list(namespace: string | undefined): V[] {
    return this.informer.list(namespace).map((o) => o.view);
  }

  /** A list succeeded or a watch connected. */
  healthy(): void {
    this.attempt = 0;
    this.owner.schedule(); // first, so the status is not "synced" before the installs are recomputed
    this.setState('ok');
  }

  failed(err: unknown): void {
    if (this.closed) return; // our own stop aborts the watch, which ListWatch reports as an error
    const { state, message } = classify(err);
    this.owner.counts.errors++;
    this.owner.recordError(this.spec.what, message);
    this.setState(state);
    if (this.timer) return;
    const base = Math.min(this.owner.backoffMaxMs, this.owner.backoffInitialMs * 2 ** Math.min(this.attempt, 30));
    const delay = base / 2 + this.owner.random() * (base / 2);
    this.attempt++;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.closed) return;
      this.owner.counts.restarts++;
      // Resumes the watch from the last resourceVersion (or relists after a 410): nothing in between is lost.
      this.informer.start().catch((err: unknown) => this.failed(err));
    }, delay);
    this.timer.unref?.();
  }

  private setState(state: DiscoveryState): void {
    if (this.state === state) return;
    this.state = state;
    this.owner.statusChanged();
  }
}

/** client-node's Watch, with objects trimmed before ListWatch caches them, bookmarks, a timeout and a watchdog. */
class FeedWatch extends Watch {
  constructor(
    config: KubeConfig,
    private readonly feed: Feed<unknown>,
    private readonly timeoutSeconds: number,
  ) {
    super(config);
  }

  override async watch(
    path: string,
    queryParams: Record<string, unknown>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    if (this.feed.closed) {
      const c = new AbortController();
      c.abort();
      return c; // ListWatch restarts itself after a clean close; a stopped feed must not start a new watch
    }
    let ended = false;
    let watchdog: NodeJS.Timeout | undefined;
    const params = { ...queryParams, allowWatchBookmarks: true, timeoutSeconds: this.timeoutSeconds };
    let controller: AbortController;
    try {
      controller = await super.watch(
        path,
        params,
        (phase, obj, raw) => {
          // ListWatch's handler is async and reads obj.metadata / obj.code: a malformed event would become an
          // unhandled rejection, so it is dropped here.
          if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return;
          if (phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED') obj = trimmed(obj, this.feed.spec.view);
          this.settle(callback(phase, obj, raw));
        },
        (err) => {
          ended = true;
          clearTimeout(watchdog);
          this.settle(done(err));
        },
      );
    } catch (err) {
      // Thrown before any request (no current cluster, credentials that cannot be loaded): an error like any other.
      ended = true;
      setImmediate(() => this.settle(done(err)));
      controller = new AbortController();
      controller.abort();
    }
    if (!ended) {
      this.feed.owner.counts.watches++;
      this.feed.healthy();
      // The server ends the watch after timeoutSeconds; silence well past that means a half-open connection.
      watchdog = setTimeout(() => controller.abort(), (this.timeoutSeconds + 30) * 1000);
      watchdog.unref?.();
    }
    return controller;
  }

  /** ListWatch's handlers are async and nobody awaits them: a rejection becomes a feed error, not a crash. */
  private settle(r: unknown): void {
    if (r instanceof Promise) r.catch((err: unknown) => this.feed.failed(err));
  }
}

function classify(err: unknown): { state: DiscoveryState; message: string } {
  const e = (err ?? {}) as { code?: unknown; statusCode?: unknown; body?: unknown; message?: unknown; name?: unknown; type?: unknown };
  const status = typeof e.code === 'number' ? e.code : typeof e.statusCode === 'number' ? e.statusCode : undefined;
  let detail: string | undefined;
  let body = e.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      /* not a Status */
    }
  }
  if (body && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string') {
    detail = (body as { message: string }).message;
  }
  const first = typeof e.message === 'string' ? e.message.split('\n')[0] : String(err);
  if (status === 401 || status === 403) return { state: 'forbidden', message: `HTTP ${status}: ${detail ?? first}` };
  if (status !== undefined) {
    return { state: status >= 500 || status === 429 ? 'unreachable' : 'failing', message: `HTTP ${status}: ${detail ?? first}` };
  }
  if (typeof e.code === 'string' || e.type === 'system' || e.name === 'AbortError' || e.name === 'FetchError') {
    return { state: 'unreachable', message: first ?? 'connection failed' };
  }
  return { state: 'failing', message: first ?? 'unknown error' };
}

// ---------------------------------------------------------------------------------------------------------------

interface NamespaceFeeds {
  namespace: string;
  deployment: Feed<DeploymentView>;
  pods: Feed<PodView>;
  configMaps: Map<string, Feed<ConfigMapView>>;
  histories: Map<string, WatchedConfigMap>;
  /** Beyond maxConfigMapsPerNamespace: not watched, reported. */
  dropped: string[];
}

const STATE_RANK: Record<DiscoveryState, number> = { ok: 0, starting: 1, failing: 2, unreachable: 3, forbidden: 4 };

export class InstallWatcher {
  readonly kubeConfig: KubeConfig;
  readonly watchTimeoutSeconds: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  readonly random: () => number;
  readonly counts = { lists: 0, watches: 0, restarts: 0, errors: 0 };
  private readonly clock: () => number;
  private readonly deploymentName: string;
  private readonly containerName: string;
  private readonly podSelector: string;
  private readonly maxConfigMaps: number;
  private readonly namespaces: NamespaceFeeds[] = [];
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;
  private installs = new Map<string, MlrunInstall>();
  private keys = new Map<string, string>();
  private scheduled = false;
  private stopped = false;
  private started = false;
  private statusValue: DiscoveryStatus;
  private clusterWide: { deployment: Feed<DeploymentView>; pods: Feed<PodView> } | undefined;
  private installsChanged = false;

  constructor(private readonly opts: DiscoveryOptions) {
    this.kubeConfig = opts.kubeConfig;
    this.watchTimeoutSeconds = opts.watchTimeoutSeconds ?? 300;
    this.backoffInitialMs = opts.backoff?.initialMs ?? 500;
    this.backoffMaxMs = opts.backoff?.maxMs ?? 30_000;
    this.random = opts.random ?? Math.random;
    this.clock = opts.clock ?? Date.now;
    this.deploymentName = opts.deploymentName ?? DEFAULT_DEPLOYMENT;
    this.containerName = opts.containerName ?? DEFAULT_CONTAINER;
    this.podSelector = opts.podSelector ?? DEFAULT_POD_SELECTOR;
    this.maxConfigMaps = opts.maxConfigMapsPerNamespace ?? 16;
    this.core = this.kubeConfig.makeApiClient(CoreV1Api);
    this.apps = this.kubeConfig.makeApiClient(AppsV1Api);
    this.statusValue = {
      state: 'starting',
      synced: false,
      since: this.iso(),
      firstSyncAt: undefined,
      lastSyncAt: undefined,
      lastError: undefined,
      counts: this.counts,
    };
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    const wanted = new Set(this.opts.namespaces);
    if (wanted.has(ALL_NAMESPACES)) {
      // One Deployment and one Pod informer for the cluster; namespaces appear as their MLRun APIs do.
      this.clusterWide = { deployment: this.deploymentFeed(undefined), pods: this.podFeed(undefined) };
      this.clusterWide.deployment.start();
      this.clusterWide.pods.start();
    } else {
      for (const namespace of wanted) {
        const ns = this.namespaceFeeds(namespace, this.deploymentFeed(namespace), this.podFeed(namespace));
        ns.deployment.start();
        ns.pods.start();
      }
    }
    this.statusChanged();
  }

  stop(): void {
    this.stopped = true;
    for (const f of this.allFeeds()) f.stop();
  }

  private namespaceFeeds(namespace: string, deployment: Feed<DeploymentView>, pods: Feed<PodView>): NamespaceFeeds {
    const ns: NamespaceFeeds = { namespace, deployment, pods, configMaps: new Map(), histories: new Map(), dropped: [] };
    this.namespaces.push(ns);
    return ns;
  }

  private deploymentFeed(namespace: string | undefined): Feed<DeploymentView> {
    const fieldSelector = `metadata.name=${this.deploymentName}`;
    const container = this.containerName;
    return new Feed<DeploymentView>(this, {
      what: `Deployment ${namespace ?? '*'}/${this.deploymentName}`,
      path: namespace === undefined ? '/apis/apps/v1/deployments' : `/apis/apps/v1/namespaces/${namespace}/deployments`,
      fieldSelector,
      list: () =>
        namespace === undefined
          ? this.apps.listDeploymentForAllNamespaces({ fieldSelector })
          : this.apps.listNamespacedDeployment({ namespace, fieldSelector }),
      view: (raw) => deploymentView(raw, container),
    });
  }

  private podFeed(namespace: string | undefined): Feed<PodView> {
    const labelSelector = this.podSelector;
    const container = this.containerName;
    return new Feed<PodView>(this, {
      what: `Pods ${namespace ?? '*'} (${labelSelector})`,
      path: namespace === undefined ? '/api/v1/pods' : `/api/v1/namespaces/${namespace}/pods`,
      labelSelector,
      list: () =>
        namespace === undefined
          ? this.core.listPodForAllNamespaces({ labelSelector })
          : this.core.listNamespacedPod({ namespace, labelSelector }),
      view: (raw) => podView(raw, container),
    });
  }

  /** Cluster-wide: follow the namespaces that have a chief Deployment or chief Pod; drop the ones that lost them. */
  private syncClusterNamespaces(): void {
    const cw = this.clusterWide;
    if (!cw || !cw.deployment.listed || !cw.pods.listed) return;
    const present = new Set<string>();
    for (const d of cw.deployment.list(undefined)) present.add(d.namespace);
    for (const p of cw.pods.list(undefined)) present.add(p.namespace);
    for (let i = this.namespaces.length - 1; i >= 0; i--) {
      const ns = this.namespaces[i]!;
      if (present.has(ns.namespace)) continue;
      for (const f of ns.configMaps.values()) f.stop();
      this.namespaces.splice(i, 1);
      this.keys.delete(ns.namespace);
      if (this.installs.has(ns.namespace)) {
        const next = new Map(this.installs);
        next.delete(ns.namespace);
        this.installs = next;
        this.installsChanged = true;
      }
    }
    const known = new Set(this.namespaces.map((n) => n.namespace));
    for (const namespace of [...present].sort()) if (!known.has(namespace)) this.namespaceFeeds(namespace, cw.deployment, cw.pods);
  }

  /** The installs as last computed (namespaces without an MLRun API, or not synced yet, are absent). */
  current(): ReadonlyMap<string, MlrunInstall> {
    return this.installs;
  }

  status(): DiscoveryStatus {
    return { ...this.statusValue, counts: { ...this.counts } };
  }

  // --- called by feeds -----------------------------------------------------------------------------------------

  schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    // After ListWatch has applied a list or event to its cache (it does so right after our callbacks/list return).
    setImmediate(() => {
      this.scheduled = false;
      if (!this.stopped) this.recompute();
    });
  }

  sawEvent(): void {
    if (this.statusValue.synced) this.statusValue.lastSyncAt = this.iso();
  }

  recordError(object: string, message: string): void {
    this.statusValue.lastError = { at: this.iso(), object, message };
  }

  statusChanged(): void {
    if (this.stopped) return;
    const feeds = this.allFeeds();
    let state: DiscoveryState = 'ok';
    for (const f of feeds) if (STATE_RANK[f.state] > STATE_RANK[state]) state = f.state;
    // Synced only once the installs reflect every list: a recompute still scheduled may start more informers.
    const synced = !this.scheduled && feeds.length > 0 && feeds.every((f) => f.listed && f.state === 'ok');
    const prev = this.statusValue;
    const now = this.iso();
    if (synced) this.statusValue.lastSyncAt = now;
    if (prev.state === state && prev.synced === synced) return;
    this.statusValue = {
      ...prev,
      state,
      synced,
      since: prev.state === state ? prev.since : now,
      firstSyncAt: prev.firstSyncAt ?? (synced ? now : undefined),
    };
    try {
      this.opts.onStatus?.(this.status());
    } catch {
      /* a consumer's error must not stop discovery */
    }
  }

  // --- computing ----------------------------------------------------------------------------------------------

  private allFeeds(): Feed<unknown>[] {
    const out = new Set<Feed<unknown>>();
    if (this.clusterWide) out.add(this.clusterWide.deployment as Feed<unknown>).add(this.clusterWide.pods as Feed<unknown>);
    for (const ns of this.namespaces) {
      out.add(ns.deployment as Feed<unknown>).add(ns.pods as Feed<unknown>);
      for (const f of ns.configMaps.values()) out.add(f as Feed<unknown>);
    }
    return [...out];
  }

  private recompute(): void {
    this.installsChanged = false;
    this.syncClusterNamespaces();
    let changed = this.installsChanged;
    const nowMs = this.clock();
    for (const ns of this.namespaces) {
      const install = this.computeNamespace(ns, nowMs);
      if (install === 'not-synced') continue;
      const key = install === undefined ? '' : JSON.stringify({ ...install, observedAt: '' });
      if ((this.keys.get(ns.namespace) ?? '') === key) continue;
      changed = true;
      this.keys.set(ns.namespace, key);
      const next = new Map(this.installs);
      if (install) next.set(ns.namespace, install);
      else next.delete(ns.namespace);
      this.installs = next;
    }
    this.statusChanged();
    if (!changed) return;
    try {
      this.opts.onChange?.(this.installs);
    } catch {
      /* a consumer's error must not stop discovery */
    }
  }

  private computeNamespace(ns: NamespaceFeeds, nowMs: number): MlrunInstall | undefined | 'not-synced' {
    if (!ns.deployment.listed || !ns.pods.listed) return 'not-synced';
    const deployment = ns.deployment.get(this.deploymentName, ns.namespace);
    const pods = ns.pods.list(ns.namespace);
    const live = livePods(pods);
    const wanted = new Set<string>(referencedConfigMaps(deployment?.container));
    for (const p of live) for (const n of referencedConfigMaps(p.container)) wanted.add(n);
    const names = [...wanted].sort();
    ns.dropped = names.slice(this.maxConfigMaps);
    const watched = new Set(names.slice(0, this.maxConfigMaps));
    for (const [name, feed] of ns.configMaps) {
      if (watched.has(name)) continue;
      feed.stop();
      ns.configMaps.delete(name);
      ns.histories.delete(name);
    }
    let ready = true;
    for (const name of watched) {
      let feed = ns.configMaps.get(name);
      if (!feed) {
        feed = this.configMapFeed(ns.namespace, name);
        ns.configMaps.set(name, feed);
        feed.start();
        this.statusChanged();
      }
      if (!feed.listed) ready = false;
    }
    // Keep the last install until every referenced ConfigMap has been listed: never emit a half-read one.
    if (!ready) return 'not-synced';
    const podStarts = live.map((p) => p.startedAtMs);
    for (const name of watched) {
      const data = ns.configMaps.get(name)!.get(name, ns.namespace);
      ns.histories.set(name, pruneHistory(observeConfigMap(ns.histories.get(name), data, nowMs), podStarts));
    }
    const install = computeInstall({ namespace: ns.namespace, deployment, pods, configMaps: ns.histories }, nowMs, {
      deployment: this.deploymentName,
      container: this.containerName,
    });
    if (install && ns.dropped.length > 0) {
      install.problems.push(
        `more than ${this.maxConfigMaps} ConfigMaps referenced; not watched (read as missing): ${ns.dropped.join(', ')}`,
      );
    }
    return install;
  }

  private configMapFeed(namespace: string, name: string): Feed<ConfigMapView> {
    const fieldSelector = `metadata.name=${name}`;
    return new Feed<ConfigMapView>(this, {
      what: `ConfigMap ${namespace}/${name}`,
      path: `/api/v1/namespaces/${namespace}/configmaps`,
      fieldSelector,
      list: () => this.core.listNamespacedConfigMap({ namespace, fieldSelector }),
      view: configMapData,
    });
  }

  private iso(): string {
    return new Date(this.clock()).toISOString();
  }
}
