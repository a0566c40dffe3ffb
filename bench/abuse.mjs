// `npm run abuse`: replays issue 8's attacks against the built webhook (dist/) on loopback and records, for each,
// what normal admissions suffered meanwhile and what the attacker got back.
//
// Per case: a fresh `node dist/cli/main.js serve` (chart default config, MLRUN_IMAGES_REGISTRY=datanode.local:5000/,
// info logs to a file, NODE_OPTIONS as the chart sets them: a 192 MiB old-space heap, the node flags of the image's
// entrypoint: --single-threaded-gc), pinned to CPU 0; a
// steady open-loop stream of normal admissions (typical body, h2, bench/steady.mjs) on CPU 1 — first alone (p99
// idle), then while the attack runs (p99 during attack); VmRSS sampled every 50 ms; then the process is checked
// (alive? /healthz answering?) and stopped.
//
// Bounded: every case has a window (--case-seconds, default 12) and every request a timeout; the whole run has a
// global deadline (--timeout, default 900 s) after which every child is killed and the script exits 1. Loopback
// only. Exit 1 when a normal request failed or the webhook died.
//
//   node bench/abuse.mjs [--only name,name] [--case-seconds 12] [--idle-seconds 4] [--rate 50] [--timeout 900] [--json F]
//                        [--dist DIR] [--cpu-prof DIR]
// --dist: another build (e.g. a copy under .cache/variants/, to compare builds); --cpu-prof: the webhook runs with
// node --cpu-prof and writes one .cpuprofile per case into DIR when it stops (open in Chrome DevTools).
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, openSync, closeSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import path from 'node:path';
import tls from 'node:tls';
import {
  benchDir, chartNodeOptions, chartDefaultConfig, cli, fmt, httpGet, imageNodeFlags, makeCertificates, memory, percentile, pinned, requireDist, root,
  rssSampler, sleep, startWebhook, workDir,
} from './lib.mjs';

const { option } = cli();
const CASE_S = Number(option('case-seconds', '12'));
const IDLE_S = Number(option('idle-seconds', '4'));
const RATE = Number(option('rate', '50'));
const GLOBAL_S = Number(option('timeout', '900'));
const REGISTRY = 'datanode.local:5000/';
const only = option('only', '').split(',').filter(Boolean);
const DIST = path.resolve(option('dist', path.join(root, 'dist')));
const CPU_PROF = option('cpu-prof', '');

requireDist(DIST);
// The attacker and the steady stream share CPU 1; the webhook has CPU 0.
spawnSync('taskset', ['-pc', '1', String(process.pid)], { stdio: 'ignore' });

const children = new Set();
const sockets = new Set();
function killAll() {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const s of sockets) s.destroy();
}
const globalTimer = setTimeout(() => {
  console.error(`\nabuse: global timeout of ${GLOBAL_S} s reached; killing everything`);
  killAll();
  process.exit(1);
}, GLOBAL_S * 1000);
process.on('SIGINT', () => (killAll(), process.exit(130)));
process.on('exit', killAll);

const work = workDir('miw-abuse-');
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const certs = await makeCertificates(work);
const chart = await chartDefaultConfig();
const configDir = path.join(work, 'config');
mkdirSync(configDir);
const configFile = path.join(configDir, 'config.yaml');
const typicalFile = path.join(root, 'test/fixtures/admission/admission-typical.json');
const typical = JSON.parse(readFileSync(typicalFile, 'utf8'));

// ---------------------------------------------------------------------------------------------------------------
// Building attack bodies

let uidSeq = 0;
/** The typical review with its Pod changed by edit(pod). */
function review(edit) {
  const r = structuredClone(typical);
  r.request.uid = `abuse-${++uidSeq}`;
  edit(r.request.object);
  return r;
}
const withImage = (image) => JSON.stringify(review((pod) => (pod.spec.containers[0].image = image)));

// ---------------------------------------------------------------------------------------------------------------
// Attack clients: each returns an answer class: "200 allowed", "400", "413", …, "reset", "timeout", "pending", "not read"

function newSession(server) {
  const s = http2.connect(server.url, { rejectUnauthorized: false, maxSessionMemory: 1024 });
  s.on('error', () => undefined);
  sockets.add(s);
  s.once('close', () => sockets.delete(s));
  return s;
}

/** One POST over its own h2 session; resolves with { cls, text }. */
function post(server, body, timeoutMs) {
  return new Promise((resolve) => {
    const session = newSession(server);
    let status = 0;
    const chunks = [];
    let done = false;
    const finish = (cls) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      session.destroy();
      const text = Buffer.concat(chunks).toString('utf8');
      resolve({ cls, text });
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    const req = session.request({ ':method': 'POST', ':path': '/mutate', 'content-type': 'application/json' });
    req.on('response', (h) => (status = h[':status']));
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      finish(status === 200 ? (text.includes('"allowed":true') ? '200 allowed' : '200 other') : status ? String(status) : 'reset');
    });
    req.on('error', () => finish(status ? String(status) : 'reset'));
    req.on('close', () => finish(status ? String(status) : 'reset'));
    req.end(body);
  });
}

// For connection-level cases an accepted connection is a normal answer; what matters there is the normal stream.
const SANE = new Set(['200 allowed', '400', '408', '413', 'reset', 'refused', 'connected', 'closed by server']);
function tally(classes) {
  const m = new Map();
  for (const c of classes) m.set(c, (m.get(c) ?? 0) + 1);
  return m;
}

/** Sends makeBody(i) one after another (or `parallel` at a time) until n are sent or the window closes. */
async function sendMany(server, n, makeBody, { parallel = 1, timeoutMs = CASE_S * 1000, until }) {
  const classes = [];
  let i = 0;
  const worker = async () => {
    while (i < n && Date.now() < until) {
      const r = await post(server, makeBody(i++), Math.max(1000, Math.min(timeoutMs, until - Date.now() + 2000)));
      classes.push(r.cls);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return { answers: tally(classes), sent: i };
}

// ---------------------------------------------------------------------------------------------------------------
// The cases

const EVIL = [
  // [pattern, 31-character image, 10,000-character image]: inputs on which a backtracking matcher explodes.
  ['^(\\w+\\s?)*$', `${'a'.repeat(30)}!`, `${'a'.repeat(9999)}!`],
  ['(.*a){20}', `${'a'.repeat(19)}${'b'.repeat(12)}`, `${'a'.repeat(19)}${'b'.repeat(9981)}`],
  ['^([a-z0-9]+[-./]?)*$', `${'a'.repeat(30)}!`, `${'a'.repeat(9999)}!`],
];

const CASES = [
  {
    name: 'image-120k-spaces',
    what: 'image "a" + 120,000 spaces + "b", up to 3 sent one after another',
    attack: (server, until) => sendMany(server, 3, () => withImage(`a${' '.repeat(120_000)}b`), { until }),
  },
  ...EVIL.map(([pattern, short, long], k) => ({
    name: `enrich-pattern-${k + 1}`,
    what: `MLRUN_IMAGES_TO_ENRICH_REGISTRY=${pattern}; a 31-char then a 10k-char image`,
    env: { MLRUN_IMAGES_TO_ENRICH_REGISTRY: pattern },
    attack: async (server, until) => {
      const half = Math.max(2000, (until - Date.now()) / 2);
      const a = await post(server, withImage(short), half);
      const b = await post(server, withImage(long), Math.max(1000, until - Date.now()));
      return { answers: tally([a.cls, b.cls]), sent: 2, note: `31: ${a.cls}, 10k: ${b.cls}` };
    },
  })),
  {
    name: 'client-version-labels',
    what: '200 Pods with unique 1 MiB mlrun/client_version labels, 4 at a time',
    seconds: 30,
    attack: (server, until) =>
      sendMany(
        server,
        200,
        (i) => JSON.stringify(review((pod) => (pod.metadata.labels['mlrun/client_version'] = `1.9.${i}-${String(i).padStart(6, '0')}${'x'.repeat(1024 * 1024)}`))),
        { parallel: 4, until },
      ),
  },
  {
    name: 'review-70k-containers',
    what: '2.7 MiB review with 70,000 containers, up to 3 one after another',
    seconds: 30,
    attack: (server, until) => {
      const body = JSON.stringify(
        review((pod) => (pod.spec.containers = Array.from({ length: 70_000 }, (_, i) => ({ name: `c${i}`, image: 'mlrun/mlrun' })))),
      );
      return sendMany(server, 3, () => body, { until }).then((r) => ({ ...r, note: `${(body.length / 1048576).toFixed(1)} MiB body` }));
    },
  },
  {
    name: 'exec-config-nested',
    what: 'MLRUN_EXEC_CONFIG nested 1.3M arrays deep (2.6 MB), up to 3',
    attack: (server, until) => {
      const depth = 1_300_000;
      const body = JSON.stringify(
        review((pod) => {
          const env = pod.spec.containers[0].env;
          env.find((e) => e.name === 'MLRUN_EXEC_CONFIG').value = `${'['.repeat(depth)}${']'.repeat(depth)}`;
        }),
      );
      return sendMany(server, 3, () => body, { until });
    },
  },
  {
    name: 'clients-not-reading',
    what: '8 HTTP/1.1 clients pipelining 4 reviews of 10,000 containers each, never reading',
    attack: async (server, until) => {
      const body = JSON.stringify(
        review((pod) => (pod.spec.containers = Array.from({ length: 10_000 }, (_, i) => ({ name: `c${i}`, image: 'mlrun/mlrun' })))),
      );
      const head = `POST /mutate HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n`;
      const closedByServer = [];
      const socks = await Promise.all(
        Array.from({ length: 8 }, () => new Promise((resolve) => {
          const s = tls.connect({ host: '127.0.0.1', port: server.port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
            s.pause(); // never read: the answers pile up wherever the server lets them
            for (let k = 0; k < 4; k++) s.write(head + body);
            resolve(s);
          });
          sockets.add(s);
          s.on('error', () => undefined);
          s.on('close', () => closedByServer.push(Date.now() < until));
          setTimeout(() => resolve(s), 5000);
        })),
      );
      while (Date.now() < until) await sleep(200);
      const closedEarly = closedByServer.filter(Boolean).length;
      for (const s of socks) s.destroy();
      return { answers: new Map([[closedEarly > 0 ? 'reset' : 'not read', 8]]), sent: 32, note: `${closedEarly}/8 closed by the server within the window` };
    },
  },
  {
    name: 'h2-3000-half-sent',
    what: 'one h2 connection opening 3,000 streams that send 100 of 6,767 bytes and stop',
    attack: async (server, until) => {
      const session = newSession(server);
      const classes = new Array(3000).fill('pending');
      const part = Buffer.alloc(100, 0x20);
      for (let i = 0; i < 3000; i++) {
        let req;
        try {
          req = session.request({ ':method': 'POST', ':path': '/mutate', 'content-type': 'application/json', 'content-length': '6767' });
        } catch {
          classes[i] = 'refused';
          continue;
        }
        req.on('response', (h) => (classes[i] = String(h[':status'])));
        req.on('error', () => classes[i] === 'pending' && (classes[i] = 'reset'));
        req.on('close', () => classes[i] === 'pending' && (classes[i] = 'reset'));
        req.write(part);
        if (i % 100 === 99) await sleep(1);
      }
      while (Date.now() < until) await sleep(200);
      session.destroy();
      return { answers: tally(classes), sent: 3000 };
    },
  },
  {
    name: 'slow-streams',
    // Longer than the 30 s body deadline (+ up to 1 s of sweep), so the case shows the server ending every one.
    seconds: 36,
    what: '20 h2 streams + 20 HTTP/1.1 connections trickling a typical body, 1 byte / 200 ms',
    attack: async (server, until) => {
      const body = Buffer.from(withImage('mlrun/mlrun'));
      const classes = [];
      const timers = [];
      const session = newSession(server);
      for (let i = 0; i < 20; i++) {
        const k = classes.push('pending') - 1;
        const req = session.request({ ':method': 'POST', ':path': '/mutate', 'content-type': 'application/json', 'content-length': String(body.length) });
        req.on('response', (h) => (classes[k] = String(h[':status'])));
        req.on('error', () => classes[k] === 'pending' && (classes[k] = 'reset'));
        req.on('close', () => classes[k] === 'pending' && (classes[k] = 'reset'));
        let off = 0;
        timers.push(setInterval(() => off < body.length && !req.destroyed && req.write(body.subarray(off, ++off)), 200));
      }
      for (let i = 0; i < 20; i++) {
        const k = classes.push('pending') - 1;
        const s = tls.connect({ host: '127.0.0.1', port: server.port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
          s.write(`POST /mutate HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`);
          let off = 0;
          timers.push(setInterval(() => off < body.length && !s.destroyed && s.write(body.subarray(off, ++off)), 200));
        });
        sockets.add(s);
        let head = '';
        s.on('data', (d) => {
          head += d;
          const m = /^HTTP\/1\.1 (\d{3})/.exec(head);
          if (m && classes[k] === 'pending') classes[k] = m[1];
        });
        s.on('error', () => undefined);
        s.on('close', () => classes[k] === 'pending' && (classes[k] = 'reset'));
      }
      while (Date.now() < until) await sleep(200);
      for (const t of timers) clearInterval(t);
      session.destroy();
      for (const s of sockets) if (!s.destroyed && s.constructor.name === 'TLSSocket') s.destroy();
      return { answers: tally(classes), sent: 40, note: `still pending at the end: ${classes.filter((c) => c === 'pending').length}` };
    },
  },
  {
    name: 'many-connections',
    what: 'up to 2,000 h2 connections opened (100 handshakes in flight) and held',
    attack: async (server, until) => {
      const classes = [];
      const sessions = [];
      let next = 0;
      const opener = async () => {
        while (next < 2000 && Date.now() < until) {
          next++;
          await new Promise((resolve) => {
            const s = newSession(server);
            sessions.push(s);
            const k = classes.push('pending') - 1;
            s.once('connect', () => ((classes[k] = 'connected'), resolve()));
            s.once('close', () => ((classes[k] = classes[k] === 'connected' ? 'closed by server' : 'refused'), resolve()));
            setTimeout(resolve, 5000);
          });
        }
      };
      await Promise.all(Array.from({ length: 100 }, opener));
      while (Date.now() < until) await sleep(200);
      for (const s of sessions) s.destroy();
      return { answers: tally(classes), sent: classes.length };
    },
  },
  {
    name: 'bad-config-reload',
    what: 'bad configs written to the watched file (registry in the file, not the env, for this case)',
    env: { MLRUN_IMAGES_REGISTRY: undefined },
    config: () => `${chart.text.replace(/imagesRegistry: ""/, `imagesRegistry: ${REGISTRY}`)}`,
    attack: async (server, until) => {
      const good = readFileSync(configFile, 'utf8');
      const bad = [
        ['invalid YAML', 'mlrun: [\n  version: 1.9.2\n'],
        ['unknown key', `${good}\nbogus: 1\n`],
        ['registry with a scheme', good.replace(`imagesRegistry: ${REGISTRY}`, 'imagesRegistry: https://reg.example/')],
        ['tag "bad tag!"', good.replace('imagesTag: ""', 'imagesTag: "bad tag!"')],
        ['empty file', ''],
      ];
      const classes = [];
      const notes = [];
      for (const [label, text] of bad) {
        if (Date.now() > until) break;
        const before = await reloadCounts(server);
        atomicWrite(configFile, text);
        let after = before;
        const deadline = Math.min(until, Date.now() + 6000);
        while (Date.now() < deadline) {
          await sleep(250);
          after = await reloadCounts(server);
          if (after.failure !== before.failure || after.success !== before.success) break;
        }
        const cls = after.failure > before.failure ? 'refused' : after.success > before.success ? 'accepted' : 'no reload seen';
        classes.push(cls === 'refused' ? 'refused' : cls);
        notes.push(`${label}: ${cls}`);
        // Back to the good config before the next one (a refused config leaves the good one serving anyway).
        atomicWrite(configFile, good);
        await sleep(600);
      }
      return { answers: tally(classes), sent: classes.length, note: notes.join('; ') };
    },
  },
  {
    name: 'record-annotation-overflow',
    what: 'Pod with annotations at 256 KiB − 300 B and 20 MLRun containers to rewrite, up to 3',
    attack: async (server, until) => {
      const { default: jsonpatch } = await import('fast-json-patch');
      const LIMIT = 256 * 1024;
      const pod0 = review((pod) => {
        pod.spec.containers = Array.from({ length: 20 }, (_, i) => ({ name: `c${i}`, image: 'mlrun/mlrun' }));
        const used = Object.entries(pod.metadata.annotations ?? {}).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
        pod.metadata.annotations['bench/filler'] = 'x'.repeat(LIMIT - 300 - used - 'bench/filler'.length);
      });
      const classes = [];
      const notes = [];
      for (let i = 0; i < 3 && Date.now() < until; i++) {
        const r = await post(server, JSON.stringify(pod0), Math.max(1000, until - Date.now()));
        let cls = r.cls;
        if (cls === '200 allowed') {
          const res = JSON.parse(r.text).response;
          if (res.patch) {
            const patch = JSON.parse(Buffer.from(res.patch, 'base64').toString('utf8'));
            const pod = jsonpatch.applyPatch(structuredClone(pod0.request.object), patch, false, false).newDocument;
            const total = Object.entries(pod.metadata.annotations ?? {}).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
            if (total > LIMIT) cls = 'annotations over 256 KiB';
            notes.push(`annotations after patch ${total} B`);
          } else notes.push('no patch');
        }
        classes.push(cls);
      }
      return { answers: tally(classes), sent: classes.length, note: [...new Set(notes)].join('; ') };
    },
  },
];

function atomicWrite(file, text) {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

async function reloadCounts(server) {
  const r = await httpGet(`${server.healthUrl}/metrics`, 3000);
  const get = (result) => Number(new RegExp(`^mlrun_image_webhook_config_reloads_total\\{result="${result}"\\} (\\S+)`, 'm').exec(r.body)?.[1] ?? NaN);
  return { success: get('success'), failure: get('failure') };
}

// ---------------------------------------------------------------------------------------------------------------
// Running one case

/** onConnected: called once the stream's HTTP/2 connection is up (before its first request). */
function steady(server, seconds, onConnected = () => undefined) {
  const [bin, argv] = pinned(1, [process.execPath, path.join(benchDir, 'steady.mjs'), server.url, typicalFile, String(seconds), String(RATE), '10000']);
  return new Promise((resolve) => {
    const child = spawn(bin, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    children.add(child);
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('connected\n')) onConnected();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 30) * 1000);
    child.on('exit', () => {
      clearTimeout(timer);
      children.delete(child);
      try {
        const r = JSON.parse(out.slice(out.indexOf('{')));
        const failed = r.sent - r.ok;
        resolve({ p99: percentile(r.all, 99), p90: percentile(r.all, 90), p50: percentile(r.all, 50), max: r.all.at(-1), failed, failures: r.failures, sent: r.sent });
      } catch {
        resolve({ p99: NaN, p90: NaN, p50: NaN, max: NaN, failed: Math.round(seconds * RATE), failures: { crashed: 1 }, sent: Math.round(seconds * RATE) });
      }
    });
  });
}

async function runCase(c) {
  atomicWrite(configFile, c.config ? c.config() : chart.text);
  const env = { MLRUN_IMAGES_REGISTRY: REGISTRY, NODE_OPTIONS: chartNodeOptions(), ...c.env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  const logFile = path.join(work, `${c.name}.log`);
  const logFd = openSync(logFile, 'a');
  const row = { name: c.name, what: c.what };
  let server;
  try {
    const nodeFlags = CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(CPU_PROF)}`, `--cpu-prof-name=${c.name}.${process.pid}.cpuprofile`] : [];
    server = await startWebhook({ dist: DIST, configFile, certs, env, logFd, cwd: work, nodeFlags });
  } catch (e) {
    closeSync(logFd);
    // A config the server refuses to start with is a sane outcome for the pattern cases.
    return { ...row, refusedAtStart: true, note: `refused to start: ${String(e.message).split('\n').find((l) => /error|invalid|refus/i.test(l)) ?? e.message}`.slice(0, 200) };
  }
  closeSync(logFd);
  children.add(server.child);
  let died = false;
  server.child.once('exit', () => (died = true));
  try {
    await steady(server, 2); // warm-up (JIT, first connection), not measured
    const idle = await steady(server, IDLE_S);
    const sampler = rssSampler(server.pid);
    const rssStart = memory(server.pid).rssMiB;
    const caseS = c.seconds ? Math.max(CASE_S, c.seconds) : CASE_S;
    // The attack starts once the measured stream's connection is up, as kube-apiserver's is before any attack.
    let connected;
    const up = new Promise((resolve) => (connected = resolve));
    const duringRun = steady(server, caseS, connected);
    await Promise.race([up, sleep(5000)]);
    const until = Date.now() + caseS * 1000;
    const [during, attack] = await Promise.all([
      duringRun,
      Promise.race([
        c.attack(server, until).catch((e) => ({ answers: new Map([['client error', 1]]), note: String(e?.message ?? e).slice(0, 160) })),
        new Promise((resolve) => setTimeout(resolve, (caseS + 20) * 1000).unref()).then(() => ({ answers: new Map([['timeout', 1]]), note: 'attack client did not finish' })),
      ]),
    ]);
    const rssPeak = sampler.stop();
    const health = died ? { status: 0 } : await httpGet(`${server.healthUrl}/healthz`, 3000);
    const answers = attack.answers ?? new Map();
    const sane = [...answers.keys()].every((k) => SANE.has(k));
    return {
      ...row,
      idleP99: idle.p99,
      attackP99: during.p99,
      // Medians and p90 too: on a shared machine the p99 of a few hundred requests is mostly other processes' noise.
      idleP50: idle.p50,
      attackP50: during.p50,
      idleP90: idle.p90,
      attackP90: during.p90,
      attackMax: during.max,
      ratio: during.p99 / idle.p99,
      rssStart,
      rssPeak,
      normalFailed: idle.failed + during.failed,
      normalFailures: during.failures,
      answers: Object.fromEntries(answers),
      sane,
      died,
      healthy: health.status === 200,
      note: attack.note,
    };
  } finally {
    const exit = await server.stop(5000);
    children.delete(server.child);
    if (exit.signal === 'SIGKILL') row.killed = true;
  }
}

// ---------------------------------------------------------------------------------------------------------------

console.log(`npm run abuse — Node ${process.version}; per case: fresh webhook (config: ${chart.source}; ` +
  `MLRUN_IMAGES_REGISTRY=${REGISTRY}; NODE_OPTIONS=${chartNodeOptions()}; node flags of the image: ${imageNodeFlags().join(' ') || 'none'}) on CPU 0; ${RATE} normal admissions/s (typical, h2, ` +
  `10 s timeout) on CPU 1: ${IDLE_S} s idle, then ${CASE_S} s during the attack`);
const rows = [];
for (const c of CASES.filter((x) => only.length === 0 || only.includes(x.name))) {
  process.stdout.write(`  ${c.name}: ${c.what} ... `);
  const r = await runCase(c);
  rows.push(r);
  console.log(r.refusedAtStart ? r.note : `p99 ${fmt(r.idleP99, 1)} → ${fmt(r.attackP99, 1)} ms (p50 ${fmt(r.idleP50, 1)} → ${fmt(r.attackP50, 1)}, p90 ${fmt(r.idleP90, 1)} → ${fmt(r.attackP90, 1)}), peak RSS ${fmt(r.rssPeak)} MiB, ` +
    `${r.normalFailed} normal failed, attack: ${JSON.stringify(r.answers)}${r.died ? ', DIED' : ''}${r.healthy === false ? ', /healthz not answering' : ''}${r.note ? ` (${r.note})` : ''}`);
}
clearTimeout(globalTimer);

const pad = (s, n) => String(s).padEnd(n);
console.log(`\n${pad('case', 28)}${'p99 idle'.padStart(9)}${'p99 atk'.padStart(9)}${'ratio'.padStart(7)}${'RSS MiB'.padStart(13)}${'normal failed'.padStart(14)}  ${pad('died', 5)}${pad('sane', 5)} attack answers`);
for (const r of rows) {
  if (r.refusedAtStart) {
    console.log(`${pad(r.name, 28)}${'-'.padStart(9)}${'-'.padStart(9)}${'-'.padStart(7)}${'-'.padStart(13)}${'-'.padStart(14)}  ${pad('no', 5)}${pad('yes', 5)} ${r.note}`);
    continue;
  }
  console.log(`${pad(r.name, 28)}${fmt(r.idleP99, 1).padStart(9)}${fmt(r.attackP99, 1).padStart(9)}${fmt(r.ratio, 1).padStart(7)}` +
    `${`${fmt(r.rssStart)}→${fmt(r.rssPeak)}`.padStart(13)}${String(r.normalFailed).padStart(14)}  ${pad(r.died ? 'YES' : 'no', 5)}${pad(r.sane ? 'yes' : 'NO', 5)} ` +
    `${Object.entries(r.answers).map(([k, v]) => `${k}×${v}`).join(', ')}${r.note ? ` — ${r.note}` : ''}`);
}
console.log('(p99 in ms over all normal admissions sent, a timed-out one counting its 10 s wait; ratio = during / idle, goal ≤ 2; RSS = VmRSS at attack start → peak during it;');
console.log(' sane = every attack request got 200 allowed, 400, 408, 413, a reset or a refusal)');
const jsonOut = option('json', '');
if (jsonOut) writeFileSync(jsonOut, JSON.stringify(rows, null, 2));
const bad = rows.filter((r) => r.normalFailed > 0 || r.died);
process.exitCode = bad.length > 0 ? 1 : 0;
if (bad.length > 0) console.log(`\nFAILED: normal requests failed or the webhook died in: ${bad.map((r) => r.name).join(', ')}`);
killAll();
process.exit(process.exitCode);
