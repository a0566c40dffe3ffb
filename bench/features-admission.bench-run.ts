/**
 * The mirror check's own cost per admission, in process (docs/performance-features.md): admit() on the typical body
 * with the static config against the same config with mirror.enabled and a real MirrorService whose cache is warm
 * (a real docker-registry holding the rewritten image, asked once before timing). No TLS, no HTTP: the HTTPS feature
 * bench (features.bench-run.ts) cannot see a few µs on a shared machine; this loop, fastest of many interleaved
 * rounds, can. The built server's modules (dist/) are timed, as bench/admission.mjs does.
 *
 *   npm run build && npx vitest run --config vitest.features.config.ts bench/features-admission.bench-run.ts
 *   BENCH_ROUNDS=41 BENCH_MS=60
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { pushImage, REGISTRY_SKIP_REASON, registryBinary, startRegistry, type RunningRegistry } from '../test/helpers/registry-server.js';

// Untyped on purpose: bench/lib.mjs has no declarations, and dist/ is the build being measured.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;
const lib: Any = await import(new URL('./lib.mjs', import.meta.url).href);
const load = (p: string): Promise<Any> => import(new URL(`../dist/${p}`, import.meta.url).href);

const { option } = lib.cli([]);
const rounds = Number(option('rounds', '41'));
const roundMs = Number(option('ms', '60'));

/** ns per call: time fn for about roundMs. */
function once(fn: () => void, per: number): number {
  let calls = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < roundMs) {
    for (let i = 0; i < per; i++) fn();
    calls += per;
    t = performance.now();
  }
  return ((t - t0) * 1e6) / calls;
}

/** Fastest of `rounds` rounds for each of the functions, their rounds interleaved (same machine moments). */
function timeInterleaved(fns: Array<() => void>): number[] {
  for (const fn of fns) for (let i = 0; i < 2000; i++) fn();
  const best = fns.map(() => Infinity);
  for (let r = 0; r < rounds; r++) {
    fns.forEach((fn, i) => {
      const ns = once(fn, 50);
      best[i] = Math.min(best[i]!, ns);
    });
  }
  return best;
}

const skip = registryBinary() ? undefined : REGISTRY_SKIP_REASON;
if (skip) console.log(`bench/features-admission.bench-run.ts skipped: ${skip}`);

test.skipIf(skip !== undefined)('mirror check in process: admit() with a warm registry cache vs without', async () => {
  lib.requireDist();
  const { admit } = await load('admission/admit.js');
  const { loadConfigText } = await load('config/load.js');
  const { createMirrorService } = await load('registry/mirror.js');
  const { logAdmission } = await load('server/app.js');
  const { createLogger } = await load('telemetry/logger.js');
  const { default: pino } = await import('pino');

  let reg: RunningRegistry | undefined;
  let service: Any;
  try {
    reg = await startRegistry();
    await pushImage(reg, 'mlrun/mlrun', '1.7.0');
    const chart = await lib.chartDefaultConfig();
    const doc = parseYaml(chart.text) as Record<string, Record<string, unknown>>;
    const mlrun = { ...doc['mlrun'], version: '1.9.2', imagesTag: '', imagesRegistry: `${reg.host}/`, vendorImagesRegistry: `${reg.host}/vendor/`, imagesToEnrichRegistry: '^mlrun/*,^python:3.(9|11)$,^quay.io/mlrun/' };
    const runtimeOf = (d: unknown) => {
      const r = loadConfigText(stringifyYaml(d), 'bench', {});
      if (!r.ok) throw new Error(`config refused: ${JSON.stringify(r.problems)}`);
      return r.runtime;
    };
    const off = runtimeOf({ ...doc, mlrun });
    const on = runtimeOf({ ...doc, mlrun, mirror: { ...doc['mirror'], enabled: true, insecureRegistries: [reg.host] } });
    let requests = 0;
    const created = createMirrorService({ onRequest: () => requests++, registries: [`${reg.host}/`, `${reg.host}/vendor/`], insecureRegistries: [reg.host], presentTtlMs: 86_400_000, intervalMs: 86_400_000 });
    if (!created.ok) throw new Error(JSON.stringify(created.problems));
    service = created.service;

    const text = readFileSync(path.join(lib.root, 'test/fixtures/admission/admission-typical.json'), 'utf8');
    const body = JSON.parse(text);
    const image = `${reg.host}/mlrun/mlrun:1.7.0`;
    // Cold: admit() lists the image for a look-up; the server would ask the registry (here: once, by hand).
    const cold = admit(body, on, { production: false, registry: service });
    if (JSON.stringify(cold.summary.lookups) !== JSON.stringify([image])) throw new Error(`cold admit should ask for ${image}: ${JSON.stringify(cold.summary.lookups)}`);
    await service.lookup([image], 5000);
    if (service.state(image).state !== 'present') throw new Error(`registry did not say present: ${JSON.stringify(service.state(image))}`);
    const warm = admit(body, on, { production: false, registry: service });
    if (warm.summary.lookups.length !== 0 || (warm.summary.warnings ?? []).length !== 0) throw new Error(`warm admit: ${JSON.stringify(warm.summary)}`);
    const plain = admit(body, off, { production: false });
    const patchOf = (r: Any) => r.body.response.patch;
    const decode = (r: Any) => Buffer.from(patchOf(r), 'base64').toString('utf8');
    // The same answer, but for the record annotation's "mirror" note, which is part of what mirror checks cost.
    if (decode(plain) !== decode(warm).replace(',\\"mirror\\":\\"present\\"', '')) {
      throw new Error(`mirror on changed the answer:\n${decode(plain)}\n${decode(warm)}`);
    }

    const afterWarming = requests;
    const logger = createLogger({ destination: pino.destination({ dest: '/dev/null', sync: true }) });
    const [admitOff, admitOn, allOff, allOn] = timeInterleaved([
      () => admit(body, off, { production: false }),
      () => admit(body, on, { production: false, registry: service }),
      () => {
        const r = admit(body, off, { production: false });
        JSON.stringify(r.body);
        logAdmission(logger, r.summary, 0.001234);
      },
      () => {
        const r = admit(body, on, { production: false, registry: service });
        JSON.stringify(r.body);
        logAdmission(logger, r.summary, 0.001234);
      },
    ]);
    // Every state() after warming was answered from memory.
    if (requests !== afterWarming) throw new Error(`${requests - afterWarming} registry request(s) while timing`);
    const us = (ns: number) => (ns / 1000).toFixed(2);
    console.log(`\nMirror check in process — typical body, ${path.join(lib.root, 'dist')}, Node ${process.version}, fastest of ${rounds} interleaved × ${roundMs} ms`);
    console.log(`admit(), mirror off                         ${us(admitOff!).padStart(7)} µs`);
    console.log(`admit(), mirror on, warm cache (present)    ${us(admitOn!).padStart(7)} µs   (${admitOn! >= admitOff! ? '+' : '−'}${us(Math.abs(admitOn! - admitOff!))} µs)`);
    console.log(`admit + answer JSON + log line, mirror off  ${us(allOff!).padStart(7)} µs`);
    console.log(`admit + answer JSON + log line, mirror on   ${us(allOn!).padStart(7)} µs   (${allOn! >= allOff! ? '+' : '−'}${us(Math.abs(allOn! - allOff!))} µs)`);
    console.log(`registry requests: ${afterWarming} while warming, ${requests - afterWarming} while timing`);
    console.log(`answer: the record annotation gains "mirror":"present" (${decode(warm).length - decode(plain).length} bytes of patch), nothing else`);
  } finally {
    service?.close();
    await reg?.stop();
  }
});
