/** `serve` end to end: arguments, the config watcher wired to the server, reloads, signals. */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { discoveryLoaded, parseServeArgs, runServe } from '../../src/cli/serve.js';
import type { RunningServer } from '../../src/server/app.js';
import { decodePatch, h1Request, h2Request, httpGet, logCapture, metricValue, servingFiles, tempDir, writeAtomic } from './helpers.js';

const WAIT = { timeout: 20_000, interval: 100 };
const typical = readFileSync(fileURLToPath(new URL('../fixtures/admission/admission-typical.json', import.meta.url)), 'utf8');
const JSON_HEADERS = { 'content-type': 'application/json' };

function capture() {
  let text = '';
  return { write: (s: string) => (text += s), text: () => text };
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('serve arguments', () => {
  it('has defaults: every address (dual-stack), 8443, health 8080, development certificate', () => {
    expect(parseServeArgs([])).toEqual({
      configFile: undefined,
      port: 8443,
      healthPort: 8080,
      host: undefined,
      tls: undefined,
      drainDelayMs: 5000,
    });
    expect(parseServeArgs(['--host', '::', '--port=9443', '--health-port', '9090', '--tls-cert', 'c', '--tls-key', 'k', '--config', 'f.yaml'])).toEqual({
      configFile: 'f.yaml',
      port: 9443,
      healthPort: 9090,
      host: '::',
      tls: { certFile: 'c', keyFile: 'k' },
      drainDelayMs: 5000,
    });
  });

  const usage: [string[], RegExp][] = [
    [['--tls-cert', 'c.pem'], /--tls-cert needs --tls-key/],
    [['--tls-key', 'k.pem'], /--tls-key needs --tls-cert/],
    [['--port', 'https'], /--port must be a port number/],
    [['--port', '70000'], /--port must be a port number/],
    [['--health-port', '-1'], /--health-port must be a port number/],
    [['--port', '8443', '--health-port', '8443'], /must differ/],
    [['--verbose'], /unknown option --verbose/],
    [['extra'], /unexpected argument "extra"/],
    [['--config'], /--config needs a value/],
    [['--drain-delay', 'soon'], /--drain-delay must be/],
  ];
  for (const [argv, message] of usage) {
    it(`exits 2 on ${argv.join(' ')}`, async () => {
      const stderr = capture();
      expect(await runServe(argv, { stderr })).toBe(2);
      expect(stderr.text()).toMatch(message);
      expect(stderr.text()).toContain('Usage: mlrun-image-webhook serve');
    });
  }
});

describe('serve', () => {
  it('refuses to start on a bad initial config, printing the problems (exit 2: configuration error)', async () => {
    const tmp = await tempDir('serve-bad');
    cleanups.push(tmp.cleanup);
    const config = path.join(tmp.dir, 'config.yaml');
    await writeFile(config, 'mlrun:\n  kfpPythonSuffix: sometimes\n  imagesTagz: x\n');
    const stderr = capture();
    const code = await runServe(['--config', config, '--port', '0', '--health-port', '0', '--host', '127.0.0.1'], {
      stderr,
      logDestination: logCapture(),
    });
    expect(code).toBe(2);
    expect(stderr.text()).toContain(config);
    expect(stderr.text()).toMatch(/mlrun\.kfpPythonSuffix: /);
    expect(stderr.text()).toMatch(/mlrun\.imagesTagz: /);
  });

  it('exits 1 with the reason when the certificate files are unusable', async () => {
    const tmp = await tempDir('serve-cert');
    cleanups.push(tmp.cleanup);
    const stderr = capture();
    const code = await runServe(
      ['--port', '0', '--health-port', '0', '--host', '127.0.0.1', '--tls-cert', path.join(tmp.dir, 'no.crt'), '--tls-key', path.join(tmp.dir, 'no.key')],
      { stderr, logDestination: logCapture() },
    );
    expect(code).toBe(1);
    expect(stderr.text()).toMatch(/cannot start the server: cannot read certificate/);
  });

  it('listens on every address by default: "::" dual-stack where the OS has IPv6 (IPv6 Pod IPs), else 0.0.0.0', async () => {
    const { pki, certFile, keyFile, cleanup } = await servingFiles('serve-host');
    cleanups.push(cleanup);
    const signals = new EventEmitter();
    let server: RunningServer | undefined;
    const running = runServe(['--port', '0', '--health-port', '0', '--tls-cert', certFile, '--tls-key', keyFile, '--drain-delay', '0'], {
      signals,
      logDestination: logCapture(),
      exit: vi.fn(),
      onListening: (s) => (server = s),
    });
    cleanups.push(async () => {
      signals.emit('SIGTERM', 'SIGTERM');
      await running;
    });
    await vi.waitFor(() => expect(server).toBeDefined(), WAIT);
    const address = (server!.app.server.address() as { address: string }).address;
    expect(['::', '0.0.0.0']).toContain(address);
    // Either way IPv4 clients get through, and the printed URL is usable as is.
    expect(server!.httpsUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect((await h2Request(server!.httpsUrl, { ca: pki.ca.cert, headers: JSON_HEADERS, body: typical })).status).toBe(200);
    expect((await httpGet(`${server!.healthUrl}/healthz`)).status).toBe(200);
    // Discovery is off: the Kubernetes client (about 50 MiB of RSS) was never loaded.
    expect(discoveryLoaded()).toBe(false);
  });

  it('serves, reloads a changed config, keeps the last good one on a bad change, and drains on SIGTERM (exit 0)', async () => {
    const { pki, certFile, keyFile, dir, cleanup } = await servingFiles('serve');
    cleanups.push(cleanup);
    const config = path.join(dir, 'config.yaml');
    await writeFile(config, 'mlrun:\n  version: 1.9.2\n  imagesRegistry: registry-a.example/\n');

    const signals = new EventEmitter();
    const logs = logCapture();
    let server: RunningServer | undefined;
    const exit = vi.fn();
    const running = runServe(
      ['--config', config, '--port', '0', '--health-port', '0', '--host', '127.0.0.1', '--tls-cert', certFile, '--tls-key', keyFile, '--drain-delay', '1'],
      { signals, logDestination: logs, exit, onListening: (s) => (server = s) },
    );
    cleanups.push(async () => {
      // If an assertion failed midway, still stop the server.
      signals.emit('SIGTERM', 'SIGTERM');
      await running;
    });
    await vi.waitFor(() => expect(server).toBeDefined(), WAIT);
    const s = server!;
    const ca = pki.ca.cert;
    const images = async () => {
      const res = await h2Request(s.httpsUrl, { ca, headers: JSON_HEADERS, body: typical });
      expect(res.status).toBe(200);
      return JSON.stringify(decodePatch(res.json()) ?? []);
    };
    const metrics = async () => (await httpGet(`${s.healthUrl}/metrics`)).body;

    expect(await images()).toContain('registry-a.example/');
    expect((await httpGet(`${s.healthUrl}/readyz`)).status).toBe(200);
    expect(await metrics()).toMatch(/mlrun_image_webhook_rules_info\{mlrun_version="1\.9\.2",family="E",mode="enforce"\} 1/);

    // A changed file is picked up without a restart.
    await writeAtomic(config, 'mlrun:\n  version: 1.9.2\n  imagesRegistry: registry-b.example/\nwebhook:\n  mode: enforce\n');
    await vi.waitFor(async () => expect(await images()).toContain('registry-b.example/'), WAIT);
    await vi.waitFor(async () => {
      expect(metricValue(await metrics(), 'mlrun_image_webhook_config_reloads_total{result="success"}')).toBeGreaterThanOrEqual(1);
    }, WAIT);
    expect(logs.lines.some((l) => l.msg === 'config reloaded')).toBe(true);

    // A bad change is refused: logged with key and reason, counted, and the last good config keeps serving.
    await writeAtomic(config, 'mlrun:\n  version: 1.9.2\n  imagesRegistry: registry-c.example/\n  kfpPythonSuffix: sometimes\n');
    await vi.waitFor(async () => {
      expect(metricValue(await metrics(), 'mlrun_image_webhook_config_reloads_total{result="failure"}')).toBeGreaterThanOrEqual(1);
    }, WAIT);
    expect(await images()).toContain('registry-b.example/');
    const refused = logs.lines.find((l) => /config refused/.test(l.msg));
    expect(refused?.problems).toEqual([expect.objectContaining({ key: 'mlrun.kfpPythonSuffix', reason: expect.any(String) })]);
    expect((await httpGet(`${s.healthUrl}/readyz`)).status).toBe(200);

    // SIGTERM: not ready at once, still answering during the drain delay, then a clean exit.
    signals.emit('SIGTERM', 'SIGTERM');
    await vi.waitFor(async () => expect((await httpGet(`${s.healthUrl}/readyz`)).status).toBe(503), WAIT);
    expect((await h1Request(s.httpsUrl, { ca, headers: JSON_HEADERS, body: typical })).status).toBe(200);
    expect(await running).toBe(0);
    expect(exit).not.toHaveBeenCalled();
    expect(logs.lines.some((l) => l.msg === 'shut down')).toBe(true);
  });

  it('a second signal forces the exit (exit 1)', async () => {
    const { certFile, keyFile, cleanup } = await servingFiles('serve-force');
    cleanups.push(cleanup);
    const signals = new EventEmitter();
    let server: RunningServer | undefined;
    const exit = vi.fn();
    const running = runServe(
      ['--port', '0', '--health-port', '0', '--host', '127.0.0.1', '--tls-cert', certFile, '--tls-key', keyFile, '--drain-delay', '20'],
      { signals, logDestination: logCapture(), exit, onListening: (s) => (server = s) },
    );
    await vi.waitFor(() => expect(server).toBeDefined(), WAIT);
    signals.emit('SIGTERM', 'SIGTERM');
    signals.emit('SIGINT', 'SIGINT');
    expect(await running).toBe(1);
    await server!.close();
  });
});
