/**
 * `mlrun-image-webhook serve`, the composition root: config watcher → RuntimeSet (static config + the installs
 * discovery finds) → HTTPS admission server (+ the mirror service for registry look-ups) + health/metrics port +
 * signal handling. Readiness waits for discovery's first sync at start only, at most discovery.syncTimeoutSeconds.
 *
 * Signals: SIGTERM/SIGINT shut down gracefully (a second one forces), SIGHUP reloads config and certificate now.
 * Exit codes (one rule for every command: 0 done, 1 a document/input failed, 2 usage or configuration error):
 * 0 after a graceful shutdown; 2 for bad options or a bad initial config; 1 when the server cannot start for
 * another reason (unusable certificate, port taken) or the shutdown had to be forced.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { DestinationStream } from 'pino';
import type { DiscoveryStatus, InstallWatcher } from '../cluster/watch.js';
import type { LoadResult } from '../config/load.js';
import { RuntimeSet, type InstallEvent } from '../config/runtime-set.js';
import type { Runtime } from '../config/runtime.js';
import type { Config } from '../config/schema.js';
import { ConfigWatcher, type ReloadResult } from '../config/watch.js';
import type { MirrorService, RoundResult } from '../registry/mirror.js';
import { DEFAULT_SHUTDOWN_TIMEOUT_MS, startServer, type RegistryLookups, type RunningServer } from '../server/app.js';
import { createLogger, errorFields, setLogLevel, type Logger } from '../telemetry/logger.js';
import { createMetrics, type InstallInfo, type Metrics, type RegistryRequestKind } from '../telemetry/metrics.js';
import { parseArgs, UsageError } from './args.js';

export const SERVE_USAGE = `Usage: mlrun-image-webhook serve [options]

Runs the mutating admission webhook: POST /mutate and POST /mutate/production (the production policy) over HTTPS
(HTTP/2 and HTTP/1.1), and /healthz, /readyz and /metrics over plain HTTP on the health port. The config file and
the certificate files are reloaded when they change; a bad new version is refused and the previous one keeps
serving. With discovery.enabled it follows the cluster's MLRun install(s); with mirror.enabled it checks what the
mirror registry holds.

Options:
  --config FILE        config file (YAML or JSON); default: built-in defaults and MLRUN_* environment variables
  --port PORT          HTTPS port (default 8443)
  --health-port PORT   plain-HTTP port for /healthz, /readyz, /metrics (default 8080)
  --host HOST          address to listen on (default: all, IPv6 and IPv4 as "::" dual-stack, or 0.0.0.0 without IPv6)
  --tls-cert FILE      serving certificate (PEM, leaf first); needs --tls-key
  --tls-key FILE       its private key (PEM); needs --tls-cert
                       without both: a development CA and certificate for localhost are generated in the temp dir
  --drain-delay SECS   on SIGTERM, report not-ready and keep serving this long before closing, so the Service
                       stops routing here first (default 5, at most 20; SIGINT does not wait)
  --kubeconfig FILE    for discovery (config discovery.enabled): the Kubernetes API credentials; default
                       $KUBECONFIG, ~/.kube/config, else the Pod's service account (in-cluster)
  -h, --help           show this help`;

const VALUE_OPTIONS = ['config', 'port', 'health-port', 'host', 'tls-cert', 'tls-key', 'drain-delay', 'kubeconfig'] as const;

/** Hard limit from the first signal to exit; below Kubernetes' default terminationGracePeriodSeconds (30 s). */
export const SHUTDOWN_DEADLINE_MS = DEFAULT_SHUTDOWN_TIMEOUT_MS;

export interface ServeOptions {
  configFile: string | undefined;
  port: number;
  healthPort: number;
  host: string | undefined;
  tls: { certFile: string; keyFile: string } | undefined;
  drainDelayMs: number;
  /** Only when given: the default loading order otherwise. */
  kubeconfig?: string;
}

/** Parses serve's arguments; throws UsageError with a message fit for the user. */
export function parseServeArgs(argv: string[]): ServeOptions {
  const args = parseArgs(argv, VALUE_OPTIONS, []);
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(args.positionals[0])}`);
  const v = args.values;
  const certFile = v.get('tls-cert');
  const keyFile = v.get('tls-key');
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new UsageError(certFile === undefined ? '--tls-key needs --tls-cert' : '--tls-cert needs --tls-key');
  }
  if (certFile === '' || keyFile === '') throw new UsageError('--tls-cert and --tls-key need a file name');
  const configFile = v.get('config');
  if (configFile === '') throw new UsageError('--config needs a file name');
  const host = v.get('host');
  if (host === '') throw new UsageError('--host needs an address');
  const drain = v.get('drain-delay') ?? '5';
  // At most 20 s: drain and close must fit in the 25 s shutdown deadline.
  if (!/^\d+(\.\d+)?$/.test(drain) || Number(drain) > 20) {
    throw new UsageError(`--drain-delay must be a number of seconds from 0 to 20, got ${JSON.stringify(drain)}`);
  }
  const drainDelayMs = Math.round(Number(drain) * 1000);
  const port = parsePort('port', v.get('port'), 8443);
  const healthPort = parsePort('health-port', v.get('health-port'), 8080);
  if (port !== 0 && port === healthPort) throw new UsageError('--port and --health-port must differ');
  const kubeconfig = v.get('kubeconfig');
  if (kubeconfig === '') throw new UsageError('--kubeconfig needs a file name');
  return {
    configFile,
    port,
    healthPort,
    host,
    tls: certFile !== undefined && keyFile !== undefined ? { certFile, keyFile } : undefined,
    drainDelayMs,
    ...(kubeconfig !== undefined ? { kubeconfig } : {}),
  };
}

function parsePort(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) {
    throw new UsageError(`--${name} must be a port number from 0 to 65535, got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

/** For tests: observe the running server, capture logs, keep the process alive on a forced exit. */
export interface ServeHooks {
  onListening?(server: RunningServer): void;
  logDestination?: DestinationStream;
  /** Called on a forced exit after a short grace for logs; default process.exit. */
  exit?(code: number): void;
  stderr?: { write(text: string): unknown };
  /** Where SIGTERM, SIGINT and SIGHUP come from; default process. Tests emit on their own emitter. */
  signals?: Pick<NodeJS.EventEmitter, 'on' | 'off'>;
  /** Discovery's restart backoff (tests make it short). */
  discoveryBackoff?: { initialMs?: number; maxMs?: number };
}

export async function runServe(argv: string[], hooks: ServeHooks = {}): Promise<number> {
  const stderr = hooks.stderr ?? process.stderr;
  let options: ServeOptions;
  try {
    options = parseServeArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      stderr.write(`error: ${err.message}\n\n${SERVE_USAGE}\n`);
      return 2;
    }
    throw err;
  }

  const logger = createLogger({ destination: hooks.logDestination });
  const metrics = createMetrics();
  // Set once the initial config is in: reloads before that cannot happen (the watcher starts with start()).
  let composition: Composition | undefined;
  // Reloads are applied in order, one after the other: a reload that switches registry look-ups on first loads the
  // registry client, so that 'config reloaded' is logged once the config is in force (a Pod admitted right after
  // it is pinned by digest), not while the client is still loading.
  let reloads: Promise<void> = Promise.resolve();
  const watcher = new ConfigWatcher({
    file: options.configFile,
    env: process.env,
    onReload: (result) => {
      reloads = reloads.then(async () => {
        // A failed load is reported by the mirror link when it applies the config.
        if (result.ok && mirrorWanted(result.runtime.config)) await mirrorCode.load().catch(() => undefined);
        onConfigReload(result, options.configFile, logger, metrics);
        if (result.ok) composition?.reload(result.runtime);
      }).catch((err: unknown) => logger.error({ err: errorFields(err) }, 'applying the reloaded config failed'));
    },
    onWarning: (message) => logger.warn({ file: options.configFile }, message),
  });

  const initial: LoadResult = watcher.start();
  if (!initial.ok) {
    const lines = initial.problems.map((p) => `  ${p.key}: ${p.reason}`).join('\n');
    stderr.write(`error: the config${describeSource(initial.source)} is invalid; not starting:\n${lines}\n`);
    logger.fatal({ source: initial.source, problems: initial.problems }, 'invalid config; not starting');
    watcher.stop();
    return 2;
  }
  setLogLevel(logger, initial.runtime.config.log.level);
  logConfig(logger, 'config loaded', initial.runtime, initial.source);
  try {
    // The registry client and the catalogue: loaded only when the config needs registry look-ups.
    if (mirrorWanted(initial.runtime.config)) await mirrorCode.load();
  } catch (err) {
    const e = errorFields(err);
    stderr.write(`error: cannot load the registry client: ${e.message}\n`);
    logger.fatal({ err: e }, 'cannot load the registry client; not starting');
    watcher.stop();
    return 1;
  }

  try {
    // The Kubernetes client costs about 50 MiB of RSS: loaded only when discovery is on.
    if (initial.runtime.config.discovery.enabled) await discoveryCode.load();
    composition = new Composition(initial.runtime, { logger, metrics, kubeconfig: options.kubeconfig, backoff: hooks.discoveryBackoff });
  } catch (err) {
    const e = errorFields(err);
    stderr.write(`error: ${e.message}\n`);
    logger.fatal({ err: e }, 'cannot start discovery; not starting');
    watcher.stop();
    return 2;
  }
  const parts = composition;

  let server: RunningServer;
  try {
    server = await startServer({
      config: parts.runtimes,
      logger,
      metrics,
      host: options.host,
      port: options.port,
      healthPort: options.healthPort,
      tls: options.tls,
      // The graceful close gives up a little before the hard deadline, so it can still log and exit cleanly.
      shutdownTimeoutMs: Math.max(1_000, SHUTDOWN_DEADLINE_MS - options.drainDelayMs - 2_000),
      registry: () => parts.mirror.lookups(),
      budgetMs: () => parts.runtimes.staticRuntime.config.mirror.budgetMs,
      readinessGate: () => parts.discovery.readinessProblem(),
    });
  } catch (err) {
    const e = errorFields(err);
    stderr.write(`error: cannot start the server: ${e.message}\n`);
    logger.fatal({ err: e }, 'cannot start the server');
    parts.stop();
    watcher.stop();
    return 1;
  }
  parts.mirror.start();
  hooks.onListening?.(server);

  const code = await new Promise<number>((resolve) => {
    let signals = 0;
    const signalSource = hooks.signals ?? process;
    const finish = (exitCode: number) => {
      signalSource.off('SIGTERM', onSignal);
      signalSource.off('SIGINT', onSignal);
      signalSource.off('SIGHUP', onHangup);
      resolve(exitCode);
    };
    let drainTimer: NodeJS.Timeout | undefined;
    let deadline: NodeJS.Timeout | undefined;
    const force = (why: string) => {
      logger.error({ why }, 'forcing exit');
      clearTimeout(drainTimer);
      clearTimeout(deadline);
      server.forceClose();
      void server.close();
      finish(1);
      // Something may still hold the event loop (a stuck socket): leave anyway once logs are flushed.
      const exit = hooks.exit ?? ((c: number) => process.exit(c));
      setTimeout(() => exit(1), 1_000).unref();
    };
    function onSignal(signal: NodeJS.Signals) {
      signals++;
      if (signals > 1) return force(`second signal (${signal})`);
      const drainDelayMs = signal === 'SIGTERM' ? options.drainDelayMs : 0;
      logger.info({ signal, drainDelayMs }, 'shutting down: not ready, draining in-flight requests');
      server.markNotReady('shutting down');
      deadline = setTimeout(() => force(`shutdown took longer than ${SHUTDOWN_DEADLINE_MS} ms`), SHUTDOWN_DEADLINE_MS);
      deadline.unref();
      const drained = new Promise<void>((resolve) => (drainTimer = setTimeout(resolve, drainDelayMs)));
      const closing = drained.then(() => server.close());
      closing.then(
        () => {
          clearTimeout(deadline);
          logger.info('shut down');
          finish(0);
        },
        (err: unknown) => {
          clearTimeout(deadline);
          logger.error({ err: errorFields(err) }, 'error during shutdown');
          finish(1);
        },
      );
    }
    // SIGHUP: re-read config and certificate now instead of waiting for the watchers.
    function onHangup() {
      logger.info('SIGHUP: reloading config and certificate');
      watcher.reload();
      void server.tls.reload();
    }
    signalSource.on('SIGTERM', onSignal);
    signalSource.on('SIGINT', onSignal);
    signalSource.on('SIGHUP', onHangup);
  });
  parts.stop();
  watcher.stop();
  return code;
}

interface CompositionDeps {
  logger: Logger;
  metrics: Metrics;
  kubeconfig: string | undefined;
  backoff: { initialMs?: number; maxMs?: number } | undefined;
}

/**
 * The parts that follow the cluster and the registries around the static config: the RuntimeSet the server asks
 * per request, discovery feeding it, and the mirror service. A config reload rebuilds what depends on it.
 */
class Composition {
  readonly runtimes: RuntimeSet;
  readonly discovery: DiscoveryLink;
  readonly mirror: MirrorLink;

  constructor(initial: Runtime, private readonly deps: CompositionDeps) {
    this.runtimes = new RuntimeSet(initial);
    this.mirror = new MirrorLink(deps, this.runtimes);
    this.discovery = new DiscoveryLink(deps, this.runtimes, () => this.installsChanged());
    this.discovery.apply(initial.config, true);
    this.mirror.apply();
    this.updateInstallMetrics();
  }

  /** A new static config: every install is rebuilt on it, discovery and mirror follow their sections. */
  reload(runtime: Runtime): void {
    logInstallEvents(this.deps.logger, this.deps.metrics, this.runtimes.setStatic(runtime));
    const applyDiscovery = () => {
      try {
        this.discovery.apply(runtime.config, false);
      } catch (err) {
        // Only a kubeconfig that cannot be loaded gets here (discovery switched on by this reload).
        this.deps.logger.error({ err: errorFields(err) }, 'discovery cannot start; Pods resolve with the static config');
      }
    };
    if (runtime.config.discovery.enabled && !discoveryCode.loaded) {
      // Switched on by this reload: load the Kubernetes client first (the static config serves meanwhile).
      discoveryCode.load().then(
        () => {
          if (this.runtimes.staticRuntime === runtime) applyDiscovery();
          this.installsChanged();
        },
        (err: unknown) => this.deps.logger.error({ err: errorFields(err) }, 'discovery cannot start; Pods resolve with the static config'),
      );
    } else {
      applyDiscovery();
    }
    this.installsChanged();
  }

  stop(): void {
    this.discovery.stop();
    this.mirror.stop();
  }

  private installsChanged(): void {
    this.updateInstallMetrics();
    this.mirror.apply();
  }

  private updateInstallMetrics(): void {
    const { metrics } = this.deps;
    const config = this.runtimes.staticRuntime.config;
    if (!config.discovery.enabled) {
      metrics.setInstalls([]);
      metrics.setDiscoveryPendingChanges(0);
      return;
    }
    metrics.setInstalls(installInfo(this.runtimes, config));
    metrics.setDiscoveryPendingChanges(this.runtimes.pendingChanges());
  }
}

/** install_info: each followed namespace (configured or discovered), its version and where its settings come from. */
export function installInfo(runtimes: RuntimeSet, config: Config): InstallInfo[] {
  const own = new Map<string, string | undefined>();
  for (const st of runtimes.states()) own.set(st.namespace, st.version);
  const namespaces = new Set<string>([...config.discovery.namespaces.filter((n) => n !== '*'), ...own.keys()]);
  const out: InstallInfo[] = [];
  for (const namespace of [...namespaces].sort()) {
    const runtime = runtimes.forNamespace(namespace);
    const version = runtime.config.mlrun.version;
    if (own.get(namespace) !== undefined) out.push({ namespace, version, source: 'discovered' });
    else out.push({ namespace, version, source: runtime === runtimes.staticRuntime ? 'static' : 'default-install' });
  }
  return out;
}

/** One line per adopted, refused, removed or pending change; refusals are counted. */
function logInstallEvents(logger: Logger, metrics: Metrics, events: readonly InstallEvent[]): void {
  for (const e of events) {
    const fields = { namespace: e.namespace, source: e.source, changes: e.changes.length > 0 ? e.changes : undefined };
    switch (e.kind) {
      case 'adopted':
        logger.info({ ...fields, notes: e.notes && e.notes.length > 0 ? e.notes : undefined }, 'MLRun install adopted: Pods of this namespace now resolve with these settings');
        break;
      case 'refused':
        metrics.recordDiscoveryRefusal();
        logger.error({ ...fields, problems: e.problems }, 'MLRun install refused; the last good settings keep serving');
        break;
      case 'removed':
        logger.info(fields, 'MLRun install gone: Pods of this namespace resolve with the default install or the static config');
        break;
      case 'pending':
        logger.warn(fields, 'MLRun install change pending: MLRun applies it when its API Pod restarts; until then Pods keep the current settings');
        break;
    }
  }
}

/**
 * Discovery: an InstallWatcher over the configured namespaces feeding the RuntimeSet. Readiness waits for its
 * first sync at start, at most discovery.syncTimeoutSeconds; from then on it never depends on discovery.
 */
class DiscoveryLink {
  private watcher: InstallWatcher | undefined;
  private settingsKey: string | undefined;
  private kubeConfig: KubeConfig | undefined;
  /** The start-up wait: pending until the first sync or the timeout, then done for good. */
  private gate: { reason: string; timer: NodeJS.Timeout } | undefined;
  private lastLogged: string | undefined;

  constructor(
    private readonly deps: CompositionDeps,
    private readonly runtimes: RuntimeSet,
    private readonly changed: () => void,
  ) {}

  /** Starts, restarts (watched objects changed) or stops the watcher for `config`. Throws on an unusable kubeconfig. */
  apply(config: Config, atStart: boolean): void {
    const d = config.discovery;
    const key = d.enabled ? JSON.stringify([d.namespaces, d.deployment, d.container, d.podSelector]) : undefined;
    if (key === this.settingsKey) return;
    const { logger, metrics } = this.deps;
    this.stopWatcher();
    this.settingsKey = key;
    if (!d.enabled) {
      if (!atStart) {
        // Forget what was discovered: with discovery off only the static config applies.
        this.runtimes.update(new Map());
        logger.info('discovery switched off: every Pod resolves with the static config');
      }
      metrics.watchDiscovery(undefined);
      return;
    }
    this.kubeConfig ??= loadKubeConfig(this.deps.kubeconfig);
    const watcher = new (discoveryCode.get().InstallWatcher)({
      kubeConfig: this.kubeConfig,
      namespaces: d.namespaces,
      deploymentName: d.deployment,
      containerName: d.container,
      podSelector: d.podSelector,
      ...(this.deps.backoff ? { backoff: this.deps.backoff } : {}),
      onChange: (installs) => {
        if (this.watcher !== watcher) return;
        logInstallEvents(logger, metrics, this.runtimes.update(installs));
        this.changed();
      },
      onStatus: (status) => {
        if (this.watcher === watcher) this.statusChanged(status);
      },
    });
    this.watcher = watcher;
    metrics.watchDiscovery(() => {
      const st = watcher.status();
      return { state: st.state, counts: st.counts, lastSyncAt: st.lastSyncAt };
    });
    logger.info(
      { namespaces: d.namespaces, deployment: d.deployment, container: d.container, podSelector: d.podSelector, cluster: this.kubeConfig.getCurrentCluster()?.server },
      atStart ? 'discovery starting' : 'discovery restarting with new settings',
    );
    if (atStart && d.syncTimeoutSeconds === 0) {
      logger.info('discovery.syncTimeoutSeconds is 0: ready on the static config without waiting for the first sync');
    } else if (atStart) {
      const seconds = d.syncTimeoutSeconds;
      const timer = setTimeout(() => {
        if (!this.gate) return;
        this.gate = undefined;
        const st = this.watcher?.status();
        logger.warn(
          { timeoutSeconds: seconds, state: st?.state, lastError: st?.lastError },
          `discovery did not sync within ${seconds} s: ready on the static config; discovered settings are adopted when the sync succeeds`,
        );
      }, seconds * 1000);
      timer.unref();
      this.gate = { reason: `waiting for the first discovery sync (at most ${seconds} s)`, timer };
    }
    watcher.start();
  }

  /** Why not ready yet (start-up only), or undefined. */
  readinessProblem(): string | undefined {
    return this.gate?.reason;
  }

  stop(): void {
    this.stopWatcher();
    this.deps.metrics.watchDiscovery(undefined);
  }

  private stopWatcher(): void {
    if (this.gate) clearTimeout(this.gate.timer);
    this.gate = undefined;
    this.watcher?.stop();
    this.watcher = undefined;
    this.lastLogged = undefined;
  }

  /** One line per state change (the watcher reports only changes), and the end of the start-up wait. */
  private statusChanged(status: DiscoveryStatus): void {
    const { logger } = this.deps;
    if (status.synced && this.gate) {
      clearTimeout(this.gate.timer);
      this.gate = undefined;
      logger.info({ installs: this.runtimes.states().map((s) => ({ namespace: s.namespace, version: s.version })) }, 'discovery synced: ready');
    }
    const what = status.synced ? 'synced' : status.state;
    if (what === this.lastLogged || what === 'starting') return;
    const first = this.lastLogged === undefined;
    this.lastLogged = what;
    if (status.state === 'ok') {
      if (!first) logger.info({ state: status.state, synced: status.synced }, 'discovery recovered');
      return;
    }
    logger.warn(
      { state: status.state, since: status.since, lastError: status.lastError },
      `discovery ${status.state}: admissions use the last good settings`,
    );
  }
}

/**
 * Code loaded on first need: import() runs at most once, and a failed load stays failed (a module that cannot be
 * imported is a broken image, which a retry does not mend).
 */
class LazyModules<T> {
  private value: T | undefined;
  private loading: Promise<void> | undefined;

  constructor(
    private readonly what: string,
    private readonly importAll: () => Promise<T>,
  ) {}

  load(): Promise<void> {
    this.loading ??= this.importAll().then((v) => {
      this.value = v;
    });
    return this.loading;
  }

  get loaded(): boolean {
    return this.value !== undefined;
  }

  get(): T {
    if (this.value === undefined) throw new Error(`internal: ${this.what} used before its modules were loaded`);
    return this.value;
  }
}

/** The Kubernetes client and the install watcher: loaded before any discovery code runs. */
const discoveryCode = new LazyModules('discovery', async () => {
  const [k8s, watch] = await Promise.all([import('@kubernetes/client-node'), import('../cluster/watch.js')]);
  return { KubeConfig: k8s.KubeConfig, InstallWatcher: watch.InstallWatcher };
});

/** Whether the Kubernetes client was loaded (tests: it must not be when discovery is off). */
export function discoveryLoaded(): boolean {
  return discoveryCode.loaded;
}

function loadKubeConfig(file: string | undefined): KubeConfig {
  const kc = new (discoveryCode.get().KubeConfig)();
  try {
    if (file !== undefined) kc.loadFromFile(file);
    else kc.loadFromDefault();
  } catch (err) {
    throw new Error(`cannot load the kubeconfig${file ? ` ${file}` : ''}: ${errorFields(err).message}`);
  }
  if (!kc.getCurrentCluster()) throw new Error(`the kubeconfig${file ? ` ${file}` : ''} has no current cluster`);
  return kc;
}

/**
 * The mirror service for the configured registries (the images and vendor registries of the static config and of
 * every discovered install, and policy.digestRegistries), when mirror.enabled (look-ups and background rounds) or
 * policy.pinDigests is resolve (look-ups only). Rebuilt when they or the mirror section change.
 */
class MirrorLink {
  private service: MirrorService | undefined;
  private key: string | undefined;
  private started = false;
  private stopped = false;
  private lastMissing: string | undefined;

  constructor(
    private readonly deps: CompositionDeps,
    private readonly runtimes: RuntimeSet,
  ) {}

  /** What the server asks; undefined while the mirror is off. */
  lookups(): RegistryLookups | undefined {
    return this.service;
  }

  start(): void {
    this.started = true;
    if (this.runtimes.staticRuntime.config.mirror.enabled) this.service?.start();
  }

  stop(): void {
    this.started = false;
    this.stopped = true;
    this.service?.close();
  }

  apply(): void {
    if (this.stopped) return;
    const config = this.runtimes.staticRuntime.config;
    const m = config.mirror;
    const wanted = mirrorWanted(config);
    if (wanted && !mirrorCode.loaded) {
      // Switched on by a reload: load the registry client first (no look-ups meanwhile), then apply again with the
      // config current by then (another reload may have come in).
      mirrorCode.load().then(
        () => this.apply(),
        (err: unknown) => this.deps.logger.error({ err: errorFields(err) }, 'mirror checks off: the registry client cannot be loaded'),
      );
      return;
    }
    const registries = wanted ? this.registries(config) : [];
    const key = wanted ? JSON.stringify([m, config.policy.pinDigests, registries]) : undefined;
    if (key === this.key) return;
    this.key = key;
    const { logger, metrics } = this.deps;
    this.service?.close();
    this.service = undefined;
    this.lastMissing = undefined;
    metrics.setMirrorImages({ present: 0, missing: 0, unknown: 0 });
    if (!wanted) return;
    const { createMirrorService, readKeyringFiles } = mirrorCode.get();
    const keyring = readKeyringFiles(m.pullSecretFiles);
    if (keyring.problems.length > 0) logger.warn({ problems: keyring.problems }, 'mirror: some pull secret files are not used');
    const created = createMirrorService({
      registries,
      insecureRegistries: m.insecureRegistries,
      ...(m.caFile ? { caFile: m.caFile } : {}),
      keyring: keyring.keyring,
      timeoutMs: m.timeoutMs,
      concurrency: m.concurrency,
      presentTtlMs: m.presentTtlSeconds * 1000,
      missingTtlMs: m.missingTtlSeconds * 1000,
      cacheEntries: m.cacheEntries,
      intervalMs: m.intervalSeconds * 1000,
      catalogue: () => this.catalogue(),
      onRound: (round) => this.round(round),
      onRequest: (e) => metrics.recordRegistryRequest({ ...e, kind: e.kind as RegistryRequestKind }),
    });
    if (!created.ok) {
      logger.error({ problems: created.problems }, 'mirror checks off: the mirror settings cannot be used');
      return;
    }
    this.service = created.service;
    if (m.enabled) {
      logger.info({ registries, intervalSeconds: m.intervalSeconds, budgetMs: m.budgetMs, missing: m.missing }, 'mirror checks on');
      if (this.started) this.service.start();
    } else {
      logger.info({ registries, budgetMs: m.budgetMs }, 'registry look-ups on for digest pinning (policy.pinDigests: resolve); mirror checks off');
    }
  }

  /** Every registry Pods may be rewritten to, and the digest registries; nothing a Pod author chooses. */
  private registries(config: Config): string[] {
    const out = new Set<string>();
    const add = (r: string) => {
      if (r !== '') out.add(r);
    };
    for (const rt of this.runtimesInUse()) {
      add(rt.config.mlrun.imagesRegistry);
      add(rt.config.mlrun.vendorImagesRegistry);
    }
    for (const r of config.policy.digestRegistries) add(r);
    return [...out].sort();
  }

  /** The static runtime and each discovered namespace's, without repeats. */
  private runtimesInUse(): Runtime[] {
    const out = new Set<Runtime>([this.runtimes.staticRuntime]);
    for (const st of this.runtimes.states()) out.add(this.runtimes.forNamespace(st.namespace));
    return [...out];
  }

  /** Mirror names of the catalogue of every MLRun version (and settings) in use. */
  private catalogue(): string[] {
    const images = new Set<string>();
    const failures: string[] = [];
    const pythons = this.runtimes.staticRuntime.config.mirror.pythonVersions;
    const { catalogueFor } = mirrorCode.get();
    for (const rt of this.runtimesInUse()) {
      const c = catalogueFor(rt, pythons);
      if (!c.ok) {
        failures.push(`${rt.config.mlrun.version}: ${c.reason}`);
        continue;
      }
      for (const e of c.entries) if (e.mirror) images.add(e.mirror);
    }
    if (images.size === 0 && failures.length > 0) throw new Error(failures.join('; '));
    return [...images];
  }

  /** Metrics each round; a log line only when the set of missing images changes. */
  private round(r: RoundResult): void {
    const { logger, metrics } = this.deps;
    metrics.setMirrorImages({ present: r.present, missing: r.missing, unknown: r.unknown });
    const missing = `${r.missing}:${r.missingImages.join(',')}`;
    if (missing === this.lastMissing) return;
    this.lastMissing = missing;
    const fields = { present: r.present, missing: r.missing, unknown: r.unknown, catalogueError: r.catalogueError };
    if (r.missing > 0) logger.warn({ ...fields, images: r.missingImages }, 'mirror: images missing from the mirror registry (Pods rewritten to them would not pull)');
    else logger.info(fields, 'mirror: no image known to be missing');
  }
}

/** Digest pinning needs the registry too, with or without the mirror checks (and their background rounds). */
function mirrorWanted(config: Config): boolean {
  return config.mirror.enabled || config.policy.pinDigests === 'resolve';
}

/** The registry client and the catalogue: loaded before a mirror service is built (the chart's defaults never need them). */
const mirrorCode = new LazyModules('the mirror', async () => {
  const [mirror, catalogue] = await Promise.all([import('../registry/mirror.js'), import('./catalogue.js')]);
  return { createMirrorService: mirror.createMirrorService, readKeyringFiles: mirror.readKeyringFiles, catalogueFor: catalogue.catalogueFor };
});

/** Whether the registry client and the catalogue were loaded (tests: not while the config needs no look-ups). */
export function mirrorLoaded(): boolean {
  return mirrorCode.loaded;
}

function onConfigReload(result: ReloadResult, source: string | undefined, logger: Logger, metrics: Metrics): void {
  if (result.ok) {
    metrics.recordConfigReload(true, result.runtime);
    setLogLevel(logger, result.runtime.config.log.level);
    logConfig(logger, 'config reloaded', result.runtime, source);
  } else {
    metrics.recordConfigReload(false);
    logger.error(
      { source, problems: result.problems.map((p) => ({ key: p.key, reason: p.reason })) },
      'new config refused; the previous config keeps serving',
    );
  }
}

function logConfig(logger: Logger, message: string, runtime: Runtime, source: string | undefined): void {
  const { config, resolver, notes } = runtime;
  logger.info(
    {
      source,
      mlrunVersion: config.mlrun.version,
      rules: resolver.rules.label,
      mode: config.webhook.mode,
      imagesRegistry: config.mlrun.imagesRegistry || undefined,
      imagesTag: config.mlrun.imagesTag || undefined,
      notes: notes.length > 0 ? notes : undefined,
    },
    message,
  );
}

function describeSource(source: string | undefined): string {
  return source ? ` (${source})` : '';
}
