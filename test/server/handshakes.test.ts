/**
 * The new-connection budget (src/server/handshakes.ts) on a real http2 secure server with the repo's development
 * certificates and real TLS/TCP clients: burst, pacing (injected clock), turns by source address, the waiting
 * bounds (per source, in all, in time), handshakes-in-progress cap, what a refused or waiting connection costs the
 * server (no TLSSocket, no TLS event, no read), established connections untouched, stop().
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
  waiting(): number;
  stop(): void;
}

async function start(limits: Partial<HandshakeLimitOptions>, serverOptions: http2.SecureServerOptions = {}): Promise<Harness> {
  const server = http2.createSecureServer({ cert: leaf.cert, key: leaf.key, allowHTTP1: true, ...serverOptions });
  server.on('stream', (stream) => {
    stream.respond({ ':status': 200 });
    stream.end('ok');
  });
  const limited: string[] = [];
  const { stop, waiting } = installHandshakeLimit(server, { ...DEFAULT_HANDSHAKE_LIMITS, ...limits }, (e) => limited.push(e));
  const seen = { accepted: 0, secure: 0, tlsErrors: [] as string[] };
  // Added after the gate, so it also sees the connections the gate refused (already destroyed).
  server.on('connection', () => seen.accepted++);
  server.on('secureConnection', () => seen.secure++);
  server.on('tlsClientError', (err: NodeJS.ErrnoException) => seen.tlsErrors.push(err.code ?? err.message));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  // Before the close (cleanups run last first): a connection still waiting would hold server.close() until its
  // maxWaitMs, which an injected clock never reaches.
  cleanups.push(stop);
  return { server, port: (server.address() as net.AddressInfo).port, limited, seen, waiting, stop };
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

/** No new token for the length of a test. */
const NO_REFILL = 0.001;

describe('installHandshakeLimit', () => {
  it('lets the burst through, the rest wait for tokens instead of being refused, and a wait costs no TLS work', async () => {
    let now = 1_000; // no refill until moved
    const h = await start({ burst: 3, ratePerSecond: 10, now: () => now });
    const all = Array.from({ length: 5 }, () => attempt(h.port));
    await vi.waitFor(() => expect(h.seen.secure).toBe(3), WAIT);
    await vi.waitFor(() => expect(h.waiting()).toBe(2), WAIT);
    // Waiting connections were accepted but not handed to TLS: no TLS event for them yet.
    expect(h.seen.accepted).toBe(5);
    expect(h.seen.tlsErrors).toEqual([]);
    now += 100; // one token at 10/s
    await vi.waitFor(() => expect(h.seen.secure).toBe(4), WAIT);
    expect(h.waiting()).toBe(1);
    now += 100;
    expect(await Promise.all(all)).toEqual([true, true, true, true, true]);
    expect(h.limited).toEqual([]);
    expect(h.seen.tlsErrors).toEqual([]);
  });

  it('refills tokens with time, up to the burst; a clock going backwards refills nothing', async () => {
    let now = 0;
    const h = await start({ burst: 2, ratePerSecond: 10, now: () => now });
    expect(await attempts(h.port, 2)).toEqual([true, true]);
    const third = attempt(h.port);
    await vi.waitFor(() => expect(h.waiting()).toBe(1), WAIT);
    now += 100;
    expect(await third).toBe(true);
    now += 60_000; // a long quiet period refills to the burst, not past it
    const next = [attempt(h.port), attempt(h.port), attempt(h.port)];
    await vi.waitFor(() => expect(h.seen.secure).toBe(5), WAIT);
    await vi.waitFor(() => expect(h.waiting()).toBe(1), WAIT);
    now -= 30_000;
    await new Promise((r) => setTimeout(r, 250)); // the timer looks again (no token: still waiting)
    expect(h.waiting()).toBe(1);
    now += 30_100;
    expect(await Promise.all(next)).toEqual([true, true, true]);
    expect(h.limited).toEqual([]);
  });

  it('bounds the waiting: over maxQueuedPerSource or maxQueued a connection is reset at once and counted', async () => {
    const h = await start({ burst: 1, ratePerSecond: NO_REFILL, maxQueuedPerSource: 2, maxQueued: 3 });
    expect(await attempt(h.port)).toBe(true);
    void attempt(h.port);
    void attempt(h.port);
    await vi.waitFor(() => expect(h.waiting()).toBe(2), WAIT);
    expect(await attempt(h.port)).toBe(false); // a third from 127.0.0.1
    void attempt(h.port, '127.0.0.2');
    await vi.waitFor(() => expect(h.waiting()).toBe(3), WAIT);
    expect(await attempt(h.port, '127.0.0.2')).toBe(false); // 3 wait in all
    expect(h.limited).toEqual(['handshake_limited', 'handshake_limited']);
    expect(h.waiting()).toBe(3);
    expect(h.seen.tlsErrors).toEqual([]);
  });

  it('a connection waits at most maxWaitMs, then it is reset and counted', async () => {
    const h = await start({ burst: 1, ratePerSecond: NO_REFILL, maxWaitMs: 300 });
    expect(await attempt(h.port)).toBe(true);
    expect(await attempt(h.port)).toBe(false);
    expect(h.limited).toEqual(['handshake_limited']);
    expect(h.waiting()).toBe(0);
    expect(h.seen.tlsErrors).toEqual([]);
  });

  it('gives turns by source address: a flood from one address delays another by one turn, not by the flood', async () => {
    let now = 0;
    const h = await start({ burst: 1, ratePerSecond: 10, now: () => now });
    expect(await attempt(h.port)).toBe(true);
    for (let i = 0; i < 4; i++) void attempt(h.port);
    await vi.waitFor(() => expect(h.waiting()).toBe(4), WAIT);
    const other = attempt(h.port, '127.0.0.2');
    await vi.waitFor(() => expect(h.waiting()).toBe(5), WAIT);
    now += 100; // 127.0.0.1 came first: its oldest goes, and 127.0.0.1 goes to the back
    await vi.waitFor(() => expect(h.waiting()).toBe(4), WAIT);
    now += 100;
    expect(await other).toBe(true);
    expect(h.waiting()).toBe(3);
  });

  it('caps handshakes in progress per source; the next waits (not refused) until a slot is freed, whichever way', async () => {
    const h = await start({ maxInProgressPerSource: 2 });
    const a = await silent(h.port);
    await silent(h.port);
    await vi.waitFor(() => expect(h.seen.accepted).toBe(2), WAIT);
    const third = attempt(h.port);
    await vi.waitFor(() => expect(h.waiting()).toBe(1), WAIT);
    // Another source (the loopback net answers for all of 127/8) has its own count: it goes first.
    expect(await attempt(h.port, '127.0.0.2')).toBe(true);
    expect(h.waiting()).toBe(1);
    // A client that hangs up mid-handshake frees its slot (Node reports it as a tlsClientError).
    a.destroy();
    expect(await third).toBe(true);
    expect(h.seen.tlsErrors).toEqual(['ECONNRESET']);
    // Completed handshakes free their slot too: established connections (kept open) do not count.
    expect(await attempts(h.port, 2)).toEqual([true, true]);
    expect(h.limited).toEqual([]);
  });

  it("a handshake that never completes holds its slot only until the server's handshakeTimeout", async () => {
    const h = await start({ maxInProgressPerSource: 1 }, { handshakeTimeout: 300 });
    await silent(h.port);
    await vi.waitFor(() => expect(h.seen.accepted).toBe(1), WAIT);
    const next = attempt(h.port);
    await vi.waitFor(() => expect(h.waiting()).toBe(1), WAIT);
    expect(await next).toBe(true);
    expect(h.seen.tlsErrors).toEqual(['ERR_TLS_HANDSHAKE_TIMEOUT']);
    expect(h.limited).toEqual([]);
  });

  it('a client that gives up or resets while waiting is let go at its turn, without a handshake or an unhandled error', async () => {
    let now = 1_000;
    const h = await start({ burst: 1, ratePerSecond: 10, now: () => now });
    expect(await attempt(h.port)).toBe(true);
    const quitter = await silent(h.port);
    const resetter = await silent(h.port);
    await vi.waitFor(() => expect(h.waiting()).toBe(2), WAIT);
    quitter.end();
    resetter.resetAndDestroy();
    // Not read while waiting (pauseOnConnect): both still hold their places until their turns.
    await new Promise((r) => setTimeout(r, 200));
    expect(h.waiting()).toBe(2);
    now += 100; // a token at 10/s (the bucket holds one: burst 1)
    await vi.waitFor(() => expect(h.waiting()).toBe(1), WAIT);
    now += 100;
    await vi.waitFor(() => expect(h.waiting()).toBe(0), WAIT);
    // TLS reads each hang-up at once: no key exchange, no secure connection, nothing refused by the gate.
    await vi.waitFor(() => expect(h.seen.tlsErrors).toHaveLength(2), WAIT);
    expect(h.seen.tlsErrors.every((code) => code === 'ECONNRESET')).toBe(true);
    expect(h.seen.secure).toBe(1);
    expect(h.limited).toEqual([]);
  });

  it('a waiting connection whose client hung up is reset by stop() or at the end of its wait, and no process ends', async () => {
    for (const how of ['stop', 'maxWait'] as const) {
      const h = await start({ burst: 1, ratePerSecond: NO_REFILL, ...(how === 'maxWait' ? { maxWaitMs: 300 } : {}) });
      expect(await attempt(h.port)).toBe(true);
      const quitter = await silent(h.port);
      await vi.waitFor(() => expect(h.waiting()).toBe(1), WAIT);
      quitter.end();
      await new Promise((r) => setTimeout(r, 50)); // its FIN is in: the reset meets a half-closed socket
      if (how === 'stop') h.stop();
      await vi.waitFor(() => expect(h.waiting()).toBe(0), WAIT);
      await new Promise((r) => setTimeout(r, 200)); // an asynchronous 'error' would have surfaced by now
      expect(h.limited).toEqual(how === 'stop' ? [] : ['handshake_limited']);
    }
  });

  it('a waiting connection is not read: its ClientHello stays for TLS to read, as for one that did not wait', async () => {
    // Read into the socket while it waited, a ClientHello reached TLS as an injected write, and that connection then
    // read every later request in many small reads (a 99 KiB review: ~10 reads instead of 3, strace).
    let now = 1_000;
    const h = await start({ burst: 1, ratePerSecond: 10, now: () => now });
    const raws: net.Socket[] = [];
    h.server.on('connection', (s: net.Socket) => raws.push(s));
    expect(await attempt(h.port)).toBe(true);
    const second = attempt(h.port);
    await vi.waitFor(() => expect(h.waiting()).toBe(1), WAIT);
    await new Promise((r) => setTimeout(r, 100)); // its ClientHello has arrived by now
    expect(raws).toHaveLength(2);
    expect(raws[1]!.bytesRead).toBe(0);
    expect(raws[1]!.readableLength).toBe(0);
    now += 100;
    expect(await second).toBe(true);
  });

  it("a plain tls.Server's TLS sockets flow as without the gate: 'data' listeners get the bytes, waited or not", async () => {
    // The raw socket is paused from accept; the TLS socket made from it must not be (Node passes the server's
    // pauseOnConnect on to it, and a paused one never emits 'data').
    let now = 1_000;
    const accepted = new Set<tls.TLSSocket>();
    const server = tls.createServer({ cert: leaf.cert, key: leaf.key }, (s) => {
      accepted.add(s);
      s.on('data', (d: Buffer) => s.write(d));
    });
    const { stop, waiting } = installHandshakeLimit(server, { ...DEFAULT_HANDSHAKE_LIMITS, burst: 1, ratePerSecond: 10, now: () => now }, () => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    cleanups.push(stop);
    // A paused TLS socket would not see its client leave either: closed here, so that server.close() returns.
    cleanups.push(() => accepted.forEach((s) => s.destroy()));
    const port = (server.address() as net.AddressInfo).port;
    const echo = (text: string) =>
      new Promise<string>((resolve, reject) => {
        const c = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: ca.cert }, () => c.write(text));
        cleanups.push(() => c.destroy());
        c.on('error', reject);
        c.once('data', (d: Buffer) => resolve(d.toString()));
        setTimeout(() => reject(new Error(`no echo of "${text}": the TLS socket does not flow`)), 5_000).unref();
      });
    const first = echo('at once');
    expect(await first).toBe('at once');
    const second = echo('after a wait');
    await vi.waitFor(() => expect(waiting()).toBe(1), WAIT);
    now += 100;
    expect(await second).toBe('after a wait');
  });

  it('leaves established connections alone: requests go on while new connections wait', async () => {
    const h = await start({ burst: 1, ratePerSecond: NO_REFILL });
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
    for (let i = 0; i < 3; i++) void attempt(h.port);
    await vi.waitFor(() => expect(h.waiting()).toBe(3), WAIT);
    expect(await Promise.all([get(), get(), get()])).toEqual([200, 200, 200]);
  });

  it('stop() resets the waiting connections and gives the server its own connection listener back, once', async () => {
    const h = await start({ burst: 1, ratePerSecond: NO_REFILL });
    expect(await attempt(h.port)).toBe(true);
    const waiting = attempt(h.port);
    await vi.waitFor(() => expect(h.waiting()).toBe(1), WAIT);
    h.stop();
    h.stop();
    expect(await waiting).toBe(false);
    expect(h.waiting()).toBe(0);
    const names = h.server.listeners('connection').map((l) => l.name);
    expect(names[0]).toBe('tlsConnectionListener');
    expect(names.filter((n) => n === 'tlsConnectionListener')).toHaveLength(1);
    // Its own pauseOnConnect too (connections read as they arrive again).
    expect((h.server as { pauseOnConnect?: boolean }).pauseOnConnect).toBe(false);
    expect(await attempts(h.port, 3)).toEqual([true, true, true]);
    expect(h.seen.tlsErrors).toEqual([]);
  });

  it.each([
    ['ratePerSecond', 0],
    ['ratePerSecond', Number.NaN],
    ['burst', 0.5],
    ['burst', Number.POSITIVE_INFINITY],
    ['maxInProgressPerSource', -1],
    ['maxQueuedPerSource', 0],
    ['maxQueued', 1.5],
    ['maxWaitMs', Number.NaN],
  ])('refuses %s = %s', (name, value) => {
    const server = http2.createSecureServer({ cert: leaf.cert, key: leaf.key });
    expect(() => installHandshakeLimit(server, { ...DEFAULT_HANDSHAKE_LIMITS, [name]: value }, () => undefined)).toThrow(RangeError);
    expect(server.listeners('connection')).toHaveLength(1); // nothing installed
  });
});
