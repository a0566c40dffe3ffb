/** `serve` (the CLI's long-running command) in the test process, as the serve tests start it. */
import { EventEmitter } from 'node:events';
import { vi } from 'vitest';
import { runServe } from '../../src/cli/serve.js';
import type { RunningServer } from '../../src/server/app.js';
import { logCapture } from '../server/helpers.js';
import { until } from './envtest.js';

/**
 * `serve` on free loopback ports with this config file and serving pair. onCleanup receives its stop (SIGTERM,
 * then the exit): the caller's cleanup list, run after the test. signals also takes SIGHUP (reload).
 */
export async function startServe(
  configFile: string,
  files: { certFile: string; keyFile: string },
  onCleanup: (stop: () => Promise<unknown>) => void,
) {
  const signals = new EventEmitter();
  const logs = logCapture();
  let server: RunningServer | undefined;
  const running = runServe(
    ['--config', configFile, '--port', '0', '--health-port', '0', '--host', '127.0.0.1', '--tls-cert', files.certFile, '--tls-key', files.keyFile, '--drain-delay', '0'],
    { signals, logDestination: logs, exit: vi.fn(), onListening: (started) => (server = started) },
  );
  onCleanup(async () => {
    signals.emit('SIGTERM', 'SIGTERM');
    await running;
  });
  const s = await until('listening', () => server);
  return { signals, logs, running, s };
}
