/**
 * Runs Debian's docker-registry (distribution 2.8, the reference implementation of the distribution API) for
 * tests: a generated config in a temp dir, a free loopback port, stopped by PID. Modes: plain HTTP, TLS with a
 * generated CA, htpasswd Basic auth, and token auth with a token endpoint served here (JWTs signed ES256 with a
 * generated certificate that the registry trusts via rootcertbundle and receives in the `x5c` header).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, createPrivateKey, randomBytes, sign, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { generateDevCa, generateServingCert } from '../../src/server/tls.js';
import { bcrypt } from '../registry/bcrypt.js';

export function registryBinary(): string | undefined {
  const bin = process.env.DOCKER_REGISTRY_BIN ?? '/usr/bin/docker-registry';
  return existsSync(bin) ? bin : undefined;
}

/** One line for it.skipIf / describe.skipIf. */
export const REGISTRY_SKIP_REASON = 'docker-registry not installed (set DOCKER_REGISTRY_BIN or apt-get install docker-registry)';

export interface TokenEndpoint {
  url: string;
  /** Requests served so far. */
  hits: number;
  /** Every token handed out (tests search outputs for them). */
  issued: string[];
  /** What the next tokens look like: lifetime claimed in expires_in, and the JWT's own exp offset (seconds). */
  behaviour: { expiresIn: number; expOffset: number; scopeOverride?: string | undefined; redirect?: 'same-origin' | 'cross-origin'; paddingBytes?: number };
  close(): Promise<void>;
}

export interface RegistryOptions {
  tls?: boolean;
  auth?: { kind: 'htpasswd'; username: string; password: string } | { kind: 'token'; username: string; password: string };
}

export interface RunningRegistry {
  /** host:port as written in image names (127.0.0.1:PORT). */
  host: string;
  baseUrl: string;
  /** PEM of the CA that signed the TLS certificate (tls mode). */
  caPem?: string;
  token?: TokenEndpoint;
  /** Authorization header value that lets the harness push (Basic, or a minted push token). */
  pushAuth(repository: string): string | undefined;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

const ISSUER = 'mlrun-image-webhook-test-issuer';
const SERVICE = 'test-registry';

interface Signer {
  certDerB64: string;
  keyPem: string;
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/** A distribution-2.8 compatible JWT: ES256, x5c header with the signing certificate. */
export function mintToken(
  signer: Signer,
  subject: string,
  access: Array<{ type: string; name: string; actions: string[] }>,
  expOffsetSeconds: number,
): string {
  const now = Math.floor(Date.now() / 1000);
  const header = { typ: 'JWT', alg: 'ES256', x5c: [signer.certDerB64] };
  const claims = {
    iss: ISSUER,
    sub: subject,
    aud: SERVICE,
    exp: now + expOffsetSeconds,
    nbf: now - 60,
    iat: now - 60,
    jti: randomBytes(8).toString('hex'),
    access,
  };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const sig = sign('sha256', Buffer.from(input), { key: createPrivateKey(signer.keyPem), dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64url(sig)}`;
}

function scopeToAccess(scope: string | null): Array<{ type: string; name: string; actions: string[] }> {
  if (!scope) return [];
  const m = /^(repository):([^:]+):(.+)$/.exec(scope);
  return m ? [{ type: m[1]!, name: m[2]!, actions: m[3]!.split(',') }] : [];
}

async function startTokenEndpoint(signer: Signer, username: string, password: string): Promise<TokenEndpoint> {
  const expected = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  const endpoint: TokenEndpoint = {
    url: '',
    hits: 0,
    issued: [],
    behaviour: { expiresIn: 300, expOffset: 300 },
    close: async () => {},
  };
  const server = http.createServer((req, res) => {
    endpoint.hits++;
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/token' && endpoint.behaviour.redirect) {
      // 127.0.0.1 and localhost are different origins on the same server.
      const port = (server.address() as net.AddressInfo).port;
      const to = endpoint.behaviour.redirect === 'same-origin' ? '' : `http://localhost:${port}`;
      res.writeHead(307, { Location: `${to}/token-moved${url.search}` }).end();
      return;
    }
    if (url.pathname !== '/token' && url.pathname !== '/token-moved') {
      res.writeHead(404).end();
      return;
    }
    const auth = req.headers.authorization;
    if (auth !== undefined && auth !== expected) {
      res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"details":"incorrect username or password"}');
      return;
    }
    // Anonymous callers get a token without access (as Docker Hub does for private repositories).
    const scope = endpoint.behaviour.scopeOverride ?? url.searchParams.get('scope');
    const access = auth === undefined ? [] : scopeToAccess(scope);
    const token = mintToken(signer, auth === undefined ? '' : username, access, endpoint.behaviour.expOffset);
    endpoint.issued.push(token);
    res
      .writeHead(200, { 'Content-Type': 'application/json' })
      .end(
        JSON.stringify({
          token,
          access_token: token,
          expires_in: endpoint.behaviour.expiresIn,
          issued_at: new Date().toISOString(),
          ...(endpoint.behaviour.paddingBytes ? { padding: 'x'.repeat(endpoint.behaviour.paddingBytes) } : {}),
        }),
      );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint.url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/token`;
  endpoint.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return endpoint;
}

export async function startRegistry(options: RegistryOptions = {}): Promise<RunningRegistry> {
  const bin = registryBinary();
  if (!bin) throw new Error(REGISTRY_SKIP_REASON);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'registry-test-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const lines = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${path.join(dir, 'data')}`,
    'http:',
    `  addr: ${host}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
  ];
  let caPem: string | undefined;
  if (options.tls) {
    const ca = await generateDevCa('registry test CA');
    const leaf = await generateServingCert(ca);
    caPem = ca.cert;
    await writeFile(path.join(dir, 'tls.crt'), leaf.cert);
    await writeFile(path.join(dir, 'tls.key'), leaf.key);
    lines.push('  tls:', `    certificate: ${path.join(dir, 'tls.crt')}`, `    key: ${path.join(dir, 'tls.key')}`);
  }
  let token: TokenEndpoint | undefined;
  let signer: Signer | undefined;
  const auth = options.auth;
  if (auth?.kind === 'htpasswd') {
    await writeFile(path.join(dir, 'htpasswd'), `${auth.username}:${bcrypt(auth.password)}\n`);
    lines.push('auth:', '  htpasswd:', '    realm: test-realm', `    path: ${path.join(dir, 'htpasswd')}`);
  } else if (auth?.kind === 'token') {
    const pair = await generateDevCa('registry test token signer');
    signer = { certDerB64: new X509Certificate(pair.cert).raw.toString('base64'), keyPem: pair.key };
    await writeFile(path.join(dir, 'token-ca.crt'), pair.cert);
    token = await startTokenEndpoint(signer, auth.username, auth.password);
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${token.url}`,
      `    service: ${SERVICE}`,
      `    issuer: ${ISSUER}`,
      `    rootcertbundle: ${path.join(dir, 'token-ca.crt')}`,
    );
  }
  const configPath = path.join(dir, 'config.yml');
  await writeFile(configPath, `${lines.join('\n')}\n`);

  const child: ChildProcess = spawn(bin, ['serve', configPath], { stdio: ['ignore', 'ignore', 'pipe'], detached: false });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    if (stderr.length < 20_000) stderr += d.toString();
  });
  const baseUrl = `${options.tls ? 'https' : 'http'}://${host}`;
  const stop = async (): Promise<void> => {
    // A child ended by a signal keeps exitCode null: check signalCode too, so a second stop() is a no-op.
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      process.kill(child.pid, 'SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
    }
    await token?.close();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitUntilServing(baseUrl, caPem, child, () => stderr);
  } catch (err) {
    await stop();
    throw err;
  }
  const basic = auth ? `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` : undefined;
  return {
    host,
    baseUrl,
    ...(caPem === undefined ? {} : { caPem }),
    ...(token === undefined ? {} : { token }),
    pushAuth: (repository) => {
      if (auth?.kind === 'token') {
        return `Bearer ${mintToken(signer!, auth.username, [{ type: 'repository', name: repository, actions: ['pull', 'push'] }], 600)}`;
      }
      return basic;
    },
    stop,
  };
}

async function waitUntilServing(baseUrl: string, caPem: string | undefined, child: ChildProcess, stderr: () => string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}: ${stderr().slice(0, 2000)}`);
    try {
      const res = await raw(baseUrl, caPem, 'GET', '/v2/', {});
      if (res.status > 0) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`docker-registry did not start: ${stderr().slice(0, 2000)}`);
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A plain request for the harness's own pushes (not the code under test). */
export function raw(
  baseUrl: string,
  caPem: string | undefined,
  method: string,
  pathOrUrl: string,
  headers: Record<string, string>,
  body?: Buffer,
): Promise<RawResponse> {
  const url = new URL(pathOrUrl, baseUrl);
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      url,
      {
        method,
        headers: { ...headers, ...(body ? { 'Content-Length': String(body.length) } : {}) },
        ...(caPem ? { ca: caPem } : {}),
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('harness request timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function pushBlob(reg: RunningRegistry, repository: string, blob: Buffer): Promise<string> {
  const digest = sha256(blob);
  const auth = reg.pushAuth(repository);
  const h: Record<string, string> = auth ? { Authorization: auth } : {};
  const start = await raw(reg.baseUrl, reg.caPem, 'POST', `/v2/${repository}/blobs/uploads/`, h, Buffer.alloc(0));
  if (start.status !== 202) throw new Error(`blob upload start: HTTP ${start.status} ${start.body.toString()}`);
  const loc = new URL(String(start.headers.location), reg.baseUrl);
  loc.searchParams.set('digest', digest);
  const put = await raw(reg.baseUrl, reg.caPem, 'PUT', loc.toString(), { ...h, 'Content-Type': 'application/octet-stream' }, blob);
  if (put.status !== 201) throw new Error(`blob upload: HTTP ${put.status} ${put.body.toString()}`);
  return digest;
}

async function putManifest(reg: RunningRegistry, repository: string, ref: string, mediaType: string, doc: unknown): Promise<string> {
  const body = Buffer.from(JSON.stringify(doc));
  const auth = reg.pushAuth(repository);
  const res = await raw(
    reg.baseUrl,
    reg.caPem,
    'PUT',
    `/v2/${repository}/manifests/${ref}`,
    { 'Content-Type': mediaType, ...(auth ? { Authorization: auth } : {}) },
    body,
  );
  if (res.status !== 201) throw new Error(`manifest put: HTTP ${res.status} ${res.body.toString()}`);
  return sha256(body);
}

export interface PushedImage {
  digest: string;
  mediaType: string;
}

/** Pushes a one-layer image (config + layer + image manifest); `oci` picks OCI or Docker v2 media types. */
export async function pushImage(reg: RunningRegistry, repository: string, tag: string, opts: { oci?: boolean; arch?: string } = {}): Promise<PushedImage> {
  const arch = opts.arch ?? 'amd64';
  const config = Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config: {} }));
  const layer = Buffer.from(`layer of ${repository}:${tag} ${arch} ${randomBytes(4).toString('hex')}`);
  const configDigest = await pushBlob(reg, repository, config);
  const layerDigest = await pushBlob(reg, repository, layer);
  const oci = opts.oci ?? true;
  const mediaType = oci ? 'application/vnd.oci.image.manifest.v1+json' : 'application/vnd.docker.distribution.manifest.v2+json';
  const manifest = {
    schemaVersion: 2,
    mediaType,
    config: { mediaType: oci ? 'application/vnd.oci.image.config.v1+json' : 'application/vnd.docker.container.image.v1+json', size: config.length, digest: configDigest },
    layers: [{ mediaType: oci ? 'application/vnd.oci.image.layer.v1.tar' : 'application/vnd.docker.image.rootfs.diff.tar', size: layer.length, digest: layerDigest }],
  };
  const digest = await putManifest(reg, repository, tag, mediaType, manifest);
  return { digest, mediaType };
}

/** Pushes an amd64 and an arm64 image and an index over them under `tag` (OCI index, or Docker manifest list). */
export async function pushMultiArch(reg: RunningRegistry, repository: string, tag: string, opts: { oci?: boolean } = {}): Promise<PushedImage> {
  const oci = opts.oci ?? true;
  const manifests = [];
  for (const arch of ['amd64', 'arm64']) {
    const img = await pushImage(reg, repository, `${tag}-${arch}`, { oci, arch });
    const size = 0; // filled below from the stored manifest
    manifests.push({ mediaType: img.mediaType, digest: img.digest, size, platform: { architecture: arch, os: 'linux' } });
  }
  for (const m of manifests) {
    const auth = reg.pushAuth(repository);
    const res = await raw(reg.baseUrl, reg.caPem, 'GET', `/v2/${repository}/manifests/${m.digest}`, {
      Accept: m.mediaType,
      ...(auth ? { Authorization: auth } : {}),
    });
    m.size = res.body.length;
  }
  const mediaType = oci ? 'application/vnd.oci.image.index.v1+json' : 'application/vnd.docker.distribution.manifest.list.v2+json';
  const digest = await putManifest(reg, repository, tag, mediaType, { schemaVersion: 2, mediaType, manifests });
  return { digest, mediaType };
}
