/**
 * Turns a validated Config into what the admission path needs: a compiled resolver and the webhook options.
 * Built once per config (load or reload), never per request. Pure.
 */
import { compileResolver, type Resolver } from '../mlrun/engine.js';
import { rulesForCompat, rulesForVersion } from '../mlrun/rules.js';
import type { Config } from './schema.js';

export interface Runtime {
  config: Config;
  resolver: Resolver;
  /** Notes worth logging at load time (e.g. "newer than the newest known rules"). */
  notes: string[];
}

export interface ConfigProblem {
  /** Dotted key, e.g. mlrun.imagesToEnrichRegistry */
  key: string;
  reason: string;
}

export type RuntimeResult = { ok: true; runtime: Runtime } | { ok: false; problems: ConfigProblem[] };

export function buildRuntime(config: Config): RuntimeResult {
  const problems: ConfigProblem[] = [];
  const notes: string[] = [];
  const compatKey = config.mlrun.compat ? 'mlrun.compat' : 'mlrun.version';
  const rulesResult = config.mlrun.compat ? rulesForCompat(config.mlrun.compat) : rulesForVersion(config.mlrun.version);
  if (!rulesResult.ok) {
    problems.push({ key: compatKey, reason: rulesResult.reason });
    return { ok: false, problems };
  }
  if (rulesResult.note) notes.push(rulesResult.note);
  const rules = rulesResult.rules;
  const patterns = config.mlrun.imagesToEnrichRegistry ?? rules.defaultEnrichPatterns;
  if (config.mlrun.vendorImagesRegistry && !rules.vendorRegistry) {
    notes.push(`mlrun.vendorImagesRegistry is ignored: ${rules.label} have no vendor registry (MLRun >= 1.7)`);
  }
  const resolver = compileResolver(
    {
      imagesTag: config.mlrun.imagesTag,
      imagesRegistry: config.mlrun.imagesRegistry,
      vendorImagesRegistry: config.mlrun.vendorImagesRegistry,
      imagesToEnrichRegistry: patterns,
      serverVersion: config.mlrun.version,
    },
    {
      rules,
      kfpPythonSuffix: config.mlrun.kfpPythonSuffix,
      corrections: config.webhook.corrections,
      guardAlreadyPrefixed: true,
    },
  );
  if (resolver.configError) {
    const what = resolver.configError.kind === 'unsupported' ? 'pattern not supported' : 'invalid regular expression';
    problems.push({
      key: config.mlrun.imagesToEnrichRegistry === null ? 'mlrun.imagesToEnrichRegistry (version default)' : 'mlrun.imagesToEnrichRegistry',
      reason: `${what}: ${resolver.configError.reason}`,
    });
    return { ok: false, problems };
  }
  return { ok: true, runtime: { config, resolver, notes } };
}
