/**
 * `helm install`/`upgrade` against a real kube-apiserver (envtest) with the pre-install/pre-upgrade config check.
 * There is no kubelet or Job controller, so this test plays them for the hook Job only: it reads the hook's ConfigMap
 * from the API server, runs the Job's command (runValidateConfig) on it, and reports the exit code in the Job's status
 * as the Job controller would (Complete, or Failed with BackoffLimitExceeded). Everything else is real helm and a real
 * API server: a refused config must leave the cluster without the release's objects (install) or with the old config
 * (upgrade), and the failed Job must stay for `kubectl logs`. (No kubelet, so Helm 4's copy of the Job's log cannot
 * be shown here.)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { BatchV1Api, CoreV1Api, AppsV1Api, type V1Job } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runValidateConfig } from '../../src/cli/validate-config.js';
import { envtestSkipReason, startControlPlane, until, type ControlPlane } from '../helpers/envtest.js';
import { CHART, ensureHelm, helm } from './helm.js';

const skip = envtestSkipReason();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'miw-install-hook-'));
let cp: ControlPlane | undefined;

beforeAll(async () => {
  if (skip) return;
  ensureHelm();
  cp = await startControlPlane();
});
afterAll(async () => {
  await cp?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const status = (code: number): V1Job['status'] => {
  const now = new Date();
  return code === 0
    ? { startTime: now, completionTime: now, succeeded: 1, conditions: [{ type: 'Complete', status: 'True', lastTransitionTime: now }] }
    : {
        startTime: now,
        failed: 1,
        conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit', lastTransitionTime: now }],
      };
};

/** Plays the Job controller and kubelet for the release's config-check Job: runs its command, records the result. */
async function runHookJob(namespace: string, name: string): Promise<{ code: number; err: string }> {
  const kc = cp!.admin();
  const batch = kc.makeApiClient(BatchV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const job = await until(`Job ${name}`, async () => batch.readNamespacedJob({ name, namespace }).catch(() => undefined), 60_000);
  const spec = job.spec!.template.spec!;
  const c = spec.containers[0]!;
  const mount = c.volumeMounts!.find((m) => m.name === 'config')!;
  const cmName = spec.volumes!.find((v) => v.name === 'config')!.configMap!.name!;
  const cm = await core.readNamespacedConfigMap({ name: cmName, namespace });
  const dir = fs.mkdtempSync(path.join(tmp, 'mount-'));
  for (const [file, text] of Object.entries(cm.data ?? {})) fs.writeFileSync(path.join(dir, file), text);
  const [command, ...args] = c.args!;
  expect(command).toBe('validate-config');
  const argv = args.map((a) => (a.startsWith(`${mount.mountPath}/`) ? path.join(dir, a.slice(mount.mountPath.length + 1)) : a));
  const stderr = new PassThrough();
  let err = '';
  stderr.on('data', (d) => (err += d));
  const code = await runValidateConfig(argv, { stdin: Readable.from([]), stdout: new PassThrough(), stderr });
  await batch.replaceNamespacedJobStatus({ name, namespace, body: { ...job, status: status(code) } });
  return { code, err };
}

async function installWhileRunningHook(verb: 'install' | 'upgrade', release: string, namespace: string, valuesYaml: string) {
  const values = path.join(tmp, `${release}-${verb}-${Date.now()}.yaml`);
  fs.writeFileSync(values, valuesYaml);
  const args = [verb, release, CHART, '--namespace', namespace, '--values', values, '--timeout', '60s'];
  if (verb === 'install') args.push('--create-namespace');
  const [helmResult, hook] = await Promise.all([
    helm(args, { KUBECONFIG: cp!.kubeconfigPath }),
    runHookJob(namespace, `${release}-mlrun-image-webhook-validate-config`),
  ]);
  return { helm: helmResult, hook };
}

const GOOD = 'mlrun:\n  version: "1.9.2"\n  imagesRegistry: datanode-registry.example/\n';
const BAD_REGEX = 'mlrun:\n  version: "1.9.2"\n  imagesRegistry: datanode-registry.example/\n  imagesToEnrichRegistry: "^mlrun/*,^python:(3"\n';

describe.skipIf(skip)(`helm install/upgrade with the config check on a real API server${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('a config the server would refuse fails helm install before any release object exists; the failed Job stays', async () => {
    const ns = 'hook-bad';
    const { helm: r, hook } = await installWhileRunningHook('install', 'bad', ns, BAD_REGEX);
    expect(hook.code).toBe(2);
    expect(hook.err).toMatch(/^mlrun\.imagesToEnrichRegistry: invalid regular expression/);
    expect(r.ok).toBe(false);
    expect(r.stderr).toMatch(/pre-install/);
    expect(r.stderr).toMatch(/bad-mlrun-image-webhook-validate-config/);
    const kc = cp!.admin();
    const core = kc.makeApiClient(CoreV1Api);
    const apps = kc.makeApiClient(AppsV1Api);
    expect((await apps.listNamespacedDeployment({ namespace: ns })).items).toEqual([]);
    // Not even the release's ConfigMap; Helm removes the hook's copy too (that hook had succeeded: hook-succeeded).
    expect((await core.listNamespacedConfigMap({ namespace: ns })).items.map((c) => c.metadata!.name)).toEqual([]);
    // Only helm's record of the failed release, not the chart's TLS Secret.
    expect((await core.listNamespacedSecret({ namespace: ns })).items.map((x) => x.type)).toEqual(['helm.sh/release.v1']);
    // The failed Job stays (no hook-failed delete policy), so `kubectl logs job/...` shows the server's message.
    const job = await kc.makeApiClient(BatchV1Api).readNamespacedJob({ name: 'bad-mlrun-image-webhook-validate-config', namespace: ns });
    expect(job.status?.failed).toBe(1);
  });

  it('a valid config installs; the hook objects are removed after success; a refused upgrade keeps the old config', async () => {
    const ns = 'hook-good';
    const { helm: r, hook } = await installWhileRunningHook('install', 'good', ns, GOOD);
    expect(hook).toEqual({ code: 0, err: '' });
    expect(r.stderr).toBe('');
    expect(r.ok).toBe(true);
    const kc = cp!.admin();
    const core = kc.makeApiClient(CoreV1Api);
    const batch = kc.makeApiClient(BatchV1Api);
    await kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ name: 'good-mlrun-image-webhook', namespace: ns });
    await until('hook objects deleted (hook-succeeded)', async () => {
      const jobs = (await batch.listNamespacedJob({ namespace: ns })).items;
      const cms = (await core.listNamespacedConfigMap({ namespace: ns })).items.map((c) => c.metadata!.name);
      return jobs.length === 0 && !cms.includes('good-mlrun-image-webhook-validate-config');
    });
    const before = (await core.readNamespacedConfigMap({ name: 'good-mlrun-image-webhook-config', namespace: ns })).data!['config.yaml'];

    const up = await installWhileRunningHook('upgrade', 'good', ns, BAD_REGEX);
    expect(up.hook.code).toBe(2);
    expect(up.helm.ok).toBe(false);
    expect(up.helm.stderr).toMatch(/pre-upgrade/);
    const after = (await core.readNamespacedConfigMap({ name: 'good-mlrun-image-webhook-config', namespace: ns })).data!['config.yaml'];
    expect(after).toBe(before);
    expect(after).not.toContain('^python:(3');
  });
});
