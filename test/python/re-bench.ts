/*
 * Cost of the linear matcher (not a test: figures for ADR 0005). Run:
 *   npx tsc src/python/re/index.ts src/mlrun/pyregex.ts test/python/re-bench.ts --outDir /tmp/re-bench \
 *     --rootDir . --target ES2022 --module NodeNext --moduleResolution NodeNext --types node --skipLibCheck
 *   node /tmp/re-bench/test/python/re-bench.js
 */
import { compileInstrumentedMatcher } from '../../src/python/re/index.js';
import { translatePythonRegex } from '../../src/mlrun/pyregex.js';

function time(fn: () => unknown, minMs = 300): number {
  let n = 1;
  for (;;) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn();
    const ns = Number(process.hrtime.bigint() - t0);
    if (ns > minMs * 1e6) return ns / n;
    n *= 2;
  }
}

const IMAGE = 'mlrun/mlrun-gpu:1.6.0-rc12-py39'; // 31 characters
const rows: [string, string][] = [
  ['^mlrun/*', IMAGE],
  ['^mlrun/*', 'quay.io/mlrun/mlrun:1.6.0-rc12'],
  ['^python:3.(9|11)$', 'python:3.11'],
  ['^python:3.(9|11)$', 'python:3.11-slim-bookworm-2024'],
  ['(?i)^quay\\.io/mlrun/', 'QUAY.IO/mlrun/mlrun:1.6.0-rc12'],
  ['^(mlrun|quay.io/mlrun)/', 'docker.io/library/python:3.11'],
  ['.*/mlrun-gpu', IMAGE],
  ['^(\\w+\\s?)*$', 'a'.repeat(30) + '!'],
  ['(.*a){20}', 'a'.repeat(19) + 'b'.repeat(12)],
  ['^([a-z0-9]+[-./]?)*$', IMAGE],
  ['^(?=.*gpu)mlrun/', IMAGE],
  ['\\bgpu\\b', IMAGE],
];

console.log('pattern | input length | steps | program size | linear ns/match | V8 RegExp ns/match');
for (const [p, s] of rows) {
  const m = compileInstrumentedMatcher(p);
  if (!m.ok) throw new Error(m.reason);
  m.match(s);
  const steps = m.lastSteps();
  const ns = time(() => m.match(s));
  let v8 = '-';
  const tr = translatePythonRegex(p);
  if (tr.ok && !/\(\.\*a\)|\\w\+\\s\?|\[-\.\/\]\?\)\*/.test(p)) {
    const re = new RegExp(tr.source, tr.flags + 'y');
    v8 = time(() => {
      re.lastIndex = 0;
      return re.test(s);
    }).toFixed(0);
  }
  console.log(`${JSON.stringify(p)} | ${s.length} | ${steps} | ${m.programSize} | ${ns.toFixed(0)} | ${v8}`);
}

// Worst cases within the caps: a 1,000-character image.
const long = 'a'.repeat(999) + '!';
for (const p of ['^(\\w+\\s?)*$', '(.*a){20}', `(?:a|b|c|d|e|f|g|h|i|j){1,30}$`, '(?=(a+)+$)(?<=(?:a){5})']) {
  const m = compileInstrumentedMatcher(p);
  if (!m.ok) throw new Error(`${p}: ${m.reason}`);
  m.match(long);
  const steps = m.lastSteps();
  const ns = time(() => m.match(long), 500);
  console.log(`worst ${JSON.stringify(p)} | 1000 | ${steps} | ${m.programSize} | ${(ns / 1e3).toFixed(0)} µs`);
}
