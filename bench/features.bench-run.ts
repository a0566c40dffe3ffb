/**
 * Feature bench (issues 11 and 12, docs/performance-features.md): the admission hot path of the built server
 * (`node dist/cli/main.js serve`, as bench/server.mjs runs it) with discovery on and with mirror checks on, against
 * the same build with them off. vitest is only the TypeScript runner (for test/helpers: a real kube-apiserver + etcd
 * and Debian's docker-registry); nothing here is asserted on speed.
 *
 *   static         chart defaults + the discovered install's settings written in the config (mlrun.imagesRegistry
 *                  registry.datanode.local:5000/ …): the same work as `discovery`, with no cluster
 *   static-again   the same config in a second process: the A/A control, i.e. what "noise" looks like
 *   discovery      chart defaults + discovery.enabled, synced (readiness = first sync) on the fixture install
 *                  ce-default + ce-datanode-registry in namespace mlrun (a Ready chief Pod), the namespace of the body
 *   mirror         `static` with mlrun.imagesRegistry = a real docker-registry (insecure), mirror.enabled, the
 *                  rewritten image pushed, the cache warmed by admissions until one needs no registry request
 *
 * Every target's answer to the typical body is checked first (the rewritten image must be the expected one, so the
 * discovered runtime is really used). Rounds are interleaved, the target order rotates each round, and per round
 * the difference to `static` is paired (same minute of the shared machine). Registry requests
 * (mlrun_image_webhook_registry_requests_total) are counted around each measured window.
 *
 *   npm run build && npx vitest run --config vitest.features.config.ts
 *   BENCH_REPS=7 BENCH_DURATION=4 BENCH_PROTOCOLS=h2 BENCH_TARGETS=static,discovery BENCH_JSON=out.json npx vitest …
 */
import { closeSync, openSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { test } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { envtestSkipReason, startControlPlane, until, type ControlPlane } from '../test/helpers/envtest.js';
import { pushImage, REGISTRY_SKIP_REASON, registryBinary, startRegistry, type RunningRegistry } from '../test/helpers/registry-server.js';
import { chief, Cluster, fixture } from '../test/cluster/objects.js';

// bench/lib.mjs has no type declarations: imported by URL, used as untyped.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const lib: any = await import(new URL('./lib.mjs', import.meta.url).href);

const { option } = lib.cli([]);
const reps = Number(option('reps', '5'));
const duration = Number(option('duration', '3'));
const warmup = Number(option('warmup', '1'));
const inflight = Number(option('inflight', '32'));
const protocols: string[] = String(option('protocols', 'h2,h1'))
  .split(',')
  .map((p) => (p === 'h1' || p === 'http1' || p === 'http/1.1' ? 'http/1.1' : p))
  .filter((p) => p === 'h2' || p === 'http/1.1');
const targetNames: string[] = String(option('targets', 'static,static-again,discovery,mirror')).split(',').filter(Boolean);
const jsonOut: string = option('json', '');
const BODY = path.join(lib.root, 'test/fixtures/admission/admission-typical.json');

// What the fixture install ce-datanode-registry.yaml sets (its README's table), and what the typical Pod becomes.
const DATANODE = 'registry.datanode.local:5000/';
const PATTERNS = '^mlrun/*,^python:3.(9|11)$,^quay.io/mlrun/';
const installMlrun = (registry: string) => ({
  version: '1.9.2',
  imagesTag: '',
  imagesRegistry: registry,
  vendorImagesRegistry: `${registry}vendor/`,
  imagesToEnrichRegistry: PATTERNS,
});
const REWRITTEN_REPO = 'mlrun/mlrun';
const REWRITTEN_TAG = '1.7.0'; // the client version in the typical Pod's MLRUN_EXEC_CONFIG
const PREFIX = 'mlrun_image_webhook_';

interface Target {
  name: string;
  pid: number;
  url: string;
  healthUrl: string;
  logFile: string;
  expectImage: string;
  rates: Map<string, number>;
  stop: (ms: number) => Promise<unknown>;
  stderr: () => string;
}

interface Run {
  target: string;
  protocol: string;
  round: number;
  rps: number;
  cpuUs: number;
  p50ms: number;
  p99ms: number;
  done: number;
  registryRequests: number;
  lookupLines: number;
  failed: string;
}

const log = (...a: unknown[]) => console.log(...a);
/** h2load's per-request log, in the run's work directory (removed at the end). */
let h2loadLog = '';
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const signed = (n: number, d = 0) => (Number.isFinite(n) ? `${n >= 0 ? '+' : '−'}${Math.abs(n).toFixed(d)}` : '-');

/** Sum of the samples of one counter in a /metrics text (all label sets). */
function counterSum(text: string, name: string): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) total += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
  }
  return total;
}

async function metrics(t: Target): Promise<string> {
  const r = await lib.httpGet(`${t.healthUrl}/metrics`);
  if (r.status !== 200) throw new Error(`${t.name}: /metrics answered ${r.status}`);
  return r.body as string;
}
const registryRequests = async (t: Target) => counterSum(await metrics(t), `${PREFIX}registry_requests_total`);

/** One admission of the typical body over HTTP/1.1: the image the answer's patch gives the first container. */
function admitOnce(t: Target): Promise<{ image: string | undefined; warnings: string[]; status: number }> {
  const body = readFileSync(BODY);
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${t.url}/mutate`,
      { method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json', 'content-length': body.length }, timeout: 10_000 },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          try {
            const review = JSON.parse(text) as { response?: { patch?: string; warnings?: string[] } };
            const patch = review.response?.patch ? (JSON.parse(Buffer.from(review.response.patch, 'base64').toString('utf8')) as Array<{ path: string; value?: unknown }>) : [];
            const op = patch.find((p) => p.path === '/spec/containers/0/image');
            resolve({ image: typeof op?.value === 'string' ? op.value : undefined, warnings: review.response?.warnings ?? [], status: res.statusCode ?? 0 });
          } catch (e) {
            reject(new Error(`${t.name}: unreadable answer (${res.statusCode}): ${text.slice(0, 300)} (${String(e)})`));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

/** Log lines since the last call (then the file is emptied): count, and lines with a registry look-up. */
function drainLog(t: Target): { lines: number; lookups: number } {
  let lines = 0;
  let lookups = 0;
  try {
    for (const line of readFileSync(t.logFile, 'utf8').split('\n')) {
      if (!line.startsWith('{')) continue;
      lines++;
      if (line.includes('"registryLookup"')) lookups++;
    }
    truncateSync(t.logFile, 0);
  } catch {
    /* no log yet */
  }
  return { lines, lookups };
}

/** A warm-up run (sizes the measured one from its rate), then the measured run with /proc CPU and registry counts. */
async function measure(t: Target, protocol: string, round: number): Promise<Run> {
  const shape = protocol === 'h2' ? { connections: 4, streams: Math.max(1, Math.round(inflight / 4)) } : { connections: inflight, streams: 1 };
  const common = { url: `${t.url}/mutate`, bodyFile: BODY, protocol, ...shape };
  let rate = t.rates.get(protocol) ?? 300;
  const killAfterMs = Math.max(60_000, duration * 10_000);
  if (warmup > 0) {
    const w = await lib.h2load({ ...common, requests: Math.max(inflight * 4, Math.round(rate * warmup)), killAfterMs });
    if (w.rps > 0) rate = w.rps;
  }
  await lib.sleep(50);
  drainLog(t);
  const regBefore = await registryRequests(t);
  const logFile = h2loadLog;
  const before = lib.cpuTicks(t.pid);
  const r = await lib.h2load({ ...common, requests: Math.max(inflight * 10, Math.round(rate * duration)), logFile, killAfterMs });
  const after = lib.cpuTicks(t.pid);
  const regAfter = await registryRequests(t);
  await lib.sleep(50);
  const logged = drainLog(t);
  if (r.rps > 0) t.rates.set(protocol, r.rps);
  const failed = !r.ok ? `no h2load summary (exit ${r.exit})` : r.failed > 0 || r.non2xx > 0 ? `${r.failed} failed, ${r.non2xx} non-2xx` : '';
  if (failed) log(`  ! ${t.name} ${protocol} round ${round + 1}: ${failed}`);
  return {
    target: t.name,
    protocol,
    round,
    rps: r.rps,
    cpuUs: ((after - before) * 1e6) / lib.CLK_TCK / r.done,
    p50ms: lib.percentile(r.latUs, 50) / 1000,
    p99ms: lib.percentile(r.latUs, 99) / 1000,
    done: r.done,
    registryRequests: regAfter - regBefore,
    lookupLines: logged.lookups,
    failed,
  };
}

const skip = envtestSkipReason() ?? (registryBinary() ? undefined : REGISTRY_SKIP_REASON);
if (skip) console.log(`bench/features.bench-run.ts skipped: ${skip}`);

test.skipIf(skip !== undefined)('feature bench: discovery and mirror checks on the admission hot path', async () => {
  lib.requireDist();
  lib.requireH2load();
  const work: string = lib.workDir('miw-features-');
  h2loadLog = path.join(work, 'h2load.log');
  const certs = await lib.makeCertificates(work);
  const chart = await lib.chartDefaultConfig();
  const base = parseYaml(chart.text) as Record<string, Record<string, unknown>>;
  const targets: Target[] = [];
  let cp: ControlPlane | undefined;
  let reg: RunningRegistry | undefined;
  const runs: Run[] = [];
  const setup: string[] = [];
  let idleCpu: Array<{ target: string; msPerSecond: number }> = [];
  try {
    // ---- environment: the MLRun install in a real API server, a real registry holding the rewritten image
    const needCluster = targetNames.includes('discovery');
    const needRegistry = targetNames.includes('mirror');
    if (needCluster) {
      cp = await startControlPlane();
      const cluster = new Cluster(cp.admin());
      const dn = fixture('ce-datanode-registry.yaml');
      await cluster.apply(fixture('ce-default.yaml'));
      await cluster.apply(dn);
      // As the ReplicaSet and the kubelet would: the chief Pod of the Deployment, Ready (discovery follows it).
      await cluster.createPod(chief(dn), 'mlrun-api-chief-bench');
      await cluster.markReady('mlrun', 'mlrun-api-chief-bench', new Date());
      setup.push(`kube-apiserver ${cp.server}: fixture install ce-default + ce-datanode-registry in namespace mlrun, chief Pod Ready`);
    }
    if (needRegistry) {
      reg = await startRegistry();
      await pushImage(reg, REWRITTEN_REPO, REWRITTEN_TAG);
      setup.push(`docker-registry ${reg.baseUrl} (plain HTTP): ${REWRITTEN_REPO}:${REWRITTEN_TAG} pushed`);
    }

    const configs: Record<string, { doc: Record<string, unknown>; env: Record<string, string | undefined>; expectImage: string }> = {
      static: { doc: { ...base, mlrun: { ...base['mlrun'], ...installMlrun(DATANODE) } }, env: {}, expectImage: `${DATANODE}${REWRITTEN_REPO}:${REWRITTEN_TAG}` },
      discovery: {
        // Chart defaults (no registry): only discovery can make the answer carry the data-node registry.
        doc: { ...base, discovery: { ...base['discovery'], enabled: true, namespaces: ['mlrun'], defaultNamespace: 'mlrun', syncTimeoutSeconds: 120 } },
        env: { KUBECONFIG: cp?.kubeconfigPath },
        expectImage: `${DATANODE}${REWRITTEN_REPO}:${REWRITTEN_TAG}`,
      },
    };
    configs['static-again'] = configs['static']!;
    if (reg) {
      configs['mirror'] = {
        doc: {
          ...base,
          mlrun: { ...base['mlrun'], ...installMlrun(`${reg.host}/`) },
          // Long interval and present-TTL: no background round and no expiry inside the bench (the hot path alone).
          mirror: { ...base['mirror'], enabled: true, insecureRegistries: [reg.host], intervalSeconds: 86400, presentTtlSeconds: 86400 },
        },
        env: {},
        expectImage: `${reg.host}/${REWRITTEN_REPO}:${REWRITTEN_TAG}`,
      };
    }

    // ---- servers: the same build, the same start as bench/server.mjs's webhook target
    for (const name of targetNames) {
      const c = configs[name];
      if (!c) throw new Error(`unknown target ${name} (known: ${Object.keys(configs).join(', ')})`);
      const configFile = path.join(work, `${name}.yaml`);
      writeFileSync(configFile, stringifyYaml(c.doc));
      const logFile = path.join(work, `${name}.log`);
      const logFd = openSync(logFile, 'a');
      // No MLRUN_* from the caller's environment: each target's settings are its config file (or the cluster).
      const clean = Object.fromEntries(Object.keys(process.env).filter((k) => k.startsWith('MLRUN_')).map((k) => [k, undefined]));
      const w = await lib.startWebhook({ configFile, certs, env: { ...clean, ...c.env }, logFd, cwd: work });
      closeSync(logFd);
      const t: Target = { name, pid: w.pid, url: w.url, healthUrl: w.healthUrl, logFile, expectImage: c.expectImage, rates: new Map(), stop: w.stop, stderr: w.stderr };
      targets.push(t);
      await until(`${name} ready`, async () => (await lib.httpGet(`${t.healthUrl}/readyz`)).status === 200, 150_000);
    }

    // ---- checks before measuring
    for (const t of targets) {
      if (t.name === 'discovery') {
        const m = await metrics(t);
        const info = m.split('\n').filter((l) => l.startsWith(`${PREFIX}mlrun_install_info{`));
        const text = readFileSync(t.logFile, 'utf8');
        if (!text.includes('discovery synced: ready')) throw new Error(`discovery did not report its first sync:\n${text.slice(-2000)}`);
        setup.push(`discovery: "discovery synced: ready" logged; ${info.join('; ') || '(no install_info)'}`);
      }
      if (t.name === 'mirror') {
        // The start-up background round (the MLRun 1.9.2 catalogue) ends first; then admissions until one needs no
        // registry request: the cache is warm.
        await until('the first background mirror round', () => /"mirror: (images missing|no image known)/.test(readFileSync(t.logFile, 'utf8')), 120_000);
        let warm = false;
        for (let i = 0; i < 20 && !warm; i++) {
          const before = await registryRequests(t);
          const a = await admitOnce(t);
          const delta = (await registryRequests(t)) - before;
          setup.push(`mirror warm-up admission ${i + 1}: ${delta} registry request(s), image ${a.image}, warnings ${JSON.stringify(a.warnings)}`);
          warm = delta === 0;
          if (!warm) await lib.sleep(200);
        }
        if (!warm) throw new Error('mirror cache did not get warm: every admission asked the registry');
      }
      const a = await admitOnce(t);
      if (a.status !== 200 || a.image !== t.expectImage) {
        throw new Error(`${t.name}: the typical Pod became ${a.image} (HTTP ${a.status}); expected ${t.expectImage}`);
      }
      if (a.warnings.length > 0) throw new Error(`${t.name}: unexpected warnings ${JSON.stringify(a.warnings)}`);
      setup.push(`${t.name}: typical Pod's container 0 → ${a.image}`);
      drainLog(t);
    }
    const regStart = reg ? await Promise.all(targets.map((t) => registryRequests(t))) : [];

    log(`\nFeature bench — Node ${process.version}, ${reps} round(s) × ${duration} s measured (+${warmup} s warm-up per cell), ` +
      `${inflight} in flight, typical body, load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
    log(`webhook: node dist/cli/main.js serve, chart default config (${chart.source}) + per-target sections, NODE_ENV=production, info logs to a file`);
    for (const s of setup) log(`  ${s}`);

    // ---- prime: every process gets the same unmeasured load first, so no round measures JIT warm-up
    for (const t of targets) {
      for (const protocol of protocols) {
        const shape = protocol === 'h2' ? { connections: 4, streams: Math.max(1, Math.round(inflight / 4)) } : { connections: inflight, streams: 1 };
        const p = await lib.h2load({ url: `${t.url}/mutate`, bodyFile: BODY, protocol, ...shape, requests: 2000, killAfterMs: 120_000 });
        if (p.rps > 0) t.rates.set(protocol, p.rps);
      }
      drainLog(t);
    }

    // ---- idle: what each process spends with no admissions (a synced informer's watch, the mirror's timers)
    const idleSeconds = 10;
    const idle0 = targets.map((t) => lib.cpuTicks(t.pid) as number);
    await lib.sleep(idleSeconds * 1000);
    const idle1 = targets.map((t) => lib.cpuTicks(t.pid) as number);
    idleCpu = targets.map((t, i) => ({ target: t.name, msPerSecond: ((idle1[i]! - idle0[i]!) * 1000) / lib.CLK_TCK / idleSeconds }));

    // ---- measure: interleaved rounds, order rotated every round
    for (let round = 0; round < reps; round++) {
      const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
      for (const protocol of protocols) {
        for (const t of order) runs.push(await measure(t, protocol, round));
      }
      log(`  round ${round + 1}/${reps} done (order ${order.map((t) => t.name).join(', ')}; load ${os.loadavg()[0]!.toFixed(1)})`);
    }
    if (reg) {
      const regEnd = await Promise.all(targets.map((t) => registryRequests(t)));
      log(`registry requests over the whole measurement (warm-ups included): ${targets.map((t, i) => `${t.name} ${regEnd[i]! - regStart[i]!}`).join(', ')}`);
    }
  } finally {
    for (const t of targets) await t.stop(30_000);
    await reg?.stop();
    await cp?.stop();
    rmSync(work, { recursive: true, force: true });
  }

  // ---- report
  const byCell = (target: string, protocol: string) => runs.filter((r) => r.target === target && r.protocol === protocol);
  const rows: Array<Record<string, unknown>> = [];
  log('\n| protocol | target | req/s | CPU µs/req (min–max) | p50 ms | p99 ms | CPU Δ vs static, median of paired rounds (min–max) | req/s Δ (min–max) | registry req. in windows | look-ups logged |');
  log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const protocol of protocols) {
    const baseRuns = byCell('static', protocol);
    for (const name of targetNames) {
      const mine = byCell(name, protocol);
      if (mine.length === 0) continue;
      const m = (k: 'rps' | 'cpuUs' | 'p50ms' | 'p99ms') => lib.median(mine.map((r) => r[k])) as number;
      const cpus = mine.map((r) => r.cpuUs).filter(Number.isFinite);
      const paired = (k: 'rps' | 'cpuUs') =>
        mine.map((r) => {
          const b = baseRuns.find((x) => x.round === r.round);
          return b ? (100 * (r[k] - b[k])) / b[k] : NaN;
        }).filter(Number.isFinite);
      const dCpu = paired('cpuUs');
      const dRps = paired('rps');
      const row = {
        protocol, target: name, rps: m('rps'), cpuUs: m('cpuUs'), cpuMin: Math.min(...cpus), cpuMax: Math.max(...cpus), p50ms: m('p50ms'), p99ms: m('p99ms'),
        cpuDeltaPct: name === 'static' ? NaN : (lib.median(dCpu) as number), cpuDeltaMin: Math.min(...dCpu), cpuDeltaMax: Math.max(...dCpu),
        rpsDeltaPct: name === 'static' ? NaN : (lib.median(dRps) as number), rpsDeltaMin: Math.min(...dRps), rpsDeltaMax: Math.max(...dRps),
        registryRequests: sum(mine.map((r) => r.registryRequests)), lookupLines: sum(mine.map((r) => r.lookupLines)), requests: sum(mine.map((r) => r.done)),
        failed: mine.filter((r) => r.failed).length,
      };
      rows.push(row);
      const range = (a: number, b: number) => `${signed(a, 1)}…${signed(b, 1)} %`;
      log(`| ${protocol} | ${name} | ${lib.fmt(row.rps)} | ${lib.fmt(row.cpuUs)} (${lib.fmt(row.cpuMin)}–${lib.fmt(row.cpuMax)}) | ${lib.fmt(row.p50ms, 1)} | ${lib.fmt(row.p99ms, 1)} | ` +
        `${name === 'static' ? '—' : `${signed(row.cpuDeltaPct, 1)} % (${range(row.cpuDeltaMin, row.cpuDeltaMax)})`} | ` +
        `${name === 'static' ? '—' : `${signed(row.rpsDeltaPct, 1)} % (${range(row.rpsDeltaMin, row.rpsDeltaMax)})`} | ${row.registryRequests} | ${row.lookupLines} |`);
    }
  }
  // "Within noise": a feature's median paired CPU difference against the A/A control's (a second process with the
  // static config, measured the same way): within noise when it is no larger than the largest difference the control
  // showed in any round, either way.
  for (const protocol of protocols) {
    const control = rows.find((r) => r['protocol'] === protocol && r['target'] === 'static-again');
    if (!control) continue;
    const noise = Math.max(Math.abs(control['cpuDeltaMin'] as number), Math.abs(control['cpuDeltaMax'] as number));
    for (const r of rows.filter((x) => x['protocol'] === protocol && x['target'] !== 'static' && x['target'] !== 'static-again')) {
      const d = r['cpuDeltaPct'] as number;
      const verdict = Math.abs(d) <= noise ? 'within noise' : d > 0 ? 'MORE CPU than the noise explains' : 'less CPU than the noise explains';
      log(`${protocol} ${r['target']}: CPU ${signed(d, 1)} % vs static (median of ${reps} paired rounds); A/A control static-again: ${signed(control['cpuDeltaPct'] as number, 1)} %, up to ±${noise.toFixed(1)} % in a round → ${verdict}`);
    }
  }
  // The same against both static processes (the mean of the two, per round): less of one process's luck.
  const offMean = (protocol: string, round: number) => {
    const xs = runs.filter((r) => r.protocol === protocol && r.round === round && (r.target === 'static' || r.target === 'static-again')).map((r) => r.cpuUs);
    return xs.length === 2 ? (xs[0]! + xs[1]!) / 2 : NaN;
  };
  const pooled: Array<Record<string, unknown>> = [];
  for (const protocol of protocols) {
    for (const name of targetNames.filter((n) => n !== 'static' && n !== 'static-again')) {
      const d = byCell(name, protocol).map((r) => (100 * (r.cpuUs - offMean(protocol, r.round))) / offMean(protocol, r.round)).filter(Number.isFinite);
      if (d.length === 0) continue;
      const above = d.filter((x) => x > 0).length;
      pooled.push({ protocol, target: name, medianPct: lib.median(d), minPct: Math.min(...d), maxPct: Math.max(...d), above, rounds: d.length });
      log(`${protocol} ${name}: CPU ${signed(lib.median(d), 1)} % vs the mean of static and static-again (rounds ${signed(Math.min(...d), 1)}…${signed(Math.max(...d), 1)} %, above in ${above} of ${d.length})`);
    }
  }
  log(`idle CPU, ms per second with no admissions (${idleCpu.length ? 10 : 0} s, all at once): ${idleCpu.map((x) => `${x.target} ${x.msPerSecond.toFixed(1)}`).join(', ')}`);
  const failures = runs.filter((r) => r.failed).length;
  if (failures > 0) log(`\n${failures} cell(s) had failed or non-2xx requests`);
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ node: process.version, reps, duration, warmup, inflight, chart: chart.source, setup, idleCpu, pooled, runs, rows }, null, 2));
  if (failures > 0) throw new Error(`${failures} cell(s) had failed or non-2xx requests`);
});
