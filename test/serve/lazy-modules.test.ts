/**
 * `serve` loads the registry client and the catalogue only when a config needs registry look-ups (mirror.enabled or
 * policy.pinDigests: resolve): with the chart's defaults their code never sits in the heap. A reload that switches
 * look-ups on loads them then and builds the service. (Own file: the loaded state is per module instance.)
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { mirrorLoaded } from '../../src/cli/serve.js';
import { until } from '../helpers/envtest.js';
import { startServe } from '../helpers/serve.js';
import { h1Request, servingFiles, writeAtomic } from '../server/helpers.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('serve: registry client loaded only when needed', () => {
  it('answers with look-ups off without loading it, and loads it on the reload that turns them on', async () => {
    const files = await servingFiles('serve-lazy');
    cleanups.push(files.cleanup);
    const config = path.join(files.dir, 'config.yaml');
    const base = 'mlrun:\n  version: 1.9.2\n  imagesRegistry: registry-a.example/\n';
    await writeFile(config, base);
    const { signals, logs, s } = await startServe(config, files, (stop) => cleanups.push(stop));
    const body = await readFile(path.join(import.meta.dirname, '../fixtures/admission/admission-typical.json'));
    const answer = await h1Request(s.httpsUrl, { ca: files.pki.ca.cert, headers: { 'content-type': 'application/json' }, body });
    expect(answer.status).toBe(200);
    expect(answer.json().response.allowed).toBe(true);
    expect(mirrorLoaded()).toBe(false);

    // Digest pinning needs registry look-ups (no background rounds, so no registry is contacted here).
    await writeAtomic(config, `${base}policy:\n  pinDigests: resolve\n`);
    signals.emit('SIGHUP', 'SIGHUP');
    await until('look-ups on', () => logs.lines.find((l) => String(l.msg).startsWith('registry look-ups on for digest pinning')));
    expect(mirrorLoaded()).toBe(true);
    expect(logs.lines.find((l) => l.msg === 'new config refused; the previous config keeps serving')).toBeUndefined();
  });
});
