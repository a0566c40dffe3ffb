/**
 * `catalogue`: the images an MLRun version needs and where the webhook will make Pods pull them from, as a copy
 * list for an air-gapped site (plain pairs, a crane script or a skopeo script). Same config loader and engine as
 * the server, so the mirror names are exactly what Pods will get.
 */
import { buildCatalogue, formatCatalogue, type CatalogueFormat, type CatalogueResult } from '../mlrun/catalogue.js';
import { loadConfig } from '../config/load.js';
import { buildRuntime, type Runtime } from '../config/runtime.js';
import type { Config } from '../config/schema.js';
import { parseArgs, UsageError, usageFailure, configRefused } from './args.js';
import type { Io } from './resolve.js';

export const CATALOGUE_USAGE = `Usage:
  mlrun-image-webhook catalogue [--mlrun-version V] [--python 3.9,3.11] [--client-versions V,...]
                                [--config F] [--format list|crane|skopeo] [--json]

Lists the images MLRun V publishes and needs (runtime images per python version, infrastructure images, python
base images) with the mirror name each gets under the configured registries, computed by the same engine that
resolves Pods. Default V: the config's mlrun.version. --python: the client python versions in use (default: those
the release publishes). --client-versions: older SDK versions still in use (they pull their own tags).
Formats: list ("source mirror" lines), crane (a crane copy script), skopeo (a skopeo copy script); --json for all
the fields. Images no rule redirects are listed as comments. Entries the MLRun build files do not confirm are
marked "unconfirmed".
Exit codes: 0 done, 2 usage or configuration error.`;

const FORMATS: readonly CatalogueFormat[] = ['list', 'crane', 'skopeo'];

export async function runCatalogue(argv: string[], io: Io): Promise<number> {
  let args;
  try {
    args = parseArgs(argv, ['mlrun-version', 'python', 'client-versions', 'config', 'format'], ['json']);
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(args.positionals[0])}`);
  } catch (e) {
    if (e instanceof UsageError) return usage(io, e.message);
    throw e;
  }
  const format = (args.values.get('format') ?? 'list') as CatalogueFormat;
  if (!FORMATS.includes(format)) return usage(io, `--format must be one of ${FORMATS.join(', ')}`);

  const loaded = loadConfig({ file: args.values.get('config'), env: process.env });
  if (!loaded.ok) {
    return configRefused(io, loaded);
  }
  const runtime = runtimeForVersion(loaded.runtime, args.values.get('mlrun-version'));
  if (!runtime.ok) {
    io.stderr.write(`error: ${runtime.problems.map((p) => `${p.key}: ${p.reason}`).join('; ')}\n`);
    return 2;
  }
  const result = catalogueFor(runtime.runtime, list(args.values.get('python')), list(args.values.get('client-versions')));
  if (!result.ok) {
    io.stderr.write(`error: ${result.reason}\n`);
    return 2;
  }
  if (args.flags.has('json')) {
    io.stdout.write(`${JSON.stringify({ mlrunVersion: runtime.runtime.config.mlrun.version, entries: result.entries, notes: result.notes }, null, 2)}\n`);
  } else {
    io.stdout.write(formatCatalogue(result.entries, format));
  }
  for (const note of result.notes) io.stderr.write(`note: ${note}\n`);
  return 0;
}

/** The catalogue of the runtime's MLRun version under its settings (also used by check-mirror and the server). */
export function catalogueFor(runtime: Runtime, pythons: string[] = [], clients: string[] = []): CatalogueResult {
  const { config, resolver } = runtime;
  return buildCatalogue({
    mlrunVersion: config.mlrun.version,
    family: resolver.rules.family,
    settings: resolver.settings,
    resolverOptions: {
      rules: resolver.rules,
      kfpPythonSuffix: config.mlrun.kfpPythonSuffix,
      corrections: config.webhook.corrections,
      guardAlreadyPrefixed: true,
    },
    pythonVersions: pythons,
    clientVersions: clients,
  });
}

/** The same config for another MLRun version (its default patterns, unless the config names its own). */
export function runtimeForVersion(runtime: Runtime, version: string | undefined): ReturnType<typeof buildRuntime> {
  if (version === undefined || version === runtime.config.mlrun.version) return { ok: true, runtime };
  const config: Config = { ...runtime.config, mlrun: { ...runtime.config.mlrun, version, compat: '' } };
  return buildRuntime(config);
}

export function list(text: string | undefined): string[] {
  return text === undefined ? [] : text.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

function usage(io: Io, message: string): number {
  return usageFailure(io, CATALOGUE_USAGE, message);
}
