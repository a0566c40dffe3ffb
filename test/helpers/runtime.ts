/** Builds a Runtime for tests from a partial config, with the schema's defaults. */
import { buildRuntime, type Runtime } from '../../src/config/runtime.js';
import type { Config } from '../../src/config/schema.js';

export interface ConfigOverrides {
  mlrun?: Partial<Config['mlrun']>;
  webhook?: Partial<Omit<Config['webhook'], 'corrections'>> & { corrections?: Partial<Config['webhook']['corrections']> };
}

export function testConfig(o: ConfigOverrides = {}): Config {
  return {
    mlrun: {
      version: '1.9.2',
      compat: '',
      imagesTag: '',
      imagesRegistry: '',
      vendorImagesRegistry: '',
      imagesToEnrichRegistry: null,
      kfpPythonSuffix: 'auto',
      ...o.mlrun,
    },
    webhook: {
      mode: 'enforce',
      optOutKey: 'mlrun-image-webhook/skip',
      annotationKey: 'mlrun-image-webhook/images',
      ...o.webhook,
      corrections: { tagImagesWithRegistryPort: false, exactMlrunPattern: false, ...o.webhook?.corrections },
    },
    log: { level: 'info' },
  };
}

export function testRuntime(o: ConfigOverrides = {}): Runtime {
  const r = buildRuntime(testConfig(o));
  if (!r.ok) throw new Error(r.problems.map((p) => `${p.key}: ${p.reason}`).join('; '));
  return r.runtime;
}
