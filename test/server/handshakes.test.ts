/**
 * The new-connection budget (src/server/handshakes.ts) on a real http2 secure server with the repo's development
 * certificates and real TLS/TCP clients: burst, refill (injected clock), handshakes-in-progress cap, what a refused
 * connection costs the server (no TLSSocket, no TLS event), established connections untouched, stop().
 * No assertion on durations: waits are for events, with generous upper bounds.
 */
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { DEFAULT_HANDSHAKE_LIMITS, installHandshakeLimit, type HandshakeLimitOptions } from '../../src/server/handshakes.js';
import { generateDevCa, generateServingCert, type GeneratedPair } from '../../src/server/tls.js';

const WAIT = { timeout: 15_000, interval: 20 };

let ca: GeneratedPair;
let leaf: GeneratedPair;
beforeAll(async () => {
  ca = await generateDevCa();
  leaf = await generateServingCert(ca);
});

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Harness {
  server: http2.Http2SecureServer;
  port: number;
  /** Events passed to record(). */
  limited: string[];
  /** Server events seen after the gate. */
  seen: { accepted: number; secure: number; tlsErrors: string[] };
  stop(): void;
}

async function start(limits: Partial<HandshakeLimitOptions>, serverOptions: http2.SecureServerOptions = {}): Promise<Harness> {
  const server = http2.createSecureServer({ cert: leaf.cert, key: leaf.key, allowHTTP1: true, ...serverOptions });
  server.on('stream', (stream) => {
    stream.respond({ ':status': 200 });
    stream.end('ok');
  });
  const limited: string[] = [];
  const { stop } = installHandshakeLimit(server, { ...DEFAULT_HANDSHAKE_LIMITS, ...limits }, (e) => limited.push(e));
  const seen = { accepted: 0, secure: 0, tlsErrors: [] as string[] };
  // Added after the gate, so it also sees the connections the gate refused (already destroyed).
  server.on('connection', () => seen.accepted++);
  server.on('secureConnection', () => seen.secure++);
  server.on('tlsClientError', (err: NodeJS.ErrnoException) => seen.tlsErrors.push(err.code ?? err.message));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return { server, port: (server.address() as net.AddressInfo).port, limited, seen, stop };
}

/** One TLS connection: resolves true when the handshake completes (the socket is kept open), false when refused. */
function attempt(port: number, localAddress?: string): Promise<boolean> {
  return new Promise((resolve) => {
    // Another source address needs its own TCP socket (tls.connect's options have no localAddress).
    const raw = localAddress ? net.connect({ port, host: '127.0.0.1', localAddress }) : undefined;
    raw?.on('error', () => resolve(false));
    const socket = tls.connect({ port, host: '127.0.0.1', socket: raw, servername: 'localhost', ca: ca.cert, ALPNProtocols: ['h2'] });
    cleanups.push(() => socket.destroy());
    socket.once('secureConnect', () => resolve(true));
    socket.on('error', () => resolve(false));
    socket.once('close', () => resolve(false));
  });
}

async function attempts(port: number, n: number): Promise<boolean[]> {
  const results: boolean[] = [];
  for (let i = 0; i < n; i++) results.push(await attempt(port));
  return results;
}

/** A TCP connection that never sends a ClientHello: a handshake in progress until the server gives up on it. */
async function silent(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  cleanups.push(() => socket.destroy());
  await new Promise((resolve) => socket.once('connect', resolve));
  return socket;
}

describe('installHandshakeLimit', () => {
  it('lets the burst through, refuses the excess at accept, counts it, and the refused cost no TLS work', async () => {
    let now = 1_000; // no refill until moved
    const h = await start({ burst: 3, ratePerSecond: 1, now: () => now });
    expect(await attempts(h.port, 5)).toEqual([true, true, true, false, false]);
    expect(h.limited).toEqual(['handshake_limited', 'handshake_limited']);
    // One more handshake after the refusals: whatever Node would report for them comes before it completes.
    now += 1_000;
    expect(await attempt(h.port)).toBe(true);
    await vi.waitFor(() => expect(h.seen.secure).toBe(4), WAIT);
    // A refused connection never reached TLS: no secureConnection and no 'socket hang up' tlsClientError
    // (which destroying it before or after Node's TLS listener would produce, counted as a failed handshake).
    expect(h.seen.accepted).toBe(6);
    expect(h.seen.tlsErrors).toEqual([]);
  });

  it('refills tokens with time, up to the burst', async () => {
    let now = 0;
    const h = await start({ burst: 2, ratePerSecond: 10, now: () => now });
    expect(await attempts(h.port, 3)).toEqual([true, true, false]);
    now += 100; // one token at 10/s
    expect(await attempts(h.port, 2)).toEqual([true, false]);
    now += 60_000; // a long quiet period refills to the burst, not past it
    expect(await attempts(h.port, 3)).toEqual([true, true, false]);
    now -= 30_000; // a clock going backwards refills nothing
    expect(await attempts(h.port, 1)).toEqual([false]);
    expect(h.limited).toHaveLength(4);
    await vi.waitFor(() => expect(h.seen.secure).toBe(5), WAIT);
    expect(h.seen.tlsErrors).toEqual([]);
  });

  it('caps handshakes in progress; a slot is freed when a handshake ends, whichever way', async () => {
    const h = await start({ maxInProgressPerSource: 2 });
    const a = await silent(h.port);
    await silent(h.port);
    await vi.waitFor(() => expect(h.seen.accepted).toBe(2), WAIT);
    expect(await attempt(h.port)).toBe(false);
    expect(h.limited).toEqual(['handshake_limited']);
    // A client that hangs up mid-handshake frees its slot (Node reports it as a tlsClientError).
    a.destroy();
    await vi.waitFor(() => expect(h.seen.tlsErrors).toEqual(['ECONNRESET']), WAIT);
    // Completed handshakes free their slot too: established connections (kept open) do not count.
    for (let i = 1; i <= 3; i++) {
      expect(await attempt(h.port)).toBe(true);
      await vi.waitFor(() => expect(h.seen.secure).toBe(i), WAIT);
    }
    expect(h.limited).toHaveLength(1);
  });

  it('counts handshakes in progress per source address: silent connections from one client do not lock others out', async () => {
    const h = await start({ maxInProgressPerSource: 2 });
    await silent(h.port);
    await silent(h.port);
    await vi.waitFor(() => expect(h.seen.accepted).toBe(2), WAIT);
    expect(await attempt(h.port)).toBe(false); // 127.0.0.1 is at its cap
    // Another source (the loopback net answers for all of 127/8): its own count, let through.
    expect(await attempt(h.port, '127.0.0.2')).toBe(true);
    await vi.waitFor(() => expect(h.seen.secure).toBe(1), WAIT);
    expect(h.limited).toEqual(['handshake_limited']);
  });

  it("a handshake that never completes holds its slot only until the server's handshakeTimeout", async () => {
    const h = await start({ maxInProgressPerSource: 1 }, { handshakeTimeout: 300 });
    await silent(h.port);
    await vi.waitFor(() => expect(h.seen.accepted).toBe(1), WAIT);
    expect(await attempt(h.port)).toBe(false);
    await vi.waitFor(() => expect(h.seen.tlsErrors).toEqual(['ERR_TLS_HANDSHAKE_TIMEOUT']), WAIT);
    expect(await attempt(h.port)).toBe(true);
    expect(h.limited).toEqual(['handshake_limited']);
  });

  it('leaves established connections alone: requests go on while new connections are refused', async () => {
    const h = await start({ burst: 1, ratePerSecond: 1, now: () => 0 });
    const session = http2.connect(`https://localhost:${h.port}`, { ca: ca.cert });
    cleanups.push(() => session.destroy());
    const get = () =>
      new Promise<number>((resolve, reject) => {
        const req = session.request({ ':path': '/' });
        let status = 0;
        req.on('response', (headers) => (status = Number(headers[':status'])));
        req.on('error', reject);
        req.on('close', () => resolve(status));
        req.resume();
        req.end();
      });
    expect(await get()).toBe(200);
    expect(await attempts(h.port, 3)).toEqual([false, false, false]);
    expect(h.limited).toHaveLength(3);
    expect(await Promise.all([get(), get(), get()])).toEqual([200, 200, 200]);
  });

  it('stop() gives the server its own connection listener back', async () => {
    const h = await start({ burst: 1, ratePerSecond: 1, now: () => 0 });
    expect(await attempts(h.port, 2)).toEqual([true, false]);
    h.stop();
    expect(h.server.listeners('connection')[0]?.name).toBe('tlsConnectionListener');
    expect(await attempts(h.port, 3)).toEqual([true, true, true]);
    expect(h.limited).toHaveLength(1);
  });

  it.each([
    ['ratePerSecond', 0],
    ['ratePerSecond', Number.NaN],
    ['burst', 0.5],
    ['burst', Number.POSITIVE_INFINITY],
    ['maxInProgressPerSource', -1],
  ])('refuses %s = %s', (name, value) => {
    const server = http2.createSecureServer({ cert: leaf.cert, key: leaf.key });
    expect(() => installHandshakeLimit(server, { ...DEFAULT_HANDSHAKE_LIMITS, [name]: value }, () => undefined)).toThrow(RangeError);
    expect(server.listeners('connection')).toHaveLength(1); // nothing installed
  });
});
