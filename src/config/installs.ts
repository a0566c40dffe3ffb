/**
 * The config in effect for one discovered MLRun install (pure: no I/O).
 *
 * Precedence, highest first:
 *   1. discovery.overrides.* (non-null): values an operator deliberately sets apart from MLRun's;
 *   2. what the MLRun API container sees (MlrunInstall from src/cluster): the server version (its image tag) and
 *      the MLRUN_IMAGES_* variables, read with MLRun's json.loads like env overrides of the static config;
 *   3. the static config (file + the webhook's own env) — but only for what discovery does not speak for:
 *      - a key the MLRun API does not set means MLRun's default ('' or, for the enrich patterns, the discovered
 *        version's default patterns), NOT the static value: the webhook must resolve as that MLRun does;
 *      - a key discovery cannot follow (secretKeyRef, envFrom Secret, a kubelet-only value) keeps the static value;
 *      - mlrun.compat, mlrun.kfpPythonSuffix, webhook.*, policy.* ... stay static. mlrun.compat set in the static
 *        config is an explicit operator choice ("follow the rules of this version"), so it keeps applying on top of a
 *        discovered server version (which still is the tag of last resort).
 * The merged config then goes through the same validation and compilation as a config file: a discovered value the
 * server cannot use is refused, naming the key, the object it came from and the reason.
 */
import type { EnvValue, ImageKey, MlrunInstall } from '../cluster/types.js';
import { readEnvOverrides, validateAndBuild } from './load.js';
import type { ConfigProblem, Runtime } from './runtime.js';
import type { Config } from './schema.js';

/** The config keys discovery can set, with the MLRun variable each one is read from. */
export const DISCOVERED_KEYS = [
  { key: 'mlrun.version', field: 'version', env: undefined },
  { key: 'mlrun.imagesTag', field: 'imagesTag', env: 'MLRUN_IMAGES_TAG' },
  { key: 'mlrun.imagesRegistry', field: 'imagesRegistry', env: 'MLRUN_IMAGES_REGISTRY' },
  { key: 'mlrun.vendorImagesRegistry', field: 'vendorImagesRegistry', env: 'MLRUN_VENDOR_IMAGES_REGISTRY' },
  { key: 'mlrun.imagesToEnrichRegistry', field: 'imagesToEnrichRegistry', env: 'MLRUN_IMAGES_TO_ENRICH_REGISTRY' },
] as const satisfies readonly { key: string; field: keyof Config['mlrun']; env: ImageKey | undefined }[];

export type DiscoveredKey = (typeof DISCOVERED_KEYS)[number]['key'];
type ImageField = Exclude<(typeof DISCOVERED_KEYS)[number]['field'], 'version'>;

/** MLRun's value for a key its API's environment does not set (null: the version's default patterns). */
const MLRUN_DEFAULTS: Record<ImageField, string | null> = {
  imagesTag: '',
  imagesRegistry: '',
  vendorImagesRegistry: '',
  imagesToEnrichRegistry: null,
};

export type InstallRuntimeResult =
  | {
      ok: true;
      runtime: Runtime;
      /** Where each discovered key's effective value came from ("ConfigMap mlrun/x key K", "MLRun default ..."). */
      sources: Record<DiscoveredKey, string>;
    }
  | { ok: false; problems: ConfigProblem[] };

/** The effective value of a discovered key in a config, as a log-friendly string (null spelled out). */
export function discoveredValue(config: Config, key: DiscoveredKey): string | null {
  const field = key.slice('mlrun.'.length) as keyof Config['mlrun'];
  return config.mlrun[field];
}

/**
 * The runtime for Pods resolved with `install`: the static config with the install's settings merged over it as
 * described at the top of this file. Never throws; a refusal lists every problem at once.
 */
export function runtimeForInstall(staticConfig: Config, install: MlrunInstall): InstallRuntimeResult {
  const problems: ConfigProblem[] = [];
  const notes: string[] = [];
  const mlrun: Config['mlrun'] = { ...staticConfig.mlrun };
  /** The four image keys, written through one type (imagesToEnrichRegistry alone may be null). */
  const image = mlrun as unknown as Record<ImageField, string | null>;
  const sources = {} as Record<DiscoveredKey, string>;
  /** Dotted key → the object the value came from, to name it in validation problems. */
  const cameFrom = new Map<string, string>();

  // The server version: the MLRun API image's tag.
  if (install.serverVersion === undefined) {
    const why = install.problems.find((p) => p.includes('image')) ?? `${install.serverVersionSource}: no image tag`;
    problems.push({ key: 'mlrun.version', reason: `the MLRun version cannot be read from ${install.serverVersionSource} (${why})` });
  } else {
    mlrun.version = install.serverVersion;
    sources['mlrun.version'] = install.serverVersionSource;
    cameFrom.set('mlrun.version', install.serverVersionSource);
  }

  // The image keys: discovered (json.loads as MLRun reads them), not followed (static), or unset (MLRun's default).
  const raw: Partial<Record<ImageKey, string>> = {};
  for (const k of DISCOVERED_KEYS) if (k.env && install.env[k.env]) raw[k.env] = install.env[k.env]!.value;
  const read = readEnvOverrides(raw);
  const refused = new Map(read.problems.map((p) => [p.key.replace(/^env /, ''), p.reason]));
  for (const k of DISCOVERED_KEYS) {
    if (!k.env) continue;
    const field = k.field as ImageField;
    const found: EnvValue | undefined = install.env[k.env];
    const notFollowed = install.notFollowed.find((n) => n.key === k.env);
    if (found) {
      const reason = refused.get(k.env);
      if (reason !== undefined) {
        problems.push({ key: k.key, reason: `${k.env} from ${found.source}: ${reason}` });
        continue;
      }
      image[field] = read.config.mlrun?.[field] ?? found.value;
      sources[k.key] = found.source;
      cameFrom.set(k.key, found.source);
      for (const n of read.notes) if (n.startsWith(`env ${k.env}=`)) notes.push(`${n} (from ${found.source})`);
    } else if (notFollowed) {
      sources[k.key] = `static config (not followed: ${notFollowed.source}: ${notFollowed.reason})`;
      notes.push(`${k.key} keeps the static value ${JSON.stringify(staticConfig.mlrun[field])}: ${k.env} is not followed (${notFollowed.source}: ${notFollowed.reason})`);
    } else {
      image[field] = MLRUN_DEFAULTS[field];
      sources[k.key] = `MLRun default (${install.followed} does not set ${k.env})`;
    }
  }

  // Explicit overrides beat what was discovered.
  for (const [field, value] of Object.entries(staticConfig.discovery.overrides) as [ImageField, string | null][]) {
    if (value === null) continue;
    const key = `mlrun.${field}` as DiscoveredKey;
    image[field] = value;
    sources[key] = `discovery.overrides.${field}`;
    cameFrom.set(key, `discovery.overrides.${field}`);
  }
  if (problems.length > 0) return { ok: false, problems };

  if (staticConfig.mlrun.compat) {
    notes.push(`mlrun.compat ${staticConfig.mlrun.compat} is set in the static config: its image rules apply, not those of the discovered MLRun ${mlrun.version}`);
  }
  for (const p of install.problems) notes.push(`${install.namespace}: ${p}`);

  const built = validateAndBuild({ ...staticConfig, mlrun });
  if (!built.ok) {
    return {
      ok: false,
      problems: built.problems.map((p) => {
        const from = cameFrom.get(p.key.split(' ')[0]!);
        return from ? { key: p.key, reason: `${p.reason} (value from ${from})` } : p;
      }),
    };
  }
  return { ok: true, runtime: { ...built.runtime, notes: [...built.runtime.notes, ...notes] }, sources };
}
