/**
 * Auth against docker-registry 2.8: htpasswd (Basic) and token auth (Bearer, with a token endpoint served by the
 * test). Credentials come from .dockerconfigjson content, as from an imagePullSecret. Every result, reason, request
 * event and thrown message is searched for the secret values.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildKeyring, createRegistryClient, type RegistryClientOptions, type RequestEvent } from '../../src/registry/index.js';
import { pushImage, pushMultiArch, registryBinary, REGISTRY_SKIP_REASON, startRegistry, type PushedImage, type RunningRegistry } from '../helpers/registry-server.js';

const bin = registryBinary();
if (!bin) console.log(`skipping registry auth tests: ${REGISTRY_SKIP_REASON}`);

const USER = 'mirror-reader';
const PASSWORD = 'Pa55-w0rd-a8f3e1c9d2';
const WRONG = 'wrong-pass-77c1b0e4f5';

/** Everything a caller could print: collected and searched for secrets at the end of the file. */
const outputs: string[] = [];

function pullSecret(host: string, password: string, form: 'auth' | 'fields' = 'auth'): string {
  const entry = form === 'auth' ? { auth: Buffer.from(`${USER}:${password}`).toString('base64') } : { username: USER, password };
  return JSON.stringify({ auths: { [`https://${host}`]: entry } });
}

function clientFor(reg: RunningRegistry, password: string | undefined, extra: RegistryClientOptions = {}, form: 'auth' | 'fields' = 'auth') {
  const events: RequestEvent[] = [];
  const kr = password === undefined ? undefined : buildKeyring([{ source: 'pull-secret', text: pullSecret(reg.host, password, form) }]);
  if (kr) outputs.push(...kr.problems);
  // A TLS registry (the token one) is reached with its CA; its plain-HTTP realm only because it is listed.
  const transport: RegistryClientOptions = reg.caPem
    ? { ca: reg.caPem, insecureRegistries: reg.token ? [new URL(reg.token.url).host] : [] }
    : { insecureRegistries: [reg.host] };
  const c = createRegistryClient({
    ...transport,
    ...(kr ? { keyring: kr.keyring } : {}),
    onRequest: (e) => {
      events.push(e);
      outputs.push(JSON.stringify(e));
    },
    ...extra,
  });
  const check = async (image: string) => {
    const r = await c.check(image);
    outputs.push(JSON.stringify(r));
    return r;
  };
  const ping = async () => {
    const r = await c.ping(reg.host);
    outputs.push(JSON.stringify(r));
    return r;
  };
  return { client: c, events, check, ping };
}

const secretsOf = (values: string[]): string[] =>
  values.flatMap((v) => [v, Buffer.from(`${USER}:${v}`).toString('base64'), encodeURIComponent(v)]);

describe.skipIf(!bin)('registry client auth', () => {
  let basicReg: RunningRegistry;
  let tokenReg: RunningRegistry;
  let basicImage: PushedImage;
  let tokenImage: PushedImage;

  beforeAll(async () => {
    [basicReg, tokenReg] = await Promise.all([
      startRegistry({ auth: { kind: 'htpasswd', username: USER, password: PASSWORD } }),
      startRegistry({ tls: true, auth: { kind: 'token', username: USER, password: PASSWORD } }),
    ]);
    basicImage = await pushImage(basicReg, 'mlrun/mlrun', '1.9.2');
    tokenImage = await pushMultiArch(tokenReg, 'mlrun/mlrun', '1.9.2');
  });

  afterAll(async () => {
    await basicReg?.stop();
    await tokenReg?.stop();
  });

  describe('htpasswd (Basic)', () => {
    it.each(['auth', 'fields'] as const)('present with the pull secret (%s form); one 401 teaches the scheme, then one HEAD per check', async (form) => {
      const { client, events, check } = clientFor(basicReg, PASSWORD, {}, form);
      try {
        expect(await check(`${basicReg.host}/mlrun/mlrun:1.9.2`)).toEqual({ state: 'present', digest: basicImage.digest, mediaType: basicImage.mediaType });
        expect(events.map((e) => e.status)).toEqual([401, 200]);
        expect(await check(`${basicReg.host}/mlrun/mlrun:1.9.3`)).toEqual({ state: 'missing' });
        expect(events.map((e) => e.status)).toEqual([401, 200, 404]);
      } finally {
        client.close();
      }
    });

    it('anonymous: unknown, unauthorized', async () => {
      const { client, check } = clientFor(basicReg, undefined);
      try {
        expect(await check(`${basicReg.host}/mlrun/mlrun:1.9.2`)).toEqual({ state: 'unknown', reason: 'unauthorized' });
      } finally {
        client.close();
      }
    });

    it('wrong credentials: unknown, unauthorized', async () => {
      const { client, check } = clientFor(basicReg, WRONG);
      try {
        expect(await check(`${basicReg.host}/mlrun/mlrun:1.9.2`)).toEqual({ state: 'unknown', reason: 'unauthorized' });
      } finally {
        client.close();
      }
    });

    it('ping reports the scheme and whether the credentials are accepted', async () => {
      const good = clientFor(basicReg, PASSWORD);
      const bad = clientFor(basicReg, WRONG);
      try {
        expect(await good.ping()).toEqual({ reachable: true, status: 401, auth: 'basic', authenticated: true });
        expect(await bad.ping()).toMatchObject({ reachable: true, status: 401, auth: 'basic', authenticated: false });
      } finally {
        good.client.close();
        bad.client.close();
      }
    });
  });

  describe('token (Bearer)', () => {
    it('present: multi-arch index through a pull token; the token is reused for the same repository', async () => {
      const ep = tokenReg.token!;
      const hits = ep.hits;
      const { client, events, check } = clientFor(tokenReg, PASSWORD);
      try {
        expect(await check(`${tokenReg.host}/mlrun/mlrun:1.9.2`)).toEqual({ state: 'present', digest: tokenImage.digest, mediaType: tokenImage.mediaType });
        expect(events.map((e) => `${e.kind}:${e.status}`)).toEqual(['manifest:401', 'token:200', 'manifest:200']);
        expect(await check(`${tokenReg.host}/mlrun/mlrun:1.9.2-arm64`)).toMatchObject({ state: 'present' });
        expect(await check(`${tokenReg.host}/mlrun/mlrun:0.0.1`)).toEqual({ state: 'missing' });
        expect(ep.hits - hits).toBe(1);
        // Another repository is another scope: a new token.
        expect(await check(`${tokenReg.host}/mlrun/other:1`)).toEqual({ state: 'missing' });
        expect(ep.hits - hits).toBe(2);
      } finally {
        client.close();
      }
    });

    it('an expired token is refreshed before use, by expires_in on our clock', async () => {
      const ep = tokenReg.token!;
      let now = 5_000_000;
      const { client, check } = clientFor(tokenReg, PASSWORD, { now: () => now, presentTtlMs: 0, unknownTtlMs: 0 });
      try {
        ep.behaviour = { expiresIn: 30, expOffset: 300 };
        const hits = ep.hits;
        const image = `${tokenReg.host}/mlrun/mlrun:1.9.2`;
        expect((await check(image)).state).toBe('present');
        expect(ep.hits - hits).toBe(1);
        now += 20_000; // within expires_in (less the margin)
        expect((await check(image)).state).toBe('present');
        expect(ep.hits - hits).toBe(1);
        now += 15_000; // past expires_in: fetched again before use
        expect((await check(image)).state).toBe('present');
        expect(ep.hits - hits).toBe(2);
        // Expired again, and the realm now hands out tokens the registry refuses: the fresh token's refusal is
        // final (one fetch, no retry loop).
        ep.behaviour = { expiresIn: 30, expOffset: -600 };
        now += 35_000;
        expect(await check(image)).toEqual({ state: 'unknown', reason: 'unauthorized' });
        expect(ep.hits - hits).toBe(3);

      } finally {
        ep.behaviour = { expiresIn: 300, expOffset: 300 };
        client.close();
      }
    });

    it('a cached token the registry refuses is replaced on the 401 (counted at the token endpoint)', async () => {
      const ep = tokenReg.token!;
      const { client, check } = clientFor(tokenReg, PASSWORD, { presentTtlMs: 0, unknownTtlMs: 0 });
      try {
        // First token: valid signature but expired for the registry; the client believes expires_in.
        ep.behaviour = { expiresIn: 3600, expOffset: -600 };
        const hits = ep.hits;
        const image = `${tokenReg.host}/mlrun/mlrun:1.9.2`;
        const first = await check(image);
        expect(first).toEqual({ state: 'unknown', reason: 'unauthorized' });
        // One token: it was fresh, so a refusal is final (no loop of fetches).
        expect(ep.hits - hits).toBe(1);
        // The realm now issues good tokens: the cached bad one is refused (401), replaced, and the check succeeds.
        ep.behaviour = { expiresIn: 3600, expOffset: 300 };
        expect(await check(image)).toMatchObject({ state: 'present', digest: tokenImage.digest });
        expect(ep.hits - hits).toBe(2);
        expect(await check(image)).toMatchObject({ state: 'present' });
        expect(ep.hits - hits).toBe(2);
      } finally {
        ep.behaviour = { expiresIn: 300, expOffset: 300 };
        client.close();
      }
    });

    it('wrong credentials: the token endpoint refuses them; unknown, unauthorized', async () => {
      const { client, check } = clientFor(tokenReg, WRONG);
      try {
        const r = await check(`${tokenReg.host}/mlrun/mlrun:1.9.2`);
        expect(r.state).toBe('unknown');
        expect(r.reason).toMatch(/^unauthorized/);
      } finally {
        client.close();
      }
    });

    it('anonymous: a token without access, so unknown, unauthorized', async () => {
      const { client, check } = clientFor(tokenReg, undefined);
      try {
        expect(await check(`${tokenReg.host}/mlrun/mlrun:1.9.2`)).toEqual({ state: 'unknown', reason: 'unauthorized' });
      } finally {
        client.close();
      }
    });

    it('with several matching credentials the next is tried when one is refused (as the kubelet does)', async () => {
      const text = JSON.stringify({
        auths: {
          [`${tokenReg.host}/mlrun`]: { username: USER, password: WRONG },
          [tokenReg.host]: { username: USER, password: PASSWORD },
        },
      });
      const kr = buildKeyring([{ source: 's', text }]);
      const c = createRegistryClient({ ca: tokenReg.caPem!, insecureRegistries: [new URL(tokenReg.token!.url).host], keyring: kr.keyring });
      try {
        const r = await c.check(`${tokenReg.host}/mlrun/mlrun:1.9.2`);
        outputs.push(JSON.stringify(r));
        expect(r).toMatchObject({ state: 'present' });
      } finally {
        c.close();
      }
    });

    it('the token realm may redirect (followed, counted)', async () => {
      const ep = tokenReg.token!;
      const { client, check } = clientFor(tokenReg, PASSWORD);
      try {
        ep.behaviour = { expiresIn: 300, expOffset: 300, redirect: 'same-origin' };
        const hits = ep.hits;
        expect(await check(`${tokenReg.host}/mlrun/mlrun:1.9.2`)).toMatchObject({ state: 'present', digest: tokenImage.digest });
        expect(ep.hits - hits).toBe(2);
      } finally {
        ep.behaviour = { expiresIn: 300, expOffset: 300 };
        client.close();
      }
    });

    it('a redirect to another origin does not carry the credentials', async () => {
      const ep = tokenReg.token!;
      const port = new URL(ep.url).port;
      const kr = buildKeyring([{ source: 'pull-secret', text: pullSecret(tokenReg.host, PASSWORD) }]);
      const c = createRegistryClient({ ca: tokenReg.caPem!, insecureRegistries: [`127.0.0.1:${port}`, `localhost:${port}`], keyring: kr.keyring });
      try {
        ep.behaviour = { expiresIn: 300, expOffset: 300, redirect: 'cross-origin' };
        const issued = ep.issued.length;
        const r = await c.check(`${tokenReg.host}/mlrun/mlrun:1.9.2`);
        outputs.push(JSON.stringify(r));
        // The moved realm saw no credentials, so it issued an anonymous token without access.
        expect(r).toEqual({ state: 'unknown', reason: 'unauthorized' });
        expect(ep.issued.length - issued).toBe(1);
      } finally {
        ep.behaviour = { expiresIn: 300, expOffset: 300 };
        c.close();
      }
    });

    it('a token response over the body limit is refused, not read whole', async () => {
      const ep = tokenReg.token!;
      const { client, check } = clientFor(tokenReg, PASSWORD, { maxBodyBytes: 16 * 1024 });
      try {
        ep.behaviour = { expiresIn: 300, expOffset: 300, paddingBytes: 1024 * 1024 };
        expect(await check(`${tokenReg.host}/mlrun/mlrun:1.9.2`)).toEqual({ state: 'unknown', reason: 'token response larger than 16384 bytes' });
      } finally {
        ep.behaviour = { expiresIn: 300, expOffset: 300 };
        client.close();
      }
    });

    it('credentials are not sent to a plain-HTTP realm that is not listed as insecure', async () => {
      const ep = tokenReg.token!;
      const kr = buildKeyring([{ source: 'pull-secret', text: pullSecret(tokenReg.host, PASSWORD) }]);
      const c = createRegistryClient({ ca: tokenReg.caPem!, keyring: kr.keyring });
      try {
        const hits = ep.hits;
        const r = await c.check(`${tokenReg.host}/mlrun/mlrun:1.9.2`);
        outputs.push(JSON.stringify(r));
        expect(r.state).toBe('unknown');
        expect(r.reason).toMatch(/^token realm 127\.0\.0\.1:\d+ uses plain HTTP and is not listed as insecure$/);
        expect(ep.hits).toBe(hits);
      } finally {
        c.close();
      }
    });

    it('ping reports bearer auth and that the credentials get a token', async () => {
      const { client, ping } = clientFor(tokenReg, PASSWORD);
      try {
        expect(await ping()).toEqual({ reachable: true, status: 401, auth: 'bearer', authenticated: true });
      } finally {
        client.close();
      }
    });
  });

  // Runs last (tests run in order): everything the tests above printed or returned.
  it('no credential or token appears in any result, reason, request event or keyring problem', () => {
    const issued = tokenReg?.token?.issued ?? [];
    expect(issued.length).toBeGreaterThan(3);
    const secrets = [...secretsOf([PASSWORD, WRONG]), ...issued, ...issued.map((t) => t.split('.')[2]!)];
    const all = outputs.join('\n');
    expect(outputs.length).toBeGreaterThan(10);
    for (const s of secrets) expect(all.includes(s), `secret found in output`).toBe(false);
    // Tokens: any JWT-looking string (three base64url parts) must not appear anywhere.
    expect(all).not.toMatch(/eyJ[A-Za-z0-9_-]+\.eyJ/);
  });
});
