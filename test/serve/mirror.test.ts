/**
 * `serve` with the mirror check on, end to end against a real docker-registry: the background round over the
 * catalogue (metrics, one log line when the missing set changes), registry requests counted, admissions told what
 * the mirror holds, and a config reload that points the webhook at another registry rebuilding the service.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { podCreateReview } from '../../src/admission/review.js';
import { until } from '../helpers/envtest.js';
import { startServe } from '../helpers/serve.js';
import { pushImage, type PushedImage, REGISTRY_SKIP_REASON, registryBinary, startRegistry, type RunningRegistry } from '../helpers/registry-server.js';
import { decodePatch, h1Request, httpGet, metricValue, servingFiles, writeAtomic } from '../server/helpers.js';

const JSON_HEADERS = { 'content-type': 'application/json' };
const skip = registryBinary() === undefined;
if (skip) console.log(`test/serve/mirror.test.ts skipped: ${REGISTRY_SKIP_REASON}`);

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function config(registry: RunningRegistry, others: RunningRegistry[] = []): string {
  return [
    'mlrun:',
    '  version: 1.9.2',
    `  imagesRegistry: ${registry.host}/`,
    'mirror:',
    '  enabled: true',
    `  insecureRegistries: [${[registry, ...others].map((r) => JSON.stringify(r.host)).join(', ')}]`,
    '  budgetMs: 2000',
    '',
  ].join('\n');
}

const serve = (file: string, files: { certFile: string; keyFile: string }) => startServe(file, files, (stop) => cleanups.push(stop));

describe.skipIf(skip)('serve with the mirror check against a real registry', () => {
  let a: RunningRegistry;
  let b: RunningRegistry;
  let pushed: PushedImage;
  beforeAll(async () => {
    a = await startRegistry();
    b = await startRegistry();
    pushed = await pushImage(a, 'mlrun/mlrun', '1.9.2');
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
  });

  it('counts the catalogue round, logs the missing images once, and follows a reload to another registry', async () => {
    const files = await servingFiles('serve-mirror');
    cleanups.push(files.cleanup);
    const file = path.join(files.dir, 'config.yaml');
    await writeFile(file, config(a, [b]));
    const { signals, logs, running, s } = await serve(file, files);
    const metrics = async () => (await httpGet(`${s.healthUrl}/metrics`)).body;

    // The first round runs at start over the catalogue of 1.9.2 under registry a: one image pushed, the rest missing.
    const missingLine = await until('missing images logged', () => logs.lines.find((l) => l.msg.startsWith('mirror: images missing')));
    expect(missingLine.present).toBeGreaterThanOrEqual(1);
    expect(missingLine.missing).toBeGreaterThan(0);
    expect(missingLine.images).not.toContain(`${a.host}/mlrun/mlrun:1.9.2`);
    expect(missingLine.images.every((i: string) => i.startsWith(`${a.host}/`))).toBe(true);
    let text = await metrics();
    expect(metricValue(text, 'mlrun_image_webhook_mirror_images{state="present"}')).toBe(missingLine.present);
    expect(metricValue(text, 'mlrun_image_webhook_mirror_images{state="missing"}')).toBe(missingLine.missing);
    expect(metricValue(text, `mlrun_image_webhook_registry_requests_total{registry="${a.host}",kind="manifest",status="200"}`)).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, `mlrun_image_webhook_registry_requests_total{registry="${a.host}",kind="manifest",status="404"}`)).toBe(missingLine.missing);

    // An admission rewriting to registry a: the Pod is admitted, the image is the mirror's.
    const body = JSON.stringify(podCreateReview({ metadata: { name: 'job' }, spec: { containers: [{ name: 'c', image: 'mlrun/mlrun' }] } }, { uid: 'u', namespace: 'mlrun' }));
    const res = await h1Request(s.httpsUrl, { ca: files.pki.ca.cert, headers: JSON_HEADERS, body });
    expect(res.status).toBe(200);
    expect(decodePatch(res.json())?.find((o: any) => o.path === '/spec/containers/0/image')?.value).toBe(`${a.host}/mlrun/mlrun:1.9.2`);

    // Reload to registry b: the service is rebuilt for it and its first round sees b (which holds nothing).
    await writeAtomic(file, config(b, [a]));
    await until('mirror rebuilt for b', () => logs.lines.some((l) => l.msg === 'mirror checks on' && l.registries?.includes(`${b.host}/`)));
    const bLine = await until('b round logged', () => logs.lines.find((l) => l.msg.startsWith('mirror: images missing') && l.images[0]?.startsWith(`${b.host}/`)));
    expect(bLine.present).toBe(0);
    text = await metrics();
    expect(metricValue(text, 'mlrun_image_webhook_mirror_images{state="present"}')).toBe(0);
    // One line per change of the missing set, not one per round.
    expect(logs.lines.filter((l) => l.msg.startsWith('mirror: images missing'))).toHaveLength(2);
    signals.emit('SIGTERM', 'SIGTERM');
    expect(await running).toBe(0);
  });

  it('policy.pinDigests resolve without the mirror checks: production Pods get the digest the registry holds; no background round', async () => {
    const files = await servingFiles('serve-digest');
    cleanups.push(files.cleanup);
    const file = path.join(files.dir, 'config.yaml');
    await writeFile(
      file,
      ['mlrun:', '  version: 1.9.2', `  imagesRegistry: ${a.host}/`, 'mirror:', `  insecureRegistries: [${JSON.stringify(a.host)}]`, '  budgetMs: 2000', 'policy:', '  pinDigests: resolve', ''].join('\n'),
    );
    const { logs, s } = await serve(file, files);
    const admitted = async (p: string) => {
      const body = JSON.stringify(podCreateReview({ metadata: { name: 'job' }, spec: { containers: [{ name: 'c', image: 'mlrun/mlrun' }] } }, { uid: 'u', namespace: 'prod' }));
      const res = await h1Request(s.httpsUrl, { path: p, ca: files.pki.ca.cert, headers: JSON_HEADERS, body });
      return decodePatch(res.json())?.find((o: any) => o.path === '/spec/containers/0/image')?.value;
    };
    // The first production admission asks the registry within the budget; the second pass adds the digest.
    expect(await admitted('/mutate/production')).toBe(`${a.host}/mlrun/mlrun:1.9.2@${pushed.digest}`);
    expect(await admitted('/mutate')).toBe(`${a.host}/mlrun/mlrun:1.9.2`);
    expect(logs.lines.some((l) => l.msg.startsWith('registry look-ups on for digest pinning'))).toBe(true);
    expect(logs.lines.some((l) => l.msg.startsWith('mirror:'))).toBe(false);
    const text = await (await httpGet(`${s.healthUrl}/metrics`)).body;
    expect(metricValue(text, 'mlrun_image_webhook_policy_decisions_total{policy="pin-digests",action="resolved"}')).toBe(1);
    // Exactly the one look-up: no background round over the catalogue.
    expect(metricValue(text, `mlrun_image_webhook_registry_requests_total{registry="${a.host}",kind="manifest",status="200"}`)).toBe(1);
  });
});
