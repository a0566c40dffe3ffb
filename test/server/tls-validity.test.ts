/**
 * Certificates outside their validity window: refused on reload (last good pair kept, refusal counted by reason),
 * a not-yet-valid pair adopted by the timer once its notBefore passes (no file event), and a start with an expired
 * pair: serving, not ready, counted, until a valid pair arrives. Validity windows are a few seconds wide.
 */
import { X509Certificate } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RunningServer } from '../../src/server/app.js';
import { generateServingCert, validityProblem } from '../../src/server/tls.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { testRuntime } from '../helpers/runtime.js';
import { httpGet, logCapture, metricValue, peerCertificate, servingFiles, startTestServer, writeAtomic } from './helpers.js';

const runtime = testRuntime();
const WAIT = { timeout: 20_000, interval: 100 };
const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;
const DAY = 24 * 3600 * 1000;

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tlsMetrics(s: RunningServer) {
  const text = (await httpGet(`${s.healthUrl}/metrics`)).body;
  const v = (sample: string) => metricValue(text, `mlrun_image_webhook_${sample}`) ?? NaN;
  return {
    expired: v('tls_certificate_refusals_total{reason="expired"}'),
    notYetValid: v('tls_certificate_refusals_total{reason="not_yet_valid"}'),
    failure: v('tls_reloads_total{result="failure"}'),
    valid: v('tls_certificate_valid'),
  };
}

describe('certificate validity', () => {
  it('validityProblem tells expired from not yet valid', () => {
    const pair = { notBefore: new Date(1_000), notAfter: new Date(2_000) };
    expect(validityProblem(pair, 500)?.reason).toBe('not_yet_valid');
    expect(validityProblem(pair, 1_500)).toBeUndefined();
    expect(validityProblem(pair, 2_000)?.reason).toBe('expired');
  });

  it('refuses an expired pair on reload and keeps the last good one; adopts a not-yet-valid pair when it becomes valid', async () => {
    const { pki, leaf: first, certFile, keyFile, cleanup } = await servingFiles('tls-validity', 'first.localhost');
    cleanups.push(cleanup);
    const logs = logCapture();
    // A long poll: the not-yet-valid pair below must be taken by the timer, not by a file event or a poll.
    const s = await startTestServer(runtime, { logger: createLogger({ destination: logs }), tls: { certFile, keyFile }, tlsPollIntervalMs: 60_000, tlsDebounceMs: 50 });
    cleanups.push(() => s.close());
    const ca = pki.ca.cert;
    expect((await tlsMetrics(s)).valid).toBe(1);

    const now = Date.now();
    const expired = await generateServingCert(pki.ca, { commonName: 'expired.localhost', notBefore: new Date(now - 2 * DAY), notAfter: new Date(now - 5_000) });
    await writeAtomic(keyFile, expired.key);
    await writeAtomic(certFile, expired.cert);
    await vi.waitFor(async () => expect((await tlsMetrics(s)).expired).toBe(1), WAIT);
    // (A look between the two writes may also refuse a mismatched pair: at least the expired one is a failure.)
    expect((await tlsMetrics(s)).failure).toBeGreaterThanOrEqual(1);
    expect((await peerCertificate(s.httpsUrl, ca)).fingerprint256).toBe(fingerprint(first.cert));
    expect(logs.lines.some((l) => l.level === 'warn' && /refused/.test(l.msg) && /expired/.test(l.reason))).toBe(true);
    expect((await httpGet(`${s.healthUrl}/readyz`)).status).toBe(200);

    // Valid from a few seconds from now: refused first, then taken without any further change to the files.
    const early = await generateServingCert(pki.ca, { commonName: 'early.localhost', notBefore: new Date(Date.now() + 4_000), notAfter: new Date(Date.now() + DAY) });
    await writeAtomic(keyFile, early.key);
    await writeAtomic(certFile, early.cert);
    await vi.waitFor(async () => expect((await tlsMetrics(s)).notYetValid).toBe(1), WAIT);
    expect((await peerCertificate(s.httpsUrl, ca)).fingerprint256).toBe(fingerprint(first.cert));
    await vi.waitFor(async () => expect((await peerCertificate(s.httpsUrl, ca)).fingerprint256).toBe(fingerprint(early.cert)), WAIT);
    expect((await tlsMetrics(s)).valid).toBe(1);
    expect(logs.lines.some((l) => l.msg === 'serving certificate reloaded' && l.subject.includes('early.localhost'))).toBe(true);
  });

  it('starts with an expired pair: serving it, not ready, counted; ready once a valid pair is written', async () => {
    const { pki, certFile, keyFile, cleanup } = await servingFiles('tls-start-expired');
    cleanups.push(cleanup);
    const now = Date.now();
    const expired = await generateServingCert(pki.ca, { notBefore: new Date(now - 2 * DAY), notAfter: new Date(now - 5_000) });
    await writeAtomic(keyFile, expired.key);
    await writeAtomic(certFile, expired.cert);
    const logs = logCapture();
    const s = await startTestServer(runtime, { logger: createLogger({ destination: logs }), tls: { certFile, keyFile }, tlsPollIntervalMs: 500, tlsDebounceMs: 50 });
    cleanups.push(() => s.close());

    const ready = await httpGet(`${s.healthUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.json().reason).toMatch(/serving certificate unusable: certificate expired/);
    expect((await httpGet(`${s.healthUrl}/healthz`)).status).toBe(200); // not restarted by the kubelet
    expect(await tlsMetrics(s)).toMatchObject({ expired: 1, valid: 0 });
    expect(logs.lines.some((l) => l.level === 'error' && /NOT READY/.test(l.msg))).toBe(true);

    const good = await pki.leaf();
    await writeAtomic(keyFile, good.key);
    await writeAtomic(certFile, good.cert);
    await vi.waitFor(async () => expect((await httpGet(`${s.healthUrl}/readyz`)).status).toBe(200), WAIT);
    expect((await peerCertificate(s.httpsUrl, pki.ca.cert)).fingerprint256).toBe(fingerprint(good.cert));
    expect((await tlsMetrics(s)).valid).toBe(1);
  });
});
