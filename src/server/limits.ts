/**
 * Connection hygiene for the HTTPS port: what one client may hold, and for how long. The values and their reasons
 * are in the header comment of app.ts; this file applies them.
 *
 * Request bodies are charged by their declared size (Content-Length, or the body limit when a body has none) from
 * the moment the headers arrive until the answer is written (or the request is gone): O(1) per request, and an upper
 * bound on what the body can cost, since nghttp2 and the HTTP/1 parser never deliver more than Content-Length. A
 * body refused before it is read (413, 503: not charged) is drained and dropped as it arrives on HTTP/2 (HTTP/1.1
 * closes the connection after such an answer), so it holds nothing.
 *
 * Per request this costs one fastify hook (onRequest), one entry in the list of requests in flight and one 'close'
 * listener on the response, which releases everything. The deadlines are not timers per request: one unref'd sweep
 * timer per server (every quarter of the shorter deadline, between 10 ms and 1 s) walks the requests in flight.
 * - Body deadline: a request whose body is not in (or that still waits for the large-body turn) bodyTimeoutMs after
 *   its headers gets 408 at the first sweep past that point: at most one sweep period late, never early.
 * - Write deadline: an answer handed over but not yet written out is noted by the first sweep that sees it and cut
 *   (stream reset / connection destroyed) writeTimeoutMs later: between writeTimeoutMs and writeTimeoutMs + two
 *   periods after the hand-over, never early.
 * - HTTP/2 answer sent before the client finished its body (RFC 9113 8.1: ask it to stop): done right after our own
 *   408/413/503 are written, and by the sweep for any other early answer (fastify's 404/415).
 */
import http2, { type Http2SecureServer, type Http2ServerRequest, type Http2Stream } from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorFields, type Logger } from '../telemetry/logger.js';
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
  /** HTTP/2 SETTINGS_INITIAL_WINDOW_SIZE: body bytes a client may send on a stream before we ask for more. */
  streamWindowBytes: number;
  /** HTTP/2 connection flow-control window: body bytes a client may send on a connection before we ask for more. */
  sessionWindowBytes: number;
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
  /**
   * After a large body held the turn for t ms, the next starts no earlier than min(t, this) ms later: large bodies
   * take at most half of the event loop, so a normal admission waits behind at most about one of them (a 3 MiB
   * review takes about 20-30 ms of event loop).
   */
  largeBodyPauseMaxMs: number;
  /** Connection events are logged as one summary line per interval, never one line each. */
  eventLogIntervalMs: number;
}

/** What fastify sets for a serialised object; the same for the answers and errors the server sends as text. */
export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/** The sweep's period: a quarter of the shorter deadline, at least 10 ms and at most 1 s. */
export function sweepPeriodMs(l: Pick<ConnectionLimits, 'bodyTimeoutMs' | 'writeTimeoutMs'>): number {
  return Math.min(1000, Math.max(10, Math.floor(Math.min(l.bodyTimeoutMs, l.writeTimeoutMs) / 4)));
}

/** HTTP/2 options for http2.createSecureServer (merged into fastify's `https`). */
export function http2ServerOptions(l: ConnectionLimits): http2.SecureServerOptions {
  return {
    settings: {
      maxConcurrentStreams: l.maxConcurrentStreams,
      maxHeaderListSize: l.maxHeaderListSize,
      enablePush: false,
      initialWindowSize: l.streamWindowBytes,
    },
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

/**
 * The large-body turn: one holder at a time, a bounded FIFO of waiters (at most `queueCap`, so shift() is cheap),
 * and a pause after each holder as long as it held the turn (capped at `pauseMaxMs`): large bodies get at most
 * half of the event loop. The clock and the timer are injected so the rule can be tested without waiting.
 */
export class LargeBodyTurn {
  private holding = false;
  private startedAt = 0;
  /** No holder starts before this (the pause after the last one). */
  private resumeAt = Number.NEGATIVE_INFINITY;
  private cancelTimer: (() => void) | undefined;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly queueCap: number,
    private readonly pauseMaxMs: number,
    private readonly now: () => number = () => performance.now(),
    private readonly later: (run: () => void, ms: number) => () => void = unrefTimeout,
  ) {}

  /** Whether enter() would refuse (the turn is taken or pausing, and the queue is full). */
  full(): boolean {
    return !this.free() && this.waiting.length >= this.queueCap;
  }

  /**
   * Calls start() now, or when its turn comes; start() must call leave() once it is done (at once if its request is
   * gone). Returns false (start() never called) when the queue is full.
   */
  enter(start: () => void): boolean {
    if (this.free()) {
      this.begin();
      start();
      return true;
    }
    if (this.waiting.length >= this.queueCap) return false;
    this.waiting.push(start);
    this.next();
    return true;
  }

  /** The holder is done: the next waiter starts after the pause. */
  leave(): void {
    if (!this.holding) return;
    this.holding = false;
    const now = this.now();
    this.resumeAt = now + Math.min(Math.max(0, now - this.startedAt), this.pauseMaxMs);
    this.next();
  }

  /** Waiters (for tests and the docs' "at most largeBodyQueue wait"). */
  get queued(): number {
    return this.waiting.length;
  }

  stop(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }

  private free(): boolean {
    return !this.holding && this.waiting.length === 0 && this.cancelTimer === undefined && this.now() >= this.resumeAt;
  }

  private begin(): void {
    this.holding = true;
    this.startedAt = this.now();
  }

  /** Starts the first waiter if the turn is free and the pause is over, else arms the one timer for the pause. */
  private next(): void {
    if (this.holding || this.cancelTimer || this.waiting.length === 0) return;
    const wait = this.resumeAt - this.now();
    if (wait > 0) {
      this.cancelTimer = this.later(() => {
        this.cancelTimer = undefined;
        this.next();
      }, wait);
      return;
    }
    const start = this.waiting.shift()!;
    this.begin();
    start();
  }
}

function unrefTimeout(run: () => void, ms: number): () => void {
  const timer = setTimeout(run, ms);
  timer.unref();
  return () => clearTimeout(timer);
}

/** Bytes reserved against a limit; each request releases exactly what it took. */
class Budget {
  used = 0;
  constructor(readonly limit: number) {}
  fits(n: number): boolean {
    return this.used + n <= this.limit;
  }
}

type AnyRequest = FastifyRequest<any, any, any>;
type AnyReply = FastifyReply<any, any, any>;
type RawRequest = IncomingMessage | Http2ServerRequest;
type RawResponse = ServerResponse | http2.Http2ServerResponse;

const NO_TURN = 0;
const WAITING = 1;
const HOLDING = 2;

/** A request in flight, from its headers until its response closes. */
interface Flight {
  readonly request: AnyRequest;
  readonly reply: AnyReply;
  /** HTTP/2: the stream; HTTP/1.1: undefined (see socket). */
  readonly stream: Http2Stream | undefined;
  readonly socket: Socket | null;
  /** performance.now() when the headers arrived. */
  readonly arrived: number;
  charged: number;
  connection: Budget | undefined;
  turn: typeof NO_TURN | typeof WAITING | typeof HOLDING;
  /** When a sweep first saw the answer handed over but not written out (-1: not yet). */
  writeSeen: number;
  /** We reset the stream ourselves (not counted as a client's reset). */
  ourReset: boolean;
  done: boolean;
  /** Neighbours in the list of requests in flight. */
  prev: Flight | undefined;
  next: Flight | undefined;
}

/**
 * The requests in flight as an intrusive doubly linked list: O(1) add and remove with no table. (A Set measured
 * worse under load: its backing store, rebuilt as requests come and go, kept ~35 MiB more heap alive.)
 */
class FlightList {
  private head: Flight | undefined;

  add(f: Flight): void {
    f.next = this.head;
    if (this.head) this.head.prev = f;
    this.head = f;
  }

  remove(f: Flight): void {
    if (f.prev) f.prev.next = f.next;
    else if (this.head === f) this.head = f.next;
    if (f.next) f.next.prev = f.prev;
    f.prev = f.next = undefined;
  }

  /** Calls visit for each request in flight; visit may remove the one it is given. */
  forEach(visit: (f: Flight) => void): void {
    for (let f = this.head; f; ) {
      const next = f.next;
      visit(f);
      f = next;
    }
  }
}

/** The connection a request belongs to: the HTTP/2 session, or the HTTP/1.1 socket. */
function connectionKey(f: Flight): object | undefined {
  return f.stream?.session ?? f.socket ?? undefined;
}

function declaredBodySize(raw: RawRequest, bodyLimit: number): number {
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
 * deadline, the large-body turn, counters for resets, aborts and handshake failures. Returns the event log and a
 * stop function (flushes the log; the sweep ends with the server).
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
  const turn = new LargeBodyTurn(limits.largeBodyQueue, limits.largeBodyPauseMaxMs);
  const inFlight = new FlightList();

  server.maxConnections = limits.maxConnections;
  server.on('drop', () => events.record('connection_refused'));
  server.on('tlsClientError', () => events.record('tls_handshake_failed'));
  server.on('sessionError', () => events.record('session_error'));
  // A client that sends "Expect: 100-continue" waits before sending its body: answer 413 instead of 100 when
  // Content-Length is over the limit (curl does this for bodies over 1 MiB). Otherwise continue as Node would.
  server.on('checkContinue', (req: RawRequest, res: any) => {
    if (declaredBodySize(req, limits.bodyLimit) > limits.bodyLimit) {
      events.record('body_too_large');
      const headers: Record<string, string> = { 'content-type': JSON_CONTENT_TYPE };
      if (req.httpVersionMajor === 1) headers.connection = 'close';
      res.writeHead(413, headers);
      res.end(errorBody('Payload Too Large', `request body is larger than ${limits.bodyLimit} bytes`));
      return;
    }
    res.writeContinue();
    server.emit('request', req, res);
  });

  const leaveTurn = (f: Flight) => {
    if (f.turn !== HOLDING) return;
    f.turn = NO_TURN;
    turn.leave();
  };

  const release = (f: Flight) => {
    if (f.done) return;
    f.done = true;
    inFlight.remove(f);
    if (f.connection) {
      f.connection.used -= f.charged;
      total.used -= f.charged;
    }
    leaveTurn(f);
  };

  // The one listener per request: the response closes when it is written out, or when its stream/connection ends.
  const onClose = (f: Flight) => {
    if (f.done) return;
    release(f);
    if (f.stream) {
      const code = f.stream.rstCode;
      if (code !== undefined && code !== http2.constants.NGHTTP2_NO_ERROR && !f.ourReset) events.record('stream_reset');
    } else if (!(f.reply.raw as RawResponse).headersSent) {
      events.record('request_aborted'); // an HTTP/1.1 client that left before the answer
    }
  };

  /** Closes what is left of a request after its answer: the client may still be sending a body nobody reads. */
  const abandon = (f: Flight, how: 'graceful' | 'reset') => {
    const stream = f.stream;
    if (stream) {
      if (stream.closed || stream.destroyed) return;
      f.ourReset = true;
      stream.close(how === 'graceful' ? http2.constants.NGHTTP2_NO_ERROR : http2.constants.NGHTTP2_CANCEL);
    } else if (how === 'reset') {
      f.socket?.destroy();
    }
    // HTTP/1.1 graceful: the answer carries "connection: close"; Node ends the socket once it is written.
  };

  /** HTTP/2: our answer is written but the client is still sending a body: ask it to stop (RFC 9113 8.1). */
  const stopBody = (f: Flight) => {
    // abandon() itself skips a stream already closed or destroyed.
    if (!f.stream!.state.remoteClose) abandon(f, 'graceful');
  };

  const answer = (f: Flight, status: number, error: string, message: string) => {
    const { request, reply } = f;
    reply.code(status).header('content-type', JSON_CONTENT_TYPE);
    if (request.raw.httpVersionMajor === 1) reply.header('connection', 'close');
    reply.send(errorBody(error, message));
    if (f.stream && !(request.raw as RawRequest).complete) {
      // A body nobody will read: drained and dropped as it arrives. Held, its bytes would wait in the stream's buffer,
      // up to the stream window (1 MiB, app.ts), for as long as a client that does not read this answer keeps the
      // stream open; a refused (413/503) body is not charged against the body budgets, so 250 such streams could pin
      // 250 MiB on one connection.
      request.raw.resume();
      f.stream.once('finish', () => stopBody(f));
    }
  };

  const busy = (f: Flight, message: string) => {
    events.record('busy');
    f.reply.header('retry-after', '1');
    answer(f, 503, 'Service Unavailable', message);
  };

  const check = (f: Flight, now: number) => {
    const res = f.reply.raw as RawResponse;
    // HTTP/1.1 responses queued behind a pipelined one get no 'close' when the connection dies: release them here.
    if (!f.stream && f.socket?.destroyed) return onClose(f);
    if (!res.headersSent) {
      // Not answered: the body deadline, for a body not in yet or still waiting for the large-body turn.
      if (f.charged > 0 && (f.turn === WAITING || !(f.request.raw as RawRequest).complete) && now - f.arrived >= limits.bodyTimeoutMs) {
        events.record('body_timeout');
        answer(f, 408, 'Request Timeout', `request body not received within ${limits.bodyTimeoutMs} ms`);
      }
    } else if (f.stream) {
      // HTTP/2: nghttp2 takes the answer into its own queue at once, so "written out" is the stream closing.
      const stream = f.stream;
      if (stream.closed || stream.destroyed) return; // 'close' is on its way
      if (res.writableEnded && !stream.state.remoteClose) abandon(f, 'graceful'); // answered while the client still sends (404, 415)
      else writeDeadline(f, now);
    } else if (!res.writableFinished) {
      writeDeadline(f, now);
    }
  };
  const sweep = () => {
    const now = performance.now();
    let failed: unknown;
    inFlight.forEach((f) => {
      // A check that throws (a stream state nobody foresaw) must not end the process from a timer: the other
      // requests are still checked, and one line says so.
      try {
        check(f, now);
      } catch (err) {
        failed ??= err;
      }
    });
    if (failed !== undefined) logger.error({ err: errorFields(failed) }, 'connection limits: a deadline check failed');
  };
  /** Handed over, not written out: the write deadline runs from the first sweep that sees it. */
  const writeDeadline = (f: Flight, now: number) => {
    if (f.writeSeen < 0) f.writeSeen = now;
    else if (now - f.writeSeen >= limits.writeTimeoutMs) {
      events.record('write_timeout');
      abandon(f, 'reset');
    }
  };
  const sweepTimer = setInterval(sweep, sweepPeriodMs(limits));
  sweepTimer.unref();
  server.once('close', () => {
    clearInterval(sweepTimer);
    turn.stop();
  });

  app.addHook('onRequest', (request, reply, done) => {
    const raw = request.raw as RawRequest;
    const stream = (raw as Http2ServerRequest).stream as Http2Stream | undefined;
    const f: Flight = {
      request,
      reply,
      stream,
      // Not read for HTTP/2: the compat request's socket is a Proxy built on first access.
      socket: stream ? null : (raw as IncomingMessage).socket,
      arrived: performance.now(),
      charged: 0,
      connection: undefined,
      turn: NO_TURN,
      writeSeen: -1,
      ourReset: false,
      done: false,
      prev: undefined,
      next: undefined,
    };
    inFlight.add(f);
    (reply.raw as RawResponse).on('close', () => onClose(f));

    const size = declaredBodySize(raw, limits.bodyLimit);
    if (size > limits.bodyLimit) {
      events.record('body_too_large');
      answer(f, 413, 'Payload Too Large', `request body is larger than ${limits.bodyLimit} bytes`);
      return;
    }
    if (size === 0) return done();
    const key = connectionKey(f);
    let connection = key && perConnection.get(key);
    if (!connection) {
      connection = new Budget(limits.connectionBodyBytes);
      if (key) perConnection.set(key, connection);
    }
    if (!connection.fits(size) || !total.fits(size)) return busy(f, 'too many request bodies in flight; retry');
    const large = size > limits.largeBodyBytes;
    if (large && turn.full()) return busy(f, 'too many large request bodies waiting; retry');
    connection.used += size;
    total.used += size;
    f.charged = size;
    f.connection = connection;
    if (!large) return done();
    f.turn = WAITING;
    turn.enter(() => {
      // Gone (timed out, reset) while waiting: pass the turn on.
      if (f.done || (reply.raw as RawResponse).headersSent) {
        f.turn = NO_TURN;
        return turn.leave();
      }
      f.turn = HOLDING;
      // The turn covers reading, parsing and the handler's synchronous part (all in the tick of the body's 'end');
      // an HTTP/2 answer written before the body ended (404, 415) also ends it.
      raw.once('end', () => setImmediate(leaveTurn, f));
      f.stream?.once('finish', () => leaveTurn(f));
      done();
    });
  });

  return { events, stop: () => events.flush() };
}
