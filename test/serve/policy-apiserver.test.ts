/**
 * The production image policy as the API server's clients see it (issue 13 "Done when"): a real kube-apiserver
 * (envtest) calls `serve` through a MutatingWebhookConfiguration shaped like the chart's two entries — /mutate for
 * every namespace not labelled production (with the per-Pod opt-out), /mutate/production for the labelled ones (no
 * opt-out, failurePolicy Fail). Pods are created through the API's REST, as kubectl does, and what the client gets
 * (HTTP status, Status.message, Warning headers) and what the API server stores are checked. The config is switched
 * by a hot reload of the config file (deny → rewrite → rewrite with digests), one server for the whole file.
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runServe } from '../../src/cli/serve.js';
import type { RunningServer } from '../../src/server/app.js';
import { envtestSkipReason, startControlPlane, until, type ControlPlane } from '../helpers/envtest.js';
import { pushImage, REGISTRY_SKIP_REASON, registryBinary, startRegistry, type PushedImage, type RunningRegistry } from '../helpers/registry-server.js';
import { httpGet, logCapture, metricValue, servingFiles, testPki, writeAtomic } from '../server/helpers.js';

const skip = envtestSkipReason();
if (skip) console.log(`test/serve/policy-apiserver.test.ts: control-plane tests skipped: ${skip}`);
const registrySkip = registryBinary() === undefined ? REGISTRY_SKIP_REASON : undefined;
if (!skip && registrySkip) console.log(`test/serve/policy-apiserver.test.ts: digest tests skipped: ${registrySkip}`);

const PROD = 'prod';
const DEV = 'dev';
const POLICY_LABEL = 'mlrun-image-webhook/policy';
const OPT_OUT = 'mlrun-image-webhook/skip';
const RECORD = 'mlrun-image-webhook/images';
const MAIN_ENTRY = 'main.policy-e2e.mlrun-image-webhook.test';
const PROD_ENTRY = 'production.policy-e2e.mlrun-image-webhook.test';
const DATANODE = 'registry.datanode.local:5000/';
/** MLRun 1.9.2's image for a python 3.9 client (MLRun 1.9's default python is 3.11, so 3.9 gets -py39). */
const PINNED = 'mlrun/mlrun:1.9.2-py39';

/** Config: the MLRun install is 1.10 (its clients auto-tag 1.10.0); production is pinned to 1.9.2. */
function config(pinTags: 'deny' | 'rewrite', extra: { imagesRegistry?: string; lines?: string[] } = {}): string {
  return [
    'mlrun:',
    '  version: 1.10.0',
    `  imagesRegistry: ${JSON.stringify(extra.imagesRegistry ?? DATANODE)}`,
    'policy:',
    `  pinTags: ${pinTags}`,
    '  mlrunVersion: "1.9.2"',
    ...(extra.lines ?? []),
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// The API server's REST as kubectl uses it (admin client certificate), keeping status, Warning headers and body.

interface KubeResponse {
  status: number;
  body: any;
  /** The Warning headers' texts (RFC 7234 "299 - <quoted text>"), unquoted. */
  warnings: string[];
}

function warningTexts(header: string | string[] | undefined): string[] {
  const all = Array.isArray(header) ? header.join(', ') : (header ?? '');
  const out: string[] = [];
  // 299 - "text with \" escapes"
  for (const m of all.matchAll(/299 - "((?:[^"\\]|\\.)*)"/g)) out.push(m[1]!.replace(/\\(.)/g, '$1'));
  return out;
}

function kubeClient(cp: ControlPlane) {
  const creds = {
    ca: readFileSync(path.join(cp.dir, 'ca.crt')),
    cert: readFileSync(path.join(cp.dir, 'admin.crt')),
    key: readFileSync(path.join(cp.dir, 'admin.key')),
  };
  return (method: string, apiPath: string, body?: unknown, contentType = 'application/json'): Promise<KubeResponse> =>
    new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = https.request(
        new URL(apiPath, cp.server),
        {
          method,
          ...creds,
          agent: false,
          headers: { accept: 'application/json', ...(data !== undefined ? { 'content-type': contentType, 'content-length': Buffer.byteLength(data) } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              /* not JSON: kept as text */
            }
            resolve({ status: res.statusCode ?? 0, body: parsed, warnings: warningTexts(res.headers['warning']) });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(data);
    });
}

// ---------------------------------------------------------------------------------------------------------------
// Pods

/** What `kubectl run <name> --image=<image>` sends. */
function runPod(name: string, image: string, labels: Record<string, string> = {}): any {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { run: name, ...labels } }, spec: { containers: [{ name, image }] } };
}

/**
 * The fixture's MLRun job Pod as a 1.10 client submits it (python 3.9.18, as in the fixture), named `name`, or with
 * the fixture's generateName (as MLRun creates them) when `name` is undefined.
 */
function jobPod(name: string | undefined, image = 'mlrun/mlrun:1.10.0'): any {
  const pod = JSON.parse(readFileSync(new URL('../fixtures/mlrun-pods/job-pod.json', import.meta.url), 'utf8'));
  delete pod.metadata.namespace;
  if (name !== undefined) {
    delete pod.metadata.generateName;
    pod.metadata.name = name;
  }
  const c = pod.spec.containers[0];
  c.image = image;
  const exec = c.env.find((e: any) => e.name === 'MLRUN_EXEC_CONFIG');
  const run = JSON.parse(exec.value);
  expect(run.metadata.labels['mlrun/client_python_version']).toBe('3.9.18');
  run.metadata.labels['mlrun/client_version'] = '1.10.0';
  exec.value = JSON.stringify(run);
  // No Secret exists here (nor a kubelet to read one): the secret env var is not what this test is about.
  c.env = c.env.filter((e: any) => !e.valueFrom);
  return pod;
}

// ---------------------------------------------------------------------------------------------------------------

describe.skipIf(skip !== undefined)('the production policy through a real API server', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  let cp: ControlPlane;
  let kube: ReturnType<typeof kubeClient>;
  let server: RunningServer;
  let configFile: string;
  let stopServer: () => Promise<number>;
  const logs = logCapture();

  const create = (ns: string, pod: any, dryRun = false) => kube('POST', `/api/v1/namespaces/${ns}/pods${dryRun ? '?dryRun=All' : ''}`, pod);
  const read = async (ns: string, name: string) => {
    const r = await kube('GET', `/api/v1/namespaces/${ns}/pods/${name}`);
    expect(r.status).toBe(200);
    return r.body;
  };
  /** Switches the server's config by rewriting its file, and waits for the reload to be logged. */
  const reload = async (yaml: string) => {
    const before = logs.lines.filter((l) => l.msg === 'config reloaded').length;
    await writeAtomic(configFile, yaml);
    await until('config reloaded', () => logs.lines.filter((l) => l.msg === 'config reloaded').length > before);
    expect(logs.lines.some((l) => l.msg.startsWith('new config refused'))).toBe(false);
  };

  beforeAll(async () => {
    cp = await startControlPlane();
    cleanups.push(() => cp.stop());
    kube = kubeClient(cp);

    // The webhook server: the serving certificate names 127.0.0.1 (the API server calls it by URL).
    const files = await servingFiles('policy-apiserver');
    cleanups.push(files.cleanup);
    configFile = path.join(files.dir, 'config.yaml');
    await writeFile(configFile, config('deny'));
    const signals = new EventEmitter();
    let listening: RunningServer | undefined;
    const running = runServe(
      ['--config', configFile, '--port', '0', '--health-port', '0', '--host', '127.0.0.1', '--tls-cert', files.certFile, '--tls-key', files.keyFile, '--drain-delay', '0'],
      { signals, logDestination: logs, exit: vi.fn(), onListening: (s) => (listening = s) },
    );
    stopServer = async () => {
      signals.emit('SIGTERM', 'SIGTERM');
      return running;
    };
    cleanups.push(stopServer);
    let exited: number | undefined;
    void running.then((code) => (exited = code));
    server = await until('serve listening', () => {
      if (exited !== undefined) throw new Error(`serve exited with ${exited}: ${JSON.stringify(logs.lines.slice(-3))}`);
      return listening;
    });
    const base = server.httpsUrl.replace(/\/$/, '');
    const caBundle = Buffer.from(files.pki.ca.cert).toString('base64');

    for (const [name, labels] of [[PROD, { [POLICY_LABEL]: 'production' }], [DEV, {}]] as const) {
      const r = await kube('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    }

    // The chart's entries (templates/webhook.yaml), with a URL instead of a Service.
    const rules = [
      { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' },
      { apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['pods/ephemeralcontainers'], scope: 'Namespaced' },
    ];
    const never = { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'kube-public', 'kube-node-lease'] };
    const nsOptOut = { key: OPT_OUT, operator: 'NotIn', values: ['true'] };
    const entry = (name: string, urlPath: string, failurePolicy: string) => ({
      name,
      admissionReviewVersions: ['v1'],
      sideEffects: 'None',
      failurePolicy,
      matchPolicy: 'Equivalent',
      reinvocationPolicy: 'IfNeeded',
      timeoutSeconds: 10,
      clientConfig: { url: `${base}${urlPath}`, caBundle },
      rules,
    });
    const mwc = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'policy-e2e' },
      webhooks: [
        {
          ...entry(MAIN_ENTRY, '/mutate', 'Ignore'),
          namespaceSelector: { matchExpressions: [never, nsOptOut, { key: POLICY_LABEL, operator: 'NotIn', values: ['production'] }] },
          objectSelector: { matchExpressions: [{ key: OPT_OUT, operator: 'NotIn', values: ['true'] }] },
        },
        {
          // No objectSelector: any Pod author could set the opt-out label (ADR 0008).
          ...entry(PROD_ENTRY, '/mutate/production', 'Fail'),
          namespaceSelector: { matchExpressions: [never, nsOptOut, { key: POLICY_LABEL, operator: 'In', values: ['production'] }] },
        },
      ],
    };
    const r = await kube('POST', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', mwc);
    expect(r.status, JSON.stringify(r.body)).toBe(201);

    // The API server picks the configuration up asynchronously: wait until both entries are called.
    await until('the production entry is called', async () => (await create(PROD, runPod('probe', 'nginx'), true)).status === 403);
    await until('the main entry is called', async () => {
      const d = await create(DEV, runPod('probe', 'mlrun/mlrun'), true);
      return d.status === 201 && d.body.spec.containers[0].image !== 'mlrun/mlrun';
    });
  });

  afterAll(async () => {
    // Every step runs, whatever failed before it; in reverse order of start, so the control plane goes last.
    const errors: unknown[] = [];
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c();
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length > 0) throw errors[0];
  });

  describe('pinTags: deny', () => {
    it('`kubectl run x --image=nginx` in production is refused: 403, the message names the container, the image and "no tag"', async () => {
      const r = await create(PROD, runPod('x', 'nginx'));
      expect(r.status).toBe(403);
      expect(r.body).toMatchObject({ kind: 'Status', status: 'Failure', code: 403, reason: 'Forbidden' });
      expect(r.body.message).toBe(
        `admission webhook "${PROD_ENTRY}" denied the request: mlrun-image-webhook: production image policy: ` +
          'container "x": image "nginx" has no tag (the kubelet pulls "latest"); pin a version, e.g. "nginx:<version>" or a digest',
      );
      expect((await kube('GET', `/api/v1/namespaces/${PROD}/pods/x`)).status).toBe(404);
      // The moving tag is refused the same way, naming the tag.
      const latest = await create(PROD, runPod('y', 'nginx:latest'));
      expect(latest.status).toBe(403);
      expect(latest.body.message).toContain('container "y": image "nginx:latest" uses the moving tag "latest"; pin a version, e.g. "nginx:<version>" or a digest');
      // A pinned image passes, untouched.
      const pinned = await create(PROD, runPod('pinned', 'nginx:1.27.3'));
      expect(pinned.status, JSON.stringify(pinned.body)).toBe(201);
      expect((await read(PROD, 'pinned')).spec.containers[0].image).toBe('nginx:1.27.3');
    });

    it('an MLRun job Pod from a 1.10 client is refused, naming the exact pinned image (python suffix of the client)', async () => {
      const r = await create(PROD, jobPod('job-deny'));
      expect(r.status).toBe(403);
      expect(r.body.message).toBe(
        `admission webhook "${PROD_ENTRY}" denied the request: mlrun-image-webhook: production image policy: ` +
          `container "base": image "mlrun/mlrun:1.10.0" is MLRun 1.10.0, but this namespace is pinned to MLRun 1.9.2; use image "${PINNED}"`,
      );
      expect((await kube('GET', `/api/v1/namespaces/${PROD}/pods/job-deny`)).status).toBe(404);
      // Following the message works: the pinned image is admitted (and gets the registry prefix as any MLRun image).
      const ok = await create(PROD, jobPod('job-pinned', PINNED));
      expect(ok.status, JSON.stringify(ok.body)).toBe(201);
      expect((await read(PROD, 'job-pinned')).spec.containers[0].image).toBe(`${DATANODE}${PINNED}`);
    });

    it('the opt-out label on a production Pod does not bypass deny (the production entry has no objectSelector)', async () => {
      const r = await create(PROD, runPod('sneaky', 'nginx', { [OPT_OUT]: 'true' }));
      expect(r.status).toBe(403);
      expect(r.body.message).toContain('container "sneaky": image "nginx" has no tag');
      const job = jobPod('job-sneaky');
      job.metadata.labels[OPT_OUT] = 'true';
      job.metadata.annotations = { [OPT_OUT]: 'true' };
      const j = await create(PROD, job);
      expect(j.status).toBe(403);
      expect(j.body.message).toContain(`use image "${PINNED}"`);
    });

    it('the same Pods in a dev namespace behave as today: nginx untouched, the MLRun Pod keeps its client tag', async () => {
      const n = await create(DEV, runPod('x', 'nginx'));
      expect(n.status, JSON.stringify(n.body)).toBe(201);
      const nginx = await read(DEV, 'x');
      expect(nginx.spec.containers[0].image).toBe('nginx');
      expect(nginx.metadata.annotations?.[RECORD]).toBeUndefined();
      expect(n.warnings.filter((w) => w.startsWith('mlrun-image-webhook'))).toEqual([]);

      const j = await create(DEV, jobPod('job'));
      expect(j.status, JSON.stringify(j.body)).toBe(201);
      const job = await read(DEV, 'job');
      // MLRun's normal resolution: the registry prefix, the client's tag kept.
      expect(job.spec.containers[0].image).toBe(`${DATANODE}mlrun/mlrun:1.10.0`);
      const record = JSON.parse(job.metadata.annotations[RECORD]);
      expect(record['containers/base']).toMatchObject({ from: 'mlrun/mlrun:1.10.0', to: `${DATANODE}mlrun/mlrun:1.10.0` });
      expect(record['containers/base'].policy).toBeUndefined();
      // An untagged MLRun image gets MLRun's auto tag for the 1.10 client, not the production pin.
      const u = await create(DEV, jobPod('job-untagged', 'mlrun/mlrun'));
      expect(u.status).toBe(201);
      expect((await read(DEV, 'job-untagged')).spec.containers[0].image).toBe(`${DATANODE}mlrun/mlrun:1.10.0-py39`);
      // The opt-out label still works outside production: the Pod is never sent.
      const optedOut = jobPod('job-out');
      optedOut.metadata.labels[OPT_OUT] = 'true';
      const out = await create(DEV, optedOut);
      expect(out.status).toBe(201);
      expect((await read(DEV, 'job-out')).spec.containers[0].image).toBe('mlrun/mlrun:1.10.0');
    });

    it('kubectl debug: an untagged ephemeral container added to a running production Pod is warned, not denied', async () => {
      const c = await create(PROD, runPod('target', 'busybox:1.36'));
      expect(c.status, JSON.stringify(c.body)).toBe(201);
      // What `kubectl debug -it target --image=busybox` sends (no kubelet here: the Pod is never scheduled).
      const r = await kube(
        'PATCH',
        `/api/v1/namespaces/${PROD}/pods/target/ephemeralcontainers`,
        { spec: { ephemeralContainers: [{ name: 'debugger-1', image: 'busybox', stdin: true, tty: true, terminationMessagePolicy: 'File' }] } },
        'application/strategic-merge-patch+json',
      );
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.warnings).toContain(
        'mlrun-image-webhook: production policy: container "debugger-1": image "busybox" has no tag (the kubelet pulls "latest"); pin a version, e.g. "busybox:<version>" or a digest',
      );
      const pod = await read(PROD, 'target');
      expect(pod.spec.ephemeralContainers.map((e: any) => [e.name, e.image])).toEqual([['debugger-1', 'busybox']]);
      expect(pod.spec.containers[0].image).toBe('busybox:1.36');
    });

    it('every production decision is counted (an outage under failurePolicy Ignore shows as a gap)', async () => {
      const deny = 'mlrun_image_webhook_policy_decisions_total{policy="pin-tags",action="deny"}';
      const count = async () => metricValue((await httpGet(`${server.healthUrl}/metrics`)).body, deny) ?? 0;
      const before = await count();
      expect((await create(PROD, runPod('counted', 'nginx'))).status).toBe(403);
      expect(await count()).toBe(before + 1);
    });
  });

  describe('pinTags: rewrite (hot reload)', () => {
    beforeAll(async () => {
      await reload(config('rewrite'));
    });

    it('the 1.10 client\'s MLRun job Pod is created with the pinned image (registry prefix added); the record carries the verdict', async () => {
      const r = await create(PROD, jobPod('job-rewrite'));
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      const pod = await read(PROD, 'job-rewrite');
      expect(pod.spec.containers[0].image).toBe(`${DATANODE}${PINNED}`);
      // MLRun itself creates its Pods by generateName: the same.
      const g = await create(PROD, jobPod(undefined));
      expect(g.status, JSON.stringify(g.body)).toBe(201);
      expect(g.body.metadata.name).toMatch(/^trainer-train-/);
      expect((await read(PROD, g.body.metadata.name)).spec.containers[0].image).toBe(`${DATANODE}${PINNED}`);
      const record = JSON.parse(pod.metadata.annotations[RECORD]);
      expect(record['containers/base']).toMatchObject({ from: 'mlrun/mlrun:1.10.0', to: `${DATANODE}${PINNED}`, policy: 'off-pin/rewrite' });
      expect(record['containers/base'].reason).toContain('pinned to MLRun 1.9.2');
      // The user is told, through the API server's Warning header.
      expect(r.warnings.some((w) => w.includes(`rewritten to ${PINNED}`) && w.includes('containers/base'))).toBe(true);
    });

    it('the opt-out label skips MLRun\'s rewrite (no registry prefix) but not the pin', async () => {
      const job = jobPod('job-opted-out');
      job.metadata.labels[OPT_OUT] = 'true';
      const r = await create(PROD, job);
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      const pod = await read(PROD, 'job-opted-out');
      expect(pod.spec.containers[0].image).toBe(PINNED);
      expect(JSON.parse(pod.metadata.annotations[RECORD])['containers/base']).toMatchObject({ from: 'mlrun/mlrun:1.10.0', to: PINNED, policy: 'off-pin/rewrite' });
    });

    it('nginx has no exact pin to write: still refused under rewrite', async () => {
      const r = await create(PROD, runPod('x2', 'nginx'));
      expect(r.status).toBe(403);
      expect(r.body.message).toContain('container "x2": image "nginx" has no tag (the kubelet pulls "latest"); pin a version, e.g. "nginx:<version>"');
    });

    it('dev is unaffected by rewrite: the MLRun Pod keeps its client tag', async () => {
      const r = await create(DEV, jobPod('job-rewrite'));
      expect(r.status).toBe(201);
      expect((await read(DEV, 'job-rewrite')).spec.containers[0].image).toBe(`${DATANODE}mlrun/mlrun:1.10.0`);
    });
  });

  describe('pinTags: rewrite, kubectl debug', () => {
    it('an off-pin MLRun debug image is rewritten to the pin (with the target Pod\'s client python), not denied', async () => {
      // job-rewrite runs the pinned image already (created above under rewrite).
      const r = await kube(
        'PATCH',
        `/api/v1/namespaces/${PROD}/pods/job-rewrite/ephemeralcontainers`,
        { spec: { ephemeralContainers: [{ name: 'debugger-1', image: 'mlrun/mlrun:1.10.0', stdin: true, tty: true, terminationMessagePolicy: 'File' }] } },
        'application/strategic-merge-patch+json',
      );
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const pod = await read(PROD, 'job-rewrite');
      expect(pod.spec.ephemeralContainers.map((e: any) => [e.name, e.image])).toEqual([['debugger-1', `${DATANODE}${PINNED}`]]);
      expect(r.warnings.some((w) => w.includes(`rewritten to ${PINNED}`) && w.includes('ephemeralContainers/debugger-1'))).toBe(true);
    });
  });

  describe('webhook.mode: report (hot reload)', () => {
    beforeAll(async () => {
      await reload(config('deny', { lines: ['webhook:', '  mode: report'] }));
    });

    it('nothing is refused or changed; the client is warned what deny would have said', async () => {
      const r = await create(PROD, runPod('reported', 'nginx'));
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      expect((await read(PROD, 'reported')).spec.containers[0].image).toBe('nginx');
      expect(r.warnings).toContain(
        'mlrun-image-webhook: report-only: the production policy would deny this Pod: container "reported": image "nginx" has no tag (the kubelet pulls "latest"); pin a version, e.g. "nginx:<version>" or a digest',
      );
      const j = await create(PROD, jobPod('job-reported'));
      expect(j.status, JSON.stringify(j.body)).toBe(201);
      expect((await read(PROD, 'job-reported')).spec.containers[0].image).toBe('mlrun/mlrun:1.10.0');
      expect(j.warnings.some((w) => w.includes('would deny') && w.includes(`use image "${PINNED}"`))).toBe(true);
    });
  });

  describe.skipIf(registrySkip !== undefined)('pinDigests: resolve against a real registry', () => {
    let reg: RunningRegistry;
    let pushed: PushedImage;
    let stranger: net.Server;
    let strangerHost: string;
    let strangerConnections = 0;
    beforeAll(async () => {
      reg = await startRegistry();
      cleanups.push(() => reg.stop());
      pushed = await pushImage(reg, 'mlrun/mlrun', '1.9.2-py39');
      // A registry nobody configured: counts every connection made to it.
      stranger = net.createServer((s) => {
        strangerConnections++;
        s.destroy();
      });
      await new Promise<void>((resolve) => stranger.listen(0, '127.0.0.1', resolve));
      cleanups.push(() => new Promise((resolve) => stranger.close(resolve)));
      strangerHost = `127.0.0.1:${(stranger.address() as net.AddressInfo).port}`;
      await reload(
        config('rewrite', {
          imagesRegistry: `${reg.host}/`,
          lines: ['  pinDigests: resolve', 'mirror:', `  insecureRegistries: [${JSON.stringify(reg.host)}]`, '  budgetMs: 3000'],
        }),
      );
    });

    it('the pinned MLRun image runs by digest from the configured registry', async () => {
      const r = await create(PROD, jobPod('job-digest'));
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      const pod = await read(PROD, 'job-digest');
      expect(pod.spec.containers[0].image).toBe(`${reg.host}/${PINNED}@${pushed.digest}`);
      const record = JSON.parse(pod.metadata.annotations[RECORD]);
      expect(record['containers/base']).toMatchObject({ from: 'mlrun/mlrun:1.10.0', policy: 'off-pin/rewrite', digest: 'resolved' });
    });

    it('a Pod naming an unconfigured registry: admitted as written, and no request reaches that registry', async () => {
      const images = [`${strangerHost}/mlrun/mlrun:1.9.2-py39`, `${strangerHost}/team/app:1.0`];
      const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'stranger' }, spec: { containers: images.map((image, i) => ({ name: `c${i}`, image })) } };
      const r = await create(PROD, pod);
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      expect((await read(PROD, 'stranger')).spec.containers.map((c: any) => c.image)).toEqual(images);
      expect(strangerConnections).toBe(0);
    });

    it('...and once the operator lists that registry (policy.digestRegistries), it is asked: the zero above is the policy, not a dead path', async () => {
      await reload(
        config('rewrite', {
          imagesRegistry: `${reg.host}/`,
          lines: [
            '  pinDigests: resolve',
            `  digestRegistries: [${JSON.stringify(strangerHost)}]`,
            'mirror:',
            `  insecureRegistries: [${JSON.stringify(reg.host)}, ${JSON.stringify(strangerHost)}]`,
            '  budgetMs: 3000',
          ],
        }),
      );
      const image = `${strangerHost}/team/app:1.0`;
      const r = await create(PROD, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'listed' }, spec: { containers: [{ name: 'app', image }] } });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      expect(strangerConnections).toBeGreaterThan(0);
      // It answers nothing useful: the tag is kept and the user is told.
      expect((await read(PROD, 'listed')).spec.containers[0].image).toBe(image);
      expect(r.warnings.some((w) => w.includes(`digest of ${image} not resolved`) && w.includes('the tag is kept'))).toBe(true);
    });
  });

  describe('policy.namespaces: a production namespace by name, not labelled (hot reload)', () => {
    beforeAll(async () => {
      await reload(config('deny', { lines: [`  namespaces: [${DEV}]`] }));
    });

    it('deny applies on the main entry; the opt-out annotation does not bypass it, the opt-out label does (never sent)', async () => {
      const r = await create(DEV, runPod('listed', 'nginx'));
      expect(r.status).toBe(403);
      expect(r.body.message).toBe(
        `admission webhook "${MAIN_ENTRY}" denied the request: mlrun-image-webhook: production image policy: ` +
          'container "listed": image "nginx" has no tag (the kubelet pulls "latest"); pin a version, e.g. "nginx:<version>" or a digest',
      );
      const annotated = runPod('listed-annotated', 'nginx');
      annotated.metadata.annotations = { [OPT_OUT]: 'true' };
      expect((await create(DEV, annotated)).status).toBe(403);
      // The main entry's objectSelector keeps opted-out Pods from the webhook: why the guide says to label namespaces
      // where deny must hold (ADR 0008). This pins the documented limit down; if it changes, the guide must too.
      const labelled = await create(DEV, runPod('listed-labelled', 'nginx', { [OPT_OUT]: 'true' }));
      expect(labelled.status, JSON.stringify(labelled.body)).toBe(201);
      expect((await read(DEV, 'listed-labelled')).spec.containers[0].image).toBe('nginx');
    });
  });

  describe('reinvocation (reinvocationPolicy IfNeeded): a later webhook changes the Pod, ours is called again', () => {
    let injectorCalls = 0;
    beforeAll(async () => {
      await reload(config('rewrite'));
      // A second mutating webhook (its configuration sorts after ours) that labels every Pod, like an injector would.
      const pki = await testPki();
      const leaf = await pki.leaf('localhost');
      const injector = https.createServer({ cert: leaf.cert, key: leaf.key }, (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          injectorCalls++;
          const review = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          const labels = review.request.object.metadata.labels;
          const patch = labels ? [{ op: 'add', path: '/metadata/labels/injected', value: 'true' }] : [{ op: 'add', path: '/metadata/labels', value: { injected: 'true' } }];
          const response = { uid: review.request.uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') };
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response }));
        });
      });
      await new Promise<void>((resolve) => injector.listen(0, '127.0.0.1', resolve));
      cleanups.push(() => new Promise((resolve) => injector.close(resolve)));
      const port = (injector.address() as net.AddressInfo).port;
      const r = await kube('POST', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'MutatingWebhookConfiguration',
        metadata: { name: 'zz-injector' },
        webhooks: [
          {
            name: 'injector.policy-e2e.mlrun-image-webhook.test',
            admissionReviewVersions: ['v1'],
            sideEffects: 'None',
            failurePolicy: 'Fail',
            reinvocationPolicy: 'Never',
            clientConfig: { url: `https://127.0.0.1:${port}/inject`, caBundle: Buffer.from(pki.ca.cert).toString('base64') },
            rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' }],
            namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: [PROD, DEV] }] },
          },
        ],
      });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      await until('the injector is called', async () => (await create(DEV, runPod('probe', 'nginx:1.27.3'), true)).body?.metadata?.labels?.injected === 'true');
    });

    const admissionsOf = (ns: string, pod: string) => logs.lines.filter((l) => l.msg === 'admission' && l.namespace === ns && l.pod === pod);

    it.each([
      [PROD, `${DATANODE}${PINNED}`, 'off-pin/rewrite'],
      [DEV, `${DATANODE}mlrun/mlrun:1.10.0`, undefined],
    ])('in %s the second call changes nothing: the image and the record are the first call\'s', async (ns, image, policy) => {
      const name = 'job-reinvoked';
      const r = await create(ns, jobPod(name));
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      const pod = await read(ns, name);
      expect(pod.metadata.labels.injected).toBe('true');
      expect(pod.spec.containers[0].image).toBe(image);
      const record = JSON.parse(pod.metadata.annotations[RECORD]);
      expect(record['containers/base']).toMatchObject({ from: 'mlrun/mlrun:1.10.0', to: image });
      expect(record['containers/base'].policy).toBe(policy);
      // Called twice by the API server: mutated, then nothing left to do.
      expect(admissionsOf(ns, name).map((l) => l.outcome)).toEqual(['mutated', 'unchanged']);
    });
  });

  describe('an outage of the webhook (runs last: stops the server)', () => {
    it('production (failurePolicy Fail) refuses even a pinned Pod; dev (Ignore) admits unchanged', async () => {
      expect(await stopServer()).toBe(0);
      const p = await create(PROD, runPod('during-outage', 'nginx:1.27.3'));
      expect(p.status).toBeGreaterThanOrEqual(500);
      expect(p.body.message).toContain(`failed calling webhook "${PROD_ENTRY}"`);
      expect((await kube('GET', `/api/v1/namespaces/${PROD}/pods/during-outage`)).status).toBe(404);
      const d = await create(DEV, jobPod('during-outage'));
      expect(d.status, JSON.stringify(d.body)).toBe(201);
      expect((await read(DEV, 'during-outage')).spec.containers[0].image).toBe('mlrun/mlrun:1.10.0');
    });
  });
});
