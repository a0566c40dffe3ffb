/**
 * The chart's `helm test` without a cluster: the REAL server (src/server/app.ts) is started with what the chart
 * renders (generate-mode certificate and key, the ConfigMap's config.yaml loaded by the real loader), and the helm
 * test Pod's own script (files/helm-test.js) is run against it with the Pod's environment, verifying TLS with the
 * chart's CA for the Service DNS name. Also shows that the script fails for the wrong CA, the wrong name, and the
 * wrong answer.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigText } from '../../src/config/load.js';
import type { Runtime } from '../../src/config/runtime.js';
import type { RunningServer } from '../../src/server/app.js';
import { startTestServer } from '../server/helpers.js';
import { FULLNAME, type K8sObject, NAMESPACE, at, ensureHelm, find, render } from './helm.js';

const execFileAsync = promisify(execFile);
const SERVICE_DNS = `${FULLNAME}.${NAMESPACE}.svc`;

let dir: string;
let docs: K8sObject[];
let otherCa: string;
const servers: RunningServer[] = [];

const b64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');

function runtimeFrom(configYaml: string): Runtime {
  const r = loadConfigText(configYaml, 'ConfigMap config.yaml');
  if (!r.ok) throw new Error(`the server refuses the chart's config: ${JSON.stringify(r.problems)}`);
  return r.runtime;
}

/** Serves the config the chart rendered into its ConfigMap, with the chart-generated certificate. */
async function serve(rendered: K8sObject[]): Promise<{ port: string; healthPort: string }> {
  const runtime = runtimeFrom(at(find(rendered, 'ConfigMap', `${FULLNAME}-config`), 'data', 'config.yaml') as string);
  const server = await startTestServer(runtime, { tls: { certFile: path.join(dir, 'tls.crt'), keyFile: path.join(dir, 'tls.key') } });
  servers.push(server);
  return { port: new URL(server.httpsUrl).port, healthPort: new URL(server.healthUrl).port };
}

/** Runs the helm test Pod's command (node -e <script>) with the Pod's env, pointed at the local server. */
async function helmTest(pod: K8sObject, ports: { port: string; healthPort: string }, extra: Record<string, string> = {}) {
  const c = at(pod, 'spec', 'containers', 0) as { command: string[]; args: string[]; env: { name: string; value: string }[] };
  expect(c.command).toEqual(['node', '-e']);
  const podEnv = Object.fromEntries(c.env.map((e) => [e.name, e.value]));
  const env = {
    PATH: process.env.PATH,
    ...podEnv,
    // The Pod resolves the Service name; here the name is only used for the TLS check (SNI + certificate name).
    WEBHOOK_HOST: '127.0.0.1',
    TLS_SERVERNAME: podEnv.WEBHOOK_HOST!,
    WEBHOOK_PORT: ports.port,
    HEALTH_PORT: ports.healthPort,
    CA_FILE: path.join(dir, 'ca.crt'),
    ATTEMPTS: '1',
    ...extra,
  };
  try {
    const { stdout } = await execFileAsync(process.execPath, ['-e', c.args[0]!], { env, timeout: 30_000 });
    return { code: 0, stdout };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

beforeAll(async () => {
  ensureHelm();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'miw-helm-test-'));
  const [defaults, other] = await Promise.all([render(), render({ release: 'other' })]);
  docs = defaults;
  const data = find(docs, 'Secret').data as Record<string, string>;
  for (const k of ['tls.crt', 'tls.key', 'ca.crt']) fs.writeFileSync(path.join(dir, k), b64(data[k]!));
  otherCa = b64((find(other, 'Secret').data as Record<string, string>)['ca.crt']!);
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('helm test against the real server with the chart-generated certificate and config', () => {
  it('passes: TLS verified with the chart CA for the Service name, patch sets mlrun/mlrun:1.9.2, /readyz, /metrics', async () => {
    const ports = await serve(docs);
    const r = await helmTest(find(docs, 'Pod'), ports);
    expect(r.stdout).toContain('ok: mlrun/mlrun -> mlrun/mlrun:1.9.2');
    expect(r.stdout).toContain('PASS');
    expect(r.code).toBe(0);
  });

  it('passes with a data-node registry: the prefixed image still ends in mlrun/mlrun:<tag>', async () => {
    const withRegistry = await render({ set: { 'mlrun.imagesRegistry': 'datanode-registry.example:80/' } });
    const ports = await serve(withRegistry);
    const r = await helmTest(find(withRegistry, 'Pod'), ports);
    expect(r.stdout).toContain('ok: mlrun/mlrun -> datanode-registry.example:80/mlrun/mlrun:1.9.2');
    expect(r.code).toBe(0);
  });

  it('passes in report mode (no patch, a "would change" warning)', async () => {
    const report = await render({ set: { 'webhook.mode': 'report' } });
    const ports = await serve(report);
    const r = await helmTest(find(report, 'Pod'), ports);
    expect(r.stdout).toContain('ok: report mode');
    expect(r.code).toBe(0);
  });

  it('fails when the server does not trust-chain to the CA the webhook configuration trusts', async () => {
    const ports = await serve(docs);
    fs.writeFileSync(path.join(dir, 'other-ca.crt'), otherCa);
    const r = await helmTest(find(docs, 'Pod'), ports, { CA_FILE: path.join(dir, 'other-ca.crt') });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAIL: .*(certificate|self.signed|issuer)/i);
  });

  it('fails when the certificate is not valid for the name the API server calls', async () => {
    const ports = await serve(docs);
    const r = await helmTest(find(docs, 'Pod'), ports, { TLS_SERVERNAME: 'other-service.other-namespace.svc' });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAIL: .*(altnames|does not match|Hostname)/i);
  });

  it('fails when the patch does not carry the expected tag', async () => {
    const ports = await serve(docs);
    const r = await helmTest(find(docs, 'Pod'), ports, { EXPECT_TAG: '9.9.9' });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('FAIL: patch does not set mlrun/mlrun:9.9.9');
  });

  it('the Service DNS name used for the TLS check is the one in the Pod env', () => {
    const env = at(find(docs, 'Pod'), 'spec', 'containers', 0, 'env') as { name: string; value: string }[];
    expect(env.find((e) => e.name === 'WEBHOOK_HOST')?.value).toBe(SERVICE_DNS);
  });
});
