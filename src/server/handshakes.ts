/**
 * A budget on new TLS connections, applied at TCP accept before any TLS work (issue 8).
 *
 * A TLS handshake costs the server about 0.9 ms of CPU on the one event loop (measured below), so a client that
 * opens connections as fast as it can puts handshake after handshake in front of every admission: 2,000 h2
 * connections with 100 handshakes in flight took the p99 of normal admissions from 9.7 to 99 ms. kube-apiserver
 * needs almost none of this: it keeps a few long-lived connections (one HTTP/2 connection per API server, more
 * only when 250 streams are busy) and re-dials only after a webhook restart, a handful per API server. Admissions
 * on open connections are never touched here.
 *
 * Two limits, both O(1) per connection and without per-connection timers:
 * - a server-wide token bucket (ratePerSecond, burst) charged by every connection that is let through to TLS;
 * - a cap on handshakes in progress per source address (let through, neither 'secureConnection' nor
 *   'tlsClientError' yet). It bounds how much handshake work one client can queue in front of an admission at any
 *   moment. A handshake that never completes holds its slot until the server's handshakeTimeout (a tls.Server
 *   option; Node's default is 120 s), so the server sets a short one.
 * A connection over either is reset at once (RST: no crypto, no TIME_WAIT on our side) and counted. Connections
 * over server.maxConnections never get here: Node drops them before 'connection'.
 *
 * The price: the token bucket is shared by every client, so a client that keeps it spent (100 new connections a
 * second, sustained) also gets the new connections of kube-apiserver reset, and those calls fail (the webhook's
 * failurePolicy applies); its open connections keep working, and without the bucket the same flood delays every
 * admission instead. The in-progress cap is per source on purpose: a shared one would let a single Pod lock every
 * new connection out with 32 silent TCP connections re-opened every handshakeTimeout. Its map holds one entry per
 * source with a handshake in progress, so it is bounded by the connections the server accepts (maxConnections).
 *
 * How the gate sits in front of TLS: a tls.Server starts its handshake in its own 'connection' listener
 * (tlsConnectionListener wraps the socket in a TLSSocket). A listener prepended before it could destroy the socket,
 * but Node would still wrap the dead socket and report a 'socket hang up' tlsClientError for it (counted as
 * tls_handshake_failed). So the gate takes the listeners present at install (that one) and calls them itself, only
 * for the connections it lets through: a refused connection creates no TLSSocket and emits no TLS event.
 *
 * In-progress accounting uses the server's documented events: every TLSSocket of a tls.Server ends its handshake
 * with exactly one 'secureConnection' or one 'tlsClientError' (failure, hang-up, handshake timeout); Node guards
 * both. Each socket is counted down once (its WeakMap entry goes on the first), so the count cannot drift below
 * what was let through.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type tls from 'node:tls';

export interface HandshakeLimitOptions {
  /** New TLS connections per second, long-run. */
  ratePerSecond: number;
  /** New TLS connections at once after a quiet period (bucket size). */
  burst: number;
  /** TLS handshakes in progress at once from one source address. */
  maxInProgressPerSource: number;
  /** Monotonic clock in milliseconds (tests inject one). Default performance.now. */
  now?: () => number;
}

export type HandshakeEvent = 'handshake_limited';

/**
 * Production values. Measured on the 2-core dev machine (EC P-256 serving certificate, loopback, server pinned to
 * one core): 0.87-0.90 ms server CPU per TLS 1.3 handshake, 0.96-0.99 ms with the h2 session kube-apiserver then
 * opens, 0.6 ms with TLS 1.2.
 * - 100 per second: about 10% of one core at the sustained maximum (unlimited, a flood gets ~1,000 a second: the
 *   whole core), while kube-apiserver needs a handful per restart.
 * - burst 200: a simultaneous re-dial of every API server after a webhook restart, even over HTTP/1.1 (one
 *   connection per in-flight admission), fits several times over; the burst costs at most ~0.2 s of CPU.
 * - 32 in progress per source: an in-cluster handshake takes a few milliseconds, so 100 a second keep about one in
 *   progress; 32 leaves room for a burst of simultaneous dials from one API server while one client can queue at
 *   most ~30 ms of handshake work (32 × 0.9 ms) in front of an admission (100 were in flight in the abuse case).
 */
export const DEFAULT_HANDSHAKE_LIMITS: Readonly<Omit<HandshakeLimitOptions, 'now'>> = Object.freeze({
  ratePerSecond: 100,
  burst: 200,
  maxInProgressPerSource: 32,
});

/** A token bucket: starts full, refills continuously at ratePerSecond up to burst; take() spends one if there is one. */
class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  take(): boolean {
    const t = this.now();
    // A clock that goes backwards (an injected one) refills nothing rather than draining the bucket.
    if (t > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.ratePerSecond) / 1000);
      this.last = t;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

function checkOptions(o: HandshakeLimitOptions): void {
  const positive = (name: string, v: number, integer: boolean) => {
    if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
      throw new RangeError(`handshake limit ${name} must be a positive ${integer ? 'integer' : 'number'}, got ${v}`);
    }
  };
  positive('ratePerSecond', o.ratePerSecond, false);
  positive('burst', o.burst, true);
  positive('maxInProgressPerSource', o.maxInProgressPerSource, true);
}

type ConnectionListener = (this: tls.Server, socket: Socket) => void;

/**
 * Puts the budget in front of the TLS handshake of `server` (a tls.Server or http2 secure server, before it
 * listens). Refused connections are reset and reported through record('handshake_limited'). stop() puts the
 * server's own listeners back as they were.
 */
export function installHandshakeLimit(
  server: tls.Server,
  options: HandshakeLimitOptions,
  record: (event: HandshakeEvent) => void,
): { stop(): void } {
  checkOptions(options);
  const bucket = new TokenBucket(options.ratePerSecond, options.burst, options.now ?? (() => performance.now()));
  const maxPerSource = options.maxInProgressPerSource;
  // Source address -> handshakes in progress from it; an entry goes when its count reaches 0.
  const inProgress = new Map<string, number>();
  // Raw socket -> its source, while its handshake is in progress (deleted when it ends: counted down once).
  const sourceOf = new WeakMap<object, string>();

  const tlsListeners = server.listeners('connection') as ConnectionListener[];
  for (const listener of tlsListeners) server.removeListener('connection', listener);

  const gate = function (this: tls.Server, socket: Socket) {
    const source = socket.remoteAddress ?? '';
    const busy = inProgress.get(source) ?? 0;
    // In-progress first: a connection refused for it spends no token (it cost no crypto either).
    if (busy >= maxPerSource || !bucket.take()) {
      record('handshake_limited');
      socket.resetAndDestroy();
      return;
    }
    inProgress.set(source, busy + 1);
    sourceOf.set(socket, source);
    for (const listener of tlsListeners) listener.call(this, socket);
  };
  const handshakeOver = (tlsSocket: tls.TLSSocket) => {
    // Node's TLS listener wraps the raw socket it was given and keeps it as _parent (if that ever changes, no slot
    // is freed and the test 'a slot is freed when a handshake ends' fails).
    const raw = (tlsSocket as unknown as { _parent?: object })._parent ?? tlsSocket;
    const source = sourceOf.get(raw);
    if (source === undefined) return;
    sourceOf.delete(raw);
    const busy = inProgress.get(source) ?? 0;
    if (busy <= 1) inProgress.delete(source);
    else inProgress.set(source, busy - 1);
  };
  const onSecure = (socket: tls.TLSSocket) => handshakeOver(socket);
  const onClientError = (_err: Error, socket: tls.TLSSocket) => handshakeOver(socket);

  // The gate takes the place of the TLS listener: first, as it was.
  server.prependListener('connection', gate);
  server.on('secureConnection', onSecure);
  server.on('tlsClientError', onClientError);

  return {
    stop() {
      server.removeListener('connection', gate);
      server.removeListener('secureConnection', onSecure);
      server.removeListener('tlsClientError', onClientError);
      for (const listener of [...tlsListeners].reverse()) server.prependListener('connection', listener);
    },
  };
}
