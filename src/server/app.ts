/**
 * The HTTP layer: POST /mutate and /mutate/production over HTTPS (HTTP/2 and HTTP/1.1 by ALPN) and a plain-HTTP
 * port for probes and Prometheus. All decisions live in admit(); this file parses, times, logs, counts and
 * answers, and between two admit() passes waits (at most the per-admission budget) for registry look-ups.
 *
 * Registry look-ups: admit() decides from the registry cache only and lists in summary.lookups what the cache did
 * not know. The server then gives the registry what is left of one budget per admission (mirror.budgetMs, counted
 * from the start of the decision), raced against a timer so a registry that hangs or throws cannot delay or fail
 * the answer, and runs admit() once more (final: no further look-ups). The clock, log line and metrics cover both
 * passes once.
 *
 * Timeouts (why these numbers):
 * - kube-apiserver keeps idle webhook connections for about 90 s (Go's http.Transport IdleConnTimeout, used by
 *   both its HTTP/1 and HTTP/2 clients). A server that closes an idle connection first races the client reusing
 *   it, and the request dies with EOF / connection reset (Pepr saw exactly this with Node's 5 s default). So idle
 *   connections live longer here than there: keepAliveTimeout (HTTP/1) and http2SessionTimeout (HTTP/2) = 120 s.
 * - requestTimeout = headersTimeout = 30 s: the API server gives a webhook at most 30 s (timeoutSeconds 1-30), so
 *   a request still arriving after that is of no use to anyone; it only ties up a socket.
 * - connectionTimeout = 0 (no socket inactivity timeout): idle sockets are governed by the two idle timeouts above,
 *   and a socket timeout would cut them short.
 * - Shutdown: Kubernetes waits terminationGracePeriodSeconds (default 30 s) after SIGTERM; we drain for at most
 *   25 s (serve.ts) so that we, not the kubelet's SIGKILL, end the process.
 *
 * Connection limits (limits.ts applies them; each is far above what kube-apiserver sends, which is one request
 * per stream/connection, a body of a few KiB to 3 MiB sent at once, headers under 1 KiB, an answer read at once):
 * - HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS = 250: Go's own HTTP/2 server default. kube-apiserver's client (Go
 *   net/http) honours it and opens another connection when one is full, so the cap never queues it.
 * - maxSessionMemory = 16 MB per HTTP/2 session (Node's default is 10): nghttp2 state, header tables and queued
 *   frames for 250 streams; over it, new streams are refused (ENHANCE_YOUR_CALM), not the process bloated.
 * - SETTINGS_MAX_HEADER_LIST_SIZE = 16 KiB (Node's HTTP/1 maxHeaderSize; the API server sends < 1 KiB of headers),
 *   at most 128 header pairs (Node's default) and 10 outstanding PINGs per session (Node's default).
 * - HTTP/2 flow-control windows: 1 MiB per stream (SETTINGS_INITIAL_WINDOW_SIZE), 2 MiB per connection, where
 *   HTTP/2's default is 64 KiB for both. With 64 KiB a 100 KiB review cost the client waits for WINDOW_UPDATE and
 *   the server a handful of extra frames (and TLS writes) per request: large h2 20-27 % less CPU per request with the
 *   larger windows (docs/performance.md). They add no memory bound of their own: a window only lets in bytes a
 *   stream declared, declared bytes are charged against the body budgets below before any is read, and a body
 *   refused unread (413, 503: not charged) is drained and dropped as it arrives (limits.ts), since a client that
 *   never reads our answer could otherwise keep a window's worth per stream (250 MiB for 250 streams).
 * - Body deadline = 30 s from the headers (both protocols): the largest webhook timeoutSeconds is 30, so a body
 *   still arriving then is of no use to anyone. It is answered 408 and its stream (or connection) closed.
 * - Write deadline = 30 s from handing an answer over: the same reasoning for a client that does not read. The
 *   HTTP/2 stream is reset (CANCEL) or the HTTP/1.1 connection destroyed, which frees the queued answer.
 * - Both deadlines are checked by one sweep per second over the requests in flight (no timer per request): a
 *   deadline fires at most one (body) or two (write) sweep periods late, never early.
 * - Declared body bytes in flight: 12 MiB per connection (4 maximal reviews), 48 MiB in all (16 maximal reviews,
 *   over 1,000 typical ones): beyond that a request gets 503 + Retry-After before its body is read. Together with
 *   the two deadlines this bounds what slow or never-finishing bodies can hold.
 * - Bodies declared over 256 KiB are read and handled one at a time, server-wide, the next waiting unread with its
 *   deadline running (64 may wait, then 503), and the next starts no earlier than the last one took (at most
 *   50 ms) after it: real Pods are a few KiB, and parsing a large review takes the event loop for milliseconds, so
 *   a flood of large reviews gets at most half of the event loop and a normal admission waits behind at most about
 *   one of them.
 * - Bodies over that same 256 KiB are parsed and admitted in a worker thread (off-thread.ts, ADR 0014): the event
 *   loop copies their bytes over and sends the answer the worker wrote, so a review of megabytes no longer holds
 *   every other admission for its JSON.parse.
 * - maxConnections = 512 TLS connections: a few API server replicas each use one HTTP/2 connection (more only when
 *   250 streams are busy) or, over HTTP/1.1, one per in-flight request; idle TLS connections cost ~50-100 KiB, so
 *   512 stays well inside the chart's 256 MiB. Connections over the cap are closed at accept.
 * - New TLS connections (handshakes.ts) are paced: handed to TLS at 100 per second server-wide (4 back to back at
 *   most), in turns by source address, with 32 handshakes in progress per source; the rest wait unread (64 per
 *   source, 256 in all, 3 s at most; over that: reset at accept, before any TLS work). A handshake costs ~0.9 ms of
 *   CPU on the event loop that answers admissions, and kube-apiserver opens a handful of long-lived connections
 *   (re-dials only after a restart), so pacing costs it at most a turn while a connection flood can no longer put
 *   blocks of handshakes in front of an admission.
 * - handshakeTimeout = 10 s (Node's default is 120 s): a connection that never finishes its handshake holds its
 *   slot (and a connection) until then; kube-apiserver's own TLS handshake timeout is 10 s (client-go), so a slower
 *   handshake is of no use to it.
 * - A Content-Length over BODY_LIMIT gets 413 before any body byte is read (also instead of "100 Continue").
 * - Refused connections, stream resets, aborts, timeouts, 413s and 503s are counted in
 *   mlrun_image_webhook_connection_events_total{event} and logged as one summary line per 60 s, never one each.
 */
import { existsSync } from 'node:fs';
import type { Http2SecureServer, Http2Session } from 'node:http2';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import Fastify, {
  errorCodes,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerBase,
} from 'fastify';
import { admitAfterInternalError, admit as defaultAdmit } from '../admission/admit.js';
import type { AdmissionResult, AdmissionSummary, AdmitContext } from '../admission/types.js';
import type { Runtime } from '../config/runtime.js';
import { createLogger, errorFields, onDroppedLines, writeLine, type Logger } from '../telemetry/logger.js';
import { createMetrics, type Metrics } from '../telemetry/metrics.js';
import { notJsonMessage, readJsonBody, requestNamespace } from './body.js';
import { DEFAULT_HANDSHAKE_LIMITS, installHandshakeLimit } from './handshakes.js';
import { http2ServerOptions, installConnectionLimits, JSON_CONTENT_TYPE, type ConnectionLimits } from './limits.js';
import { DEFAULT_OFF_THREAD, OffThreadAdmissions, OffThreadFailure, type OffThreadOptions, type OffThreadSession, type RegistryState } from './off-thread.js';
import { ensureDevCertificates, TlsReloader, type TlsFiles } from './tls.js';

export { jsonProblem, NAMESPACE_MAX, requestNamespace } from './body.js';

export const MUTATE_PATH = '/mutate';
/** The production webhook entry's path (ADR 0008): same admission, with the production policy applied. */
export const PRODUCTION_PATH = '/mutate/production';
const ADMISSION_PATHS = new Set([MUTATE_PATH, PRODUCTION_PATH]);
/** Default per-admission budget for registry look-ups (issue 12: 300 ms, at most a quarter of timeoutSeconds). */
export const DEFAULT_LOOKUP_BUDGET_MS = 300;
/** etcd caps an object at 1.5 MiB and a review carries object and oldObject (UPDATE): 3 MiB covers any real review. */
export const BODY_LIMIT = 3 * 1024 * 1024;
/**
 * JSON body bytes of the admissions one event-loop turn may hold before they are decided (ADR 0016): about ten
 * typical reviews (6.6 KB) per turn; a large one (100 KB) is decided at once, with those queued before it.
 */
export const TURN_BYTES = 64 * 1024;
/** Admissions one turn may hold before they are decided (small reviews): the wait of the last one is bounded. */
export const TURN_ADMISSIONS = 32;
export const KEEP_ALIVE_TIMEOUT_MS = 120_000;
export const HTTP2_SESSION_TIMEOUT_MS = 120_000;
export const REQUEST_TIMEOUT_MS = 30_000;
export const HEADERS_TIMEOUT_MS = 30_000;
export const HANDSHAKE_TIMEOUT_MS = 10_000;
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 25_000;

/** Production connection limits; the reasons are in the header comment. */
export const DEFAULT_LIMITS: Readonly<ConnectionLimits> = Object.freeze({
  maxConcurrentStreams: 250,
  maxSessionMemoryMb: 16,
  maxHeaderListSize: 16 * 1024,
  maxHeaderListPairs: 128,
  maxOutstandingPings: 10,
  streamWindowBytes: 1024 * 1024,
  sessionWindowBytes: 2 * 1024 * 1024,
  maxConnections: 512,
  bodyTimeoutMs: 30_000,
  writeTimeoutMs: 30_000,
  connectionBodyBytes: 4 * BODY_LIMIT,
  totalBodyBytes: 16 * BODY_LIMIT,
  bodyLimit: BODY_LIMIT,
  largeBodyBytes: 256 * 1024,
  largeBodyQueue: 64,
  largeBodyPauseMaxMs: 50,
  eventLogIntervalMs: 60_000,
});

/**
 * Where the runtime comes from: the RuntimeSet in production (the install of the Pod's namespace, else the default
 * install, else the static config), anything with current() in tests.
 */
export interface RuntimeSource {
  current(namespace?: string): Runtime;
}

/**
 * What the server needs of the registry side (the MirrorService): a synchronous cache view for admit(), and a
 * look-up of the images admit() could not decide from the cache. lookup() must never throw; the server still
 * guards against it and never waits longer than the budget.
 */
export interface RegistryLookups {
  state(image: string): { state: 'present' | 'missing' | 'unknown'; digest?: string };
  lookup(images: string[], budgetMs: number): Promise<void>;
  /** An image a returned patch wrote into a Pod (the background check covers recent ones). */
  noteRewritten?(image: string): void;
}

export type AdmitFunction = (body: unknown, runtime: Runtime, context?: AdmitContext) => AdmissionResult;

export interface StartServerOptions {
  config: RuntimeSource;
  logger?: Logger;
  metrics?: Metrics;
  /**
   * Default: every address, IPv6 and IPv4 ("::", dual-stack), or 0.0.0.0 where the OS has no IPv6. Kubelet probes
   * and the API server use the Pod IP, which is IPv6 on IPv6-only and IPv6-primary clusters.
   */
  host?: string;
  /** HTTPS port; default 8443; 0 picks a free port. */
  port?: number;
  /** Host of the health/metrics port; default: host. */
  healthHost?: string;
  /** Plain HTTP port for /healthz, /readyz, /metrics; default 8080; 0 picks a free port. */
  healthPort?: number;
  /** Serving certificate files. Absent: a development CA and certificate in devCertDir. */
  tls?: TlsFiles;
  devCertDir?: string;
  tlsPollIntervalMs?: number;
  tlsDebounceMs?: number;
  /** After readiness turns 503 on shutdown, keep serving this long so endpoints can drop the Pod. Default 0. */
  drainDelayMs?: number;
  /** Upper bound for a graceful close; then remaining connections are destroyed. Default 25 s. */
  shutdownTimeoutMs?: number;
  /** The admission function; tests inject failing ones to check the safety net. */
  admit?: AdmitFunction;
  /** Connection limits; default DEFAULT_LIMITS. Tests make them small. bodyLimit is fixed to BODY_LIMIT. */
  limits?: Partial<Omit<ConnectionLimits, 'bodyLimit'>>;
  /**
   * Registry knowledge for mirror checks and digest pinning; absent (or the function returns undefined, e.g. the
   * mirror is switched off by a config reload): admit() gets no registry and nothing is looked up.
   */
  registry?: RegistryLookups | (() => RegistryLookups | undefined);
  /**
   * Readiness beyond the server's own: a reason not to be ready yet (e.g. waiting for the first discovery sync),
   * or undefined. Checked on every /readyz.
   */
  readinessGate?: () => string | undefined;
  /**
   * The most the registry may add to one admission (ms), shared by all its images; a function so that a config
   * reload takes effect. Default DEFAULT_LOOKUP_BUDGET_MS.
   */
  budgetMs?: number | (() => number);
  /**
   * Bodies over limits.largeBodyBytes are parsed and admitted in a worker thread (ADR 0014). Default: on, with
   * DEFAULT_OFF_THREAD and the worker script beside this module; false: every admission on the event loop.
   */
  offThread?: false | Partial<OffThreadOptions>;
}

/**
 * The admission worker for large bodies (ADR 0014), or undefined: admissions are all decided on the event loop when
 * it is switched off, when a custom admit function is given (the worker runs the real one), or when the worker
 * script is not there (running from the TypeScript sources, as the unit tests do).
 */
function offThreadAdmissions(options: StartServerOptions, logger: Logger): OffThreadAdmissions | undefined {
  if (options.offThread === false || options.admit) return undefined;
  const settings = { ...DEFAULT_OFF_THREAD, workerUrl: new URL('./admission-worker.js', import.meta.url), ...options.offThread };
  if (!existsSync(fileURLToPath(settings.workerUrl))) {
    logger.debug({ worker: settings.workerUrl.href }, 'no admission worker script: large admissions are decided on the event loop');
    return undefined;
  }
  return new OffThreadAdmissions(settings);
}

export interface RunningServer {
  /** e.g. https://127.0.0.1:8443 (wildcard hosts shown as loopback, so the URL is usable as is). */
  httpsUrl: string;
  healthUrl: string;
  /** The development CA (only without tls files): for curl --cacert and tests. */
  caFile: string | undefined;
  certFile: string;
  keyFile: string;
  metrics: Metrics;
  logger: Logger;
  tls: TlsReloader;
  app: FastifyInstance<Http2SecureServer>;
  health: FastifyInstance;
  isReady(): boolean;
  /** Readiness to 503 (shutdown began) without closing anything yet. */
  markNotReady(reason: string): void;
  /**
   * Graceful close: not ready, optional drain delay, GOAWAY to HTTP/2 sessions, stop accepting, wait for in-flight
   * requests (bounded by shutdownTimeoutMs, then connections are destroyed), close the health port. Idempotent.
   */
  close(): Promise<void>;
  /** Destroys every open connection now (second signal, or graceful close taking too long). */
  forceClose(): void;
}

export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const logger = options.logger ?? createLogger();
  const metrics = options.metrics ?? createMetrics();
  const admitFn = options.admit ?? defaultAdmit;
  const host = options.host ?? (await wildcardHost());
  const autoHost = options.host === undefined;
  const healthHost = options.healthHost ?? host;
  const limits: ConnectionLimits = { ...DEFAULT_LIMITS, ...options.limits, bodyLimit: BODY_LIMIT };

  let caFile: string | undefined;
  let files = options.tls;
  if (!files) {
    const dev = await ensureDevCertificates(options.devCertDir);
    files = { certFile: dev.certFile, keyFile: dev.keyFile };
    caFile = dev.caFile;
  }
  const tls = await TlsReloader.create({
    ...files,
    logger,
    metrics,
    pollIntervalMs: options.tlsPollIntervalMs,
    debounceMs: options.tlsDebounceMs,
  });

  let notReadyReason: string | undefined = 'starting';
  const markNotReady = (reason: string) => {
    notReadyReason ??= reason;
  };

  const app = Fastify({
    http2: true,
    https: { allowHTTP1: true, handshakeTimeout: HANDSHAKE_TIMEOUT_MS, ...http2ServerOptions(limits), ...tls.serverOptions() },
    // Our own line per admission (below) replaces fastify's request/response lines; no per-request child logger.
    logger: false,
    bodyLimit: BODY_LIMIT,
    connectionTimeout: 0,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    http2SessionTimeout: HTTP2_SESSION_TIMEOUT_MS,
    requestTimeout: REQUEST_TIMEOUT_MS,
    // A Pod cannot legitimately carry these keys; dropping them beats failing the admission (pod creation).
    onProtoPoisoning: 'remove',
    onConstructorPoisoning: 'remove',
    // During drain the API server may still send on an open connection: answer it rather than 503 (a failed call).
    return503OnClosing: false,
  });
  const server = app.server;
  // fastify applies keepAliveTimeout/requestTimeout only to HTTP/1 servers; with http2 + allowHTTP1 the HTTP/1.1
  // connections are served by this same Http2SecureServer, which reads them from itself (unset: no idle timeout).
  Object.assign(server, {
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    requestTimeout: REQUEST_TIMEOUT_MS,
    headersTimeout: HEADERS_TIMEOUT_MS,
  });
  tls.attach(server);

  // Sessions and sockets, for GOAWAY at shutdown and for a forced close.
  const sessions = new Set<Http2Session>();
  const sockets = new Set<Socket>();
  let closing = false;
  server.on('session', (session: Http2Session) => {
    sessions.add(session);
    // The connection window (the stream window is a SETTING, in http2ServerOptions); reasons in the header comment.
    try {
      session.setLocalWindowSize(limits.sessionWindowBytes);
    } catch (err) {
      // A session already gone (the client left at once) has no window to set.
      logger.debug({ err: errorFields(err) }, 'HTTP/2 connection window not set');
    }
    session.once('close', () => sessions.delete(session));
    if (closing) session.close();
  });
  server.on('secureConnection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  // Handshake failures (TLS 1.1 clients, port scanners, wrong CA on the client) are not ours to log at warn;
  // they are counted (connection_events_total) and summarised by the connection limits.
  server.on('tlsClientError', (err: Error) => logger.debug({ err: errorFields(err) }, 'TLS handshake failed'));
  const connectionLimits = installConnectionLimits(app, limits, logger, metrics);
  const handshakeLimit = installHandshakeLimit(server, DEFAULT_HANDSHAKE_LIMITS, (event) => connectionLimits.events.record(event));
  // Lines the log destination drops (stdout not read) cannot say so in the log: they are counted.
  const stopCountingDrops = onDroppedLines(logger, () => metrics.logLinesDropped.inc());
  // What the server set up beside fastify, undone when it closes or fails to listen. Connections still waiting for
  // their handshake turn are reset: they would hold the close for up to 3 s. (The admission worker stops after the
  // drain: requests in flight may still need it.)
  const stopExtras = () => {
    tls.stop();
    connectionLimits.stop();
    handshakeLimit.stop();
    stopCountingDrops();
  };

  installErrorHandlers(app, logger, metrics);
  const offThread = offThreadAdmissions(options, logger);
  installJsonParser(app, offThread ? limits.largeBodyBytes : undefined);

  // Start of the admission clock: routing done, body not yet read (fastify keeps no start time without a logger).
  const stamp = (request: FastifyRequest<any, any, any>, _reply: unknown, done: () => void) => {
    (request as Stamped)[START] = performance.now();
    done();
  };
  const registryOption = options.registry;
  const registryOf: () => RegistryLookups | undefined =
    typeof registryOption === 'function' ? registryOption : () => registryOption;
  const budgetOf = options.budgetMs;
  const lookupBudgetMs = (): number => {
    const v = typeof budgetOf === 'function' ? budgetOf() : (budgetOf ?? DEFAULT_LOOKUP_BUDGET_MS);
    return Number.isFinite(v) && v > 0 ? v : 0;
  };

  const admissionHandler = (production: boolean) => {
    // Without a registry the context is the same for every request of this path (admit() never changes it).
    const plainContext: AdmitContext = Object.freeze({ production });
    return (request: AnyRequest, reply: AnyReply) => {
      // Answered already (408: the body came too late): nothing left to decide.
      if (reply.sent) return reply;
      const body = request.body;
      // Released here, not when fastify drops the request (after the answer's stream closes, milliseconds later):
      // a parsed review still reachable at a scavenge is copied, and promoted at the next one. Large body over h2,
      // scavenges 175-198 -> 36-45 µs per request in a probe, 1163 -> 844 µs/req of CPU (docs/performance.md).
      request.body = undefined;
      if (body instanceof LargeBody) return admitLarge(request, reply, body, production, plainContext);
      // Decided after this turn of the event loop, with the other admissions read in it (ADR 0016); answered then.
      const pending: Pending = { request, reply, body, plainContext };
      const bytes = (request as Stamped)[BODY_BYTES];
      // Not read by the JSON parser (no body, another content type): not counted, so not held either.
      if (bytes === undefined) return finishTurn([pending]);
      turn.push(pending);
      if (turn.length === 1) setImmediate(decideTurn);
      // Parsed bodies waiting for the turn's end survive the scavenges that reading the next ones causes (and are
      // promoted at the next): past TURN_BYTES of them, or TURN_ADMISSIONS, the turn is decided now (a large body:
      // alone, at once).
      turnBytes += bytes;
      if (turnBytes > TURN_BYTES || turn.length >= TURN_ADMISSIONS) decideTurn();
      return undefined;
    };
  };

  /**
   * The admissions read in one turn of the event loop, decided together once it is over (setImmediate), then
   * answered together: each admit() then runs on caches the one before warmed, instead of after a request's worth
   * of TLS, HTTP, parse, log and metrics work (ADR 0016; typical body over HTTP/1.1, 5 rounds: 130 -> 111 µs/req).
   */
  let turn: Pending[] = [];
  let turnBytes = 0;
  function decideTurn() {
    const batch = turn;
    turn = [];
    turnBytes = 0;
    finishTurn(batch);
  }

  /**
   * First passes, then answers. fastify no longer holds these calls, so what it did for a handler is done here:
   * a throw or a rejection becomes that admission's error answer (500, logged), and the others go on.
   */
  function finishTurn(batch: Pending[]) {
    const firsts: (FirstPass | undefined)[] = new Array(batch.length);
    for (let i = 0; i < batch.length; i++) {
      try {
        firsts[i] = firstPass(batch[i]!);
      } catch (err) {
        failed(batch[i]!.reply, err);
      }
    }
    for (let i = 0; i < batch.length; i++) {
      const pending = batch[i]!;
      try {
        const done = finish(pending, firsts[i]);
        if (done instanceof Promise) done.catch((err: unknown) => failed(pending.reply, err));
      } catch (err) {
        failed(pending.reply, err);
      }
    }
  }

  /** An admission that threw: fastify's error handler answers it. Never throws (it runs outside any handler). */
  function failed(reply: AnyReply, err: unknown) {
    try {
      if (reply.sent) return;
      reply.send(err instanceof Error ? err : new Error(errorFields(err).message));
    } catch (sendErr) {
      logger.error({ err: errorFields(sendErr) }, 'answering a failed admission failed; its connection is closed');
      reply.raw.destroy();
    }
  }

  /** The first pass of an admission on the event loop: admit() from the registry cache alone. */
  function firstPass({ reply, body, plainContext }: Pending): FirstPass | undefined {
    // Answered already (nothing does that to a request whose body is in today; kept as the handler's own check).
    if (reply.sent) return undefined;
    const started = performance.now();
    let registry: RegistryLookups | undefined;
    let runtime: Runtime | undefined;
    let context: AdmitContext | undefined;
    let result: AdmissionResult;
    try {
      registry = registryOf();
      const namespace = requestNamespace(body);
      runtime = options.config.current(namespace);
      // Production: the production webhook entry's path; admit() adds the namespaces the config lists
      // (policy.namespaces, up to 1,024, looked up in a set built once per config, not scanned per request).
      // admit() uses only the synchronous state(); look-ups are the server's business (admission does no I/O).
      context = registry ? { production: plainContext.production, registry } : plainContext;
      result = admitFn(body, runtime, context);
    } catch (err) {
      result = safetyNet(body, err, logger);
    }
    return { started, registry, runtime, context, result };
  }

  /**
   * The rest of an admission on the event loop: the answer, or registry look-ups within the budget and admit() again.
   * No first pass (already answered, or it failed and was answered): nothing left.
   */
  function finish({ request, reply, body }: Pending, first: FirstPass | undefined) {
    if (!first) return reply;
    const { started, registry, runtime, context, result } = first;
    // Without a registry (the default) nothing is looked up: answered here, no closure for a final pass made.
    if (!registry) return answer(request, reply, result, undefined, undefined);
    return withLookups(request, reply, result, registry, started, () => admitFn(body, runtime!, { ...context, final: true }), false);
  }

  /**
   * The rest of an admission after its first pass, on either path: without images to look up, the answer; else
   * registry look-ups within what is left of the budget (one per admission, counted from `started`: the registry
   * adds at most that much), then the final pass (`again`), whose failure keeps the first answer.
   */
  function withLookups(
    request: AnyRequest,
    reply: AnyReply,
    first: AdmissionResult,
    registry: RegistryLookups | undefined,
    started: number,
    again: () => AdmissionResult | Promise<AdmissionResult>,
    offThread: boolean,
  ) {
    // A safety-net answer lists no look-ups, so `again` only runs after a real first pass.
    const lookups = registry && first.status === 200 ? lookupsOf(first.summary) : undefined;
    if (!lookups) return answer(request, reply, first, undefined, registry, offThread);
    const budget = lookupBudgetMs() - (performance.now() - started);
    if (budget <= 0) return answer(request, reply, first, { images: lookups.length, ms: 0, secondPass: false }, registry, offThread);
    return waitAtMost(registry!, lookups, budget).then(async (waited) => {
      if (reply.sent) return reply;
      let second = first;
      try {
        second = await again();
      } catch (err) {
        // The first answer was good: keep it rather than the safety net's unchanged Pod.
        logger.error({ err: errorFields(err) }, 'second admission pass failed; answering with the first');
      }
      return answer(request, reply, second, { images: lookups.length, ms: waited, secondPass: second !== first }, registry, offThread);
    });
  }

  /**
   * A large body, decided by the admission worker (ADR 0014). When the worker cannot: a body too heavy to parse in
   * the worker's heap is refused (400), a worker that cannot start leaves the decision to the event loop (as before
   * the worker existed), a worker that hangs or ends while it has the request gets a 500 (logged; the API server's
   * failurePolicy decides), and the next large body gets a new worker.
   */
  async function admitLarge(request: AnyRequest, reply: AnyReply, large: LargeBody, production: boolean, plainContext: AdmitContext) {
    // Whether the client still waits: the answer's 'close' before we answered means it left (raw.destroyed says
    // nothing reliable here: an HTTP/1.1 request reads destroyed once its body is in, an h2 one not after a reset).
    let gone = false;
    reply.raw.once('close', () => (gone = true));
    try {
      return (await offThread!.run(large.bytes, () => !gone && !reply.sent, (session) => decideInWorker(request, reply, session, production))) ?? reply;
    } catch (err) {
      if (reply.sent) return reply;
      if (!(err instanceof OffThreadFailure)) throw err;
      switch (err.kind) {
        case 'heap':
          return refuse(request, reply, 400, `request body cannot be admitted: ${err.message}`);
        case 'busy':
          // Like the connection limits' own 503s: counted, and in the minute's summary line, not one line each.
          connectionLimits.events.record('busy');
          return reply.code(503).header('retry-after', '1').send({ error: statusText(503), message: err.message });
        case 'unavailable':
        case 'timeout':
        case 'crashed': {
          // Unavailable: nothing was sent to the worker, the bytes are whole, and the event loop decides as it did
          // before the worker. Otherwise the bytes went to the worker: nothing is left to decide with.
          if (err.kind === 'unavailable' && large.bytes.byteLength > 0) {
            logger.error({ err: errorFields(err) }, 'admission worker unavailable; deciding this admission on the event loop');
            const read = readJsonBody(large.bytes.toString('utf8'));
            if ('problem' in read) return refuse(request, reply, 400, notJsonMessage(read.problem));
            const pending: Pending = { request, reply, body: read.value, plainContext };
            return finish(pending, firstPass(pending));
          }
          logger.error({ err: errorFields(err) }, `admission worker ${err.kind === 'timeout' ? 'timed out' : 'failed'}; it is started again for the next`);
          return refuse(request, reply, 500, 'internal error');
        }
      }
    }
  }

  /**
   * decide(), with admit() in the worker: the registry's states are read here and sent with each pass. The budget
   * for look-ups counts from the session's turn (a large admission that waited for the worker still gets its
   * look-ups, as on the event loop).
   */
  async function decideInWorker(request: AnyRequest, reply: AnyReply, session: OffThreadSession, production: boolean) {
    if (session.invalid !== undefined) return refuse(request, reply, 400, notJsonMessage(session.invalid));
    const started = performance.now();
    let registry: RegistryLookups | undefined;
    try {
      registry = registryOf();
      const runtime = options.config.current(session.namespace);
      // Every image admit() asked the cache about, over all passes: the worker reports those it had no state for.
      const asked = new Set<string>();
      // A pass, repeated while it asks about images whose state the cache knows but the worker was not told (a state
      // can change which image is asked about next, e.g. mirror.missing keep-original then a digest). Without a
      // registry one pass decides.
      const decidePass = async (final: boolean) => {
        let states: RegistryState[] | undefined = registry ? readStates(registry, asked) : undefined;
        let r = await session.admit(runtime, production, states, final);
        for (let i = 0; registry && r.asked.length > 0 && i < MAX_WORKER_PASSES; i++) {
          for (const image of r.asked) asked.add(image);
          const fresh = readStates(registry, r.asked);
          // All unknown: the pass just made already took them as unknown.
          if (!fresh.some(([, state, digest]) => state !== 'unknown' || digest !== undefined)) break;
          states = states!.concat(fresh);
          r = await session.admit(runtime, production, states, final);
        }
        for (const image of r.asked) asked.add(image);
        if (r.error) logAdmittedUnchanged(logger, { message: r.error }, r.result);
        return r.result;
      };
      const result = await decidePass(false);
      if (reply.sent) return reply;
      return await withLookups(request, reply, result, registry, started, () => decidePass(true), true);
    } catch (err) {
      // The worker's own failures are the caller's; anything else (the config, the registry view) is the safety net's.
      if (err instanceof OffThreadFailure) throw err;
      const result = await session.unchanged(`internal error: ${errorFields(err).message}`);
      logAdmittedUnchanged(logger, errorFields(err), result);
      return answer(request, reply, result, undefined, registry, true);
    }
  }

  /** A refused admission request: the error body, its metric and its one log line. */
  function refuse(request: AnyRequest, reply: AnyReply, status: number, message: string) {
    reply.code(status).send({ error: statusText(status), message });
    recordRefusal(request, logger, metrics, status, message);
    return reply;
  }

  function answer(
    request: AnyRequest,
    reply: AnyReply,
    result: AdmissionResult,
    lookup: LookupNote | undefined,
    registry: RegistryLookups | undefined,
    offThread = false,
  ) {
    sendResult(reply, result);
    // After the answer is handed over: the duration includes serialising it, and a failure here cannot change it.
    const seconds = elapsedSeconds(request);
    try {
      if (result.status === 200) {
        metrics.recordAdmission(result.summary.outcome, seconds, result.summary);
        logAdmission(logger, result.summary, seconds, lookup, offThread);
        if (registry?.noteRewritten && result.summary.outcome === 'mutated') {
          for (const d of result.summary.decisions) if (d.changed) registry.noteRewritten(d.image);
        }
      } else {
        metrics.recordAdmission('bad_request', seconds);
        logger.warn({ status: 400, reason: result.error, duration_ms: ms(seconds) }, 'admission request refused');
      }
    } catch (err) {
      logger.error({ err: errorFields(err) }, 'recording an admission failed');
    }
    return reply;
  }

  app.post(MUTATE_PATH, { onRequest: stamp }, admissionHandler(false));
  app.post(PRODUCTION_PATH, { onRequest: stamp }, admissionHandler(true));
  // Anything but POST on the admission paths: 405 with Allow, so a misconfigured caller learns what is wrong
  // (HEAD follows GET).
  for (const url of ADMISSION_PATHS) {
    app.route({
      method: ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'],
      url,
      handler: (_request, reply) =>
        reply.code(405).header('allow', 'POST').send({ error: 'Method Not Allowed', message: `use POST ${url}` }),
    });
  }

  const health = Fastify({ logger: false, keepAliveTimeout: 5_000, requestTimeout: REQUEST_TIMEOUT_MS });
  installErrorHandlers(health, logger);
  health.get('/healthz', (_request, reply) => reply.send({ status: 'ok' }));
  health.get('/readyz', (_request, reply) => {
    const reason = readinessProblem();
    if (reason) return reply.code(503).send({ status: 'not ready', reason });
    return reply.send({ status: 'ready' });
  });
  health.get('/metrics', async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.header('content-type', metrics.registry.contentType).send(text);
  });

  function readinessProblem(): string | undefined {
    if (notReadyReason) return notReadyReason;
    const gate = options.readinessGate?.();
    if (gate) return gate;
    // Serving a certificate every handshake rejects: stay out of the endpoints until a valid pair is in place.
    const certificate = tls.validityProblem();
    if (certificate) return `serving certificate unusable: ${certificate}`;
    try {
      options.config.current();
    } catch (err) {
      return `no usable config: ${errorFields(err).message}`;
    }
    return undefined;
  }

  let httpsUrl: string;
  let healthUrl: string;
  try {
    await app.listen({ host, port: options.port ?? 8443 });
    httpsUrl = urlOf('https', server.address() as AddressInfo, autoHost);
    await health.listen({ host: healthHost, port: options.healthPort ?? 8080 });
    healthUrl = urlOf('http', health.server.address() as AddressInfo, autoHost && options.healthHost === undefined);
  } catch (err) {
    stopExtras();
    offThread?.stop();
    await Promise.allSettled([app.close(), health.close()]);
    throw err;
  }
  tls.start();
  try {
    metrics.setRulesInfo(options.config.current());
  } catch {
    /* readiness reports it */
  }
  notReadyReason = undefined;
  logger.info(
    { httpsUrl, healthUrl, certFile: files.certFile, notAfter: tls.current().notAfter.toISOString() },
    'mlrun-image-webhook listening',
  );
  if (caFile) {
    // Copy-pastable from the repo root; "localhost" is a name the development certificate carries, and it reaches
    // the server whether it listens on every address or on loopback only.
    const port = (server.address() as AddressInfo).port;
    logger.info(
      {
        caFile,
        try: `curl --cacert '${caFile}' -H 'content-type: application/json' --data @test/fixtures/admission/admission-small.json https://localhost:${port}${MUTATE_PATH}`,
      },
      'no --tls-cert/--tls-key: serving a development certificate for localhost, 127.0.0.1 and ::1',
    );
  }

  const forceClose = () => {
    for (const s of sessions) s.destroy();
    for (const s of sockets) s.destroy();
  };

  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      markNotReady('shutting down');
      if (options.drainDelayMs) await new Promise((r) => setTimeout(r, options.drainDelayMs));
      closing = true;
      stopExtras();
      // GOAWAY: clients open new connections (to another replica) for new requests; open streams finish here.
      for (const s of sessions) s.close();
      const timeoutMs = options.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
        timer.unref();
      });
      const outcome = await Promise.race([app.close().then(() => 'closed' as const), timedOut]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        logger.warn({ sessions: sessions.size, sockets: sockets.size, timeoutMs }, 'graceful close timed out; closing connections');
        forceClose();
        await app.close().catch(() => undefined);
      }
      // After the drain: large admissions in flight (or waiting for the worker) finish first.
      offThread?.stop();
      // Last: kubelet probes keep getting answers (liveness ok, readiness 503) while we drain.
      await health.close();
    })();
    return closed;
  };

  return {
    httpsUrl,
    healthUrl,
    caFile,
    certFile: files.certFile,
    keyFile: files.keyFile,
    metrics,
    logger,
    tls,
    app,
    health,
    isReady: () => readinessProblem() === undefined,
    markNotReady,
    close,
    forceClose,
  };
}

/** A body over the large-body size, left unparsed: the admission worker parses it (ADR 0014). */
class LargeBody {
  constructor(readonly bytes: Buffer) {}
}

/**
 * fastify's JSON parsing (its rules, as readJsonBody applies them: the admission worker reads with the same
 * function), except that a malformed body gets a reason, and that a body over `largeBodyBytes` (when given) is
 * handed on unparsed, as a LargeBody. The reason comes from JSON.parse run again on
 * the failure path only, cut before any quoted slice of the body (it may hold secrets).
 *
 * The body is read here rather than by fastify's parseAs (same limits, same errors): as 'string' a large body would
 * have to be encoded back into bytes for the worker, and as 'buffer' every small body would be copied once more
 * before its decode (Buffer.concat of its one chunk; 3.5 µs for the typical 6.8 KB review).
 */
function installJsonParser<S extends RawServerBase>(
  app: FastifyInstance<S, RawRequestDefaultExpression<S>, RawReplyDefaultExpression<S>>,
  largeBodyBytes: number | undefined,
): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', (request, payload, done) => {
    const contentLength = Number(request.headers['content-length']);
    if (contentLength > BODY_LIMIT) return done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE(), undefined);
    const chunks: Buffer[] = [];
    let received = 0;
    // A large body with a declared length (what the API server sends) is copied into its own buffer chunk by chunk
    // as it arrives: fresh memory costs page faults (7 ms for 2.7 MiB on a VM), paid here in slices between other
    // events instead of in one block at the end. The length is bounded (BODY_LIMIT) and was charged against the body
    // budgets before the body was read (limits.ts).
    let into = largeBodyBytes !== undefined && contentLength > largeBodyBytes ? Buffer.allocUnsafeSlow(contentLength) : undefined;
    const stop = () => {
      payload.removeListener('data', onData);
      payload.removeListener('end', onEnd);
      payload.removeListener('error', onEnd);
    };
    function onData(chunk: Buffer | string) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      received += bytes.length;
      if (received > BODY_LIMIT) {
        stop();
        return done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE(), undefined);
      }
      if (into) {
        // More than declared: kept as chunks; the length check at the end refuses it.
        if (received <= into.length) return void bytes.copy(into, received - bytes.length);
        chunks.push(into.subarray(0, received - bytes.length));
        into = undefined;
      }
      chunks.push(bytes);
    }
    function onEnd(err?: Error & { statusCode?: number }) {
      stop();
      if (err != null) {
        if (!(typeof err.statusCode === 'number' && err.statusCode >= 400)) err.statusCode = 400;
        return done(err, undefined);
      }
      if (!Number.isNaN(contentLength) && received !== contentLength) return done(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH(), undefined);
      if (into) return done(null, new LargeBody(into));
      // One allocation of the body's size (its own memory, as the worker takes it: no further copy).
      if (largeBodyBytes !== undefined && received > largeBodyBytes) return done(null, new LargeBody(Buffer.concat(chunks, received)));
      const body = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks, received).toString('utf8');
      if (body.length === 0) return done(new errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY(), undefined);
      const read = readJsonBody(body);
      if ('problem' in read) return done(new InvalidJsonError(read.problem), undefined);
      (request as Stamped)[BODY_BYTES] = received;
      done(null, read.value);
    }
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', onEnd);
    payload.resume();
  });
}

class InvalidJsonError extends Error {
  readonly code = 'MIW_INVALID_JSON';
  readonly statusCode = 400;
}

function installErrorHandlers<S extends RawServerBase>(
  app: FastifyInstance<S, RawRequestDefaultExpression<S>, RawReplyDefaultExpression<S>>,
  logger: Logger,
  metrics?: Metrics,
): void {
  // Error bodies are {error, message}: JSON, short, never a stack.
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    let message: string;
    switch (err.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        message = `request body is larger than ${BODY_LIMIT} bytes`;
        break;
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        message = `unsupported content-type ${JSON.stringify(request.headers['content-type'] ?? '')}: send application/json`;
        break;
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
        message = 'request body is not valid JSON';
        break;
      case 'MIW_INVALID_JSON':
        message = notJsonMessage(err.message);
        break;
      default:
        message = status >= 500 ? 'internal error' : err.message;
    }
    if (status >= 500) logger.error({ err: errorFields(err), method: request.method, url: request.url }, 'request failed');
    // fastify marks body-parsing failures "connection: close"; HTTP/2 has no such header (Node warns and drops it).
    if (request.raw.httpVersionMajor === 2) reply.removeHeader('connection');
    reply.code(status).send({ error: statusText(status), message });
    if (metrics && ADMISSION_PATHS.has(request.routeOptions.url ?? '') && request.method === 'POST') recordRefusal(request, logger, metrics, status, message);
  });
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: 'Not Found', message: `no route for ${request.method} ${request.url.split('?')[0]}` });
  });
}

/** A refused admission request's metric and its one log line. */
function recordRefusal(request: object, logger: Logger, metrics: Metrics, status: number, message: string): void {
  const seconds = elapsedSeconds(request);
  metrics.recordAdmission(status >= 500 ? 'error' : 'bad_request', seconds);
  logger.warn({ status, reason: message, duration_ms: ms(seconds) }, 'admission request refused');
}

/** admit() does not throw by contract; if it (or reading the config) does anyway: admitted unchanged, logged. */
function safetyNet(body: unknown, err: unknown, logger: Logger): AdmissionResult {
  const detail = `internal error: ${errorFields(err).message}`;
  const result = admitAfterInternalError(body, detail);
  logAdmittedUnchanged(logger, errorFields(err), result);
  return result;
}

/** The one line for an admission that failed unexpectedly, on the event loop or in the worker. */
function logAdmittedUnchanged(logger: Logger, err: { message: string }, result: AdmissionResult): void {
  logger.error({ err, uid: result.status === 200 ? result.summary.uid : undefined }, 'admission failed unexpectedly; admitting unchanged');
}

/** Passes of a large admission before its look-ups: each tells the worker the cache's states of what it asked. */
const MAX_WORKER_PASSES = 3;

/** The registry cache's states of `images`, as the worker takes them. */
function readStates(registry: RegistryLookups, images: Iterable<string>): RegistryState[] {
  const states: RegistryState[] = [];
  for (const image of images) {
    const s = registry.state(image);
    states.push([image, s.state, s.digest]);
  }
  return states;
}

/** The per-admission log line stays bounded whatever the Pod: this many changes and warnings, strings this long. */
export const LOG_MAX_CHANGES = 20;
export const LOG_MAX_WARNINGS = 10;
export const LOG_MAX_STRING = 300;

/** A string from the request, cut for the log with a note of how much was left out. */
export function clip(text: string, max = LOG_MAX_STRING): string {
  return text.length <= max ? text : `${text.slice(0, max)}…(+${text.length - max} chars)`;
}

/** An admission's answer on the wire: a 400 with its reason, else the AdmissionReview (bench/server-targets.mjs too). */
export function sendResult(reply: AnyReply, result: AdmissionResult): void {
  if (result.status !== 200) reply.code(400).send({ error: 'Bad Request', message: result.error });
  // Text admit() already wrote goes out as it is (a string with a JSON content type: fastify does not serialise).
  else if (result.json !== undefined) reply.code(200).header('content-type', JSON_CONTENT_TYPE).send(result.json);
  else reply.code(200).send(result.body);
}

/**
 * One line per admission: who, what changed (each image: container, from, to, reason code), warnings, limits, how
 * long. Never the Pod, never env values. The engine's human-readable reasons are not repeated here: the reason code
 * and the client versions on the line say what they say, and the record annotation keeps them on the Pod.
 * `warn` when MLRun would raise for an image (reasonCode "error"), the Pod could not be understood, or a limit was
 * hit; else `info`.
 */
export function logAdmission(logger: Logger, s: AdmissionSummary, seconds: number, lookup?: LookupNote, offThread = false): void {
  let raises = false;
  for (const d of s.decisions) if (d.reasonCode === 'error') raises = true;
  const level = s.outcome === 'error' || s.outcome === 'denied' || raises || s.limits.length > 0 ? 'warn' : 'info';
  if (!logger.isLevelEnabled(level)) return;
  // Written as JSON text, member by member (writeLine): once per admission, and an object built only to be
  // stringified by pino allocated more than the line itself (typical Pod in process: 8.1 -> 7.1 µs per line).
  let changes = '';
  let listed = 0;
  let changed = 0;
  for (const d of s.decisions) {
    if (!d.changed) continue;
    changed++;
    if (listed < LOG_MAX_CHANGES) {
      changes += `${listed > 0 ? ',' : ''}{"container":${str(clip(`${d.kind}/${d.name}`))}${changeText(d)}}`;
      listed++;
    }
  }
  // Changes the line leaves out: past LOG_MAX_CHANGES here, or past the summary's own decision cap.
  let totalChanged = 0;
  for (const reason in s.changedByReason) totalChanged += s.changedByReason[reason]!;
  const changesOmitted = Math.max(totalChanged, changed) - listed;
  let f = `,"uid":${str(clip(s.uid))}`;
  if (s.namespace !== undefined) f += `,"namespace":${str(clip(s.namespace))}`;
  if (s.name !== undefined) f += `,"pod":${str(clip(s.name))}`;
  if (s.operation !== undefined) f += `,"operation":${str(clip(s.operation))}`;
  f += `,"outcome":${str(s.outcome)},"images":${num(s.imagesSeen)},"changes":[${changes}]`;
  f += `,"warnings":${JSON.stringify(loggedWarnings(s.warnings))},"duration_ms":${num(ms(seconds))}`;
  if (changesOmitted > 0) f += `,"changesOmitted":${changesOmitted}`;
  if (s.warnings.length > LOG_MAX_WARNINGS) f += `,"warningsOmitted":${s.warnings.length - LOG_MAX_WARNINGS}`;
  if (s.limits.length > 0) f += `,"limits":${JSON.stringify(s.limits)}`;
  if (s.detail) f += `,"detail":${str(clip(s.detail))}`;
  if (s.clientVersion) f += `,"clientVersion":${str(clip(s.clientVersion))}`;
  if (s.clientPythonVersion) f += `,"clientPythonVersion":${str(clip(s.clientPythonVersion))}`;
  if (lookup) f += `,"registryLookup":${JSON.stringify(lookup)}`;
  if (offThread) f += `,"offThread":true`;
  if (s.production) f += policyFields(s);
  writeLine(logger, level, f, 'admission');
}

// JSON.stringify(v), for less when v needs no escaping (image references, names, uids: nearly always): a regex test
// and a concatenation take 60 % as long (in process, the large review's line 9.0 -> 8.4 µs, typical 3.6 -> 3.4).
const NEEDS_ESCAPE = /[\u0000-\u001f"\\\ud800-\udfff]/;
const str = (v: string): string => (NEEDS_ESCAPE.test(v) ? JSON.stringify(v) : `"${v}"`);

/**
 * `,"from":…,"to":…,"reasonCode":…` of a change, kept by the engine's (memoised, never modified) reasons list of its
 * resolution, as record.ts keeps the record's entries: Pods repeat a few images, and these three members were most of
 * the large review's line (20 changes: building it 4.4 -> 3.1 µs in process). Weak keys: an entry goes when the
 * engine's bounded memo drops the resolution; from/to/code are compared before use, so a list shared by other images
 * is only a miss.
 */
const changeTexts = new WeakMap<readonly string[], { from: string; to: string; code: string; text: string }>();
function changeText(d: AdmissionSummary['decisions'][number]): string {
  const e = changeTexts.get(d.reasons);
  if (e && e.from === d.original && e.to === d.image && e.code === d.reasonCode) return e.text;
  const text = `,"from":${str(clip(d.original))},"to":${str(clip(d.image))},"reasonCode":${str(d.reasonCode)}`;
  // Only plain decisions: one with a policy, digest or mirror code mostly carries a list built for it alone.
  if ((!d.policy || d.policy.action === 'none') && !d.digest && !d.mirror) {
    changeTexts.set(d.reasons, { from: d.original, to: d.image, code: d.reasonCode, text });
  }
  return text;
}
const num = (v: number): string => (Number.isFinite(v) ? String(v) : 'null');

/** The first LOG_MAX_WARNINGS warnings, each cut; the summary's own list when nothing needs cutting (no copy). */
function loggedWarnings(warnings: string[]): string[] {
  let fits = warnings.length <= LOG_MAX_WARNINGS;
  for (let i = 0; fits && i < warnings.length; i++) fits = warnings[i]!.length <= LOG_MAX_STRING;
  return fits ? warnings : warnings.slice(0, LOG_MAX_WARNINGS).map((w) => clip(w));
}

/** The fields of a policy entry the log line carries (strings, each cut like every request-derived string). */
const POLICY_LOG_KEYS = ['policy', 'container', 'verdict', 'action', 'image', 'suggestion'] as const;

/** The production policy's part of the log line: the mode and each decision that did something (admission bounds the list). */
function policyFields(s: AdmissionSummary): string {
  let f = `,"production":true,"policyMode":${str(s.policyMode)}`;
  let acted = '';
  for (const e of s.policy) {
    if (e.action === 'none') continue;
    let entry = '';
    for (const k of POLICY_LOG_KEYS) {
      const v = (e as Partial<Record<(typeof POLICY_LOG_KEYS)[number], string>>)[k];
      if (v !== undefined) entry += `${entry ? ',' : ''}"${k}":${str(clip(v))}`;
    }
    acted += `${acted ? ',' : ''}{${entry}}`;
  }
  if (acted) f += `,"policy":[${acted}]`;
  if (s.policyOmitted > 0) f += `,"policyOmitted":${s.policyOmitted}`;
  return f;
}

/** The registry look-up of one admission, for its log line. */
export interface LookupNote {
  /** Images admit() asked about. */
  images: number;
  /** Time waited for the registry (ms), never more than the budget. */
  ms: number;
  /** admit() ran again with the warmer cache (false: the budget was spent before the look-up could start). */
  secondPass: boolean;
}

/** summary.lookups when admit() left images to ask the registry about, else undefined. */
function lookupsOf(summary: AdmissionSummary): string[] | undefined {
  return summary.lookups.length > 0 ? summary.lookups : undefined;
}

/**
 * Waits for registry.lookup() at most `budgetMs`, and never fails: a look-up that throws, rejects or never
 * settles ends the wait like a timeout does. Resolves with the time waited (ms).
 */
export function waitAtMost(registry: Pick<RegistryLookups, 'lookup'>, images: string[], budgetMs: number): Promise<number> {
  const start = performance.now();
  const waited = () => ms((performance.now() - start) / 1000);
  let pending: Promise<unknown>;
  try {
    // Whole milliseconds: AbortSignal.timeout() and other timer APIs refuse fractions.
    pending = Promise.resolve(registry.lookup(images, Math.floor(budgetMs)));
  } catch {
    return Promise.resolve(waited());
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, budgetMs);
  });
  return Promise.race([pending.then(noop, noop), timeout]).then(() => {
    clearTimeout(timer);
    return waited();
  });
}

function noop(): void {}

type AnyRequest = FastifyRequest<any, any, any>;
type AnyReply = FastifyReply<any, any, any, any>;
/** An admission waiting for the end of its event-loop turn. */
type Pending = { request: AnyRequest; reply: AnyReply; body: unknown; plainContext: AdmitContext };
/** Its first pass: the result, and what a second pass after registry look-ups needs besides the Pending. */
type FirstPass = {
  started: number;
  registry: RegistryLookups | undefined;
  runtime: Runtime | undefined;
  context: AdmitContext | undefined;
  result: AdmissionResult;
};

const START = Symbol('admissionStart');
/** Bytes of the request's JSON body, as read (the admissions of a turn are bounded by their sum). */
const BODY_BYTES = Symbol('bodyBytes');
type Stamped = { [START]?: number; [BODY_BYTES]?: number };
function elapsedSeconds(request: object): number {
  const start = (request as Stamped)[START];
  return start === undefined ? 0 : (performance.now() - start) / 1000;
}

function ms(seconds: number): number {
  return Math.round(seconds * 1e6) / 1e3;
}

/** "::" where the OS has IPv6 (a dual-stack socket also takes IPv4), else "0.0.0.0". */
function wildcardHost(): Promise<string> {
  return new Promise((resolve) => {
    const probe = createNetServer();
    probe.once('error', () => resolve('0.0.0.0'));
    probe.listen({ host: '::', port: 0 }, () => probe.close(() => resolve('::')));
  });
}

function urlOf(scheme: 'http' | 'https', address: AddressInfo, dualStack = false): string {
  let host = address.address;
  // A dual-stack wildcard takes IPv4 too; 127.0.0.1 works even where the loopback has no ::1.
  if (host === '0.0.0.0' || (host === '::' && dualStack)) host = '127.0.0.1';
  else if (host === '::') host = '::1';
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};
function statusText(status: number): string {
  return STATUS_TEXT[status] ?? (status >= 500 ? 'Internal Server Error' : 'Bad Request');
}
