/**
 * A real Kubernetes control plane for tests (the envtest convention): etcd + kube-apiserver from
 * KUBEBUILDER_ASSETS, on free loopback ports, with a generated CA, serving certificate, admin client certificate
 * (O=system:masters) and service-account key pair. No kubelet, no controller-manager: tests create the objects a
 * controller would (the Pods of a Deployment) and set Pod status through the status subresource.
 *
 * Use one per test file: `const cp = await startControlPlane()` in beforeAll, `await cp?.stop()` in afterAll.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

export const ASSETS = process.env['KUBEBUILDER_ASSETS'];

/** Why control-plane tests are skipped here, or undefined when they can run. */
export function envtestSkipReason(): string | undefined {
  if (!ASSETS) return 'KUBEBUILDER_ASSETS is not set (a folder with kube-apiserver and etcd; CI sets it)';
  for (const bin of ['kube-apiserver', 'etcd']) {
    if (!existsSync(join(ASSETS, bin))) return `KUBEBUILDER_ASSETS=${ASSETS} has no ${bin}`;
  }
  return undefined;
}

export interface ControlPlane {
  dir: string;
  server: string;
  /** etcd's client URL (its v3 JSON gateway answers under /v3/). */
  etcdUrl: string;
  /** Admin kubeconfig file (system:masters). */
  kubeconfigPath: string;
  admin(): KubeConfig;
  /** A kubeconfig file for a user authenticated by a client certificate (no RBAC unless the test grants some). */
  userKubeconfig(user: string, groups?: string[]): string;
  /** Stops kube-apiserver only (etcd keeps the data). */
  stopApiServer(): Promise<void>;
  /** Starts kube-apiserver again on the same port with the same etcd. */
  startApiServer(): Promise<void>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

function ecKey(dir: string, name: string): void {
  openssl(dir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', `${name}.key`]);
}

function signedCert(dir: string, name: string, subject: string, ext: string): void {
  ecKey(dir, name);
  openssl(dir, ['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`]);
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(dir, [
    'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-days', '2', '-out', `${name}.crt`, '-extfile', `${name}.ext`,
  ]);
}

function kubeconfigText(server: string, dir: string, user: string, cert: string, key: string): string {
  const b64 = (f: string) => readFileSync(join(dir, f)).toString('base64');
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'envtest', cluster: { server, 'certificate-authority-data': b64('ca.crt') } }],
    users: [{ name: user, user: { 'client-certificate-data': b64(cert), 'client-key-data': b64(key) } }],
    contexts: [{ name: 'envtest', context: { cluster: 'envtest', user } }],
    'current-context': 'envtest',
  });
}

function get(url: string, dir: string, timeoutMs = 2000): Promise<number> {
  return new Promise((resolve) => {
    const req = request(
      url,
      {
        ca: readFileSync(join(dir, 'ca.crt')),
        cert: readFileSync(join(dir, 'admin.crt')),
        key: readFileSync(join(dir, 'admin.key')),
        timeout: timeoutMs,
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** The last lines of a process's log, for an error that says why it stopped. */
function logTail(file: string, lines = 12): string {
  try {
    const text = readFileSync(file, 'utf8').trimEnd();
    return text.split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** A process that ended before it was ready: startFresh tries again on fresh ports (a timeout is not retried). */
class ExitedWhileStarting extends Error {}

async function waitFor(what: string, check: () => Promise<boolean>, proc: ChildProcess, log: string, timeoutMs = 120_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (proc.exitCode !== null) throw new ExitedWhileStarting(`${what}: process exited with ${proc.exitCode}; the end of ${log}:\n${logTail(log)}`);
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what}: not ready after ${timeoutMs} ms; the end of ${log}:\n${logTail(log)}`);
}

/**
 * Starts a process on fresh ports, again (up to `attempts` times) when it exits before it is ready. A port
 * freePort() found free can be taken by another test file's listener before the process binds it; each attempt's
 * reason is printed, so a retry is never silent.
 */
async function startFresh(what: string, attempts: number, start: () => Promise<void>): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      return await start();
    } catch (e) {
      if (i >= attempts || !(e instanceof ExitedWhileStarting)) throw e;
      console.warn(`envtest: ${what} did not start (attempt ${i} of ${attempts}), trying fresh ports: ${String(e)}`);
    }
  }
}

/** Stops a process by its PID: SIGTERM, then SIGKILL after `graceMs` (kube-apiserver drains watches for long). */
function stopProcess(p: ChildProcess | undefined, graceMs = 15_000): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => p.kill('SIGKILL'), graceMs);
    p.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    p.kill('SIGTERM');
  });
}

/** @param opts.apiServerArgs extra kube-apiserver flags (e.g. --watch-cache=false to serve watches from etcd) */
export async function startControlPlane(opts: { apiServerArgs?: string[] } = {}): Promise<ControlPlane> {
  const assets = ASSETS!;
  const dir = mkdtempSync(join(tmpdir(), 'envtest-'));
  let etcd: ChildProcess | undefined;
  let apiserver: ChildProcess | undefined;
  try {
    openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=envtest-ca', '-days', '2']);
    signedCert(dir, 'serving', '/CN=kube-apiserver', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
    signedCert(dir, 'admin', '/O=system:masters/CN=envtest-admin', 'extendedKeyUsage=clientAuth\n');
    ecKey(dir, 'sa');
    openssl(dir, ['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub']);
    let etcdPort = 0;
    const etcdLogPath = join(dir, 'etcd.log');
    await startFresh('etcd', 3, async () => {
      await stopProcess(etcd);
      rmSync(join(dir, 'etcd'), { recursive: true, force: true });
      const [clientPort, peerPort] = [await freePort(), await freePort()];
      const log = openSync(etcdLogPath, 'a');
      const proc = spawn(
        join(assets, 'etcd'),
        [
          '--data-dir', join(dir, 'etcd'),
          '--listen-client-urls', `http://127.0.0.1:${clientPort}`,
          '--advertise-client-urls', `http://127.0.0.1:${clientPort}`,
          '--listen-peer-urls', `http://127.0.0.1:${peerPort}`,
          '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`,
          '--initial-cluster', `default=http://127.0.0.1:${peerPort}`,
        ],
        { stdio: ['ignore', log, log] },
      );
      closeSync(log);
      etcd = proc;
      etcdPort = clientPort;
      await waitFor(
        'etcd',
        async () => {
          try {
            return (await fetch(`http://127.0.0.1:${clientPort}/health`)).ok;
          } catch {
            return false;
          }
        },
        proc,
        etcdLogPath,
      );
    });

    const apiArgs = (port: number) => [
      '--etcd-servers', `http://127.0.0.1:${etcdPort}`,
      '--secure-port', String(port),
      '--bind-address', '127.0.0.1',
      '--advertise-address', '127.0.0.1',
      '--cert-dir', join(dir, 'apiserver-certs'),
      '--tls-cert-file', join(dir, 'serving.crt'),
      '--tls-private-key-file', join(dir, 'serving.key'),
      '--client-ca-file', join(dir, 'ca.crt'),
      '--authorization-mode', 'RBAC',
      '--service-cluster-ip-range', '10.0.0.0/24',
      '--service-account-issuer', 'https://kubernetes.default.svc',
      '--service-account-key-file', join(dir, 'sa.pub'),
      '--service-account-signing-key-file', join(dir, 'sa.key'),
      '--endpoint-reconciler-type', 'none',
      // No controller-manager creates the "default" ServiceAccount, which this plugin would require for every Pod.
      '--disable-admission-plugins', 'ServiceAccount',
      ...(opts.apiServerArgs ?? []),
    ];
    const apiLogPath = join(dir, 'apiserver.log');
    let apiPort = 0;
    let server = '';
    /** Starts kube-apiserver on `apiPort` (a restart keeps the port: clients hold its URL). */
    const startApi = async () => {
      const log = openSync(apiLogPath, 'a');
      const proc = spawn(join(assets, 'kube-apiserver'), apiArgs(apiPort), { stdio: ['ignore', log, log] });
      closeSync(log);
      apiserver = proc;
      await waitFor('kube-apiserver', async () => (await get(`${server}/readyz`, dir)) === 200, proc, apiLogPath);
    };
    await startFresh('kube-apiserver', 3, async () => {
      await stopProcess(apiserver);
      apiPort = await freePort();
      server = `https://127.0.0.1:${apiPort}`;
      await startApi();
    });

    const kubeconfigPath = join(dir, 'admin.kubeconfig');
    writeFileSync(kubeconfigPath, kubeconfigText(server, dir, 'admin', 'admin.crt', 'admin.key'));
    const etcdRef = etcd;
    return {
      dir,
      server,
      etcdUrl: `http://127.0.0.1:${etcdPort}`,
      kubeconfigPath,
      admin() {
        const kc = new KubeConfig();
        kc.loadFromFile(kubeconfigPath);
        return kc;
      },
      userKubeconfig(user, groups = []) {
        const subject = groups.map((g) => `/O=${g}`).join('') + `/CN=${user}`;
        signedCert(dir, `user-${user}`, subject, 'extendedKeyUsage=clientAuth\n');
        const path = join(dir, `user-${user}.kubeconfig`);
        writeFileSync(path, kubeconfigText(server, dir, user, `user-${user}.crt`, `user-${user}.key`));
        return path;
      },
      stopApiServer: () => stopProcess(apiserver, 3000),
      startApiServer: startApi,
      async stop() {
        await stopProcess(apiserver, 1000);
        await stopProcess(etcdRef);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await stopProcess(apiserver);
    await stopProcess(etcd);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/** Polls `check` until it returns a value other than undefined/false (generous timeout; no fixed sleeps). */
export async function until<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}
