/**
 * `mlrun-image-webhook serve`: config watcher + HTTPS admission server + health/metrics port + signal handling.
 *
 * Signals: SIGTERM/SIGINT shut down gracefully (a second one forces), SIGHUP reloads config and certificate now.
 * Exit codes (one rule for every command: 0 done, 1 a document/input failed, 2 usage or configuration error):
 * 0 after a graceful shutdown; 2 for bad options or a bad initial config; 1 when the server cannot start for
 * another reason (unusable certificate, port taken) or the shutdown had to be forced.
 */
import type { DestinationStream } from 'pino';
import type { LoadResult } from '../config/load.js';
import type { Runtime } from '../config/runtime.js';
import { ConfigWatcher, type ReloadResult } from '../config/watch.js';
import { DEFAULT_SHUTDOWN_TIMEOUT_MS, startServer, type RunningServer } from '../server/app.js';
import { createLogger, errorFields, setLogLevel, type Logger } from '../telemetry/logger.js';
import { createMetrics, type Metrics } from '../telemetry/metrics.js';
import { parseArgs, UsageError } from './args.js';

export const SERVE_USAGE = `Usage: mlrun-image-webhook serve [options]

Runs the mutating admission webhook: POST /mutate over HTTPS (HTTP/2 and HTTP/1.1), and /healthz, /readyz and
/metrics over plain HTTP on the health port. The config file and the certificate files are reloaded when they
change; a bad new version is refused and the previous one keeps serving.

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
  -h, --help           show this help`;

const VALUE_OPTIONS = ['config', 'port', 'health-port', 'host', 'tls-cert', 'tls-key', 'drain-delay'] as const;

/** Hard limit from the first signal to exit; below Kubernetes' default terminationGracePeriodSeconds (30 s). */
export const SHUTDOWN_DEADLINE_MS = DEFAULT_SHUTDOWN_TIMEOUT_MS;

export interface ServeOptions {
  configFile: string | undefined;
  port: number;
  healthPort: number;
  host: string | undefined;
  tls: { certFile: string; keyFile: string } | undefined;
  drainDelayMs: number;
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
  return {
    configFile,
    port,
    healthPort,
    host,
    tls: certFile !== undefined && keyFile !== undefined ? { certFile, keyFile } : undefined,
    drainDelayMs,
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
  const watcher = new ConfigWatcher({
    file: options.configFile,
    env: process.env,
    onReload: (result) => onConfigReload(result, options.configFile, logger, metrics),
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

  let server: RunningServer;
  try {
    server = await startServer({
      config: watcher,
      logger,
      metrics,
      host: options.host,
      port: options.port,
      healthPort: options.healthPort,
      tls: options.tls,
      // The graceful close gives up a little before the hard deadline, so it can still log and exit cleanly.
      shutdownTimeoutMs: Math.max(1_000, SHUTDOWN_DEADLINE_MS - options.drainDelayMs - 2_000),
    });
  } catch (err) {
    const e = errorFields(err);
    stderr.write(`error: cannot start the server: ${e.message}\n`);
    logger.fatal({ err: e }, 'cannot start the server');
    watcher.stop();
    return 1;
  }
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
  watcher.stop();
  return code;
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
