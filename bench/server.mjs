// HTTPS benchmark: the webhook as operators run it against the true ceilings and the floor (see docs/performance.md).
//
//   targets   bare-https (node:https, HTTP/1.1) and bare-h2 (node:http2 secure server, no allowHTTP1): the ceilings;
//             bare-fastify (both protocols); floor (fastify + the webhook's body handling, one pino line and its
//             metrics per request, no admission logic); webhook (`node dist/cli/main.js serve` with the chart's
//             default config, MLRUN_IMAGES_REGISTRY=datanode.local:5000/, info logs to a file, metrics on).
//             webhook@DIR: another build (a dist/ copy) side by side.
//   bodies    test/fixtures/admission/admission-{small,typical,large}.json;  protocols: h2 and HTTP/1.1 (h2load --h1)
//   runs      per cell a warm-up, then a measured run of about --duration seconds (sized by request count)
//   reading   per target/body/protocol: req/s, p50/p99 (h2load --log-file), server CPU µs per request (utime+stime
//             from /proc/PID/stat over the measured window / requests done), peak RSS in the window (VmRSS sampled
//             every 50 ms) and VmHWM; log bytes per request for targets that log.
//
// Server on CPU 0, h2load on CPU 1, 32 requests in flight (h2: 4 connections × 8 streams; HTTP/1.1: 32
// connections). Interleaved rounds (each target sees the same machine conditions); medians over rounds.
//
//   node bench/server.mjs [--quick] [--reps N] [--duration S] [--warmup S] [--bodies small,typical,large]
//       [--protocols h2,h1] [--targets bare-https,bare-h2,bare-fastify,floor,webhook[,webhook-policy,webhook@DIR,webhook-policy@DIR]] [--inflight 32]
//       [--cpu-prof] [--trace-gc] [--heap-snapshot] [--webhook-node-options='--max-semi-space-size=16']
//       [--log-sink pipe|file]
//       [--heap='--max-old-space-size=192 --max-semi-space-size=1' | --heap none] [--json F]
// Every option can also come from the environment: BENCH_REPS=5, BENCH_DURATION=8, BENCH_CPU_PROF=1 …
import { closeSync, createWriteStream, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import {
  benchDir, chartDefaultConfig, chartHeapFlags, chartNodeOptions, cli, cpuSampler, imageNodeFlags, CLK_TCK, fmt, freePort, h2load, makeCertificates, median, memory,
  percentile, pinned, pinning, requireDist, requireH2load, root, rssSampler, sleep, startWebhook, stopChild, waitForTls,
  workDir,
} from './lib.mjs';
import { signed } from './format.mjs';
import { goalLines, paired } from './goals.mjs';

// Every option this script reads (cli() refuses others before servers start; --help prints the header above).
const { flag, option } = cli({
  known: ['quick', 'reps', 'duration', 'warmup', 'inflight', 'cpu-prof', 'log-sink', 'trace-gc', 'heap-snapshot', 'heap',
    'targets', 'protocols', 'bodies', 'webhook-node-options', 'json'],
  script: import.meta.url,
});
const quick = flag('quick');
const reps = Number(option('reps', quick ? '1' : '3'));
const duration = Number(option('duration', quick ? '2' : '3'));
const warmup = Number(option('warmup', quick ? '0.5' : '1'));
const inflight = Number(option('inflight', '32'));
const cpuProf = flag('cpu-prof');
// Where the servers' log lines go. pipe (default): a pipe this process drains into the log file, as a Pod's stdout
// is a FIFO the container runtime drains on its own CPU; file: the server writes the file itself (the kernel's
// file write path then counts in the server's CPU: on the bench VM ~60 µs per KiB of lines under load).
const logSink = option('log-sink', 'pipe');
if (!['pipe', 'file'].includes(logSink)) throw new Error(`--log-sink: pipe or file, got ${logSink}`);
// This process drains the pipes: on the load's CPU, never on the server's.
if (pinning) spawnSync('taskset', ['-pc', '1', String(process.pid)], { stdio: 'ignore' });
const traceGc = flag('trace-gc');
const heapSnapshot = flag('heap-snapshot');
// V8 heap flags given to every target (the webhook and its baselines alike). Default: the heap flags of the chart's
// NODE_OPTIONS (values.yaml nodeOptions), i.e. the heap a pod gets; Node sizes its heap from the container's memory
// limit, so V8 on an unlimited bench machine would size it far larger than the chart runs it. --heap none: V8's own.
const heapOption = option('heap', chartHeapFlags().join(' '));
const heapFlags = heapOption === 'none' ? [] : heapOption.split(/\s+/).filter(Boolean);
// The node flags of the image's ENTRYPOINT (startWebhook adds them to the webhook; the baselines get them here).
const imageFlags = imageNodeFlags();
const REGISTRY = 'datanode.local:5000/';

requireDist();
// The webhook's HTTP/2 windows and turn bounds, for the floor (server-targets.mjs): one source, the webhook's own.
const { DEFAULT_LIMITS, TURN_ADMISSIONS, TURN_BYTES } = await import(new URL('../dist/server/app.js', import.meta.url).href);
requireH2load();

// ---------------------------------------------------------------------------------------------------------------
// What runs

/**
 * Target name → protocols it serves and how it starts. Add one here (and in server-targets.mjs for a new kind). A
 * webhook variant takes extra environment, e.g. a feature switched off:
 *   'webhook-no-x': { protocols: ['h2', 'http/1.1'], webhook: path.join(root, 'dist'), env: { X: 'off' }, logs: true, profiled: true },
 */
const TARGETS = {
  'bare-https': { protocols: ['http/1.1'], script: 'bare-https' },
  'bare-h2': { protocols: ['h2'], script: 'bare-h2' },
  'bare-fastify': { protocols: ['h2', 'http/1.1'], script: 'bare-fastify' },
  floor: { protocols: ['h2', 'http/1.1'], script: 'floor', logs: true, profiled: true },
  // The floor answering each request in its handler (before ADR 0016): what answering per turn saves without admit().
  'floor-per-request': { protocols: ['h2', 'http/1.1'], script: 'floor-per-request', logs: true, profiled: true, opt: true },
  // Diagnostics, between floor and webhook: the floor that also runs admit() (its answer and line still the floor's),
  // and the floor answering with admit()'s answer (still with the floor's line; bench/server-targets.mjs says what the
  // differences measure).
  'floor-admit': { protocols: ['h2', 'http/1.1'], script: 'floor-admit', logs: true, profiled: true, opt: true },
  'floor-admit-answer': { protocols: ['h2', 'http/1.1'], script: 'floor-admit-answer', logs: true, profiled: true, opt: true },
  webhook: { protocols: ['h2', 'http/1.1'], webhook: path.join(root, 'dist'), logs: true, profiled: true },
  // Every feature that needs no cluster on (issue 9: "measured with them on"): the production policy applies to
  // the fixtures' namespace (policy.namespaces) and warns on moving tags; discovery needs a cluster, mirror a registry.
  'webhook-policy': {
    protocols: ['h2', 'http/1.1'], webhook: path.join(root, 'dist'), logs: true, profiled: true, opt: true,
    config: (doc) => ({ ...doc, policy: { ...doc.policy, namespaces: ['mlrun'], pinTags: 'warn' } }),
  },
  // No admission log line (log.level warn): what the line costs per request, writing included.
  'webhook-nolog': {
    protocols: ['h2', 'http/1.1'], webhook: path.join(root, 'dist'), logs: true, profiled: true, opt: true,
    config: (doc) => ({ ...doc, log: { ...doc.log, level: 'warn' } }),
  },
  // Log lines written to /dev/null: what writing them to a file costs (the kernel's part included), beside 'webhook-nolog'.
  'webhook-devnull': {
    protocols: ['h2', 'http/1.1'], webhook: path.join(root, 'dist'), profiled: true, opt: true, devNull: true,
  },
  // Without the image's --enable-source-maps (what source maps cost per request and in memory).
  'webhook-nosm': {
    protocols: ['h2', 'http/1.1'], webhook: path.join(root, 'dist'), logs: true, profiled: true, opt: true,
    env: { NODE_OPTIONS: '' },
  },
  // Young-generation tuning (a deployment setting: NODE_OPTIONS in the chart), to compare with 'webhook'.
  'webhook-semi16': {
    protocols: ['h2', 'http/1.1'], webhook: path.join(root, 'dist'), logs: true, profiled: true, opt: true,
    env: { NODE_OPTIONS: '--enable-source-maps --max-semi-space-size=16' },
  },
};
const CEILING = { h2: 'bare-h2', 'http/1.1': 'bare-https' };
function targetSpec(name) {
  if (TARGETS[name]) return TARGETS[name];
  // webhook@DIR, webhook-policy@DIR …: that webhook target on another build.
  const at = name.indexOf('@');
  if (at > 0 && TARGETS[name.slice(0, at)]?.webhook) return { ...TARGETS[name.slice(0, at)], webhook: path.resolve(root, name.slice(at + 1)) };
  throw new Error(`unknown target ${name} (known: ${Object.keys(TARGETS).join(', ')}, webhook@DIR, webhook-policy@DIR)`);
}

// Targets marked opt run only when named in --targets.
const names = option('targets', Object.keys(TARGETS).filter((n) => !TARGETS[n].opt).join(',')).split(',').filter(Boolean);
const specs = new Map(names.map((n) => [n, targetSpec(n)]));
const protocols = option('protocols', 'h2,h1')
  .split(',')
  .map((p) => (p === 'h1' || p === 'http1' || p === 'http/1.1' ? 'http/1.1' : p))
  .filter((p) => p === 'h2' || p === 'http/1.1');
const fixturesDir = path.join(root, 'test/fixtures/admission');
const bodies = option('bodies', quick ? 'typical' : 'small,typical,large')
  .split(',')
  .filter(Boolean)
  .map((name) => {
    const file = path.join(fixturesDir, `admission-${name}.json`);
    if (!existsSync(file)) throw new Error(`no body ${file}`);
    return { name, file, bytes: statSync(file).size };
  });

const work = workDir('miw-bench-');
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
// The servers started, stopped with this process however it ends (an error, a closed stdout under `| head`):
// otherwise they outlive it and idle beside the next run.
const children = new Set();
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
const keep = cpuProf || heapSnapshot ? workDir('miw-bench-profile-') : undefined;
const certs = await makeCertificates(work);
const chart = await chartDefaultConfig();
// Taken before the rounds: what they measure, even if dist/ is rebuilt while they run.
const build = buildId();
const configFile = path.join(work, 'config', 'config.yaml');
mkdirSync(path.dirname(configFile));
writeFileSync(configFile, chart.text);

const log = (...a) => console.log(...a);
log(`\nHTTPS server benchmark — Node ${process.version}, ${reps} round(s) × ${duration} s measured (+${warmup} s warm-up per cell), ` +
  `${inflight} requests in flight (h2: 4 connections × ${Math.max(1, Math.round(inflight / 4))} streams; HTTP/1.1: ${inflight} connections)`);
log(`server on CPU 0, h2load on CPU 1${pinning ? '' : ' (NOT pinned: taskset or a 2nd CPU missing)'}; ` +
  `bodies: ${bodies.map((b) => `${b.name} ${(b.bytes / 1024).toFixed(1)} KiB`).join(', ')}`);
log(`webhook: node dist/cli/main.js serve, config = ${chart.source}, MLRUN_IMAGES_REGISTRY=${REGISTRY}, ` +
  `NODE_ENV=production, info logs ${logSink === 'pipe' ? 'to a pipe drained on CPU 1 (as a container runtime drains a Pod\'s stdout)' : 'written to a file by the server'}, metrics on${cpuProf ? ', --cpu-prof' : ''}${traceGc ? ', --trace-gc' : ''}`);
const heapSource = option('heap', '') ? '--heap' : "the chart's nodeOptions";
log(`every target's heap: ${heapFlags.length > 0 ? `${heapFlags.join(' ')} (${heapSource})` : 'as V8 sizes it on this machine (--heap none)'}`);
log(`every target's node flags from the image (Dockerfile ENTRYPOINT): ${imageFlags.join(' ') || 'none'}`);

// ---------------------------------------------------------------------------------------------------------------
// Start / stop

async function start(name, spec) {
  const logFile = path.join(work, `${name.replace(/[^\w.-]/g, '_')}.log`);
  const logFd = openSync(spec.devNull ? '/dev/null' : logFile, 'a');
  const piped = logSink === 'pipe' && !spec.devNull;
  const nodeFlags = [];
  let profDir;
  if (spec.profiled && (cpuProf || heapSnapshot)) {
    profDir = path.join(keep, name.replace(/[^\w.-]/g, '_'));
    mkdirSync(profDir, { recursive: true });
    if (cpuProf) nodeFlags.push('--cpu-prof', `--cpu-prof-dir=${profDir}`);
    if (heapSnapshot) nodeFlags.push('--heapsnapshot-signal=SIGUSR2');
  }
  if (spec.profiled && traceGc) nodeFlags.push('--trace-gc');
  nodeFlags.push(...heapFlags, ...(spec.heapFlags ?? []));
  // The image's node flags (--single-threaded-gc) for every target, like the heap: the same GC for all.
  if (!spec.webhook) nodeFlags.push(...imageFlags);
  let t;
  if (spec.webhook) {
    const extra = option('webhook-node-options', '');
    let targetConfig = configFile;
    if (spec.config) {
      targetConfig = path.join(work, 'config', `${name.replace(/[^\w.-]/g, '_')}.yaml`);
      writeFileSync(targetConfig, stringifyYaml(spec.config(parseYaml(chart.text))));
    }
    t = await startWebhook({
      dist: spec.webhook,
      configFile: targetConfig,
      certs,
      env: { MLRUN_IMAGES_REGISTRY: REGISTRY, ...spec.env, ...(extra ? { NODE_OPTIONS: `${chartNodeOptions()} ${extra}` } : {}) },
      nodeFlags,
      logFd: piped ? 'pipe' : logFd,
      cwd: profDir ?? work,
    });
  } else {
    const port = await freePort();
    const [bin, argv] = pinned(0, [process.execPath, ...nodeFlags, path.join(benchDir, 'server-targets.mjs'), spec.script]);
    const child = spawn(bin, argv, {
      cwd: profDir ?? work,
      env: { ...process.env, NODE_ENV: 'production', BENCH_CERT: certs.certFile, BENCH_KEY: certs.keyFile, BENCH_PORT: String(port), ...(piped ? {} : { BENCH_LOG: logFile }),
        BENCH_STREAM_WINDOW: String(DEFAULT_LIMITS.streamWindowBytes), BENCH_SESSION_WINDOW: String(DEFAULT_LIMITS.sessionWindowBytes),
        BENCH_TURN_BYTES: String(TURN_BYTES), BENCH_TURN_ADMISSIONS: String(TURN_ADMISSIONS),
        // The floor-admit targets decide with the webhook's config (the chart's, as the webhook target gets it).
        BENCH_CONFIG: configFile, MLRUN_IMAGES_REGISTRY: REGISTRY },
      stdio: ['ignore', piped ? 'pipe' : logFd, 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
    await waitForTls(port, child, name).catch((e) => {
      throw new Error(`${e.message}: ${stderr}`);
    });
    t = { child, pid: child.pid, url: `https://127.0.0.1:${port}`, stderr: () => stderr, exited, stop: (ms) => stopChild(child, exited, ms) };
  }
  closeSync(logFd);
  children.add(t.child);
  if (piped) t.child.stdout.pipe(createWriteStream(logFile, { flags: 'a' }));
  return { ...t, name, spec, logFile, profDir, served: 0, rates: new Map() };
}

// ---------------------------------------------------------------------------------------------------------------
// One measurement

const GC_LINE = /(Scavenge|Mark-Compact|Mark-sweep|Minor Mark-Compact|Mark-Compact \(reduce\))[^,]*,\s*([\d.]+)\s*\/\s*([\d.]+)\s*ms/;
function drainLog(t) {
  if (!t.spec.logs && !traceGc) return { bytes: 0, gcMs: 0, gcs: 0, lines: 0 };
  let bytes = 0;
  let gcMs = 0;
  let gcs = 0;
  let lines = 0;
  try {
    const text = readFileSync(t.logFile, 'utf8');
    for (const line of text.split('\n')) {
      if (line.startsWith('{')) {
        bytes += line.length + 1;
        lines++;
      } else {
        const m = GC_LINE.exec(line);
        if (m) {
          gcs++;
          gcMs += Number(m[2]);
        }
      }
    }
    truncateSync(t.logFile, 0);
  } catch {
    /* no log */
  }
  return { bytes, gcMs, gcs, lines };
}

/**
 * CPU and page faults per request over the run's steady part: from the first CPU sample SETTLE_MS after the run began
 * (its connections are open: each h2load run opens new ones, 32 over HTTP/1.1, and their TLS handshakes, ~1 ms each,
 * and the webhook's pacing of new connections (handshakes.ts) would count against the requests of a 3 s run, where
 * kube-apiserver keeps its connections for hours) to the last sample before the last answer, over the requests
 * answered in between (h2load's --log-file times). Falls back to the whole run when that window is too short.
 */
const SETTLE_MS = Math.min(600, duration * 300);
function steadyWindow(samples, endsUs, done) {
  const first = samples[0];
  const last = samples[samples.length - 1];
  let from;
  let to;
  let n = 0;
  if (endsUs.length > 0) {
    from = samples.find((x) => x.us >= first.us + SETTLE_MS * 1000);
    to = samples.findLast((x) => x.us <= endsUs[endsUs.length - 1]);
    if (from && to && to.us > from.us) for (const e of endsUs) if (e > from.us && e <= to.us) n++;
  }
  // Too short a window (or no answer times): the whole run, over every request h2load finished.
  const [a, b, count] = n >= inflight * 10 ? [from, to, n] : [first, last, done];
  return { cpuUs: ((b.ticks - a.ticks) * 1e6) / CLK_TCK / count, faultsPerReq: (b.faults - a.faults) / count };
}

async function measure(t, body, protocol) {
  const shape = protocol === 'h2' ? { connections: 4, streams: Math.max(1, Math.round(inflight / 4)) } : { connections: inflight, streams: 1 };
  const common = { url: `${t.url}/mutate`, bodyFile: body.file, protocol, ...shape };
  // Runs are sized by request count (-n), not time (-D): h2load 1.52 sometimes never returns from a -D run over
  // HTTP/1.1 (it waits on a connection after "Stopped all clients"). The warm-up's rate sizes the measured run so
  // that it lasts about `duration` seconds.
  const key = `${body.name} ${protocol}`;
  let rate = t.rates.get(key) ?? 300;
  const killAfterMs = Math.max(60_000, duration * 10_000);
  if (warmup > 0) {
    const w = await h2load({ ...common, requests: Math.max(inflight * 4, Math.round(rate * warmup)), killAfterMs });
    t.served += Number.isFinite(w.done) ? w.done : 0;
    if (w.rps > 0) rate = w.rps;
  }
  await sleep(50);
  drainLog(t);
  const logFile = path.join(work, 'h2load.log');
  const sampler = rssSampler(t.pid);
  const cpu = cpuSampler(t.pid);
  const r = await h2load({ ...common, requests: Math.max(inflight * 10, Math.round(rate * duration)), logFile, killAfterMs });
  if (r.rps > 0) t.rates.set(key, r.rps);
  const samples = cpu.stop();
  const rssPeak = sampler.stop();
  const steady = steadyWindow(samples, r.endsUs, r.done);
  await sleep(50);
  const logged = drainLog(t);
  t.served += Number.isFinite(r.done) ? r.done : 0;
  const problems = !r.ok ? `no h2load summary (h2load exit ${r.exit} after ${r.ms} ms)` : r.failed > 0 || r.non2xx > 0 ? `${r.failed} failed/errored/timeout, ${r.non2xx} non-2xx` : '';
  if (problems) log(`  ! ${t.name} ${body.name} ${protocol}: ${problems}${r.ok ? '' : `\n${r.out.slice(0, 1500)}`}`);
  return {
    rps: r.rps,
    cpuUs: steady.cpuUs,
    cpuRunUs: ((samples.at(-1).ticks - samples[0].ticks) * 1e6) / CLK_TCK / r.done,
    faultsPerReq: steady.faultsPerReq,
    p50ms: percentile(r.latUs, 50) / 1000,
    p99ms: percentile(r.latUs, 99) / 1000,
    rssPeak,
    hwm: memory(t.pid).hwmMiB,
    logBytesPerReq: logged.lines > 0 ? logged.bytes / r.done : NaN,
    gcUsPerReq: traceGc && t.spec.profiled ? (logged.gcMs * 1000) / r.done : NaN,
    gcsPer1k: traceGc && t.spec.profiled ? (logged.gcs * 1000) / r.done : NaN,
    failed: problems ? 1 : 0,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Run

const targets = [];
const runs = [];
let failures = 0;
try {
  for (const [name, spec] of specs) targets.push(await start(name, spec));
  for (let round = 0; round < reps; round++) {
    for (const protocol of protocols) {
      for (const body of bodies) {
        // The targets' order reverses every other round: a drift of the machine within a cell (the floor runs
        // seconds before the webhook) falls on each target as often first as last.
        for (const t of round % 2 === 0 ? targets : [...targets].reverse()) {
          if (!t.spec.protocols.includes(protocol)) continue;
          const r = await measure(t, body, protocol);
          failures += r.failed;
          runs.push({ target: t.name, body: body.name, protocol, round, ...r });
        }
      }
    }
    if (reps > 1) log(`  round ${round + 1}/${reps} done`);
  }
  if (heapSnapshot) {
    for (const t of targets.filter((x) => x.profDir && x.spec.profiled)) {
      const file = await takeHeapSnapshot(t);
      log(file ? `heap snapshot of ${t.name}: ${file} (open in Chrome DevTools → Memory)` : `(no heap snapshot from ${t.name})`);
    }
  }
} finally {
  for (const t of targets) {
    // A target that dropped log lines (its stdout not drained as fast as it logged) did less work than it was asked.
    const webhookDropped = t.spec.webhook ? await droppedLines(t) : 0;
    const exit = await t.stop(30_000);
    if (exit.code !== 0 && exit.signal !== 'SIGTERM') log(`(${t.name} exited with ${exit.code ?? exit.signal}: ${t.stderr().slice(-500)})`);
    const dropped = webhookDropped || Number(/dropped log lines: (\d+)/.exec(t.stderr?.() ?? '')?.[1] ?? 0);
    if (dropped > 0) log(`  ! ${t.name} dropped ${dropped} log lines (stdout not read as fast as it logged): its figures are for less logging than it served`);
  }
}

/** The webhook's mlrun_image_webhook_log_lines_dropped_total, 0 when it cannot be read. */
async function droppedLines(t) {
  try {
    const text = await (await fetch(`${t.healthUrl}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    return Number(/^mlrun_image_webhook_log_lines_dropped_total (\d+)/m.exec(text)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

const results = [];
for (const protocol of protocols) {
  for (const body of bodies) {
    for (const t of targets) {
      const mine = runs.filter((r) => r.target === t.name && r.body === body.name && r.protocol === protocol);
      if (mine.length === 0) continue;
      const m = (k) => median(mine.map((r) => r[k]));
      results.push({
        target: t.name, body: body.name, protocol,
        rps: m('rps'), cpuUs: m('cpuUs'), cpuRunUs: m('cpuRunUs'), p50ms: m('p50ms'), p99ms: m('p99ms'),
        cpuSpread: mine.length > 1 ? `${fmt(Math.min(...mine.map((r) => r.cpuUs).filter(Number.isFinite)))}–${fmt(Math.max(...mine.map((r) => r.cpuUs).filter(Number.isFinite)))}` : '',
        cpuMin: Math.min(...mine.map((r) => r.cpuUs).filter(Number.isFinite)),
        rssPeak: Math.max(...mine.map((r) => r.rssPeak)),
        hwm: Math.max(...mine.map((r) => r.hwm)),
        logBytesPerReq: m('logBytesPerReq'),
        faultsPerReq: m('faultsPerReq'),
        gcUsPerReq: m('gcUsPerReq'),
        gcsPer1k: m('gcsPer1k'),
      });
    }
  }
}

const w = Math.max(14, ...results.map((r) => r.target.length + 2));
log('');
log(`${'protocol'.padEnd(9)}${'body'.padEnd(9)}${'target'.padEnd(w)}${'req/s'.padStart(8)}${'CPU µs/req'.padStart(11)}${'(min–max)'.padStart(11)}${'whole run'.padStart(10)}` +
  `${'p50 ms'.padStart(8)}${'p99 ms'.padStart(8)}${'peak RSS'.padStart(9)}${'VmHWM'.padStart(7)}${'log B/req'.padStart(10)}${'faults/req'.padStart(11)}${traceGc ? `${'GC µs/req'.padStart(10)}${'GCs/1k'.padStart(7)}` : ''}`);
for (const r of results) {
  log(`${r.protocol.padEnd(9)}${r.body.padEnd(9)}${r.target.padEnd(w)}${fmt(r.rps).padStart(8)}${fmt(r.cpuUs).padStart(11)}${r.cpuSpread.padStart(11)}${fmt(r.cpuRunUs).padStart(10)}` +
    `${fmt(r.p50ms, 2).padStart(8)}${fmt(r.p99ms, 2).padStart(8)}${fmt(r.rssPeak).padStart(9)}${fmt(r.hwm).padStart(7)}${fmt(r.logBytesPerReq).padStart(10)}${fmt(r.faultsPerReq, 2).padStart(11)}` +
    `${traceGc ? `${fmt(r.gcUsPerReq, 1).padStart(10)}${fmt(r.gcsPer1k, 1).padStart(7)}` : ''}`);
}
log('(CPU µs/req: the steady part of each run, its connections open; whole run: with their set-up, TLS handshakes');
log(' and the webhook\'s pacing of new connections included, which kube-apiserver pays once per connection, not per request;');
log(' peak RSS: highest VmRSS sampled during that cell\'s measured windows; VmHWM: the process\'s peak so far, MiB;');
log(' faults/req: minor page faults per request, fresh memory touched: each costs microseconds on a VM)');

const get = (target, body, protocol) => results.find((r) => r.target === target && r.body === body && r.protocol === protocol);
const range = (xs, f) => (xs.length > 1 ? ` (rounds ${f(xs[0])}…${f(xs.at(-1))})` : '');
const webhooks = targets.filter((t) => t.spec.webhook).map((t) => t.name);
if (webhooks.length > 0) {
  log('\nratios (CPU is the steadier figure on a shared machine):');
  for (const wh of webhooks) {
    for (const protocol of protocols) {
      for (const body of bodies) {
        const me = get(wh, body.name, protocol);
        if (!me) continue;
        const parts = [];
        const floor = get('floor', body.name, protocol);
        if (floor) {
          // With several rounds, also from each target's cheapest round: interference from other load only adds CPU.
          const low = reps > 1 ? `, lowest rounds ${signed(me.cpuMin - floor.cpuMin)}` : '';
          const p = paired(runs, wh, 'floor', body.name, protocol);
          const pair = reps > 1 && p.diffs.length > 1 ? `, paired by round ${signed(median(p.diffs))}${range(p.diffs, signed)}` : '';
          parts.push(`vs floor ${signed(me.cpuUs - floor.cpuUs)} µs/req${low}${pair} (${fmt(me.cpuUs / floor.cpuUs, 2)}× CPU, ${fmt(me.rps / floor.rps, 2)}× req/s)`);
        }
        const ceiling = get(CEILING[protocol], body.name, protocol);
        if (ceiling) parts.push(`vs ${CEILING[protocol]} ${fmt(me.rps / ceiling.rps, 2)}× req/s, ${fmt(ceiling.cpuUs / me.cpuUs, 2)}× CPU`);
        const fastify = get('bare-fastify', body.name, protocol);
        if (fastify) parts.push(`peak RSS ${signed(me.rssPeak - fastify.rssPeak)} MiB vs bare-fastify`);
        log(`  ${wh} ${protocol.padEnd(9)}${body.name.padEnd(8)} ${parts.join('; ')}`);
      }
    }
  }
  // Issue 9's goals, shown (not enforced: a shared machine cannot fail a build on speed), judged by bench/goals.mjs:
  // with 3 rounds or more on the median of the round-by-round differences (paired), which other tenants' load moves
  // least, and its distribution-free 95 % interval, which says whether this many rounds settle the goal here.
  const goals = goalLines(runs);
  if (goals.length > 0) log(`\nissue 9 goals${reps < 3 ? ` (${reps} round${reps > 1 ? 's' : ''}: indicative only, use --reps 9 or more, 15 for a close call)` : ''}:\n  ${goals.join('\n  ')}`);
}

const jsonOut = option('json', '');
if (jsonOut) {
  const doc = { node: process.version, commit: commitId(), build, reps, duration, warmup, inflight, chart: chart.source, runs, results };
  writeFileSync(jsonOut, JSON.stringify(doc, null, 2));
}

/** The commit the bench ran from, `+` when tracked files have changes (for the reader; goals.mjs compares builds). */
function commitId() {
  const git = (...a) => spawnSync('git', a, { cwd: root, encoding: 'utf8' }).stdout?.trim() ?? '';
  const head = git('rev-parse', '--short=12', 'HEAD');
  return head ? `${head}${git('status', '--porcelain', '--untracked-files=no') ? '+' : ''}` : undefined;
}

/**
 * What the rounds measured, for bench/goals.mjs to judge only rounds of one build and set-up together: a hash of
 * the built server (every file under dist/), the floor's code (server-targets.mjs, half of every difference), the
 * config the webhook was given, the lock file, and every setting that moves CPU per request (node and heap flags,
 * the log sink, profiling, in flight, duration, warm-up). Commits that change only docs or other bench scripts keep
 * it. A config built without helm is another text, so another hash: refused rather than pooled.
 */
function buildId() {
  const h = createHash('sha256');
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      // A link is hashed as what it points to (what node loads).
      else if (e.isFile() || (e.isSymbolicLink() && statSync(p).isFile())) h.update(`${path.relative(root, p)}\0`).update(readFileSync(p)).update('\0');
    }
  };
  walk(path.join(root, 'dist'));
  h.update(readFileSync(path.join(benchDir, 'server-targets.mjs'))).update('\0');
  h.update(chart.text).update('\0');
  const lock = path.join(root, 'package-lock.json');
  if (existsSync(lock)) h.update(readFileSync(lock)).update('\0');
  const settings = { chartNodeOptions: chartNodeOptions(), heapFlags, imageFlags, webhookNodeOptions: option('webhook-node-options', ''),
    logSink, cpuProf, traceGc, inflight, duration, warmup };
  h.update(JSON.stringify(settings));
  return h.digest('hex').slice(0, 12);
}

if (cpuProf) {
  const { summariseProfile, printStages } = await import('./profile.mjs');
  const summaries = [];
  for (const t of targets.filter((x) => x.profDir)) {
    const files = readdirSync(t.profDir).filter((f) => f.endsWith('.cpuprofile'));
    if (files.length === 0) log(`\n(no CPU profile from ${t.name}: did it exit cleanly?)`);
    else log(`\n${t.name}: ${t.served} requests served while profiled (warm-ups included)`);
    for (const f of files) summaries.push({ name: t.name, file: path.join(t.profDir, f), ...summariseProfile(path.join(t.profDir, f), t.served, root) });
  }
  printStages(summaries, log);
  log(`\nprofiles kept in ${keep} (open a .cpuprofile in Chrome DevTools → Performance, or: node bench/profile.mjs FILE REQUESTS)`);
}

rmSync(work, { recursive: true, force: true });
if (failures > 0) log(`\n${failures} cell(s) had failed or non-2xx requests`);
process.exitCode = failures > 0 ? 1 : 0;

async function takeHeapSnapshot(t) {
  const before = new Set(readdirSync(t.profDir));
  t.child.kill('SIGUSR2');
  const deadline = Date.now() + 120_000;
  let last = -1;
  while (Date.now() < deadline) {
    await sleep(500);
    const f = readdirSync(t.profDir).find((x) => x.endsWith('.heapsnapshot') && !before.has(x));
    if (!f) continue;
    const size = statSync(path.join(t.profDir, f)).size;
    if (size > 0 && size === last) return path.join(t.profDir, f);
    last = size;
  }
  return undefined;
}
