/**
 * The client against Debian's docker-registry over plain HTTP (an insecure data-node registry), plus a server that
 * hangs and a port nobody listens on.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistryClient, type RegistryClient, type RequestEvent } from '../../src/registry/index.js';
import { freePort, pushImage, pushMultiArch, registryBinary, REGISTRY_SKIP_REASON, startRegistry, type PushedImage, type RunningRegistry } from '../helpers/registry-server.js';

const bin = registryBinary();
if (!bin) console.log(`skipping registry tests: ${REGISTRY_SKIP_REASON}`);

describe.skipIf(!bin)('registry client, plain HTTP registry', () => {
  let reg: RunningRegistry;
  let single: PushedImage;
  let dockerV2: PushedImage;
  let ociIndex: PushedImage;
  let dockerList: PushedImage;
  const events: RequestEvent[] = [];
  let client: RegistryClient;

  beforeAll(async () => {
    reg = await startRegistry();
    single = await pushImage(reg, 'mlrun/mlrun', '1.9.2');
    dockerV2 = await pushImage(reg, 'mlrun/mlrun-gpu', '1.9.2', { oci: false });
    ociIndex = await pushMultiArch(reg, 'mlrun/mlrun-api', '1.9.2');
    dockerList = await pushMultiArch(reg, 'library/python', '3.11', { oci: false });
    client = createRegistryClient({ insecureRegistries: [reg.host], onRequest: (e) => events.push(e) });
  });
  afterAll(async () => {
    client?.close();
    await reg?.stop();
  });

  it('present: keeps the digest and media type of an OCI image manifest', async () => {
    expect(await client.check(`${reg.host}/mlrun/mlrun:1.9.2`)).toEqual({ state: 'present', digest: single.digest, mediaType: single.mediaType });
  });

  it('present: Docker v2 manifest', async () => {
    const r = await client.check(`${reg.host}/mlrun/mlrun-gpu:1.9.2`);
    expect(r).toEqual({ state: 'present', digest: dockerV2.digest, mediaType: 'application/vnd.docker.distribution.manifest.v2+json' });
  });

  it.each([
    ['OCI index', 'mlrun/mlrun-api:1.9.2', () => ociIndex],
    ['Docker manifest list', 'python:3.11', () => dockerList],
  ])('present: multi-arch %s is reported as the index, not one platform', async (_name, ref, pushed) => {
    // `python:3.11` under our host: the library/ path is how Docker Hub names official images, and the same
    // normalisation applies to any registry only when the reference has no domain, so write it in full here.
    const image = ref.startsWith('python') ? `${reg.host}/library/${ref}` : `${reg.host}/${ref}`;
    expect(await client.check(image)).toEqual({ state: 'present', digest: pushed().digest, mediaType: pushed().mediaType });
  });

  it('present by digest, missing by an unknown digest', async () => {
    expect((await client.check(`${reg.host}/mlrun/mlrun@${single.digest}`)).state).toBe('present');
    expect((await client.check(`${reg.host}/mlrun/mlrun:1.9.2@${single.digest}`)).digest).toBe(single.digest);
    expect(await client.check(`${reg.host}/mlrun/mlrun@sha256:${'0'.repeat(64)}`)).toEqual({ state: 'missing' });
  });

  it.each([
    ['a tag that was never pushed', 'mlrun/mlrun:1.10.0'],
    ['a repository that does not exist', 'mlrun/jupyter:1.9.2'],
    ['no tag means latest, which was not pushed', 'mlrun/mlrun'],
  ])('missing: %s', async (_name, ref) => {
    expect(await client.check(`${reg.host}/${ref}`)).toEqual({ state: 'missing' });
  });

  it('unknown: an invalid reference, with the parser reason, and no request', async () => {
    const before = events.length;
    const r = await client.check(`${reg.host}/MLRun/mlrun:1.9.2`);
    expect(r.state).toBe('unknown');
    expect(r.reason).toMatch(/^invalid image reference: /);
    expect(events.length).toBe(before);
  });

  it('caches answers, and two concurrent look-ups of one image share one request', async () => {
    const before = events.length;
    const image = `${reg.host}/mlrun/mlrun-gpu:1.9.2-shared`;
    const [a, b] = await Promise.all([client.check(image), client.check(image)]);
    expect(a).toEqual({ state: 'missing' });
    expect(b).toEqual(a);
    expect(events.length - before).toBe(1);
    await client.check(image);
    expect(events.length - before).toBe(1);
  });

  it('present and missing have their own TTLs (clock moved, not waited for)', async () => {
    let now = 1_000_000;
    const seen: RequestEvent[] = [];
    const c = createRegistryClient({ insecureRegistries: [reg.host], presentTtlMs: 60_000, missingTtlMs: 10_000, now: () => now, onRequest: (e) => seen.push(e) });
    try {
      const present = `${reg.host}/mlrun/mlrun:1.9.2`;
      const missing = `${reg.host}/mlrun/mlrun:0.0.0`;
      await c.check(present);
      await c.check(missing);
      expect(seen.length).toBe(2);
      now += 10_001; // missing expired, present not
      await c.check(present);
      await c.check(missing);
      expect(seen.length).toBe(3);
      now += 50_000; // present expired too
      await c.check(present);
      expect(seen.length).toBe(4);
    } finally {
      c.close();
    }
  });

  it('the cache is bounded: least recently used answers go first', async () => {
    const seen: RequestEvent[] = [];
    const c = createRegistryClient({ insecureRegistries: [reg.host], cacheEntries: 2, onRequest: (e) => seen.push(e) });
    try {
      const img = (t: string): string => `${reg.host}/mlrun/mlrun:${t}`;
      await c.check(img('a'));
      await c.check(img('b'));
      await c.check(img('a')); // a is now the most recent
      await c.check(img('c')); // evicts b
      expect(seen.length).toBe(3);
      await c.check(img('a'));
      expect(seen.length).toBe(3);
      await c.check(img('b'));
      expect(seen.length).toBe(4);
    } finally {
      c.close();
    }
  });

  it('a registry not listed as insecure is reached over HTTPS (and so fails against plain HTTP)', async () => {
    const c = createRegistryClient({ timeoutMs: 10_000 });
    try {
      const r = await c.check(`${reg.host}/mlrun/mlrun:1.9.2`);
      expect(r.state).toBe('unknown');
      expect(r.reason).toMatch(/TLS|reset|request failed/);
    } finally {
      c.close();
    }
  });

  it('ping: a registry without auth answers 200 on /v2/', async () => {
    expect(await client.ping(reg.host)).toEqual({ reachable: true, status: 200, auth: 'none' });
  });
});

describe('registry client, registries that do not answer', () => {
  it('a registry that accepts connections and never answers: the per-request timeout ends the check', async () => {
    const sockets: net.Socket[] = [];
    const server = net.createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    const c = createRegistryClient({ insecureRegistries: [host], timeoutMs: 200, unknownTtlMs: 0 });
    try {
      expect(await c.check(`${host}/mlrun/mlrun:1.9.2`)).toEqual({ state: 'unknown', reason: 'timeout' });
      expect(sockets.length).toBeGreaterThan(0);
      // The caller's own signal is honoured too, independently of the request timeout.
      const c2 = createRegistryClient({ insecureRegistries: [host], timeoutMs: 60_000 });
      const ctl = new AbortController();
      const p = c2.check(`${host}/mlrun/mlrun:1.9.3`, { signal: ctl.signal });
      ctl.abort();
      expect(await p).toEqual({ state: 'unknown', reason: 'aborted' });
      c2.close();
      expect(await c.ping(host)).toEqual({ reachable: false, reason: 'timeout' });
    } finally {
      c.close();
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });

  it.each(['', 'a b', 'host/path', 'user@host', 'x'.repeat(301)])('ping refuses an invalid registry host %j without a request', async (host) => {
    const c = createRegistryClient();
    try {
      expect(await c.ping(host)).toEqual({ reachable: false, reason: 'invalid registry host' });
    } finally {
      c.close();
    }
  });

  it('a registry that is down: connection refused', async () => {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const c = createRegistryClient({ insecureRegistries: [host] });
    try {
      expect(await c.check(`${host}/mlrun/mlrun:1.9.2`)).toEqual({ state: 'unknown', reason: 'connection refused' });
      expect(await c.ping(host)).toEqual({ reachable: false, reason: 'connection refused' });
    } finally {
      c.close();
    }
  });

  it('past the concurrency limit and its queue, a check is unknown "busy" at once', async () => {
    const sockets: net.Socket[] = [];
    const server = net.createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    const c = createRegistryClient({ insecureRegistries: [host], concurrency: 1, maxQueue: 1, timeoutMs: 60_000 });
    const ctl = new AbortController();
    try {
      const first = c.check(`${host}/a/b:1`, { signal: ctl.signal });
      const queued = c.check(`${host}/a/b:2`, { signal: ctl.signal });
      expect(await c.check(`${host}/a/b:3`)).toEqual({ state: 'unknown', reason: 'busy' });
      ctl.abort();
      expect((await first).reason).toBe('aborted');
      expect((await queued).reason).toBe('aborted');
    } finally {
      c.close();
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });
});
