/**
 * `serve` with discovery on, end to end: a real kube-apiserver (envtest) holding the fixture MLRun install, the
 * real watcher, RuntimeSet, server and admission. Admissions follow the discovered settings and an MLRun upgrade;
 * with the API server unreachable, readiness waits for the sync timeout and then serves the static config.
 */
import { EventEmitter } from 'node:events';
import { createServer } from 'node:net';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { podCreateReview } from '../../src/admission/review.js';
import { runServe } from '../../src/cli/serve.js';
import type { RunningServer } from '../../src/server/app.js';
import { chief, Cluster, fixture, withChiefContainer } from '../cluster/objects.js';
import { envtestSkipReason, startControlPlane, until, type ControlPlane } from '../helpers/envtest.js';
import { decodePatch, h1Request, httpGet, logCapture, metricValue, servingFiles, writeAtomic } from '../server/helpers.js';

const JSON_HEADERS = { 'content-type': 'application/json' };
const FAST = { initialMs: 100, maxMs: 1000 };

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Starts `serve` with a config file; resolves once it listens. */
async function serve(configYaml: string, extraArgs: string[] = []) {
  const files = await servingFiles('serve-discovery');
  cleanups.push(files.cleanup);
  const config = path.join(files.dir, 'config.yaml');
  await writeFile(config, configYaml);
  const signals = new EventEmitter();
  const logs = logCapture();
  let server: RunningServer | undefined;
  let readyAtListen: boolean | undefined;
  const running = runServe(
    ['--config', config, '--port', '0', '--health-port', '0', '--host', '127.0.0.1', '--tls-cert', files.certFile, '--tls-key', files.keyFile, '--drain-delay', '0', ...extraArgs],
    {
      signals,
      logDestination: logs,
      exit: vi.fn(),
      discoveryBackoff: FAST,
      onListening: (s) => {
        server = s;
        readyAtListen = s.isReady();
      },
    },
  );
  cleanups.push(async () => {
    signals.emit('SIGTERM', 'SIGTERM');
    await running;
  });
  let exited: number | undefined;
  void running.then((code) => (exited = code));
  const s = await until('serve listening', () => {
    if (exited !== undefined) throw new Error(`serve exited with ${exited}: ${JSON.stringify(logs.lines.slice(-3))}`);
    return server;
  });
  const ca = files.pki.ca.cert;
  return {
    server: s,
    logs,
    configFile: config,
    readyAtListen: readyAtListen!,
    stop: async () => {
      signals.emit('SIGTERM', 'SIGTERM');
      return running;
    },
    ready: async () => (await httpGet(`${s.healthUrl}/readyz`)).status === 200,
    metrics: async () => (await httpGet(`${s.healthUrl}/metrics`)).body,
    /** The image the webhook gives container 0 of a Pod in `namespace` asking for `image`. */
    image: async (namespace: string, image = 'mlrun/mlrun') => {
      const body = JSON.stringify(podCreateReview({ metadata: { name: 'job' }, spec: { containers: [{ name: 'c', image }] } }, { uid: 'u-1', namespace }));
      const res = await h1Request(s.httpsUrl, { ca, headers: JSON_HEADERS, body });
      expect(res.status).toBe(200);
      const op = (decodePatch(res.json()) ?? []).find((o: any) => o.path === '/spec/containers/0/image');
      return op?.value as string | undefined;
    },
  };
}

const skip = envtestSkipReason();
if (skip) console.log(`test/serve/discovery.test.ts: control-plane tests skipped: ${skip}`);

describe.skipIf(skip !== undefined)('serve with discovery against a real API server', () => {
  let cp: ControlPlane;
  let cluster: Cluster;
  beforeAll(async () => {
    cp = await startControlPlane();
    cluster = new Cluster(cp.admin());
  });
  afterAll(async () => {
    await cp?.stop();
  });

  it('resolves with the discovered install, then follows an MLRun upgrade without a restart', async () => {
    const ns = 'mlrun';
    const objs = [...fixture('ce-default.yaml'), ...fixture('ce-datanode-registry.yaml')];
    await cluster.apply(objs);
    const d = chief(fixture('ce-datanode-registry.yaml'));
    await cluster.createPod(d, 'chief-old');
    await cluster.markReady(ns, 'chief-old', new Date());

    // The static config knows nothing of the data-node registry: whatever Pods get from it was discovered.
    const w = await serve(
      ['mlrun:', '  version: 1.8.0', 'discovery:', '  enabled: true', '  namespaces: [mlrun]', '  syncTimeoutSeconds: 120', ''].join('\n'),
      ['--kubeconfig', cp.kubeconfigPath],
    );
    await until('ready after the first sync', () => w.ready());
    expect(await w.image(ns)).toBe('registry.datanode.local:5000/mlrun/mlrun:1.9.2');
    // A namespace without an MLRun API uses the default install (discovery.defaultNamespace: mlrun).
    expect(await w.image('team-a')).toBe('registry.datanode.local:5000/mlrun/mlrun:1.9.2');
    let metrics = await w.metrics();
    expect(metricValue(metrics, 'mlrun_image_webhook_mlrun_install_info{namespace="mlrun",version="1.9.2",source="discovered"}')).toBe(1);
    expect(metricValue(metrics, 'mlrun_image_webhook_discovery_state{state="ok"}')).toBe(1);
    expect(metricValue(metrics, 'mlrun_image_webhook_discovery_syncs_total{result="ok"}')).toBeGreaterThan(0);
    expect(metricValue(metrics, 'mlrun_image_webhook_discovery_last_sync_timestamp_seconds')).toBeGreaterThan(0);
    const adopted = w.logs.lines.find((l) => l.msg.startsWith('MLRun install adopted'));
    expect(adopted).toMatchObject({ namespace: ns, source: `Pod ${ns}/chief-old` });
    expect(adopted.changes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ key: 'mlrun.version', before: '1.8.0', after: '1.9.2' }),
        expect.objectContaining({ key: 'mlrun.imagesRegistry', before: '', after: 'registry.datanode.local:5000/' }),
      ]),
    );

    // helm upgrade: a new image tag on the chief Deployment. Pending while the old chief Pod runs...
    const upgraded = withChiefContainer(d, (c) => (c.image = 'registry.datanode.local:5000/quay.io/mlrun/mlrun-api:1.10.0'));
    await cluster.apply([upgraded]);
    await until('pending change logged', () => w.logs.lines.some((l) => l.msg.startsWith('MLRun install change pending')));
    expect(metricValue(await w.metrics(), 'mlrun_image_webhook_discovery_pending_changes')).toBe(1);
    expect(await w.image(ns)).toBe('registry.datanode.local:5000/mlrun/mlrun:1.9.2');
    // ...adopted once the new chief Pod is Ready (no kubelet here: the test plays it).
    await cluster.createPod(upgraded, 'chief-new');
    await cluster.markReady(ns, 'chief-new', new Date());
    await cluster.deletePod(ns, 'chief-old');
    const next = await until('the upgrade followed', async () => {
      const image = await w.image(ns);
      return image?.includes(':1.10.0') ? image : undefined;
    });
    expect(next).toMatch(/^registry\.datanode\.local:5000\/mlrun\/mlrun:1\.10\.0/);
    metrics = await w.metrics();
    expect(metricValue(metrics, 'mlrun_image_webhook_mlrun_install_info{namespace="mlrun",version="1.10.0",source="discovered"}')).toBe(1);
    expect(metricValue(metrics, 'mlrun_image_webhook_discovery_pending_changes')).toBe(0);
    const upgrade = w.logs.lines.filter((l) => l.msg.startsWith('MLRun install adopted')).at(-1);
    expect(upgrade.changes).toEqual([expect.objectContaining({ key: 'mlrun.version', before: '1.9.2', after: '1.10.0' })]);
    expect(await w.stop()).toBe(0);
  });

  it('a discovered value the server cannot use is refused (logged with key and reason, counted), the last good kept; a reload can switch discovery off', async () => {
    const ns = 'refusals';
    const objs = [...fixture('ce-default.yaml', ns), ...fixture('ce-datanode-registry.yaml', ns)];
    await cluster.apply(objs);
    // No chief Pod: the Deployment's template is followed, so its edits apply at once.
    const staticConfig = ['mlrun:', '  version: 1.9.2', 'discovery:', '  enabled: true', `  namespaces: [${ns}]`, '  defaultNamespace: ""', ''];
    const w = await serve(staticConfig.join('\n'), ['--kubeconfig', cp.kubeconfigPath]);
    await until('ready after the first sync', () => w.ready());
    expect(await w.image(ns)).toBe('registry.datanode.local:5000/mlrun/mlrun:1.9.2');
    // defaultNamespace "": another namespace gets the static config (no registry).
    expect(await w.image('elsewhere')).toBe('mlrun/mlrun:1.9.2');

    const d = chief(objs.filter((o) => o.metadata.namespace === ns));
    const bad = withChiefContainer(d, (c) => {
      c.env = [...((c.env as object[]) ?? []), { name: 'MLRUN_IMAGES_TO_ENRICH_REGISTRY', value: '^mlrun/(' }];
    });
    await cluster.apply([bad]);
    const refused = await until('refusal logged', () => w.logs.lines.find((l) => l.msg.startsWith('MLRun install refused')));
    expect(refused.level).toBe('error');
    expect(refused.namespace).toBe(ns);
    expect(refused.problems).toEqual([expect.objectContaining({ key: expect.stringContaining('mlrun.imagesToEnrichRegistry') })]);
    expect(JSON.stringify(refused.problems)).toContain(`Deployment ${ns}/mlrun-api-chief`);
    expect(metricValue(await w.metrics(), 'mlrun_image_webhook_discovery_refusals_total')).toBe(1);
    expect(await w.image(ns)).toBe('registry.datanode.local:5000/mlrun/mlrun:1.9.2');

    // Discovery off by a config reload: the static config alone applies, and the watch is stopped.
    await writeAtomic(w.configFile, staticConfig.join('\n').replace('enabled: true', 'enabled: false'));
    await until('discovery off', () => w.logs.lines.some((l) => l.msg.startsWith('discovery switched off')));
    expect(await w.image(ns)).toBe('mlrun/mlrun:1.9.2');
    const metrics = await w.metrics();
    expect(metrics).not.toContain('mlrun_image_webhook_mlrun_install_info{');
    expect(metricValue(metrics, 'mlrun_image_webhook_discovery_state{state="ok"}')).toBe(0);
    expect(await w.stop()).toBe(0);
  });
});

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe('serve with discovery and no API server', () => {
  it('is not ready until the sync timeout, then ready on the static config (one log line saying so)', async () => {
    const files = await servingFiles('kubeconfig');
    cleanups.push(files.cleanup);
    const kubeconfig = path.join(files.dir, 'kubeconfig.yaml');
    await writeFile(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'gone', cluster: { server: `https://127.0.0.1:${await closedPort()}`, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'u', user: { token: 'not-a-real-token' } }],
        contexts: [{ name: 'gone', context: { cluster: 'gone', user: 'u' } }],
        'current-context': 'gone',
      }),
    );
    const w = await serve(
      ['mlrun:', '  version: 1.9.2', '  imagesRegistry: static-registry.example/', 'discovery:', '  enabled: true', '  namespaces: [mlrun]', '  syncTimeoutSeconds: 5', ''].join('\n'),
      ['--kubeconfig', kubeconfig],
    );
    // Not ready while waiting for the first sync (5 s from before the server started listening).
    expect(w.readyAtListen).toBe(false);
    await until('ready after the sync timeout', () => w.ready());
    const line = w.logs.lines.find((l) => /did not sync within 5 s: ready on the static config/.test(l.msg));
    expect(line).toBeDefined();
    expect(line.state).toBe('unreachable');
    expect(w.logs.lines.filter((l) => /did not sync within/.test(l.msg))).toHaveLength(1);
    // Admissions use the static config, and the failure is logged once per state change, not per retry.
    expect(await w.image('mlrun')).toBe('static-registry.example/mlrun/mlrun:1.9.2');
    const metrics = await w.metrics();
    expect(metricValue(metrics, 'mlrun_image_webhook_discovery_state{state="unreachable"}')).toBe(1);
    expect(metricValue(metrics, 'mlrun_image_webhook_discovery_syncs_total{result="error"}')).toBeGreaterThan(1);
    expect(metricValue(metrics, 'mlrun_image_webhook_mlrun_install_info{namespace="mlrun",version="1.9.2",source="static"}')).toBe(1);
    expect(w.logs.lines.filter((l) => l.msg === 'discovery unreachable: admissions use the last good settings')).toHaveLength(1);
    expect(await w.stop()).toBe(0);
  });

  it('discovery switched on by a reload with an unusable kubeconfig: one error line, the static config keeps serving, still ready', async () => {
    const files = await servingFiles('kubeconfig-reload');
    cleanups.push(files.cleanup);
    const base = ['mlrun:', '  version: 1.9.2', '  imagesRegistry: static-registry.example/', 'discovery:', '  enabled: false', ''].join('\n');
    const w = await serve(base, ['--kubeconfig', path.join(files.dir, 'missing')]);
    expect(w.readyAtListen).toBe(true);
    await writeAtomic(w.configFile, base.replace('enabled: false', 'enabled: true'));
    const line = await until('error logged', () => w.logs.lines.find((l) => l.msg.startsWith('discovery cannot start')));
    expect(line.err.message).toMatch(/cannot load the kubeconfig .*missing/);
    expect(await w.ready()).toBe(true);
    expect(await w.image('mlrun')).toBe('static-registry.example/mlrun/mlrun:1.9.2');
    expect(await w.stop()).toBe(0);
  });

  it('an unreadable --kubeconfig is a configuration error (exit 2)', async () => {
    const files = await servingFiles('kubeconfig-bad');
    cleanups.push(files.cleanup);
    const config = path.join(files.dir, 'config.yaml');
    await writeFile(config, 'discovery:\n  enabled: true\n');
    let stderr = '';
    const code = await runServe(['--config', config, '--port', '0', '--health-port', '0', '--host', '127.0.0.1', '--kubeconfig', path.join(files.dir, 'missing')], {
      stderr: { write: (t: string) => (stderr += t) },
      logDestination: logCapture(),
    });
    expect(code).toBe(2);
    expect(stderr).toMatch(/cannot load the kubeconfig .*missing/);
  });
});
