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
 * New connections are paced, not refused: a connection is handed to TLS when the server-wide token bucket has a
 * token (ratePerSecond, a small burst), taken from per-source queues in turn (round-robin by source address), so
 * handshake work is spread out (at most `burst` back to back, then one per 1/ratePerSecond) instead of arriving
 * in blocks in front of an admission, and a flood from one address delays another address's new connection by
 * one turn, not by the flood. Until its turn a connection waits unread: its socket is paused from accept
 * (pauseOnConnect) and its ClientHello stays in the kernel for TLS to read. Bounds, all O(1) or O(sources queued)
 * per event and without per-connection timers (one timer runs while anything waits):
 * - at most maxQueuedPerSource waiting per source and maxQueued in all, each for at most maxWaitMs (kept well under
 *   client-go's 10 s TLS handshake timeout, so a waiting client still has time for its handshake). Over these the
 *   connection is reset (RST: no crypto, no TIME_WAIT on our side) and counted (`handshake_limited`);
 * - at most maxInProgressPerSource handshakes in progress per source address (handed to TLS, neither
 *   'secureConnection' nor 'tlsClientError' yet): one client's silent connections (each held until the server's
 *   handshakeTimeout) hold up only that client's next connections, not other sources' (a shared cap would let one
 *   Pod lock every new connection out with 32 silent sockets). A source at its cap is skipped in the turn.
 * Connections over server.maxConnections never get here: Node drops them before 'connection'; waiting connections
 * count toward it.
 *
 * The price: new connections wait their turn when others arrive faster than the rate (apiserver's re-dial behind a
 * one-address flood waits about one turn, 10 ms); a flood from more addresses than maxQueued / maxQueuedPerSource
 * can fill the queue and then new connections are reset as before (kube-apiserver retries a reset dial).
 *
 * How the gate sits in front of TLS: a tls.Server starts its handshake in its own 'connection' listener
 * (tlsConnectionListener wraps the socket in a TLSSocket). A listener prepended before it could destroy the socket,
 * but Node would still wrap the dead socket and report a 'socket hang up' tlsClientError for it (counted as
 * tls_handshake_failed). So the gate takes the listeners present at install (that one) and calls them itself, only
 * for the connections it lets through, when their turn comes: a refused connection creates no TLSSocket and emits
 * no TLS event.
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
  /** New TLS connections handed to TLS per second, long-run. */
  ratePerSecond: number;
  /** New TLS connections handed to TLS back to back after a quiet period (bucket size). */
  burst: number;
  /** TLS handshakes in progress at once from one source address. */
  maxInProgressPerSource: number;
  /** Connections waiting for their turn, per source address and in all. */
  maxQueuedPerSource: number;
  maxQueued: number;
  /** How long a connection may wait for its turn before it is reset. */
  maxWaitMs: number;
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
 * - burst 4: at most ~4 ms of handshakes back to back in front of an admission (a burst of 200 let a flood put
 *   180 ms there: the p99 of normal admissions went 8.6 -> 25 ms); a simultaneous re-dial of every API server,
 *   even over HTTP/1.1 with dozens of connections, waits a few hundred milliseconds instead of being reset.
 * - 32 in progress per source: an in-cluster handshake takes a few milliseconds, so at the rate about one is in
 *   progress; 32 silent connections hold up their own source only.
 * - 64 waiting per source, 256 in all (half of maxConnections, so waiting connections cannot crowd out open ones),
 *   each for at most 3 s: 64 waiting drain in 0.64 s at the rate, and client-go's TLS handshake timeout is 10 s.
 */
export const DEFAULT_HANDSHAKE_LIMITS: Readonly<Omit<HandshakeLimitOptions, 'now'>> = Object.freeze({
  ratePerSecond: 100,
  burst: 4,
  maxInProgressPerSource: 32,
  maxQueuedPerSource: 64,
  maxQueued: 256,
  maxWaitMs: 3_000,
});

/** A token bucket: starts full, refills continuously at ratePerSecond up to burst. */
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

  private refill(): void {
    const t = this.now();
    // A clock that goes backwards (an injected one) refills nothing rather than draining the bucket.
    if (t > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.ratePerSecond) / 1000);
      this.last = t;
    }
  }

  /** Milliseconds until a token is there (0: one is there now). */
  wait(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : ((1 - this.tokens) * 1000) / this.ratePerSecond;
  }

  /** Returns a token taken for nothing (up to the burst). */
  giveBack(): void {
    this.tokens = Math.min(this.burst, this.tokens + 1);
  }

  /** Spends a token if there is one. */
  take(): boolean {
    this.refill();
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
  positive('maxQueuedPerSource', o.maxQueuedPerSource, true);
  positive('maxQueued', o.maxQueued, true);
  positive('maxWaitMs', o.maxWaitMs, false);
}

type ConnectionListener = (this: tls.Server, socket: Socket) => void;

/** A connection waiting for its turn. */
interface Waiting {
  socket: Socket;
  source: string;
  since: number;
  onClose: () => void;
}

const ignore = () => undefined;

/** RST, unless the socket is already ending or gone (then a reset fails, asynchronously): only destroyed. */
function resetOrDestroy(socket: Socket): void {
  if (socket.destroyed || socket.writableEnded) socket.destroy();
  else socket.resetAndDestroy();
}
/** While no connection waits, the timer is off; while one waits but no source can start, look again this often. */
const BLOCKED_RECHECK_MS = 100;

export interface HandshakeLimit {
  /** Connections waiting for their turn now. */
  waiting(): number;
  /** Resets every waiting connection and puts the server's own listeners back as they were. */
  stop(): void;
}

/** net.Server's pauseOnConnect option, kept as a property of the server (read at each connection). */
type ServerWithPause = tls.Server & { pauseOnConnect?: boolean };

/**
 * Puts the budget in front of the TLS handshake of `server` (a tls.Server or http2 secure server, before it
 * listens). Refused connections are reset and reported through record('handshake_limited').
 */
export function installHandshakeLimit(
  server: tls.Server,
  options: HandshakeLimitOptions,
  record: (event: HandshakeEvent) => void,
): HandshakeLimit {
  checkOptions(options);
  const now = options.now ?? (() => performance.now());
  const bucket = new TokenBucket(options.ratePerSecond, options.burst, now);
  const { maxInProgressPerSource, maxQueuedPerSource, maxQueued, maxWaitMs } = options;
  // Source address -> handshakes in progress from it; an entry goes when its count reaches 0.
  const inProgress = new Map<string, number>();
  // Raw socket -> its source, while its handshake is in progress (deleted when it ends: counted down once).
  const sourceOf = new WeakMap<object, string>();
  // Source address -> its waiting connections, oldest first. Map order is the turn order: a source that has had
  // its turn goes to the back. Bounded by maxQueued entries in all.
  const queues = new Map<string, Waiting[]>();
  let queued = 0;
  let timer: NodeJS.Timeout | undefined;
  let pumping = false;
  let stopped = false;

  const tlsListeners = server.listeners('connection') as ConnectionListener[];
  for (const listener of tlsListeners) server.removeListener('connection', listener);
  // Connections arrive not reading (net.Server's pauseOnConnect): a waiting one leaves its ClientHello in the kernel
  // until TLS starts, and TLS then reads it itself. Read into the socket while it waited, the ClientHello reached TLS
  // as an injected write, which left a small buffer in that TLS socket's input ring for the rest of the connection's
  // life: a 99 KiB review then took about 10 reads instead of 3 (strace), about 55 µs of CPU more per large review
  // over HTTP/1.1 (docs/performance.md). TLS starts reading a socket it wraps whether or not it was paused.
  const pausing = server as ServerWithPause;
  const pausedBefore = pausing.pauseOnConnect;
  pausing.pauseOnConnect = true;

  // A refused socket keeps a listener for 'error' for good: a reset can fail asynchronously (EINVAL when the client
  // has already sent FIN and Node's own shutdown of the socket is pending), and an 'error' without a listener would
  // end the process. A socket already gone is only destroyed.
  const refuse = (socket: Socket) => {
    record('handshake_limited');
    if (!socket.listeners('error').includes(ignore)) socket.on('error', ignore);
    resetOrDestroy(socket);
  };

  // A waiting socket is not read (pauseOnConnect, above), so a client that hangs up or resets while it waits is
  // only seen when its turn comes, as TLS reads the hang-up (it costs a token; before any ClientHello, no key
  // exchange), or when its wait runs out: the queue's bounds hold either way. `keepErrorListener`: for a socket
  // about to be refused or destroyed.
  const unqueue = (w: Waiting, keepErrorListener: boolean) => {
    w.socket.removeListener('close', w.onClose);
    if (!keepErrorListener) w.socket.removeListener('error', ignore);
    queued--;
  };

  const startTls = (w: Waiting) => {
    unqueue(w, false);
    inProgress.set(w.source, (inProgress.get(w.source) ?? 0) + 1);
    sourceOf.set(w.socket, w.source);
    // Node's TLS listener gives the TLS socket it makes the server's pauseOnConnect too: that socket must start as
    // the server's own would (a plain tls.Server's 'data' listeners get nothing from a TLS socket made paused).
    pausing.pauseOnConnect = pausedBefore;
    try {
      for (const listener of tlsListeners) listener.call(server, w.socket);
    } catch {
      // Node's TLS listener threw (it should not): no TLS event will come for this socket, so its slot is given
      // back here and the socket closed, rather than held until a restart.
      handshakeOverRaw(w.socket);
      w.socket.on('error', ignore);
      w.socket.destroy();
    } finally {
      if (!stopped) pausing.pauseOnConnect = true;
    }
  };

  // Hands waiting connections to TLS while there are tokens, one source after the other.
  const pump = () => {
    if (pumping) return; // starting TLS can end a handshake at once (a dead socket): that call pumps on return
    pumping = true;
    try {
      while (queued > 0) {
        let turn: string | undefined;
        for (const source of queues.keys()) {
          if ((inProgress.get(source) ?? 0) < maxInProgressPerSource) {
            turn = source;
            break;
          }
        }
        if (turn === undefined || !bucket.take()) break;
        const queue = queues.get(turn)!;
        const w = queue.shift()!;
        queues.delete(turn);
        if (queue.length > 0) queues.set(turn, queue);
        if (w.socket.destroyed) {
          // Gone, its 'close' not yet emitted: nothing to hand to TLS, and the token goes back.
          unqueue(w, true);
          bucket.giveBack();
          continue;
        }
        startTls(w);
      }
    } finally {
      pumping = false;
      schedule();
    }
  };

  // Resets the connections that waited too long; each queue is oldest first, so only heads are looked at.
  const expire = () => {
    const t = now();
    for (const [source, queue] of queues) {
      while (queue.length > 0 && t - queue[0]!.since >= maxWaitMs) {
        const w = queue.shift()!;
        unqueue(w, true);
        refuse(w.socket);
      }
      if (queue.length === 0) queues.delete(source);
    }
  };

  const tick = () => {
    timer = undefined;
    try {
      expire();
      pump();
    } catch {
      // A timer callback must not throw (the process would end); the next event pumps again.
    }
  };

  function schedule() {
    if (queued === 0) {
      if (timer) clearTimeout(timer);
      timer = undefined;
      return;
    }
    if (timer) return;
    const wait = bucket.wait();
    // The next token, or (every waiting source at its in-progress cap: a handshake ending pumps too) a recheck; never
    // later than the oldest waiting connection's deadline (the heads are the oldest of each source).
    let next = wait > 0 ? Math.ceil(wait) : BLOCKED_RECHECK_MS;
    const t = now();
    for (const queue of queues.values()) if (queue.length > 0) next = Math.min(next, Math.ceil(queue[0]!.since + maxWaitMs - t));
    timer = setTimeout(tick, Math.max(1, next));
    timer.unref();
  }

  const gate = (socket: Socket) => {
    const source = socket.remoteAddress ?? '';
    let queue = queues.get(source);
    if (queued >= maxQueued || (queue !== undefined && queue.length >= maxQueuedPerSource)) {
      refuse(socket);
      return;
    }
    const w: Waiting = { socket, source, since: now(), onClose: () => undefined };
    // A client that gives up while waiting leaves the queue; a reset from it must not be an unhandled 'error'.
    w.onClose = () => {
      const q = queues.get(source);
      const at = q ? q.indexOf(w) : -1;
      if (at < 0) return;
      q!.splice(at, 1);
      if (q!.length === 0) queues.delete(source);
      unqueue(w, false);
      schedule();
    };
    socket.on('error', ignore);
    socket.once('close', w.onClose);
    if (queue === undefined) queues.set(source, (queue = []));
    queue.push(w);
    queued++;
    pump();
  };
  const handshakeOver = (tlsSocket: tls.TLSSocket) => {
    // Node's TLS listener wraps the raw socket it was given and keeps it as _parent (if that ever changes, no slot
    // is freed and the test 'a slot is freed when a handshake ends' fails).
    handshakeOverRaw((tlsSocket as unknown as { _parent?: object })._parent ?? tlsSocket);
  };
  function handshakeOverRaw(raw: object): void {
    const source = sourceOf.get(raw);
    if (source === undefined) return;
    sourceOf.delete(raw);
    const busy = inProgress.get(source) ?? 0;
    if (busy <= 1) inProgress.delete(source);
    else inProgress.set(source, busy - 1);
    // A slot is free: a waiting connection of that source may start.
    if (queued > 0) pump();
  }
  const onSecure = (socket: tls.TLSSocket) => handshakeOver(socket);
  const onClientError = (_err: Error, socket: tls.TLSSocket) => handshakeOver(socket);

  // The gate takes the place of the TLS listener: first, as it was.
  server.prependListener('connection', gate);
  server.on('secureConnection', onSecure);
  server.on('tlsClientError', onClientError);

  return {
    waiting: () => queued,
    stop() {
      if (stopped) return;
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      for (const queue of queues.values()) {
        for (const w of queue) {
          unqueue(w, true);
          resetOrDestroy(w.socket);
        }
      }
      queues.clear();
      pausing.pauseOnConnect = pausedBefore;
      server.removeListener('connection', gate);
      server.removeListener('secureConnection', onSecure);
      server.removeListener('tlsClientError', onClientError);
      for (const listener of [...tlsListeners].reverse()) server.prependListener('connection', listener);
    },
  };
}
