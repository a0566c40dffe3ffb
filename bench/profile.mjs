// Self time of a V8 .cpuprofile by stage of an admission, in CPU µs per request.
//
// Each sample goes to the stage of its innermost frame that belongs to a known module; native frames without a URL
// (JSON.parse, JSON.stringify, socket writes, Buffer work) take the stage of the nearest JavaScript frame above
// them, so JSON.parse under fastify's body parser is "body read + parse" and JSON.stringify under pino is
// "logging". Idle time is left out; "(program)" is V8/native work with no JavaScript on the stack.
//
//   node bench/profile.mjs FILE.cpuprofile REQUESTS     (REQUESTS: requests the process served while profiled)
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const STAGES = [
  'TLS / HTTP (node)',
  'fastify (routing, hooks, reply)',
  'body read + parse',
  'admit (decisions, engine)',
  'client-version discovery',
  'patch + response serialisation',
  'logging',
  'metrics',
  'GC',
  'V8 / native (no JS frame)',
  'startup / module loading',
  'other',
];

/** Stage of one frame, or undefined when the frame says nothing (native builtins) and the caller decides. */
function frameStage(frame) {
  const url = frame.url;
  const fn = frame.functionName;
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(program)' || fn === '(root)') return 'V8 / native (no JS frame)';
  if (url === '') return undefined;
  // Module loading and start-up, wherever it happens (its subtree is start-up too: see summariseProfile).
  if (/^node:internal\/(modules|bootstrap|main|vm)|^node:internal\/process\/esm_loader/.test(url)) return 'startup / module loading';
  // Plumbing that works for whoever calls it (fs writes for pino, events, ticks, timers, buffers): caller decides.
  if (/^node:(internal\/)?(fs|events|buffer|timers|process\/task_queues|util)(\/|$)/.test(url)) return undefined;
  if (/\/dist\/mlrun\/discovery\.js/.test(url)) return 'client-version discovery';
  if (/\/dist\/admission\/admit\.js/.test(url) && /^(buildPatch|respond|readRecord|audit)$/.test(fn)) return 'patch + response serialisation';
  if (/fast-json-patch/.test(url)) return 'patch + response serialisation';
  if (/\/dist\/(admission|mlrun|image|util)\//.test(url)) return 'admit (decisions, engine)';
  if (/node_modules\/(pino|sonic-boom|fast-redact|@pinojs|safe-stable-stringify|quick-format-unescaped|thread-stream|on-exit-leak-free|atomic-sleep)\//.test(url)) return 'logging';
  if (/\/dist\/telemetry\/logger\.js/.test(url) || fn === 'logAdmission') return 'logging';
  if (/prom-client|tdigest|bintrees/.test(url) || /\/dist\/telemetry\/metrics\.js/.test(url) || fn === 'recordAdmission') return 'metrics';
  if (/node_modules\/(secure-json-parse)\//.test(url) || /fastify\/lib\/contentTypeParser\.js/.test(url) || /^(jsonProblem|installJsonParser)$/.test(fn)) return 'body read + parse';
  if (/fastify\/lib\/(reply|error-serializer)\.js|fast-json-stringify|@fastify\/fast-json-stringify-compiler/.test(url) && /serial|stringify|onSendEnd|send/i.test(fn)) return 'patch + response serialisation';
  if (/node_modules\/(fastify|find-my-way|avvio|@fastify|fast-querystring|fastq|toad-cache|process-warning|abstract-logging|light-my-request)\//.test(url)) return 'fastify (routing, hooks, reply)';
  if (/\/dist\/server\//.test(url)) return 'fastify (routing, hooks, reply)';
  if (/^node:/.test(url)) return 'TLS / HTTP (node)';
  if (/\/bench\/server-targets\.mjs/.test(url)) return 'fastify (routing, hooks, reply)';
  return 'other';
}

/** { perRequest: Map(stage → µs/request), totalPerRequest, top: [[frame, µs/request]] } */
export function summariseProfile(file, requests, root = '') {
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stageOf = new Map();
  const resolve = (id) => {
    if (stageOf.has(id)) return stageOf.get(id);
    const n = byId.get(id);
    let s = frameStage(n.callFrame);
    if (s === undefined) {
      const p = parent.get(id);
      const ps = p === undefined ? undefined : resolve(p);
      // A native frame whose caller is only the root or (program): V8/native work.
      s = ps === undefined || ps === 'startup / module loading' ? ps ?? 'V8 / native (no JS frame)' : ps;
    }
    stageOf.set(id, s);
    return s;
  };
  // Anything under module loading is start-up, whatever it calls (fs reads, module top-level code).
  const startup = new Map();
  const underStartup = (id) => {
    if (startup.has(id)) return startup.get(id);
    const n = byId.get(id);
    const p = parent.get(id);
    const v = frameStage(n.callFrame) === 'startup / module loading' || (p !== undefined && underStartup(p));
    startup.set(id, v);
    return v;
  };
  const self = new Map();
  for (let i = 0; i < prof.samples.length; i++) self.set(prof.samples[i], (self.get(prof.samples[i]) ?? 0) + (prof.timeDeltas[i] ?? 0));
  const totals = new Map();
  const fns = new Map();
  let all = 0;
  for (const [id, t] of self) {
    const n = byId.get(id);
    if (n.callFrame.functionName === '(idle)') continue;
    const stage = underStartup(id) ? 'startup / module loading' : resolve(id);
    if (stage === 'startup / module loading') continue; // not per request
    all += t;
    totals.set(stage, (totals.get(stage) ?? 0) + t);
    const where = n.callFrame.url.replace(/^.*node_modules\//, '').replace(root, '').replace(/^file:\/\//, '');
    const key = `${n.callFrame.functionName || '(anonymous)'} ${where}${where ? `:${n.callFrame.lineNumber + 1}` : ''} [${stage}]`;
    fns.set(key, (fns.get(key) ?? 0) + t);
  }
  return {
    perRequest: new Map([...totals].map(([s, t]) => [s, t / requests])),
    totalPerRequest: all / requests,
    top: [...fns].sort((a, b) => b[1] - a[1]).slice(0, 25).map(([k, t]) => [k, t / requests]),
  };
}

export function printStages(summaries, log = console.log) {
  if (summaries.length === 0) return;
  log('\nCPU µs per request by stage (self time from --cpu-prof, profiler overhead included; all runs of the process,');
  log('so it mixes bodies and protocols unless --bodies/--protocols pick one):');
  log(`  ${'stage'.padEnd(34)}${summaries.map((x) => x.name.padStart(12)).join('')}`);
  for (const s of STAGES) {
    if (summaries.every((x) => !x.perRequest.get(s))) continue;
    log(`  ${s.padEnd(34)}${summaries.map((x) => (x.perRequest.get(s) ?? 0).toFixed(1).padStart(12)).join('')}`);
  }
  log(`  ${'total (busy)'.padEnd(34)}${summaries.map((x) => x.totalPerRequest.toFixed(1).padStart(12)).join('')}`);
  for (const x of summaries) {
    log(`\n  top self time, ${x.name} (µs/request):`);
    for (const [k, us] of x.top.slice(0, 20)) log(`    ${us.toFixed(2).padStart(7)}  ${k}`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, requests] = process.argv.slice(2);
  if (!file || !Number(requests)) {
    console.error('usage: node bench/profile.mjs FILE.cpuprofile REQUESTS');
    process.exit(2);
  }
  printStages([{ name: 'profile', ...summariseProfile(file, Number(requests), fileURLToPath(new URL('..', import.meta.url))) }]);
}
