/** The client against docker-registry serving TLS with a certificate from a generated CA. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistryClient } from '../../src/registry/index.js';
import { pushImage, registryBinary, REGISTRY_SKIP_REASON, startRegistry, type PushedImage, type RunningRegistry } from '../helpers/registry-server.js';

const bin = registryBinary();
if (!bin) console.log(`skipping registry TLS tests: ${REGISTRY_SKIP_REASON}`);

describe.skipIf(!bin)('registry client, TLS registry', () => {
  let reg: RunningRegistry;
  let image: PushedImage;
  let dir: string;
  let caFile: string;

  beforeAll(async () => {
    reg = await startRegistry({ tls: true });
    image = await pushImage(reg, 'mlrun/mlrun', '1.9.2');
    dir = await mkdtemp(path.join(os.tmpdir(), 'registry-ca-'));
    caFile = path.join(dir, 'ca.crt');
    await writeFile(caFile, reg.caPem!);
  });
  afterAll(async () => {
    await reg?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('present and missing over HTTPS with the CA bundle file', async () => {
    const c = createRegistryClient({ caFile });
    try {
      expect(await c.check(`${reg.host}/mlrun/mlrun:1.9.2`)).toEqual({ state: 'present', digest: image.digest, mediaType: image.mediaType });
      expect(await c.check(`${reg.host}/mlrun/mlrun:1.9.1`)).toEqual({ state: 'missing' });
      expect(await c.ping(reg.host)).toEqual({ reachable: true, status: 200, auth: 'none' });
    } finally {
      c.close();
    }
  });

  it('without the CA the certificate is refused: unknown with a TLS reason', async () => {
    const c = createRegistryClient();
    try {
      const r = await c.check(`${reg.host}/mlrun/mlrun:1.9.2`);
      expect(r.state).toBe('unknown');
      expect(r.reason).toMatch(/^TLS error: /);
      expect(await c.ping(reg.host)).toMatchObject({ reachable: false, reason: expect.stringMatching(/^TLS error: /) });
    } finally {
      c.close();
    }
  });

  it('a TLS registry listed as insecure is spoken to in plain HTTP, which it does not answer properly', async () => {
    const c = createRegistryClient({ insecureRegistries: [reg.host], caFile });
    try {
      const r = await c.check(`${reg.host}/mlrun/mlrun:1.9.2`);
      // Go's TLS server answers plain HTTP with a bare "400 Bad Request" and closes: no usable HTTP answer.
      expect(r.state).toBe('unknown');
      expect(r.reason).toMatch(/^(invalid HTTP response|HTTP 400)/);
    } finally {
      c.close();
    }
  });

  it('an unreadable CA file is refused when the client is created, naming the file', () => {
    expect(() => createRegistryClient({ caFile: path.join(dir, 'nope.crt') })).toThrow(/nope\.crt/);
  });
});
