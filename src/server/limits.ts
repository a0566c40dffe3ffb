/**
 * Connection hygiene for the HTTPS port: what one client may hold, and for how long. The values and their reasons
 * are in the header comment of app.ts; this file applies them.
 *
 * Request bodies are charged by their declared size (Content-Length, or the body limit when a body has none) from
 * the moment the headers arrive until the answer is sent: O(1) per request, and an upper bound on what the body can
 * cost, since nghttp2 and the HTTP/1 parser never deliver more than Content-Length.
 */
import http2, { type Http2SecureServer, type Http2ServerRequest, type Http2Stream } from 'node:http2';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../telemetry/logger.js';
import type { ConnectionEvent, Metrics } from '../telemetry/metrics.js';

export interface ConnectionLimits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS advertised to HTTP/2 clients. */
  maxConcurrentStreams: number;
  /** Node's maxSessionMemory (MB) per HTTP/2 session: nghttp2 state, header tables, queued frames. */
  maxSessionMemoryMb: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE (bytes) for HTTP/2; HTTP/1.1 keeps Node's 16 KiB maxHeaderSize. */
  maxHeaderListSize: number;
  /** Header name/value pairs per request (HTTP/2). */
  maxHeaderListPairs: number;
  /** Unacknowledged PINGs a client may have outstanding. */
  maxOutstandingPings: number;
  /** Open TLS connections (server.maxConnections); more are closed at accept and counted. */
  maxConnections: number;
  /** A request body not fully received this long after its headers: 408, then the stream/connection is closed. */
  bodyTimeoutMs: number;
  /** An answer not fully written this long after it was handed over: the stream is reset / connection destroyed. */
  writeTimeoutMs: number;
  /** Declared request body bytes in flight on one connection (HTTP/2: across its streams). Over it: 503. */
  connectionBodyBytes: number;
  /** Declared request body bytes in flight on the whole server. Over it: 503. */
  totalBodyBytes: number;
  /** Largest accepted body; a larger Content-Length gets 413 before the body is read. */
  bodyLimit: number;
  /**
   * Bodies declared larger than this are read and handled one at a time, server-wide (the rest wait, unread, with
   * their body deadline running): parsing a large review takes the event loop for milliseconds, and a client that
   * floods large reviews must not make every normal admission wait behind several of them.
   */
  largeBodyBytes: number;
  /** Large-body requests waiting for their turn at most; past it: 503. */
  largeBodyQueue: number;
  /** Connection events are logged as one summary line per interval, never one line each. */
  eventLogIntervalMs: number;
}

/** HTTP/2 options for http2.createSecureServer (merged into fastify's `https`). */
export function http2ServerOptions(l: ConnectionLimits): http2.SecureServerOptions {
  return {
    settings: { maxConcurrentStreams: l.maxConcurrentStreams, maxHeaderListSize: l.maxHeaderListSize, enablePush: false },
    maxSessionMemory: l.maxSessionMemoryMb,
    maxHeaderListPairs: l.maxHeaderListPairs,
    maxOutstandingPings: l.maxOutstandingPings,
  };
}

/** Counts events on the metric at once and logs them as one line per interval (a flood is one line, not many). */
export class ConnectionEventLog {
  private pending = new Map<ConnectionEvent, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    private readonly intervalMs: number,
  ) {}

  record(event: ConnectionEvent): void {
    this.metrics.recordConnectionEvent(event);
    this.pending.set(event, (this.pending.get(event) ?? 0) + 1);
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.intervalMs);
      this.timer.unref();
    }
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.size === 0) return;
    const events = Object.fromEntries(this.pending);
    this.pending = new Map();
    this.logger.warn({ events, intervalMs: this.intervalMs }, 'connection events (counts since the last such line)');
  }
}

/** Bytes reserved against a limit; each request releases exactly what it took. */
class Budget {
  used = 0;
  constructor(readonly limit: number) {}
  fits(n: number): boolean {
    return this.used + n <= this.limit;
  }
}

interface RequestState {
  charged: number;
  connection: Budget;
  /** Holds the large-body turn (released with the request). */
  large: boolean;
  bodyTimer?: NodeJS.Timeout;
  writeTimer?: NodeJS.Timeout;
  done: boolean;
}

type AnyRequest = FastifyRequest<any, any, any>;
type AnyReply = FastifyReply<any, any, any>;

const STATE = Symbol('connectionLimits');
type WithState = { [STATE]?: RequestState };

/** The connection a request belongs to: the HTTP/2 session, or the HTTP/1.1 socket. */
function connectionKey(raw: IncomingMessage | Http2ServerRequest): object {
  const stream = (raw as Http2ServerRequest).stream as Http2Stream | undefined;
  return stream?.session ?? raw.socket;
}

function declaredBodySize(raw: IncomingMessage | Http2ServerRequest, bodyLimit: number): number {
  const length = raw.headers['content-length'];
  if (typeof length === 'string' && /^\d{1,15}$/.test(length)) return Number(length);
  const stream = (raw as Http2ServerRequest).stream as Http2Stream | undefined;
  if (stream) return stream.endAfterHeaders ? 0 : bodyLimit;
  return raw.headers['transfer-encoding'] !== undefined ? bodyLimit : 0;
}

function errorBody(error: string, message: string): string {
  return JSON.stringify({ error, message });
}

/**
 * Installs the caps on a fastify HTTP/2 (+HTTP/1.1) server: connection cap, body size/budget/deadline, write
 * deadline, counters for resets, aborts and handshake failures. Returns a stop function (clears the log timer).
 */
export function installConnectionLimits(
  app: FastifyInstance<Http2SecureServer>,
  limits: ConnectionLimits,
  logger: Logger,
  metrics: Metrics,
): { events: ConnectionEventLog; stop(): void } {
  const server = app.server;
  const events = new ConnectionEventLog(logger, metrics, limits.eventLogIntervalMs);
  const total = new Budget(limits.totalBodyBytes);
  const perConnection = new WeakMap<object, Budget>();
  // One large body at a time; the waiting ones are resumed in arrival order.
  let largeBusy = false;
  const largeWaiting: (() => void)[] = [];
  const nextLarge = () => {
    const resume = largeWaiting.shift();
    if (resume) resume();
    else largeBusy = false;
  };
  const ourResets = new WeakSet<Http2Stream>();

  server.maxConnections = limits.maxConnections;
  server.on('drop', () => events.record('connection_refused'));
  server.on('tlsClientError', () => events.record('tls_handshake_failed'));
  server.on('sessionError', () => events.record('session_error'));
  server.on('stream', (stream: Http2Stream) => {
    stream.once('close', () => {
      const code = stream.rstCode;
      if (code !== undefined && code !== http2.constants.NGHTTP2_NO_ERROR && !ourResets.has(stream)) events.record('stream_reset');
    });
  });
  // A client that sends "Expect: 100-continue" waits before sending its body: answer 413 instead of 100 when
  // Content-Length is over the limit (curl does this for bodies over 1 MiB). Otherwise continue as Node would.
  server.on('checkContinue', (req: IncomingMessage | Http2ServerRequest, res: any) => {
    if (declaredBodySize(req, limits.bodyLimit) > limits.bodyLimit) {
      events.record('body_too_large');
      const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' };
      if (req.httpVersionMajor === 1) headers.connection = 'close';
      res.writeHead(413, headers);
      res.end(errorBody('Payload Too Large', `request body is larger than ${limits.bodyLimit} bytes`));
      return;
    }
    res.writeContinue();
    server.emit('request', req, res);
  });

  const release = (state: RequestState) => {
    if (state.done) return;
    state.done = true;
    clearTimeout(state.bodyTimer);
    clearTimeout(state.writeTimer);
    state.connection.used -= state.charged;
    total.used -= state.charged;
    if (state.large) {
      state.large = false;
      nextLarge();
    }
  };

  /** Closes what is left of a request after its answer: the client may still be sending a body nobody reads. */
  const abandon = (request: AnyRequest, how: 'graceful' | 'reset') => {
    const raw = request.raw as IncomingMessage | Http2ServerRequest;
    const stream = (raw as Http2ServerRequest).stream as Http2Stream | undefined;
    if (stream) {
      if (stream.closed || stream.destroyed) return;
      ourResets.add(stream);
      stream.close(how === 'graceful' ? http2.constants.NGHTTP2_NO_ERROR : http2.constants.NGHTTP2_CANCEL);
    } else if (how === 'reset') {
      raw.socket?.destroy();
    }
    // HTTP/1.1 graceful: the answer carries "connection: close"; Node ends the socket once it is written.
  };

  const answer = (request: AnyRequest, reply: AnyReply, status: number, error: string, message: string) => {
    reply.code(status).header('content-type', 'application/json; charset=utf-8');
    if (request.raw.httpVersionMajor === 1) reply.header('connection', 'close');
    reply.send(errorBody(error, message));
  };

  app.addHook('onRequest', (request, reply, done) => {
    const raw = request.raw as IncomingMessage | Http2ServerRequest;
    const size = declaredBodySize(raw, limits.bodyLimit);
    if (size > limits.bodyLimit) {
      events.record('body_too_large');
      answer(request, reply, 413, 'Payload Too Large', `request body is larger than ${limits.bodyLimit} bytes`);
      return;
    }
    if (size === 0) return done();
    const key = connectionKey(raw);
    let connection = perConnection.get(key);
    if (!connection) {
      connection = new Budget(limits.connectionBodyBytes);
      perConnection.set(key, connection);
    }
    if (!connection.fits(size) || !total.fits(size)) {
      events.record('busy');
      reply.header('retry-after', '1');
      answer(request, reply, 503, 'Service Unavailable', 'too many request bodies in flight; retry');
      return;
    }
    const large = size > limits.largeBodyBytes;
    if (large && largeBusy && largeWaiting.length >= limits.largeBodyQueue) {
      events.record('busy');
      reply.header('retry-after', '1');
      answer(request, reply, 503, 'Service Unavailable', 'too many large request bodies waiting; retry');
      return;
    }
    connection.used += size;
    total.used += size;
    const state: RequestState = { charged: size, connection, large: false, done: false };
    (request as WithState)[STATE] = state;
    state.bodyTimer = setTimeout(() => {
      if (reply.sent || state.done) return;
      events.record('body_timeout');
      answer(request, reply, 408, 'Request Timeout', `request body not received within ${limits.bodyTimeoutMs} ms`);
    }, limits.bodyTimeoutMs);
    state.bodyTimer.unref();
    // Whatever happens to the request (answered, aborted, reset), its reservation and timers go with it.
    raw.once('close', () => release(state));
    if (!large) return done();
    const start = () => {
      if (state.done) return nextLarge(); // gone (timed out, reset) while waiting: pass the turn on
      state.large = true;
      done();
    };
    if (!largeBusy) {
      largeBusy = true;
      start();
    } else {
      largeWaiting.push(start);
    }
  });

  app.addHook('preHandler', (request, _reply, done) => {
    const state = (request as WithState)[STATE];
    if (state) clearTimeout(state.bodyTimer); // the body is in
    done();
  });

  // The answer is handed over now: it must be taken within writeTimeoutMs.
  app.addHook('onSend', (request, reply, payload, done) => {
    const timer = setTimeout(() => {
      events.record('write_timeout');
      abandon(request, 'reset');
    }, limits.writeTimeoutMs);
    timer.unref();
    const clear = () => clearTimeout(timer);
    reply.raw.once('finish', clear);
    reply.raw.once('close', clear);
    // HTTP/2: an answer sent before the client finished its body (408, 413, 503) leaves the stream half open, and
    // the compat response only finishes when the stream closes: ask the client to stop sending (RFC 9113 8.1).
    const stream = (request.raw as Http2ServerRequest).stream as Http2Stream | undefined;
    if (stream) {
      stream.once('finish', () => {
        if (!stream.closed && !stream.destroyed && !stream.state.remoteClose) abandon(request, 'graceful');
      });
    }
    done(null, payload);
  });

  app.addHook('onResponse', (request, _reply, done) => {
    const state = (request as WithState)[STATE];
    if (state) release(state);
    const raw = request.raw as IncomingMessage | Http2ServerRequest;
    if (!raw.complete) abandon(request, 'graceful');
    done();
  });

  app.addHook('onRequestAbort', (request, done) => {
    if (request.raw.httpVersionMajor === 1) events.record('request_aborted');
    const state = (request as WithState)[STATE];
    if (state) release(state);
    done();
  });

  return { events, stop: () => events.flush() };
}
