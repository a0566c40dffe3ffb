// helm test for mlrun-image-webhook (run by templates/tests/test-admission.yaml as `node -e <this file>` in the
// webhook's own image, so it needs nothing but node). It does what the API server does:
//   1. POST a real AdmissionReview (a Pod with image mlrun/mlrun) to https://<service>:443/mutate, trusting ONLY the
//      CA the MutatingWebhookConfiguration trusts and checking the certificate's name is the Service DNS name;
//   2. checks the answer: allowed, same uid, and in enforce mode a JSONPatch that sets mlrun/mlrun:<expected tag>
//      (with the data-node registry prefix if one is configured); in report mode no patch and a "would change" warning;
//   3. checks GET /readyz and GET /metrics on the health port.
// Retries a few times (a fresh install may still be rolling out). Exit code 0 = pass.
// test/chart/helm-test-script.test.ts runs this file against a local HTTPS server with the chart's generated certs.
'use strict';
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const { randomUUID } = require('node:crypto');

const env = process.env;
const host = env.WEBHOOK_HOST;
const port = Number(env.WEBHOOK_PORT || 443);
const servername = env.TLS_SERVERNAME || host;
const healthHost = env.HEALTH_HOST || host;
const healthPort = Number(env.HEALTH_PORT || 8080);
const mode = env.EXPECT_MODE || 'enforce';
const tag = env.EXPECT_TAG || '';
const attempts = Number(env.ATTEMPTS || 6);
const delayMs = Number(env.RETRY_DELAY_MS || 5000);

function send(lib, options, body) {
  return new Promise((resolve, reject) => {
    const req = lib.request({ agent: false, timeout: 10000, ...options }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error(`timed out: ${options.method} ${options.path}`)));
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

function escapeRegExp(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

async function checkOnce(ca) {
  const uid = randomUUID();
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'helm-test', namespace: 'helm-test' },
    spec: { containers: [{ name: 'main', image: 'mlrun/mlrun' }] },
  };
  const review = {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      name: 'helm-test',
      namespace: 'helm-test',
      operation: 'CREATE',
      userInfo: { username: 'system:helm-test' },
      object: pod,
      oldObject: null,
      dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    },
  };
  const body = JSON.stringify(review);
  const res = await send(
    https,
    {
      host,
      port,
      servername,
      ca,
      path: '/mutate',
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    },
    body,
  );
  if (res.status !== 200) throw new Error(`POST /mutate answered HTTP ${res.status}: ${res.body.slice(0, 300)}`);
  const out = JSON.parse(res.body);
  const r = out && out.response;
  if (!r || r.uid !== uid) throw new Error(`response.uid is not the request uid: ${res.body.slice(0, 300)}`);
  if (r.allowed !== true) throw new Error(`Pod not allowed: ${JSON.stringify(r.status || r)}`);
  const lines = [];
  if (mode === 'enforce') {
    if (r.patchType !== 'JSONPatch' || !r.patch) throw new Error(`enforce mode but no JSONPatch: ${res.body.slice(0, 300)}`);
    const patch = JSON.parse(Buffer.from(r.patch, 'base64').toString('utf8'));
    const op = patch.find((o) => o.path === '/spec/containers/0/image');
    const want = tag ? new RegExp(`(^|/)mlrun/mlrun:${escapeRegExp(tag)}$`) : /(^|\/)mlrun\/mlrun:[^/:@]+$/;
    if (!op || !want.test(String(op.value))) {
      throw new Error(`patch does not set mlrun/mlrun:${tag || '<tag>'}: ${JSON.stringify(patch).slice(0, 400)}`);
    }
    lines.push(`ok: mlrun/mlrun -> ${op.value}`);
  } else {
    if (r.patch) throw new Error('report mode must not return a patch');
    const warnings = r.warnings || [];
    if (!warnings.some((w) => w.includes('would change'))) {
      throw new Error(`report mode: expected a "would change" warning, got ${JSON.stringify(warnings)}`);
    }
    lines.push(`ok: report mode, ${warnings.find((w) => w.includes('would change'))}`);
  }
  const ready = await send(http, { host: healthHost, port: healthPort, path: '/readyz', method: 'GET' });
  if (ready.status !== 200) throw new Error(`GET /readyz answered HTTP ${ready.status}: ${ready.body.slice(0, 200)}`);
  const metrics = await send(http, { host: healthHost, port: healthPort, path: '/metrics', method: 'GET' });
  if (metrics.status !== 200 || !metrics.body.includes('mlrun_image_webhook_admission_requests_total')) {
    throw new Error(`GET /metrics: HTTP ${metrics.status}, mlrun_image_webhook_admission_requests_total missing`);
  }
  lines.push('ok: /readyz 200, /metrics has mlrun_image_webhook_admission_requests_total');
  return lines;
}

(async () => {
  const ca = env.CA_PEM || fs.readFileSync(env.CA_FILE || '/etc/mlrun-image-webhook-test/ca.crt', 'utf8');
  let last;
  for (let i = 1; i <= attempts; i++) {
    try {
      const lines = await checkOnce(ca);
      for (const l of lines) console.log(l);
      console.log(`PASS: ${host} answered a real AdmissionReview over TLS verified with the webhook's CA`);
      process.exit(0);
    } catch (err) {
      last = err;
      console.log(`attempt ${i}/${attempts}: ${err && err.message ? err.message : err}`);
      if (i < attempts) await new Promise((r) => setTimeout(r, delayMs));
    }
  }
  console.log(`FAIL: ${last && last.message ? last.message : last}`);
  process.exit(1);
})();
