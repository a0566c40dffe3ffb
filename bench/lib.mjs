// Shared pieces of bench/server.mjs and bench/abuse.mjs: the webhook started as operators run it, /proc readings,
// load generation with h2load, CPU pinning, certificates and the chart's default config.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));
export const benchDir = fileURLToPath(new URL('.', import.meta.url));

// ---------------------------------------------------------------------------------------------------------------
// Command line: --name value, --name=value, or the environment variable BENCH_NAME (flags win).

export function cli({ known, script } = {}, argv = process.argv.slice(2)) {
  // With the names a script reads (`known`) and its URL: --help prints its header comment, and an option it does not
  // read stops it before it starts servers (a misspelt option would otherwise be ignored for a whole run). A value
  // that starts with -- is taken only after '=' (--heap='--max-semi-space-size=16'), never as the next argument.
  if (known) {
    if (argv.includes('--help') || argv.includes('-h')) {
      const head = readFileSync(new URL(script), 'utf8').split('\n');
      console.log(head.slice(0, head.findIndex((l) => !l.startsWith('//'))).map((l) => l.slice(3)).join('\n'));
      process.exit(0);
    }
    const unknown = argv.filter((a) => a.startsWith('-') && !known.includes(a.replace(/^--?/, '').split('=')[0]));
    if (unknown.length > 0) {
      console.error(`${path.basename(new URL(script).pathname)}: unknown option ${unknown.join(', ')} (known: ${known.map((k) => `--${k}`).join(' ')}; ` +
        "a value that starts with -- goes after '=', e.g. --heap='--max-semi-space-size=16'; --help)");
      process.exit(2);
    }
  }
  const envOf = (name) => process.env[`BENCH_${name.toUpperCase().replaceAll('-', '_')}`];
  const get = (name) => {
    for (let i = 0; i < argv.length; i++) {
      if (argv[i] === `--${name}` && argv[i + 1] !== undefined && !argv[i + 1].startsWith('--')) return argv[i + 1];
      if (argv[i].startsWith(`--${name}=`)) return argv[i].slice(name.length + 3);
    }
    return envOf(name);
  };
  // A name the script did not declare is a mistake in the script: said at once, not read as "absent".
  const declared = (name) => {
    if (known && !known.includes(name)) throw new Error(`cli: option --${name} is read but not declared in known`);
    return name;
  };
  return {
    flag: (name) => argv.includes(`--${declared(name)}`) || ['1', 'true'].includes(envOf(name) ?? ''),
    option: (name, fallback) => get(declared(name)) ?? fallback,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Machine

export const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;
const canPin = os.cpus().length >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
export const pinning = canPin;
/** [bin, args] running cmd on one CPU (server on 0, load on 1), or unpinned where taskset or a 2nd CPU is missing. */
export function pinned(cpu, cmd) {
  return canPin ? ['taskset', ['-c', String(cpu), ...cmd]] : [cmd[0], cmd.slice(1)];
}

/** utime + stime of a whole process (all threads), in clock ticks: /proc/PID/stat fields 14 and 15. */
export function cpuTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return NaN;
  }
}

/**
 * Minor page faults of a whole process (/proc/PID/stat field 10). On a VM each costs microseconds (about 11 µs per
 * 4 KiB page on the bench machine), so fresh memory touched per request shows up in CPU per request.
 */
export function minorFaults(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[7]);
  } catch {
    return NaN;
  }
}

/** VmRSS (now) and VmHWM (peak since start, or since the last resetPeak), MiB. */
export function memory(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssMiB: kb('VmRSS') / 1024, hwmMiB: kb('VmHWM') / 1024 };
  } catch {
    return { rssMiB: NaN, hwmMiB: NaN };
  }
}

/**
 * utime + stime (clock ticks) and minor page faults of a process every intervalMs until stop(), each sample with its
 * wall time (µs since the epoch, as h2load's --log-file writes request times): CPU over part of a run.
 */
export function cpuSampler(pid, intervalMs = 50) {
  const samples = [];
  const take = () => samples.push({ us: Date.now() * 1000, ticks: cpuTicks(pid), faults: minorFaults(pid) });
  take();
  const timer = setInterval(take, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return samples;
    },
  };
}

/** Samples VmRSS every intervalMs until stop(): the peak over a window (VmHWM covers the whole process life). */
export function rssSampler(pid, intervalMs = 50) {
  let peak = memory(pid).rssMiB;
  const timer = setInterval(() => {
    const r = memory(pid).rssMiB;
    if (r > peak || !Number.isFinite(peak)) peak = r;
  }, intervalMs);
  return {
    peek: () => peak,
    stop() {
      clearInterval(timer);
      const r = memory(pid).rssMiB;
      return Number.isFinite(r) && r > peak ? r : peak;
    },
  };
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function requireH2load() {
  if (spawnSync('h2load', ['--version'], { stdio: 'ignore' }).status === 0) return;
  console.error('h2load is missing: install Debian/Ubuntu package nghttp2-client (apt-get install nghttp2-client).');
  process.exit(1);
}

export function requireDist(dist = path.join(root, 'dist')) {
  if (!existsSync(path.join(dist, 'cli/main.js'))) {
    console.error(`${dist}/cli/main.js is missing: run \`npm run build\` first (npm run bench and npm run abuse do).`);
    process.exit(1);
  }
}

export function workDir(prefix) {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A CA and a serving certificate for 127.0.0.1/localhost, made by the webhook's own code (dist). */
export async function makeCertificates(dir, dist = path.join(root, 'dist')) {
  const { ensureDevCertificates } = await import(path.join(dist, 'server/tls.js'));
  const dev = await ensureDevCertificates(path.join(dir, 'certs'));
  return { certFile: dev.certFile, keyFile: dev.keyFile, caFile: dev.caFile };
}

// ---------------------------------------------------------------------------------------------------------------
// The chart's default config

/**
 * The config.yaml of the chart's ConfigMap with default values: rendered with helm (scripts/fetch-helm.mjs) when it
 * can be had, else built from charts/…/values.yaml the way templates/configmap.yaml does (mlrun minus envFrom,
 * webhook, log). Returns the text and which way it was made.
 */
export async function chartDefaultConfig() {
  const chart = path.join(root, 'charts/mlrun-image-webhook');
  const helm = process.env.HELM_BIN ?? spawnSync(process.execPath, [path.join(root, 'scripts/fetch-helm.mjs')], { encoding: 'utf8', timeout: 120_000 }).stdout?.trim();
  if (helm && existsSync(helm)) {
    const r = spawnSync(helm, ['template', 'bench', chart, '--show-only', 'templates/configmap.yaml'], { encoding: 'utf8', timeout: 60_000 });
    if (r.status === 0) {
      const { parse } = await import('yaml');
      const text = parse(r.stdout)?.data?.['config.yaml'];
      if (typeof text === 'string') return { text, source: 'helm template (chart defaults, templates/configmap.yaml)' };
    }
  }
  const { parse, stringify } = await import('yaml');
  const values = parse(readFileSync(path.join(chart, 'values.yaml'), 'utf8'));
  const { envFrom: _drop, ...mlrun } = values.mlrun;
  return { text: stringify({ mlrun, webhook: values.webhook, log: values.log }), source: 'charts/mlrun-image-webhook/values.yaml (helm unavailable)' };
}

/** NODE_OPTIONS as the chart sets them in the webhook container (values.yaml nodeOptions; the image's if unset). */
export function chartNodeOptions() {
  const text = readFileSync(path.join(root, 'charts/mlrun-image-webhook/values.yaml'), 'utf8');
  const m = /^nodeOptions:\s*"([^"]*)"\s*$/m.exec(text);
  return m ? m[1] : '--enable-source-maps';
}

/** The node flags of the image's ENTRYPOINT (Dockerfile: ["node", FLAGS…, "/app/dist/cli/main.js"]). */
export function imageNodeFlags() {
  const text = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
  const m = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(text);
  if (!m) throw new Error('Dockerfile: no one-line exec-form ENTRYPOINT ["node", FLAGS…, SCRIPT] to take node flags from');
  const argv = JSON.parse(m[1]);
  if (argv[0] !== 'node') throw new Error(`Dockerfile: ENTRYPOINT starts with ${JSON.stringify(argv[0])}, not node`);
  // The flags are what comes between node and the script (the first argument that is not a flag).
  const script = argv.findIndex((a, i) => i > 0 && !a.startsWith('-'));
  return argv.slice(1, script < 0 ? argv.length : script);
}

/** The V8 heap flags among the chart's NODE_OPTIONS (--max-old-space-size, --max-semi-space-size …). */
export function chartHeapFlags() {
  return chartNodeOptions().split(/\s+/).filter((f) => /^--max-[\w-]*space-size=/.test(f));
}

// ---------------------------------------------------------------------------------------------------------------
// Processes

/** Resolves once a TLS handshake with 127.0.0.1:port succeeds (the server is listening and serving). */
export async function waitForTls(port, child, what, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${what} exited (${child.exitCode ?? child.signalCode})`);
    const ok = await new Promise((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['h2', 'http/1.1'] }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
      s.setTimeout(2000, () => (s.destroy(), resolve(false)));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not come up on port ${port}`);
    await sleep(100);
  }
}

export function httpGet(url, timeoutMs = 5000) {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
      res.on('error', (e) => resolve({ status: 0, body: String(e) }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: 0, body: String(e) }));
  });
}

/**
 * The webhook as the chart runs it: `node IMAGE_FLAGS dist/cli/main.js serve --config F --tls-cert … --tls-key …`, NODE_ENV
 * and the node flags of the image (Dockerfile ENTRYPOINT), NODE_OPTIONS as the chart sets them (values.yaml nodeOptions),
 * info logs to logFd (a file), metrics on the health port.
 * env: extra environment (MLRUN_IMAGES_REGISTRY …). nodeFlags: extra node flags (--cpu-prof …).
 */
export async function startWebhook({ dist = path.join(root, 'dist'), configFile, certs, env = {}, nodeFlags = [], imageFlags = imageNodeFlags(), logFd, cwd, cpu = 0, stderrTo }) {
  const port = await freePort();
  const healthPort = await freePort();
  const args = ['serve', '--config', configFile, '--tls-cert', certs.certFile, '--tls-key', certs.keyFile];
  args.push('--host', '127.0.0.1', '--port', String(port), '--health-port', String(healthPort), '--drain-delay', '0');
  const [bin, argv] = pinned(cpu, [process.execPath, ...imageFlags, ...nodeFlags, path.join(dist, 'cli/main.js'), ...args]);
  const child = spawn(bin, argv, {
    cwd,
    env: { ...process.env, NODE_ENV: 'production', NODE_OPTIONS: chartNodeOptions(), ...env },
    stdio: ['ignore', logFd ?? 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
    if (stderr.length > 65536) stderr = stderr.slice(-32768);
    stderrTo?.write(d);
  });
  const exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  try {
    await waitForTls(port, child, 'webhook');
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${e.message}: ${stderr.slice(-2000)}`);
  }
  return {
    name: 'webhook',
    child,
    pid: child.pid,
    port,
    url: `https://127.0.0.1:${port}`,
    healthUrl: `http://127.0.0.1:${healthPort}`,
    stderr: () => stderr,
    exited,
    stop: (timeoutMs) => stopChild(child, exited, timeoutMs),
  };
}

/** SIGTERM, then SIGKILL after timeoutMs; resolves with the exit. */
export async function stopChild(child, exited, timeoutMs = 30_000) {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const r = await exited;
    clearTimeout(t);
    return r;
  }
  return exited;
}

// ---------------------------------------------------------------------------------------------------------------
// Load

/**
 * One h2load run (async, so RSS can be sampled meanwhile): returns its summary counts, req/s and the latencies of
 * the 2xx answers (from --log-file), plus the raw output. Bounded: -D seconds (or -n), and killed after killAfterMs.
 */
export function h2load({ url, bodyFile, protocol, connections, streams, seconds, requests, logFile, cpu = 1, killAfterMs, extra = [] }) {
  const shape = protocol === 'h2' ? ['-c', String(connections), '-m', String(streams)] : ['--h1', '-c', String(connections), '-m', '1'];
  const amount = requests ? ['-n', String(requests)] : ['-D', String(seconds)];
  const args = ['-t', '1', ...shape, ...amount, ...(logFile ? [`--log-file=${logFile}`] : []), ...extra];
  if (bodyFile) args.push('-d', bodyFile, '-H', 'content-type: application/json');
  args.push(url);
  const [bin, argv] = pinned(cpu, ['h2load', ...args]);
  return new Promise((resolve) => {
    const child = spawn(bin, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const limit = killAfterMs ?? ((seconds ?? 30) * 1000 + 30_000);
    const t0 = Date.now();
    const timer = setTimeout(() => child.kill('SIGKILL'), limit);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ ...parseH2load(out, logFile), exit: signal ?? code, ms: Date.now() - t0 });
    });
  });
}

export function parseH2load(out, logFile) {
  const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  const rps = Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out)?.[1] ?? NaN);
  const latUs = [];
  const endsUs = [];
  if (logFile && existsSync(logFile)) {
    // One line per request: start (µs since epoch), status, duration (µs).
    for (const line of readFileSync(logFile, 'utf8').split('\n')) {
      const f = line.split('\t');
      if (f.length >= 3 && f[1] >= '200' && f[1] < '300') {
        latUs.push(Number(f[2]));
        endsUs.push(Number(f[0]) + Number(f[2]));
      }
    }
    writeFileSync(logFile, '');
  }
  latUs.sort((a, b) => a - b);
  endsUs.sort((a, b) => a - b);
  const n = (i) => (req ? Number(req[i]) : NaN);
  return {
    ok: Boolean(req),
    done: n(3),
    succeeded: n(4),
    failed: n(5) + n(6) + n(7),
    non2xx: codes ? Number(codes[2]) + Number(codes[3]) + Number(codes[4]) : NaN,
    s2xx: codes ? Number(codes[1]) : NaN,
    s4xx: codes ? Number(codes[3]) : NaN,
    s5xx: codes ? Number(codes[4]) : NaN,
    rps,
    latUs,
    endsUs,
    out,
  };
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export { median } from './stats.mjs';

export { fmt } from './format.mjs';
