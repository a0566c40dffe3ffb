/**
 * MLRun's own resolution results (test/fixtures/mlrun-vectors.jsonl, recorded by running enrich_image_url at six
 * MLRun tags) replayed through the engine. Every vector must match; an `error` vector passes when the engine
 * returns an error outcome of the same kind.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { compileResolver, type MlrunSettings } from '../../src/mlrun/engine.js';
import { rulesForVersion } from '../../src/mlrun/rules.js';

interface Vector {
  case_id: string;
  group: string;
  image: string;
  client_version: string | null;
  client_python_version: string | null;
  config: {
    images_tag: string | null;
    images_registry: string | null;
    vendor_images_registry: string | null;
    images_to_enrich_registry: string | null;
    server_version: string | null;
  };
  expected: string | null;
  error?: string;
  oracle: { mlrun_tag: string };
}

const file = fileURLToPath(new URL('../fixtures/mlrun-vectors.jsonl', import.meta.url));
const vectors: Vector[] = readFileSync(file, 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as Vector);

const byOracle = new Map<string, Vector[]>();
for (const v of vectors) {
  const list = byOracle.get(v.oracle.mlrun_tag) ?? [];
  list.push(v);
  byOracle.set(v.oracle.mlrun_tag, list);
}
const counts: string[] = [];

describe('MLRun vectors', () => {
  it('has the 2,274 public vectors over six MLRun versions', () => {
    expect(vectors.length).toBe(2274);
    expect(byOracle.size).toBe(6);
  });

  for (const [tag, list] of byOracle) {
    it(`reproduces every vector of MLRun ${tag}`, () => {
      const rules = rulesForVersion(tag.replace(/^v/, ''));
      if (!rules.ok) throw new Error(rules.reason);
      const failures: string[] = [];
      let errors = 0;
      for (const v of list) {
        const settings: MlrunSettings = {
          imagesTag: v.config.images_tag,
          imagesRegistry: v.config.images_registry,
          vendorImagesRegistry: v.config.vendor_images_registry,
          imagesToEnrichRegistry: v.config.images_to_enrich_registry,
          serverVersion: v.config.server_version,
        };
        const r = compileResolver(settings, { rules: rules.rules }).resolve(
          v.image,
          v.client_version,
          v.client_python_version,
        );
        const got = r.ok ? JSON.stringify(r.image) : `error ${r.error}`;
        const want = v.error ? `error ${v.error}` : JSON.stringify(v.expected);
        if (v.error) errors++;
        if (got !== want) failures.push(`${v.case_id} [${v.group}] ${JSON.stringify(v.image)} cv=${v.client_version} py=${v.client_python_version} cfg=${JSON.stringify(v.config)}: want ${want}, got ${got}`);
      }
      counts.push(`${tag} (${rules.rules.label}): ${list.length - failures.length}/${list.length} pass, ${errors} error vectors`);
      expect(failures.slice(0, 20)).toEqual([]);
    });
  }

  afterAll(() => {
    // Printed so CI logs show coverage per MLRun version family.
    console.log(`MLRun vectors per family:\n  ${counts.join('\n  ')}`);
  });
});
