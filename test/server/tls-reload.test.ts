/** The serving certificate changes on disk and the running server picks it up: no restart, no dropped session. */
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import http2 from 'node:http2';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { podCreateReview } from '../../src/admission/review.js';
import type { RunningServer } from '../../src/server/app.js';
import { checkTlsPair } from '../../src/server/tls.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { testRuntime } from '../helpers/runtime.js';
import { h2Request, httpGet, logCapture, metricValue, peerCertificate, servingFiles, startTestServer, tempDir, testPki, writeAtomic } from './helpers.js';

const runtime = testRuntime();
const WAIT = { timeout: 20_000, interval: 100 };
const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;
const REVIEW = JSON.stringify(
  podCreateReview({ metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'mlrun/mlrun' }] } }, { uid: '7c3b1c43-0000-4000-8000-000000000001', namespace: 'mlrun' }),
);

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tlsMetrics(s: RunningServer) {
  const text = (await httpGet(`${s.healthUrl}/metrics`)).body;
  return {
    success: metricValue(text, 'mlrun_image_webhook_tls_reloads_total{result="success"}') ?? NaN,
    failure: metricValue(text, 'mlrun_image_webhook_tls_reloads_total{result="failure"}') ?? NaN,
    expiry: metricValue(text, 'mlrun_image_webhook_tls_certificate_expiry_timestamp_seconds') ?? NaN,
  };
}

describe('certificate reload', () => {
  it('serves a new pair written over the files, keeps open sessions, and refuses broken pairs', async () => {
    const { pki, leaf: first, certFile, keyFile, cleanup } = await servingFiles('tls', 'first.localhost');
    cleanups.push(cleanup);
    const logs = logCapture();
    const s = await startTestServer(runtime, { logger: createLogger({ destination: logs }), tls: { certFile, keyFile }, tlsPollIntervalMs: 1_000 });
    cleanups.push(() => s.close());
    const ca = pki.ca.cert;

    expect((await peerCertificate(s.httpsUrl, ca)).fingerprint256).toBe(fingerprint(first.cert));
    // An h2 session opened before the rotation must keep working after it.
    const session = http2.connect(s.httpsUrl, { ca });
    cleanups.push(async () => session.close());
    expect((await h2Request(s.httpsUrl, { ca, session, headers: { 'content-type': 'application/json' }, body: REVIEW })).status).toBe(200);

    // Rotation: key first, then certificate (a window where the pair does not match must not win).
    const second = await pki.leaf('second.localhost');
    await writeAtomic(keyFile, second.key);
    await writeAtomic(certFile, second.cert);
    await vi.waitFor(async () => {
      expect((await peerCertificate(s.httpsUrl, ca)).fingerprint256).toBe(fingerprint(second.cert));
    }, WAIT);
    expect(s.tls.current().fingerprint256).toBe(fingerprint(second.cert));
    expect((await h2Request(s.httpsUrl, { ca, session, headers: { 'content-type': 'application/json' }, body: REVIEW })).status).toBe(200);
    await vi.waitFor(async () => expect((await tlsMetrics(s)).success).toBeGreaterThanOrEqual(1), WAIT);
    expect((await tlsMetrics(s)).expiry).toBe(Math.floor(checkTlsPair(Buffer.from(second.cert), Buffer.from(second.key)).notAfter.getTime() / 1000));
    expect(logs.lines.some((l) => l.msg === 'serving certificate reloaded')).toBe(true);

    // A certificate whose key is another one's: refused, the second pair keeps serving.
    const third = await pki.leaf('third.localhost');
    const failuresBefore = (await tlsMetrics(s)).failure;
    await writeAtomic(certFile, third.cert);
    await vi.waitFor(async () => expect((await tlsMetrics(s)).failure).toBeGreaterThan(failuresBefore), WAIT);
    expect((await peerCertificate(s.httpsUrl, ca)).fingerprint256).toBe(fingerprint(second.cert));
    expect(logs.lines.some((l) => l.level === 'warn' && /refused/.test(l.msg) && /does not match/.test(l.reason))).toBe(true);

    // Garbage: refused too.
    const failuresMid = (await tlsMetrics(s)).failure;
    await writeAtomic(certFile, '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
    await vi.waitFor(async () => expect((await tlsMetrics(s)).failure).toBeGreaterThan(failuresMid), WAIT);
    expect((await peerCertificate(s.httpsUrl, ca)).fingerprint256).toBe(fingerprint(second.cert));

    // Gone: refused, still serving.
    await rm(certFile);
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await peerCertificate(s.httpsUrl, ca)).fingerprint256).toBe(fingerprint(second.cert));

    // Repaired with the third pair: served.
    await writeAtomic(keyFile, third.key);
    await writeAtomic(certFile, third.cert);
    await vi.waitFor(async () => {
      expect((await peerCertificate(s.httpsUrl, ca)).fingerprint256).toBe(fingerprint(third.cert));
    }, WAIT);
    expect((await h2Request(s.httpsUrl, { ca, headers: { 'content-type': 'application/json' }, body: REVIEW })).status).toBe(200);
  });

  it('follows a Kubernetes Secret volume update (..data symlink swap)', async () => {
    const tmp = await tempDir('tls-secret');
    cleanups.push(tmp.cleanup);
    const pki = await testPki();
    const first = await pki.leaf('first.localhost');
    // The kubelet's layout: tls.crt -> ..data/tls.crt, ..data -> ..<timestamp>/ ; an update writes a new
    // timestamped dir and renames a new ..data symlink over the old one, in one atomic step.
    const mount = tmp.dir;
    const writeVersion = async (name: string, pair: { cert: string; key: string }) => {
      const dir = path.join(mount, name);
      await mkdir(dir);
      await writeFile(path.join(dir, 'tls.crt'), pair.cert);
      await writeFile(path.join(dir, 'tls.key'), pair.key);
      await symlink(name, path.join(mount, '..data_tmp'));
      await rename(path.join(mount, '..data_tmp'), path.join(mount, '..data'));
    };
    await writeVersion('..2025_01_01_00_00_00.000000001', first);
    await symlink('..data/tls.crt', path.join(mount, 'tls.crt'));
    await symlink('..data/tls.key', path.join(mount, 'tls.key'));
    const s = await startTestServer(runtime, {
      tls: { certFile: path.join(mount, 'tls.crt'), keyFile: path.join(mount, 'tls.key') },
      // Long poll: the directory watch has to notice the swap by itself.
      tlsPollIntervalMs: 60_000,
    });
    cleanups.push(() => s.close());
    expect((await peerCertificate(s.httpsUrl, pki.ca.cert)).fingerprint256).toBe(fingerprint(first.cert));

    const second = await pki.leaf('second.localhost');
    await writeVersion('..2025_01_02_00_00_00.000000002', second);
    await vi.waitFor(async () => {
      expect((await peerCertificate(s.httpsUrl, pki.ca.cert)).fingerprint256).toBe(fingerprint(second.cert));
    }, WAIT);
    expect(await readFile(path.join(mount, 'tls.crt'), 'utf8')).toBe(second.cert);
  });

  it('refuses to start on an unusable pair, with the reason', async () => {
    const { pki, certFile, keyFile, dir, cleanup } = await servingFiles('tls-bad');
    cleanups.push(cleanup);
    await writeFile(keyFile, (await pki.leaf()).key); // the key of another certificate
    await expect(startTestServer(runtime, { tls: { certFile, keyFile } })).rejects.toThrow(/does not match/);
    await expect(startTestServer(runtime, { tls: { certFile: path.join(dir, 'missing.crt'), keyFile } })).rejects.toThrow(
      /cannot read certificate/,
    );
  });
});
