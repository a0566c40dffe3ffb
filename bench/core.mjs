// Micro-benchmark of the pure core: ns per resolved image for the images found in the shared fixtures
// (test/fixtures/mlrun-pods and the admission bodies), raw (untagged) and as MLRun already enriched them.
// Runs on the built output (dist/), the code the server runs.
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { compileResolver } from '../dist/mlrun/engine.js';
import { rulesForVersion } from '../dist/mlrun/rules.js';
import { parseReference } from '../dist/image/reference.js';

const quick = process.argv.includes('--quick');
const root = fileURLToPath(new URL('../test/fixtures/', import.meta.url));

function imagesOf(pod, out) {
  for (const k of ['containers', 'initContainers', 'ephemeralContainers']) {
    for (const c of pod?.spec?.[k] ?? []) if (typeof c.image === 'string') out.push(c.image);
  }
}
const enriched = [];
for (const f of readdirSync(`${root}mlrun-pods`).filter((f) => f.endsWith('.json'))) {
  imagesOf(JSON.parse(readFileSync(`${root}mlrun-pods/${f}`, 'utf8')), enriched);
}
for (const f of readdirSync(`${root}admission`).filter((f) => f.endsWith('.json'))) {
  imagesOf(JSON.parse(readFileSync(`${root}admission/${f}`, 'utf8')).request?.object, enriched);
}
// The raw variants: what a user writes before MLRun (or the webhook) fills the tag in.
const raw = enriched.map((i) => i.replace(/:[^/@]*$/, ''));
const images = [...new Set([...enriched, ...raw])];

const rules = rulesForVersion('1.9.2');
const resolver = compileResolver(
  {
    imagesTag: '',
    imagesRegistry: 'datanode-registry.example/',
    vendorImagesRegistry: '',
    imagesToEnrichRegistry: rules.rules.defaultEnrichPatterns,
    serverVersion: '1.9.2',
  },
  { rules: rules.rules, guardAlreadyPrefixed: true },
);

function bench(name, fn) {
  const n = quick ? 20_000 : 200_000;
  for (let i = 0; i < n / 10; i++) fn(i); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  const ns = Number(process.hrtime.bigint() - t0) / n;
  console.log(`  ${name.padEnd(44)} ${ns.toFixed(0).padStart(6)} ns/image`);
  return ns;
}

console.log(`core micro-benchmark (${images.length} distinct fixture images, Node ${process.version})`);
let sink = 0;
const resolveNs = bench('resolve (MLRun 1.9.2 rules, py3.9 client)', (i) => {
  const r = resolver.resolve(images[i % images.length], '1.9.2', '3.9.18');
  sink += r.ok ? r.image.length : 0;
});
bench('resolve, no client version', (i) => {
  const r = resolver.resolve(images[i % images.length], null, null);
  sink += r.ok ? r.image.length : 0;
});
bench('parseReference', (i) => {
  sink += parseReference(images[i % images.length]).valid ? 1 : 0;
});
console.log(`  target <= 2000 ns/image: ${resolveNs <= 2000 ? 'met' : 'NOT met'} (${sink > 0 ? 'ok' : ''})`);
