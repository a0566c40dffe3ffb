// The webhook's own work per admission, stage by stage, in process (no TLS, no HTTP): what the server adds to the
// floor (docs/performance.md). On a busy shared machine the HTTPS bench's CPU µs/req moves by 2× between rounds;
// this loop, taking the fastest of several rounds, moves by a few per cent, so a cut of a few µs shows here first.
//
//   node bench/admission.mjs [--rounds 25] [--ms 60] [--body typical] [--dist dist] [--cold [--cold-with code|data]]
//
// --cold: each call on a freshly parsed body after other work (only the call is timed, the median of the rounds is
// shown): what the work costs when the TLS, HTTP and parse work between two admissions has pushed its code and data
// out of the caches, as under load. `code` (the default) runs other code in between, as a server does: AES-GCM over
// 16 KiB, a YAML parse, JSON of another body, a Map of 2,000 keys, then 4 MiB of memory traffic; `data` only the
// memory traffic. Over HTTPS the webhook's own work costs about the `code` figure, not the warm one: a second admit()
// right after the first costs its warm figure there (docs/performance.md).
//
// Configs: the chart's defaults (helm template, else values.yaml) with MLRUN_IMAGES_REGISTRY=datanode.local:5000/,
// and the same with the production policy on for the fixture's namespace (policy.namespaces, pinTags warn).
import { createCipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { floorLine } from './floor-line.mjs';
import { chartDefaultConfig, cli, root } from './lib.mjs';

const { option, flag } = cli({ known: ['cold', 'cold-with', 'rounds', 'ms', 'body', 'dist'], script: import.meta.url });
const cold = flag('cold');
const coldWith = option('cold-with', 'code');
if (coldWith !== 'code' && coldWith !== 'data') throw new Error(`--cold-with: code or data, got ${coldWith}`);
const rounds = Number(option('rounds', '25'));
const roundMs = Number(option('ms', '60'));
const bodyName = option('body', 'typical');
const dist = path.resolve(root, option('dist', 'dist'));
const load = (p) => import(pathToFileURL(path.join(dist, p)).href);

const { admit } = await load('admission/admit.js');
const { discoverClientVersions } = await load('mlrun/discovery.js');
const { loadConfigText } = await load('config/load.js');
const { logAdmission } = await load('server/app.js');
const { createLogger, logDestination } = await load('telemetry/logger.js');
const { createMetrics } = await load('telemetry/metrics.js');
const { default: pino } = await import('pino');

const text = readFileSync(path.join(root, `test/fixtures/admission/admission-${bodyName}.json`), 'utf8');
const env = { MLRUN_IMAGES_REGISTRY: 'datanode.local:5000/' };
const chart = await chartDefaultConfig();
const doc = parseYaml(chart.text);
const runtimeOf = (d) => {
  const r = loadConfigText(stringifyYaml(d), 'bench', env);
  if (!r.ok) throw new Error(`config refused: ${JSON.stringify(r.problems)}`);
  return r.runtime;
};
const body = JSON.parse(text);
const namespace = body.request.namespace;
const runtimes = {
  default: runtimeOf(doc),
  policy: runtimeOf({ ...doc, policy: { ...doc.policy, namespaces: [namespace], pinTags: 'warn' } }),
};
// The webhook's own destination (lines encoded into its batch buffer, one write per 16 KB), to /dev/null. Builds
// before it (--dist) without logDestination: a write per line.
const logger = createLogger({
  destination: logDestination ? logDestination({ dest: '/dev/null' }) : pino.destination({ dest: '/dev/null', sync: true }),
});
const metrics = createMetrics();

/** ns per call of fn: the fastest of `rounds` rounds of about roundMs each. */
function time(fn) {
  let n = 1;
  for (let t0 = performance.now(); performance.now() - t0 < 50; n *= 2) for (let i = 0; i < n; i++) fn();
  const per = Math.max(1, Math.round(n / 2));
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    let calls = 0;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < roundMs) {
      for (let i = 0; i < per; i++) fn();
      calls += per;
      t = performance.now();
    }
    best = Math.min(best, ((t - t0) * 1e6) / calls);
  }
  return best;
}

// --cold: other work between two calls, then a fresh parse of the body.
const traffic = new Uint32Array((4 * 1024 * 1024) / 4);
const cipherKey = randomBytes(32);
const cipherIv = randomBytes(12);
const record = randomBytes(16 * 1024);
const otherBody = readFileSync(path.join(root, 'test/fixtures/admission/admission-large.json'), 'utf8');
function otherWork() {
  if (coldWith === 'code') {
    // What runs between two admissions in a server, roughly: TLS record crypto, much JS (YAML), JSON, hashing.
    const c = createCipheriv('aes-256-gcm', cipherKey, cipherIv);
    c.update(record);
    c.final();
    parseYaml(chart.text);
    JSON.stringify(JSON.parse(otherBody));
    const m = new Map();
    for (let i = 0; i < 2000; i++) m.set(`k${i}`, i);
  }
  for (let j = 0; j < traffic.length; j += 16) traffic[j]++;
}
/** ns per call of fn(freshBody) with cold caches: the median of `rounds` rounds of 200 calls, each timed alone. */
function coldTime(fn) {
  const round = (calls) => {
    let total = 0;
    for (let i = 0; i < calls; i++) {
      otherWork();
      const fresh = JSON.parse(text);
      const t = performance.now();
      fn(fresh);
      total += performance.now() - t;
    }
    return (total * 1e6) / calls;
  };
  // Optimised first (as in a server that has run a while), on fresh bodies without the traffic.
  for (let i = 0; i < 3000; i++) fn(JSON.parse(text));
  round(50);
  const all = Array.from({ length: rounds }, () => round(200)).sort((a, b) => a - b);
  return all[all.length >> 1];
}

const rows = [];
const row = (name, ns) => rows.push([name, ns]);
const floor = (b) => floorLine(logger, metrics, b.request, 0.001234);
if (cold) {
  // What the floor does beyond the parse (bench/server-targets.mjs): webhook − floor is the row below minus this one.
  row('floor: its log line and metrics (an unchanged Pod\'s shape)', coldTime(floor));
  row('client-version discovery (discoverClientVersions)', coldTime((b) => discoverClientVersions(b.request.object)));
  for (const [name, runtime] of Object.entries(runtimes)) {
    const context = { production: false };
    row(`admit, ${name} config (decisions, patch, answer object)`, coldTime((b) => admit(b, runtime, context)));
    row(`  all but the body parse (admit, log line, metrics), ${name}`, coldTime((b) => {
      const r = admit(b, runtime, context);
      logAdmission(logger, r.summary, 0.001234);
      metrics.recordAdmission(r.summary.outcome, 0.001234, r.summary);
    }));
  }
  const between = coldWith === 'code' ? 'other code (crypto, YAML, JSON, a Map) and 4 MiB of memory traffic' : '4 MiB of memory traffic';
  print(`cold caches, ${bodyName} body`, `median of ${rounds} rounds of 200 calls (each after ${between})`);
} else {
  row('JSON.parse of the body (the floor pays it too)', time(() => JSON.parse(text)));
  // The floor's line (bench/server-targets.mjs): what any webhook logging one line per admission pays.
  row('floor log line and metrics (an unchanged Pod\'s shape)', time(() => floor(body)));
  row('client-version discovery (discoverClientVersions)', time(() => discoverClientVersions(body.request.object)));
  for (const [name, runtime] of Object.entries(runtimes)) {
    const context = { production: false };
    const result = admit(body, runtime, context);
    if (result.status !== 200) throw new Error(`admit: ${result.error}`);
    row(`admit, ${name} config (decisions, patch, answer object)`, time(() => admit(body, runtime, context)));
    // Since 120a0c4 admit() writes the answer's JSON itself (result.json, sent as is); older builds (--dist) leave it
    // to fastify's JSON.stringify of result.body, which is what this row then measures.
    row(`  answer serialisation beyond admit (none when admit wrote result.json), ${name}`, time(() => result.json ?? JSON.stringify(result.body)));
    row(`  log line (logAdmission to /dev/null), ${name}`, time(() => logAdmission(logger, result.summary, 0.001234)));
    row(`  metrics (recordAdmission), ${name}`, time(() => metrics.recordAdmission(result.summary.outcome, 0.001234, result.summary)));
    row(`  all of the above but the body parse, ${name}`, time(() => {
      const r = admit(body, runtime, context);
      if (r.json === undefined) JSON.stringify(r.body);
      logAdmission(logger, r.summary, 0.001234);
      metrics.recordAdmission(r.summary.outcome, 0.001234, r.summary);
    }));
  }
  print(`${bodyName} body`, `fastest of ${rounds} × ${roundMs} ms`);
}

function print(what, how) {
  console.log(`\nWebhook work per admission, in process, ${what} (${(text.length / 1024).toFixed(1)} KiB), ${dist}, Node ${process.version}, ${how}`);
  const w = Math.max(...rows.map((r) => r[0].length)) + 2;
  for (const [name, ns] of rows) console.log(`${name.padEnd(w)}${(ns / 1000).toFixed(2).padStart(9)} µs`);
}
