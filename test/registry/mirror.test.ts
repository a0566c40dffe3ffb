/**
 * MirrorService against Debian's docker-registry (plain HTTP, as data-node registries often are), a server that
 * accepts connections and never answers, and a server listed nowhere that counts connections.
 */
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RequestEvent } from '../../src/registry/client.js';
import {
  createMirrorService,
  LOOKUP_MAX_IMAGES,
  MirrorService,
  parseRegistryPrefix,
  RECENT_MAX,
  type MirrorServiceOptions,
  type RoundResult,
} from '../../src/registry/mirror.js';
import { freePort, pushImage, registryBinary, REGISTRY_SKIP_REASON, startRegistry, type PushedImage, type RunningRegistry } from '../helpers/registry-server.js';

const bin = registryBinary();
if (!bin) console.log(`skipping mirror tests: ${REGISTRY_SKIP_REASON}`);

/** A TCP server that accepts and never answers, counting connections. */
async function silentServer(): Promise<{ host: string; connections: () => number; close: () => Promise<void> }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => sockets.push(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    connections: () => sockets.length,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

function service(options: MirrorServiceOptions): MirrorService {
  const made = createMirrorService(options);
  if (!made.ok) throw new Error(made.problems.join('; '));
  return made.service;
}

describe('parseRegistryPrefix', () => {
  it.each([
    ['datanode.local:5000/', { host: 'datanode.local:5000', path: '' }],
    ['datanode.local:5000', { host: 'datanode.local:5000', path: '' }],
    ['reg.example/mirror/', { host: 'reg.example', path: 'mirror' }],
    ['Reg.Example/team/mirror', { host: 'reg.example', path: 'team/mirror' }],
    ['[::1]:5000/', { host: '[::1]:5000', path: '' }],
  ])('%j', (configured, expected) => {
    expect(parseRegistryPrefix(configured)).toEqual(expected);
  });

  it.each(['', '/', 'host//path', 'host/Path', 'http://host/', 'host:port/', 'a b', 'x'.repeat(301)])('refuses %j', (configured) => {
    expect(parseRegistryPrefix(configured)).toBeUndefined();
  });

  it('createMirrorService names a malformed registry and an unreadable CA file', () => {
    const bad = createMirrorService({ registries: ['http://x/'] });
    expect(bad).toEqual({ ok: false, problems: ['registry "http://x/": not host[:port][/path]'] });
    const ca = createMirrorService({ registries: ['reg.example/'], caFile: '/nonexistent/ca.pem' });
    expect(ca.ok).toBe(false);
    expect(ca.ok ? '' : ca.problems[0]).toContain('/nonexistent/ca.pem');
  });
});

describe.skipIf(!bin)('MirrorService against a real registry', () => {
  let reg: RunningRegistry;
  let pushed: PushedImage;
  let pushedVendor: PushedImage;

  beforeAll(async () => {
    reg = await startRegistry();
    pushed = await pushImage(reg, 'mlrun/mlrun', '1.9.2');
    pushedVendor = await pushImage(reg, 'vendor/python', '3.11');
  });
  afterAll(async () => {
    await reg?.stop();
  });

  const base = (extra: Partial<MirrorServiceOptions> = {}): MirrorServiceOptions => ({
    registries: [`${reg.host}/`],
    insecureRegistries: [reg.host],
    ...extra,
  });

  it('present (with the digest), missing and unknown via state() after lookup; state() alone never asks', async () => {
    const events: RequestEvent[] = [];
    const s = service(base({ onRequest: (e) => events.push(e) }));
    try {
      const present = `${reg.host}/mlrun/mlrun:1.9.2`;
      const missing = `${reg.host}/mlrun/mlrun:0.0.1`;
      const elsewhere = 'quay.io/mlrun/mlrun-api:1.9.2';
      expect(s.state(present)).toEqual({ state: 'unknown' });
      expect(events.length).toBe(0);
      await s.lookup([present, missing, elsewhere, present], 30_000);
      expect(s.state(present)).toEqual({ state: 'present', digest: pushed.digest });
      expect(s.state(missing)).toEqual({ state: 'missing' });
      expect(s.state(elsewhere)).toEqual({ state: 'unknown' });
      expect(events.filter((e) => e.kind === 'manifest').map((e) => e.status).sort()).toEqual([200, 404]);
      // Known images are not asked again.
      await s.lookup([present, missing], 30_000);
      expect(events.length).toBe(2);
    } finally {
      s.close();
    }
  });

  it('a path prefix limits what is asked: the same host outside the prefix is never looked up', async () => {
    const events: RequestEvent[] = [];
    const s = service(base({ registries: [`${reg.host}/vendor/`], onRequest: (e) => events.push(e) }));
    try {
      await s.lookup([`${reg.host}/mlrun/mlrun:1.9.2`, `${reg.host}/vendorx/python:3.11`], 30_000);
      expect(events.length).toBe(0);
      await s.lookup([`${reg.host}/vendor/python:3.11`], 30_000);
      expect(s.state(`${reg.host}/vendor/python:3.11`)).toEqual({ state: 'present', digest: pushedVendor.digest });
      expect(events.length).toBe(1);
    } finally {
      s.close();
    }
  });

  it(`lookup asks at most ${LOOKUP_MAX_IMAGES} images per call`, async () => {
    const events: RequestEvent[] = [];
    const s = service(base({ onRequest: (e) => events.push(e) }));
    try {
      const images = Array.from({ length: LOOKUP_MAX_IMAGES + 8 }, (_, i) => `${reg.host}/mlrun/mlrun:cap-${i}`);
      await s.lookup(images, 60_000);
      expect(events.length).toBe(LOOKUP_MAX_IMAGES);
      expect(s.state(images[LOOKUP_MAX_IMAGES]!)).toEqual({ state: 'unknown' });
    } finally {
      s.close();
    }
  });

  it('background round finds a missing catalogue image, then finds it present once pushed', async () => {
    const rounds: RoundResult[] = [];
    const present = `${reg.host}/mlrun/mlrun:1.9.2`;
    const later = `${reg.host}/mlrun/mlrun-kfp:1.9.2`;
    const s = service(base({ catalogue: () => [present, later], onRound: (r) => rounds.push(r) }));
    try {
      expect(s.coverage()).toMatchObject({ present: 0, missing: 0, unknown: 0, lastRunAt: undefined });
      const first = await s.runRound();
      expect(first).toMatchObject({ present: 1, missing: 1, unknown: 0, missingImages: [later], checked: 2 });
      expect(s.coverage()).toMatchObject({ present: 1, missing: 1, missingImages: [later] });
      expect(s.state(later)).toEqual({ state: 'missing' });
      const kfp = await pushImage(reg, 'mlrun/mlrun-kfp', '1.9.2');
      // Known missing stays known between rounds (no hot-path look-up for it)...
      expect(s.state(later)).toEqual({ state: 'missing' });
      // ...and the next round asks again.
      const second = await s.runRound();
      expect(second).toMatchObject({ present: 2, missing: 0, missingImages: [] });
      expect(s.state(later)).toEqual({ state: 'present', digest: kfp.digest });
      expect(rounds.length).toBe(2);
    } finally {
      s.close();
    }
  });

  it('start() runs rounds on its own and stop() ends them', async () => {
    let resolveTwo: () => void;
    const two = new Promise<void>((r) => (resolveTwo = r));
    const rounds: RoundResult[] = [];
    const s = service(
      base({
        intervalMs: 20,
        roundDeadlineMs: 30_000,
        catalogue: () => [`${reg.host}/mlrun/mlrun:1.9.2`],
        onRound: (r) => {
          rounds.push(r);
          if (rounds.length === 2) resolveTwo();
        },
      }),
    );
    try {
      s.start();
      await two;
      s.stop();
      expect(rounds.every((r) => r.present === 1)).toBe(true);
      expect(s.coverage().lastRunAt).toBeTypeOf('number');
    } finally {
      s.close();
    }
  });

  it('recently rewritten images are covered by the round; a failing catalogue callback is reported', async () => {
    const s = service(
      base({
        catalogue: () => {
          throw new Error('no runtime yet');
        },
      }),
    );
    try {
      s.noteRewritten(`${reg.host}/mlrun/mlrun:1.9.2`);
      s.noteRewritten('quay.io/elsewhere/x:1'); // not on a configured registry: not remembered
      const r = await s.runRound();
      expect(r).toMatchObject({ present: 1, missing: 0, unknown: 0, catalogueError: 'no runtime yet' });
    } finally {
      s.close();
    }
  });

  it('staleness: a hot-path missing answer expires after missingTtl, a round\'s answer lasts until the next round', async () => {
    let now = 1_000_000;
    const hot = `${reg.host}/mlrun/mlrun:stale-hot`;
    const covered = `${reg.host}/mlrun/mlrun:stale-round`;
    const s = service(base({ now: () => now, missingTtlMs: 60_000, intervalMs: 600_000, jitter: 0.1, roundDeadlineMs: 60_000, catalogue: () => [covered] }));
    try {
      await s.lookup([hot], 30_000);
      await s.runRound();
      expect(s.state(hot).state).toBe('missing');
      now += 60_001;
      expect(s.state(hot).state).toBe('unknown');
      expect(s.state(covered).state).toBe('missing');
      now += 600_000 * 1.1 + 60_000 - 60_001;
      expect(s.state(covered).state).toBe('unknown');
    } finally {
      s.close();
    }
  });
});

describe('MirrorService, registries that do not answer or are not configured', () => {
  it.skipIf(!bin)('a registry that goes down: the last known answer is kept until it expires, never turned into missing', async () => {
    let now = 5_000_000;
    const own = await startRegistry();
    let stopped = false;
    const image = `${own.host}/mlrun/mlrun:1.9.2`;
    const s = service({ registries: [`${own.host}/`], insecureRegistries: [own.host], now: () => now, presentTtlMs: 600_000, intervalMs: 600_000, jitter: 0, roundDeadlineMs: 60_000, catalogue: () => [image] });
    try {
      const { digest } = await pushImage(own, 'mlrun/mlrun', '1.9.2');
      expect(await s.runRound()).toMatchObject({ present: 1 });
      await own.stop();
      stopped = true;
      const down = await s.runRound();
      expect(down).toMatchObject({ present: 0, missing: 0, unknown: 1, unknownImages: [{ image, reason: 'connection refused' }] });
      expect(s.state(image)).toEqual({ state: 'present', digest });
      now += 660_001;
      expect(s.state(image)).toEqual({ state: 'unknown' });
    } finally {
      s.close();
      if (!stopped) await own.stop();
    }
  });

  it('lookup returns within its budget against a registry that never answers; the answer is unknown', async () => {
    const silent = await silentServer();
    const s = service({ registries: [`${silent.host}/`], insecureRegistries: [silent.host], timeoutMs: 60_000 });
    try {
      const images = Array.from({ length: 5 }, (_, i) => `${silent.host}/mlrun/mlrun:${i}`);
      const started = performance.now();
      // A fractional budget (what the server has left) must still reach the registry: connections > 0 below.
      await s.lookup(images, 200.5);
      // Generous bound: the point is "not the 60 s request timeout".
      expect(performance.now() - started).toBeLessThan(20_000);
      expect(images.map((i) => s.state(i).state)).toEqual(images.map(() => 'unknown'));
      expect(silent.connections()).toBeGreaterThan(0);
    } finally {
      s.close();
      await silent.close();
    }
  });

  it('an answer that arrives after the budget is kept for the next admission', async () => {
    // A registry that holds every manifest request until the test lets it answer.
    const held: http.ServerResponse[] = [];
    let heldOne: () => void;
    const firstHeld = new Promise<void>((r) => (heldOne = r));
    const server = http.createServer((req, res) => {
      if (req.method === 'HEAD' && req.url?.includes('/manifests/')) {
        held.push(res);
        heldOne();
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    const digest = `sha256:${'ab'.repeat(32)}`;
    const s = service({ registries: [`${host}/`], insecureRegistries: [host], timeoutMs: 60_000 });
    try {
      const image = `${host}/mlrun/mlrun:1.9.2`;
      await s.lookup([image], 100);
      await firstHeld;
      expect(s.state(image)).toEqual({ state: 'unknown' });
      const answered = new Promise<void>((r) => held[0]!.once('finish', () => r()));
      held[0]!.writeHead(200, { 'Docker-Content-Digest': digest, 'Content-Type': 'application/vnd.oci.image.index.v1+json' }).end();
      await answered;
      for (let i = 0; i < 200 && s.state(image).state === 'unknown'; i++) await new Promise((r) => setTimeout(r, 10));
      expect(s.state(image)).toEqual({ state: 'present', digest });
    } finally {
      s.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('a host listed nowhere is never contacted: not by lookup, noteRewritten, nor a round whose catalogue names it', async () => {
    const listedNowhere = await silentServer();
    const s = service({
      registries: ['datanode.invalid:5000/'],
      catalogue: () => [`${listedNowhere.host}/mlrun/mlrun:1.9.2`],
      timeoutMs: 60_000,
    });
    try {
      const image = `${listedNowhere.host}/mlrun/mlrun:1.9.2`;
      await s.lookup([image], 1000);
      s.noteRewritten(image);
      const r = await s.runRound();
      expect(r).toMatchObject({ present: 0, missing: 0, unknown: 1, checked: 0 });
      expect(r.unknownImages).toEqual([{ image, reason: 'skipped: not on a configured registry' }]);
      expect(s.state(image)).toEqual({ state: 'unknown' });
      expect(listedNowhere.connections()).toBe(0);
    } finally {
      s.close();
      await listedNowhere.close();
    }
  });

  it(`a registry that is down costs a few connection attempts per round, not one per image; recent images are capped at ${RECENT_MAX}`, async () => {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const events: RequestEvent[] = [];
    const s = service({ registries: [`${host}/`], insecureRegistries: [host], concurrency: 2, onRequest: (e) => events.push(e) });
    try {
      for (let i = 0; i < RECENT_MAX + 50; i++) s.noteRewritten(`${host}/mlrun/mlrun:r${i}`);
      const r = await s.runRound();
      expect(r.present + r.missing + r.unknown).toBe(RECENT_MAX);
      expect(r.unknown).toBe(RECENT_MAX);
      expect(r.unknownImages.length).toBe(100);
      expect(r.unknownImages[0]!.reason).toBe('connection refused');
      expect(r.unknownImages.at(-1)!.reason).toBe(`skipped: ${host} unreachable (connection refused)`);
      expect(events.length).toBeLessThanOrEqual(4);
    } finally {
      s.close();
    }
  });
});
