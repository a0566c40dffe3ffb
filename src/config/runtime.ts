/**
 * Turns a validated Config into what the admission path needs: a compiled resolver and the webhook options.
 * Built once per config (load or reload), never per request. Pure.
 */
import { compileResolver, type MlrunSettings, type Resolver, type ResolverOptions } from '../mlrun/engine.js';
import { compilePythonMatcher } from '../mlrun/pyregex.js';
import { rulesForCompat, rulesForVersion } from '../mlrun/rules.js';
import type { Config } from './schema.js';

export interface Runtime {
  config: Config;
  resolver: Resolver;
  /** What the production policy needs, compiled once per config (src/mlrun/policy.ts PinContext). */
  policy: {
    /** policy.allow, compiled with the linear-time Python matcher (re.match). */
    allow: readonly { source: string; match: (image: string) => boolean }[];
    /** The same settings without registries: the image a user writes for a pinned version. */
    unprefixed: Resolver;
  };
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
  const settings: MlrunSettings = {
    imagesTag: config.mlrun.imagesTag,
    imagesRegistry: config.mlrun.imagesRegistry,
    vendorImagesRegistry: config.mlrun.vendorImagesRegistry,
    imagesToEnrichRegistry: patterns,
    serverVersion: config.mlrun.version,
  };
  const options: ResolverOptions = {
    rules,
    kfpPythonSuffix: config.mlrun.kfpPythonSuffix,
    corrections: config.webhook.corrections,
    guardAlreadyPrefixed: true,
  };
  const resolver = compileResolver(settings, options);
  if (resolver.configError) {
    problems.push({
      key: config.mlrun.imagesToEnrichRegistry === null ? 'mlrun.imagesToEnrichRegistry (version default)' : 'mlrun.imagesToEnrichRegistry',
      reason: patternReason(resolver.configError),
    });
    return { ok: false, problems };
  }
  problems.push(...overridePatternProblems(config, options));
  const allow: Runtime['policy']['allow'][number][] = [];
  config.policy.allow.forEach((source, i) => {
    const compiled = compilePythonMatcher(source);
    if (compiled.ok) allow.push({ source, match: compiled.match });
    else problems.push({ key: `policy.allow[${i}]`, reason: patternReason(compiled) });
  });
  if (problems.length > 0) return { ok: false, problems };
  const unprefixed = compileResolver({ ...settings, imagesRegistry: '', vendorImagesRegistry: '' }, options);
  return { ok: true, runtime: { config, resolver, policy: { allow, unprefixed }, notes } };
}

/** discovery.overrides.imagesToEnrichRegistry replaces what discovery finds: refuse it now, not at the first sync. */
function overridePatternProblems(config: Config, options: ResolverOptions): ConfigProblem[] {
  const patterns = config.discovery.overrides.imagesToEnrichRegistry;
  if (patterns === null) return [];
  const probe = compileResolver(
    { imagesTag: '', imagesRegistry: '', vendorImagesRegistry: '', imagesToEnrichRegistry: patterns, serverVersion: config.mlrun.version },
    options,
  );
  if (!probe.configError) return [];
  return [{ key: 'discovery.overrides.imagesToEnrichRegistry', reason: patternReason(probe.configError) }];
}

/** One wording for a refused pattern, whichever key it came from. */
function patternReason(err: { kind: string; reason: string }): string {
  return `${err.kind === 'unsupported' ? 'pattern not supported' : 'invalid regular expression'}: ${err.reason}`;
}
