// HTTPS benchmark of the built webhook server (dist/) against two baselines that parse the body and answer a
// fixed AdmissionReview: a bare node:http2 secure server (allowHTTP1: the same server class fastify uses, so h2
// and HTTP/1.1 both work) and a bare fastify. Same certificate and TLS settings for all three.
//
// Load: h2load (Debian nghttp2-client), pinned to CPU 1; servers pinned to CPU 0. Target 127.0.0.1 only; every run
// is bounded by -D. Prints req/s, p50/p99 (from h2load's --log-file) and RSS per target, body size and protocol,
// and the ratios webhook/bare-fastify and webhook/bare-node.
//
//   node bench/server.mjs [--quick] [--profile] [--duration S] [--rounds N] [--only small,typical,large]
//                         [--h2-only|--h1-only] [--targets webhook,bare-fastify,bare-node[,webhook@OTHER_DIST_DIR]]
//                         [--webhook-node-options '--max-semi-space-size=64']
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const flag = (name) => args.includes(`--${name}`);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
};
const quick = flag('quick');
const profile = flag('profile');
const duration = Number(option('duration', quick ? '3' : '6'));
const warmup = quick ? 1 : 2;
const root = fileURLToPath(new URL('..', import.meta.url));
const here = (f) => fileURLToPath(new URL(f, import.meta.url));

function log(...a) {
  console.log(...a);
}

// ---------------------------------------------------------------------------------------------------------------
// Prerequisites

if (!existsSync(path.join(root, 'dist/server/app.js'))) {
  console.error('bench/server.mjs: dist/ is missing; run `npm run build` first (npm run bench does).');
  process.exit(1);
}
if (spawnSync('h2load', ['--version'], { stdio: 'ignore' }).status !== 0) {
  log('h2load not found: installing Debian package nghttp2-client ...');
  const asRoot = process.getuid?.() === 0 ? [] : ['sudo'];
  const run = (cmd) => spawnSync(asRoot.length ? 'sudo' : cmd[0], asRoot.length ? cmd : cmd.slice(1), { stdio: 'inherit' });
  run(['apt-get', 'update']);
  run(['apt-get', 'install', '-y', 'nghttp2-client']);
  if (spawnSync('h2load', ['--version'], { stdio: 'ignore' }).status !== 0) {
    console.error('bench/server.mjs: h2load is not available and could not be installed; skipping the server benchmark.');
    process.exit(1);
  }
}
const cpus = os.cpus().length;
const pin = spawnSync('taskset', ['-c', '0', 'true']).status === 0 && cpus >= 2;
if (!pin) log('(taskset or a second CPU missing: server and load are not pinned; numbers are less stable)');
const pinned = (cpu, cmd) => (pin ? ['taskset', ['-c', String(cpu), ...cmd]] : [cmd[0], cmd.slice(1)]);

// ---------------------------------------------------------------------------------------------------------------
// Inputs: bodies, certificate, config

const fixturesDir = path.join(root, 'test/fixtures/admission');
const only = option('only', '').split(',').filter(Boolean);
const bodies = readdirSync(fixturesDir)
  .filter((f) => /^admission-.*\.json$/.test(f))
  .map((f) => ({ name: f.replace(/^admission-|\.json$/g, ''), file: path.join(fixturesDir, f) }))
  .filter((b) => only.length === 0 || only.includes(b.name))
  .sort((a, b) => ['small', 'typical', 'large'].indexOf(a.name) - ['small', 'typical', 'large'].indexOf(b.name));
for (const b of bodies) b.bytes = readFileSync(b.file).length;

const work = mkdtempSync(path.join(os.tmpdir(), 'miw-bench-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const { generateDevCa, generateServingCert } = await import(path.join(root, 'dist/server/tls.js'));
const ca = await generateDevCa('bench CA');
const leaf = await generateServingCert(ca);
const certFile = path.join(work, 'tls.crt');
const keyFile = path.join(work, 'tls.key');
writeFileSync(certFile, leaf.cert);
writeFileSync(keyFile, leaf.key);
// A realistic config: MLRun 1.9 rules and a registry prefix, so typical MLRun Pods really get patched.
const configFile = path.join(work, 'config.yaml');
writeFileSync(configFile, 'mlrun:\n  version: 1.9.2\n  imagesRegistry: datanode-registry.example/\nwebhook:\n  mode: enforce\nlog:\n  level: info\n');

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Targets

async function startTarget(name) {
  const port = await freePort();
  const env = { ...process.env, BENCH_CERT: certFile, BENCH_KEY: keyFile, BENCH_PORT: String(port) };
  let cmd;
  const nodeFlags = [];
  let profDir;
  if (profile) {
    // Kept after the run (outside the work dir) for a closer look, e.g. in Chrome DevTools.
    profDir = mkdtempSync(path.join(os.tmpdir(), `miw-bench-profile-${name.replace(/[^\w.-]/g, "_")}-`));
    nodeFlags.push('--cpu-prof', `--cpu-prof-dir=${profDir}`);
  }
  // --webhook-node-options "...": NODE_OPTIONS for the webhook only (e.g. GC tuning: --max-semi-space-size=64).
  if (name === 'webhook' && option('webhook-node-options', '')) env.NODE_OPTIONS = option('webhook-node-options', '');
  if (name === 'webhook' || name.startsWith('webhook@')) {
    // webhook@DIR: another build of the server (e.g. a copy of dist/ with a change), to compare in the same run.
    const dist = name === 'webhook' ? path.join(root, 'dist') : path.resolve(root, name.slice('webhook@'.length));
    const healthPort = await freePort();
    const serveArgs = ['--config', configFile, '--tls-cert', certFile, '--tls-key', keyFile];
    serveArgs.push('--host', '127.0.0.1', '--port', String(port), '--health-port', String(healthPort), '--drain-delay', '0');
    cmd = ['node', ...nodeFlags, path.join(dist, 'cli/main.js'), 'serve', ...serveArgs];
  } else {
    cmd = ['node', ...nodeFlags, here('server-targets.mjs'), name];
  }
  const [bin, argv] = pinned(0, cmd);
  // Logs go to /dev/null: written (the cost is real) but not read.
  const child = spawn(bin, argv, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const url = `https://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode}): ${stderr}`);
    const probe = spawnSync('h2load', ['-n', '1', '-c', '1', `${url}/mutate`], { encoding: 'utf8' });
    if (/1 succeeded|1 done/.test(probe.stdout ?? '') && !/0 succeeded, 0 failed, 1 errored/.test(probe.stdout)) break;
    if (Date.now() > deadline) throw new Error(`${name} did not come up on ${url}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { name, child, url, pid: child.pid, profDir, stderr: () => stderr };
}

async function stopTarget(t) {
  if (t.child.exitCode !== null) return;
  const exited = new Promise((r) => t.child.once('exit', r));
  t.child.kill('SIGTERM');
  const timer = setTimeout(() => t.child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;
/** utime + stime of a process, in clock ticks (/proc/PID/stat fields 14 and 15). */
function cpuTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return NaN;
  }
}

function memory(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssMiB: kb('VmRSS') / 1024, hwmMiB: kb('VmHWM') / 1024 };
  } catch {
    return { rssMiB: NaN, hwmMiB: NaN };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Load

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function runLoad(target, body, protocol) {
  const logFile = path.join(work, `h2load-${target.name.replace(/[^\w.-]/g, "_")}-${body.name}-${protocol.replace("/", "")}.log`);
  // h2: few connections, many streams (as kube-apiserver multiplexes); HTTP/1.1: one request per connection at a time.
  const shape = protocol === 'h2' ? ['-c', '4', '-m', '16'] : ['--h1', '-c', '32', '-m', '1'];
  const common = ['-t', '1', ...shape, '-d', body.file, '-H', 'content-type: application/json', `${target.url}/mutate`];
  // Warm-up as a separate run (JIT, heap sizing), so the measured run's CPU time covers exactly its requests.
  const [wbin, wargv] = pinned(1, ['h2load', '-D', String(warmup), ...common]);
  spawnSync(wbin, wargv, { stdio: 'ignore' });
  const [bin, argv] = pinned(1, ['h2load', '-D', String(duration), `--log-file=${logFile}`, ...common]);
  const cpuBefore = cpuTicks(target.pid);
  const r = spawnSync(bin, argv, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const cpuAfter = cpuTicks(target.pid);
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  const rps = Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out)?.[1] ?? NaN);
  const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  const durations = [];
  if (existsSync(logFile)) {
    // Each line: start time (µs since epoch), status code, duration (µs).
    for (const line of readFileSync(logFile, 'utf8').split('\n')) {
      const f = line.split('\t');
      if (f.length >= 3 && f[1] === '200') durations.push(Number(f[2]));
    }
    rmSync(logFile, { force: true });
  }
  durations.sort((a, b) => a - b);
  const failed = req ? Number(req[5]) + Number(req[6]) + Number(req[7]) : NaN;
  const non2xx = codes ? Number(codes[2]) + Number(codes[3]) + Number(codes[4]) : NaN;
  if (!req || failed > 0 || non2xx > 0) {
    log(`  ! ${target.name} ${body.name} ${protocol}: ${req ? `${failed} failed/errored, ${non2xx} non-2xx` : 'no h2load summary'}`);
    if (!req) log(out.slice(0, 2000));
  }
  const done = req ? Number(req[3]) : NaN;
  return {
    rps,
    // CPU time of the server process per request: unlike req/s, barely moved by other load on a shared machine.
    cpuUs: ((cpuAfter - cpuBefore) * 1e6) / CLK_TCK / done,
    p50ms: percentile(durations, 50) / 1000,
    p99ms: percentile(durations, 99) / 1000,
    ok: durations.length,
    ...memory(target.pid),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Run

const protocols = flag('h1-only') ? ['http/1.1'] : flag('h2-only') ? ['h2'] : ['h2', 'http/1.1'];
log(`\nHTTPS server benchmark: ${bodies.map((b) => `${b.name} (${(b.bytes / 1024).toFixed(1)} KiB)`).join(', ')}`);
log(`h2load -D ${duration}s (after a ${warmup}s warm-up run); h2: 4 connections x 16 streams; http/1.1: 32 connections; ` +
  `server on CPU 0, h2load on CPU 1${pin ? '' : ' (not pinned)'}; Node ${process.version}`);

const rounds = Number(option('rounds', quick ? '1' : '3'));
const names = option('targets', 'webhook,bare-fastify,bare-node').split(',');
log(`${rounds} round(s), medians reported; targets: ${names.join(', ')}`);
const median = (xs) => {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return v.length === 0 ? NaN : v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
const targets = [];
const served = new Map();
try {
  for (const name of names) targets.push(await startTarget(name));
  const runs = [];
  for (let round = 0; round < rounds; round++) {
    for (const protocol of protocols) {
      for (const body of bodies) {
        // Interleaved: every target sees the same machine conditions for each body, protocol and round (the
        // machine is shared; medians over rounds damp the noise of whatever else runs on it).
        for (const t of targets) {
          const r = runLoad(t, body, protocol);
          served.set(t.name, (served.get(t.name) ?? 0) + r.rps * (duration + warmup));
          runs.push({ target: t.name, body: body.name, protocol, ...r });
        }
      }
    }
  }
  const results = [];
  for (const protocol of protocols) {
    for (const body of bodies) {
      for (const t of targets) {
        const mine = runs.filter((r) => r.target === t.name && r.body === body.name && r.protocol === protocol);
        results.push({
          target: t.name,
          body: body.name,
          protocol,
          rps: median(mine.map((r) => r.rps)),
          cpuUs: median(mine.map((r) => r.cpuUs)),
          p50ms: median(mine.map((r) => r.p50ms)),
          p99ms: median(mine.map((r) => r.p99ms)),
          spread: mine.length > 1 ? `${Math.min(...mine.map((r) => r.rps)).toFixed(0)}-${Math.max(...mine.map((r) => r.rps)).toFixed(0)}` : '',
          rssMiB: mine.at(-1).rssMiB,
          hwmMiB: Math.max(...mine.map((r) => r.hwmMiB)),
        });
      }
    }
  }

  const fmt = (n, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : '-');
  log('');
  const w = Math.max(14, ...results.map((r) => r.target.length + 2));
  log(`${'protocol'.padEnd(9)}${'body'.padEnd(9)}${'target'.padEnd(w)}${'req/s'.padStart(8)}${'(min-max)'.padStart(12)}${'CPU µs/req'.padStart(11)}${'p50 ms'.padStart(8)}${'p99 ms'.padStart(8)}${'RSS MiB'.padStart(9)}${'HWM MiB'.padStart(9)}`);
  for (const r of results) {
    log(`${r.protocol.padEnd(9)}${r.body.padEnd(9)}${r.target.padEnd(w)}${fmt(r.rps).padStart(8)}${r.spread.padStart(12)}${fmt(r.cpuUs, 0).padStart(11)}${fmt(r.p50ms, 2).padStart(8)}${fmt(r.p99ms, 2).padStart(8)}${fmt(r.rssMiB, 1).padStart(9)}${fmt(r.hwmMiB, 1).padStart(9)}`);
  }
  log('');
  log('ratios: req/s = median req/s of the webhook / baseline; cpu = baseline CPU per request / webhook CPU per request');
  log('(the same thing measured two ways; cpu is the steadier one on a shared machine). Targets on req/s vs bare');
  log('fastify: typical >= 0.85, large >= 0.80');
  const targetRatio = { typical: 0.85, large: 0.8 };
  let below = false;
  for (const protocol of protocols) {
    for (const body of bodies) {
      const get = (t) => results.find((r) => r.target === t && r.body === body.name && r.protocol === protocol);
      const w = get('webhook');
      if (!w || !get('bare-fastify') || !get('bare-node')) continue;
      const vsFastify = w.rps / get('bare-fastify').rps;
      const vsNode = w.rps / get('bare-node').rps;
      const goal = targetRatio[body.name];
      const verdict = goal === undefined ? '' : vsFastify >= goal ? `  ok (>= ${goal})` : `  BELOW ${goal}`;
      if (goal !== undefined && !(vsFastify >= goal)) below = true;
      const cpuFastify = get('bare-fastify').cpuUs / w.cpuUs;
      const cpuNode = get('bare-node').cpuUs / w.cpuUs;
      log(`  ${protocol.padEnd(9)}${body.name.padEnd(9)} webhook/bare-fastify req/s ${fmt(vsFastify, 2)} cpu ${fmt(cpuFastify, 2)}   webhook/bare-node req/s ${fmt(vsNode, 2)} cpu ${fmt(cpuNode, 2)}${verdict}`);
    }
  }
  if (below) log('\nbelow target: rerun with --profile (e.g. --profile --only typical --h2-only) to see where the time goes.');
} finally {
  for (const t of targets) await stopTarget(t);
}

if (profile) {
  const summaries = [];
  for (const t of targets) {
    const files = t.profDir && existsSync(t.profDir) ? readdirSync(t.profDir).filter((f) => f.endsWith('.cpuprofile')) : [];
    if (files.length === 0) log(`\n(no CPU profile from ${t.name}: did it exit cleanly?)`);
    for (const f of files) summaries.push({ name: t.name, ...summariseProfile(path.join(t.profDir, f), t.name, served.get(t.name) ?? NaN) });
  }
  if (summaries.length > 1) {
    // Same categories side by side, in CPU microseconds per request: the difference is the webhook's own cost.
    const cats = [...new Set(summaries.flatMap((x) => [...x.perRequest.keys()]))];
    cats.sort((a, b) => (summaries[0].perRequest.get(b) ?? 0) - (summaries[0].perRequest.get(a) ?? 0));
    log('\nCPU µs per request by category (busy time / requests served, all runs; mixes body sizes unless --only):');
    log(`  ${'category'.padEnd(30)}${summaries.map((x) => x.name.padStart(14)).join('')}`);
    for (const c of [...cats, 'total']) {
      log(`  ${c.padEnd(30)}${summaries.map((x) => (c === 'total' ? x.totalPerRequest : x.perRequest.get(c) ?? 0).toFixed(1).padStart(14)).join('')}`);
    }
  }
}

/** Self time by category and the top functions, from a V8 .cpuprofile. */
function summariseProfile(file, name, requests) {
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const dt = prof.timeDeltas;
  for (let i = 0; i < prof.samples.length; i++) self.set(prof.samples[i], (self.get(prof.samples[i]) ?? 0) + (dt[i] ?? 0));
  const categories = [
    ['GC', (n) => n.callFrame.functionName === '(garbage collector)'],
    ['JSON parse (body)', (n) => /secure-json-parse/.test(n.callFrame.url) || n.callFrame.functionName === 'parse'],
    ['admit / engine', (n) => /\/dist\/(admission|mlrun|image)\//.test(n.callFrame.url)],
    ['JSON patch (fast-json-patch)', (n) => /fast-json-patch/.test(n.callFrame.url)],
    ['logging (pino)', (n) => /node_modules\/(pino|sonic-boom|fast-redact|@pinojs)/.test(n.callFrame.url)],
    ['metrics (prom-client)', (n) => /prom-client/.test(n.callFrame.url)],
    ['fastify', (n) => /node_modules\/(fastify|find-my-way|light-my-request|avvio|@fastify|fast-json-stringify|fast-querystring)/.test(n.callFrame.url)],
    ['webhook server code', (n) => /\/dist\/(server|telemetry|cli|config)\//.test(n.callFrame.url)],
    ['module loading (startup)', (n) => /^node:internal\/modules\//.test(n.callFrame.url)],
    ['node http2/http/tls/streams', (n) => /^node:(internal\/)?(http|_http|https|http2|tls|_tls|net|stream|streams|stream_base_commons|buffer|events|process\/task_queues|timers)/.test(n.callFrame.url)],
    ['native writes (socket, log)', (n) => /^write(String|Utf8String|v|Buffer)$/.test(n.callFrame.functionName) && n.callFrame.url === ''],
    ['program / other native', (n) => n.callFrame.functionName === '(program)' || n.callFrame.url === ''],
  ];
  const totals = new Map();
  const fns = new Map();
  let all = 0;
  for (const [id, t] of self) {
    const n = byId.get(id);
    // Busy time only: each target idles while the others are measured.
    if (n.callFrame.functionName === '(idle)') continue;
    all += t;
    const cat = categories.find(([, test]) => test(n))?.[0] ?? 'other';
    totals.set(cat, (totals.get(cat) ?? 0) + t);
    const key = `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*node_modules\//, '').replace(root, '')}:${n.callFrame.lineNumber + 1}`;
    fns.set(key, (fns.get(key) ?? 0) + t);
  }
  log(`\nCPU profile of ${name} (${file}), self time as a share of busy (non-idle) time:`);
  for (const [cat, t] of [...totals].sort((a, b) => b[1] - a[1])) log(`  ${cat.padEnd(30)} ${((100 * t) / all).toFixed(1).padStart(5)} %`);
  log('  top functions:');
  for (const [fn, t] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, name === 'webhook' ? 25 : 10)) log(`    ${((100 * t) / all).toFixed(1).padStart(5)} %  ${fn}`);
  const perRequest = new Map([...totals].map(([c, t]) => [c, t / requests]));
  return { perRequest, totalPerRequest: all / requests };
}
