/**
 * The pre-install/pre-upgrade config check (templates/config-validation.yaml): rendered with real helm, then the
 * command the hook Job would run is run here with runValidateConfig on the file the Job would mount, so a config that
 * values.schema.json lets through but the server refuses (an enrich pattern Python cannot compile) stops
 * `helm install`/`upgrade` with the server's own message.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runValidateConfig } from '../../src/cli/validate-config.js';
import { runCommand } from '../helpers/cli.js';
import { FULLNAME, NAMESPACE, type K8sObject, type RenderOptions, at, ensureHelm, find, findAll, render } from './helm.js';
import { validateManifest } from './k8s-schemas.js';

const HOOK_NAME = `${FULLNAME}-validate-config`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'miw-config-hook-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

type Container = {
  image: string;
  args: string[];
  envFrom?: unknown[];
  securityContext: unknown;
  volumeMounts: { name: string; mountPath: string }[];
  terminationMessagePolicy?: string;
};
const jobOf = (docs: K8sObject[]) => find(docs, 'Job', HOOK_NAME);
const jobContainer = (docs: K8sObject[]) => at(jobOf(docs), 'spec', 'template', 'spec', 'containers', 0) as Container;
const deploymentContainer = (docs: K8sObject[]) => at(find(docs, 'Deployment'), 'spec', 'template', 'spec', 'containers', 0) as Container;

/**
 * Runs the hook container's command here: its args with the mounted ConfigMap's files written to a local directory in
 * place of the mount path. Returns the exit code and output of runValidateConfig.
 */
async function runHook(docs: K8sObject[]): Promise<{ code: number; out: string; err: string }> {
  const job = jobOf(docs);
  const c = jobContainer(docs);
  const volumes = at(job, 'spec', 'template', 'spec', 'volumes') as { name: string; configMap?: { name: string } }[];
  const mount = c.volumeMounts.find((m) => volumes.find((v) => v.name === m.name)?.configMap)!;
  const cm = find(docs, 'ConfigMap', volumes.find((v) => v.name === mount.name)!.configMap!.name);
  const dir = fs.mkdtempSync(path.join(tmp, 'mount-'));
  for (const [file, text] of Object.entries(at(cm, 'data') as Record<string, string>)) fs.writeFileSync(path.join(dir, file), text);
  const [command, ...rest] = c.args;
  expect(command).toBe('validate-config');
  const argv = rest.map((a) => (a.startsWith(`${mount.mountPath}/`) ? path.join(dir, a.slice(mount.mountPath.length + 1)) : a));
  expect(argv).not.toEqual(rest); // the config file argument points into the mount
  return runCommand(runValidateConfig, argv);
}

let defaults: K8sObject[];
beforeAll(async () => {
  ensureHelm();
  defaults = await render();
});

describe('the config check hook', () => {
  it('is a pre-install/pre-upgrade Job with its own ConfigMap copy, created first; the Job is kept on failure, both removed on success', () => {
    const cm = find(defaults, 'ConfigMap', HOOK_NAME);
    const job = jobOf(defaults);
    for (const o of [cm, job]) {
      expect(o.metadata.annotations?.['helm.sh/hook']).toBe('pre-install,pre-upgrade');
      // before-hook-creation: a rerun is never blocked; hook-succeeded: nothing left after a good run; no
      // hook-failed, so a failed run's Job (and its log) stays for `kubectl logs` (install-hook.test.ts).
      expect(o.metadata.annotations?.['helm.sh/hook-delete-policy']).toBe('before-hook-creation,hook-succeeded');
      expect(o.metadata.namespace).toBe(NAMESPACE);
    }
    expect(Number(cm.metadata.annotations!['helm.sh/hook-weight'])).toBeLessThan(Number(job.metadata.annotations!['helm.sh/hook-weight']));
    expect(job.metadata.annotations?.['helm.sh/hook-output-log-policy']).toBe('hook-failed');
    expect(at(job, 'spec', 'backoffLimit')).toBe(0);
    expect(at(job, 'spec', 'template', 'spec', 'restartPolicy')).toBe('Never');
    expect(jobContainer(defaults).terminationMessagePolicy).toBe('FallbackToLogsOnError');
  });

  it('mounts the same config.yaml the release ConfigMap holds, byte for byte', () => {
    const hook = at(find(defaults, 'ConfigMap', HOOK_NAME), 'data', 'config.yaml') as string;
    expect(hook).toBe(at(find(defaults, 'ConfigMap', `${FULLNAME}-config`), 'data', 'config.yaml'));
    expect(hook).toContain('mlrun:');
  });

  it('runs the release image as the Deployment does: same image, pull policy, securityContexts and env (envFrom)', async () => {
    const docs = await render({
      set: { 'image.repository': 'registry.example:5000/miw', 'image.tag': '9.9.9', 'serviceAccount.create': false, 'serviceAccount.name': 'mine' },
      setJson: { 'mlrun.envFrom': [{ configMapRef: { name: 'mlrun-override-env', optional: true } }], imagePullSecrets: [{ name: 'regcred' }] },
    });
    const c = jobContainer(docs);
    const d = deploymentContainer(docs);
    expect(c.image).toBe('registry.example:5000/miw:9.9.9');
    expect(c.image).toBe(d.image);
    expect(c.securityContext).toEqual(d.securityContext);
    expect(c.envFrom).toEqual([{ configMapRef: { name: 'mlrun-override-env', optional: true } }]);
    expect(c.envFrom).toEqual(d.envFrom);
    const jobPod = at(jobOf(docs), 'spec', 'template', 'spec');
    const depPod = at(find(docs, 'Deployment'), 'spec', 'template', 'spec');
    expect(jobPod.securityContext).toEqual(depPod.securityContext);
    expect(jobPod.imagePullSecrets).toEqual([{ name: 'regcred' }]);
    expect(jobPod.serviceAccountName).toBe('mine'); // an existing ServiceAccount can be used at pre-install
    expect(jobPod.automountServiceAccountToken).toBe(false);
    for (const o of docs) validateManifest(o);
  });

  it('uses the namespace\'s default ServiceAccount when the chart creates its own (that one does not exist yet at pre-install)', () => {
    expect(at(jobOf(defaults), 'spec', 'template', 'spec', 'serviceAccountName')).toBe('default');
    expect(at(find(defaults, 'Deployment'), 'spec', 'template', 'spec', 'serviceAccountName')).toBe(FULLNAME);
  });

  it('its Pod is never a Service endpoint and passes the Kubernetes schemas', () => {
    const selector = at(find(defaults, 'Service'), 'spec', 'selector') as Record<string, string>;
    const labels = at(jobOf(defaults), 'spec', 'template', 'metadata', 'labels') as Record<string, string>;
    expect(Object.entries(selector).every(([k, v]) => labels[k] === v)).toBe(false);
    expect(labels['app.kubernetes.io/component']).toBe('config-validation');
    for (const o of defaults) validateManifest(o);
  });

  it('configValidation.enabled=false renders neither the Job nor its ConfigMap', async () => {
    const docs = await render({ set: { 'configValidation.enabled': false } });
    expect(findAll(docs, 'Job')).toEqual([]);
    expect(findAll(docs, 'ConfigMap').map((d) => d.metadata.name)).toEqual([`${FULLNAME}-config`]);
  });
});

describe('running the hook\'s command on what it would mount', () => {
  it('default values: exit 0', async () => {
    const r = await runHook(defaults);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/ is valid: MLRun 1\.9\.2, MLRun 1\.9\.x rules \(family E\)\n$/);
  });

  it('a values file with an enrich pattern Python cannot compile: helm renders it (the schema cannot tell), the hook exits 2 with the server\'s message', async () => {
    const values = path.join(tmp, 'bad-regex.yaml');
    fs.writeFileSync(values, 'mlrun:\n  imagesRegistry: datanode-registry.example/\n  imagesToEnrichRegistry: "^mlrun/*,^python:(3"\n');
    const options: RenderOptions = { args: ['--values', values] };
    const docs = await render(options);
    const r = await runHook(docs);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/^mlrun\.imagesToEnrichRegistry: (invalid regular expression|pattern not supported): .*\^python:\(3.*\n$/);
  });

  it('a pattern with a backreference (no linear matcher can run it) is refused the same way', async () => {
    const values = path.join(tmp, 'backref.yaml');
    fs.writeFileSync(values, 'mlrun:\n  imagesToEnrichRegistry: "^(mlrun)/\\\\1"\n');
    const r = await runHook(await render({ args: ['--values', values] }));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^mlrun\.imagesToEnrichRegistry: /);
  });

  it('discovery, mirror and policy on (pull secrets and CA rendered as paths): exit 0', async () => {
    const r = await runHook(
      await render({
        set: { 'discovery.enabled': true, 'mirror.enabled': true, 'mirror.caBundle.secret': 'ca', 'policy.pinTags': 'deny', 'policy.mlrunVersion': '1.9.2' },
        setJson: { 'mirror.pullSecrets': ['regcred'], 'policy.allow': ['^busybox:'], 'discovery.overrides.imagesRegistry': 'mirror.example/' },
      }),
    );
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
  });

  it.each<[string, RenderOptions, RegExp]>([
    ['a policy.allow pattern Python cannot compile', { set: { 'policy.pinTags': 'warn' }, setJson: { 'policy.allow': ['^ok', '(unclosed'] } }, /^policy\.allow\[1\]: invalid regular expression/],
    ['a discovery.overrides pattern Python cannot compile', { setJson: { 'discovery.overrides.imagesToEnrichRegistry': '^mlrun/(' } }, /^discovery\.overrides\.imagesToEnrichRegistry: invalid regular expression/],
  ])('%s: helm renders it (the schema cannot tell), the hook exits 2 naming the key', async (_name, options, message) => {
    const r = await runHook(await render(options));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
  });
});
