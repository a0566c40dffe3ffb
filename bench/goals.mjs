// Issue 9's goals, judged from bench rounds. bench/server.mjs prints them after a run; run alone, this judges the
// rounds of several saved runs of one build together (more rounds: a narrower interval, ADR 0015):
//
//   node bench/goals.mjs RUN.json [RUN.json …]      (each from `node bench/server.mjs --json RUN.json`)
//
// Pure apart from that command line: the judging functions take the runs' rows and return lines
// (test/bench/goals.test.ts).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt, signed } from './format.mjs';
import { median, medianInterval, verdict } from './stats.mjs';

/** Issue 9: typical body within 20 µs/req of the floor, large within 15 %, peak RSS within 20 MiB of bare fastify. */
export const GOALS = { typicalUs: 20, largeRatio: 1.15, rssMiB: 20 };

const pct = (x) => `${fmt(100 * (x - 1))} %`;

/**
 * CPU µs/req of target `a` minus `b` on one cell, round by round (the cells of a round ran back to back under the
 * same machine conditions; other tenants' load moves whole rounds), as { diffs, ratios } sorted. A row's round is
 * told apart by its `run` (the file it came from, when several are judged together) and its `round`.
 */
export function paired(runs, a, b, body, protocol) {
  const other = new Map();
  for (const r of runs) {
    if (r.target === b && r.body === body && r.protocol === protocol) other.set(`${r.run ?? ''}/${r.round}`, r);
  }
  const diffs = [];
  const ratios = [];
  for (const x of runs) {
    if (x.target !== a || x.body !== body || x.protocol !== protocol) continue;
    const y = other.get(`${x.run ?? ''}/${x.round}`);
    // A floor of 0 µs/req (no answers in its window) has no ratio: the round is left out, not sorted as Infinity.
    if (!y || !Number.isFinite(x.cpuUs) || !Number.isFinite(y.cpuUs) || !(y.cpuUs > 0)) continue;
    diffs.push(x.cpuUs - y.cpuUs);
    ratios.push(x.cpuUs / y.cpuUs);
  }
  const sort = (xs) => xs.sort((m, n) => m - n);
  return { diffs: sort(diffs), ratios: sort(ratios) };
}

/**
 * The goal lines for the rows given: per protocol, typical and large CPU against the floor (with 3 pairs or more on
 * the median of the round differences and its interval, else on the difference of the medians) and peak RSS
 * against bare fastify (the highest of every round, of each).
 */
export function goalLines(runs) {
  const lines = [];
  const protocols = [...new Set(runs.map((r) => r.protocol))];
  const rowsOf = (target, body, protocol) => runs.filter((r) => r.target === target && r.body === body && r.protocol === protocol);
  const judge = (body, protocol, kind, show, goal) => {
    const me = rowsOf('webhook', body, protocol);
    const floor = rowsOf('floor', body, protocol);
    if (me.length === 0 || floor.length === 0) return undefined;
    const a = median(me.map((r) => r.cpuUs));
    const b = median(floor.map((r) => r.cpuUs));
    const ofMedians = kind === 'diffs' ? a - b : a / b;
    const p = paired(runs, 'webhook', 'floor', body, protocol)[kind];
    if (p.length < 3) {
      const said = !Number.isFinite(ofMedians) ? 'not judged (no figure)' : ofMedians <= goal ? 'met' : 'not met';
      return { value: ofMedians, how: 'medians', said };
    }
    const value = median(p);
    const i = medianInterval(p);
    const within = `the median's ${fmt(100 * i.coverage)} % interval ${show(i.low)}…${show(i.high)}`;
    return {
      value,
      how: `paired by round (${p.length} rounds ${show(p[0])}…${show(p.at(-1))}; ${within}); medians ${show(ofMedians)}`,
      said: verdict(value, i, goal),
    };
  };
  for (const protocol of protocols) {
    const t = judge('typical', protocol, 'diffs', signed, GOALS.typicalUs);
    if (t) lines.push(`typical ${protocol}: ${signed(t.value)} µs vs floor, ${t.how} (goal ≤ ${GOALS.typicalUs}) ${t.said}`);
    const l = judge('large', protocol, 'ratios', pct, GOALS.largeRatio);
    if (l) lines.push(`large ${protocol}: ${pct(l.value)} above floor, ${l.how} (goal ≤ ${pct(GOALS.largeRatio)}) ${l.said}`);
    for (const body of [...new Set(runs.filter((r) => r.protocol === protocol).map((r) => r.body))]) {
      const f = rowsOf('bare-fastify', body, protocol);
      const x = rowsOf('webhook', body, protocol);
      if (f.length === 0 || x.length === 0) continue;
      const d = Math.max(...x.map((r) => r.rssPeak)) - Math.max(...f.map((r) => r.rssPeak));
      lines.push(`RSS ${body} ${protocol}: ${signed(d)} MiB vs bare-fastify (goal ≤ ${GOALS.rssMiB}) ${d <= GOALS.rssMiB ? 'met' : 'not met'}`);
    }
  }
  return lines;
}

/**
 * Saved runs (server.mjs --json) as one set of rows, each row marked with its file. Refused: files of different
 * builds (server.mjs's hash of dist/, the config and the lock file) or Node versions, whose rounds are not of one
 * population, unless `anyBuild`.
 */
export function poolRuns(files, anyBuild = false) {
  const rows = [];
  const builds = new Set();
  const commits = new Set();
  const seen = new Map();
  for (const { name, doc } of files) {
    if (!doc || !Array.isArray(doc.runs)) throw new Error(`${name}: not a bench/server.mjs --json file (no runs)`);
    // The same rounds twice (the same file, or a copy of it) would count as twice the evidence.
    const rounds = JSON.stringify(doc.runs);
    if (seen.has(rounds)) throw new Error(`${name} holds the same rounds as ${seen.get(rounds)}`);
    seen.set(rounds, name);
    builds.add(`build ${doc.build ?? '(not recorded)'} on Node ${doc.node ?? '?'}`);
    if (doc.commit) commits.add(doc.commit);
    for (const r of doc.runs) rows.push({ ...r, run: name });
  }
  if (builds.size > 1 && !anyBuild) throw new Error(`runs of different builds: ${[...builds].join('; ')} (--any-build to judge them together anyway)`);
  return { rows, builds: [...builds], commits: [...commits] };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const anyBuild = args.includes('--any-build');
  const names = args.filter((a) => a !== '--any-build');
  if (names.length === 0 || names.some((a) => a.startsWith('--'))) {
    console.error('usage: node bench/goals.mjs [--any-build] RUN.json [RUN.json …]   (files from bench/server.mjs --json)');
    process.exit(2);
  }
  try {
    const read = (name) => {
      try {
        return JSON.parse(readFileSync(name, 'utf8'));
      } catch (err) {
        throw new Error(`${name}: ${err.code === 'ENOENT' ? 'no such file' : `not JSON (${err.message})`}`);
      }
    };
    const { rows, builds, commits } = poolRuns(names.map((name) => ({ name: path.resolve(name), doc: read(name) })), anyBuild);
    const from = commits.length > 0 ? ` (commit${commits.length > 1 ? 's' : ''} ${commits.join(', ')})` : '';
    console.log(`issue 9 goals, ${names.length} run(s) of ${builds.join('; ')}${from}:\n  ${goalLines(rows).join('\n  ')}`);
  } catch (err) {
    console.error(`bench/goals.mjs: ${err.message}`);
    process.exit(1);
  }
}
