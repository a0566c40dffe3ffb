/** Builds a Runtime for tests from a partial config; defaults come from the real schema, not a copy of it. */
import { validateConfig } from '../../src/config/load.js';
import { buildRuntime, type Runtime } from '../../src/config/runtime.js';
import type { Config } from '../../src/config/schema.js';

export interface ConfigOverrides {
  mlrun?: Partial<Config['mlrun']>;
  webhook?: Partial<Omit<Config['webhook'], 'corrections'>> & { corrections?: Partial<Config['webhook']['corrections']> };
}

export function testConfig(o: ConfigOverrides = {}): Config {
  const r = validateConfig({ mlrun: { version: '1.9.2', ...o.mlrun }, webhook: o.webhook ?? {} });
  if (!r.ok) throw new Error(r.problems.map((p) => `${p.key}: ${p.reason}`).join('; '));
  return r.config;
}

export function testRuntime(o: ConfigOverrides = {}): Runtime {
  const r = buildRuntime(testConfig(o));
  if (!r.ok) throw new Error(r.problems.map((p) => `${p.key}: ${p.reason}`).join('; '));
  return r.runtime;
}
