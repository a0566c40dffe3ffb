/**
 * `check-mirror`: does the mirror registry hold every image the webhook will send Pods to? The catalogue of the
 * MLRun version (the same mirror names the server writes) plus any --image, checked with HEAD requests; a table of
 * present / missing / unknown. A pre-upgrade or CI gate: it passes only when everything is known to be present.
 */
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { CatalogueEntry } from '../mlrun/catalogue.js';
import { createRegistryClient, type CheckResult, type RegistryClient } from '../registry/client.js';
import { checkMany, IMAGE_MAX_LENGTH, readKeyringFiles } from '../registry/mirror.js';
import { parseArgs, UsageError, usageFailure, configRefused } from './args.js';
import { catalogueFor, list, runtimeForVersion } from './catalogue.js';
import type { Io } from './resolve.js';

export const CHECK_MIRROR_USAGE = `Usage:
  mlrun-image-webhook check-mirror [--config F] [--pull-secret F]... [--mlrun-version V] [--python 3.9,3.11]
                                   [--image IMG]... [--insecure-registry HOST]... [--ca-file F]
                                   [--timeout-ms N] [--json]

Checks that the mirror registry holds every image of the catalogue of MLRun V (see "catalogue": the names the
webhook will write into Pods under mlrun.imagesRegistry / vendorImagesRegistry) and every --image, with one
HEAD request per image (nothing is downloaded). Prints a table: state, image, digest (present) or reason.
--pull-secret: a .dockerconfigjson file (an imagePullSecret's content) for registry credentials; repeatable.
--insecure-registry: host[:port] reached over plain HTTP; repeatable. --ca-file: PEM bundle added to the system
roots. Defaults for --pull-secret, --insecure-registry, --ca-file, --python and --timeout-ms come from the
config's mirror section when it has one; a flag given replaces that default.
Images the MLRun build files do not confirm ("unconfirmed") are reported but do not fail the check.
Exit codes: 0 every image present, 1 an image is missing or could not be checked (unknown: registry down,
unauthorized...; a gate must not pass on "registry down"), 2 usage or configuration error.`;

const REPEATABLE = ['pull-secret', 'image', 'insecure-registry'] as const;
type Repeatable = (typeof REPEATABLE)[number];
/** Images given on the command line at most (the catalogue itself is a few dozen). */
const MAX_EXTRA_IMAGES = 1000;

interface Defaults {
  pullSecretFiles: string[];
  insecureRegistries: string[];
  caFile: string;
  pythonVersions: string[];
  timeoutMs: number;
  concurrency: number;
}

interface Row {
  image: string;
  result: CheckResult;
  entry?: CatalogueEntry;
}

export async function runCheckMirror(argv: string[], io: Io): Promise<number> {
  let args;
  let repeated: Record<Repeatable, string[]>;
  try {
    const split = takeRepeatable(argv);
    repeated = split.repeated;
    args = parseArgs(split.rest, ['config', 'mlrun-version', 'python', 'ca-file', 'timeout-ms'], ['json']);
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(args.positionals[0])}`);
  } catch (e) {
    if (e instanceof UsageError) return usage(io, e.message);
    throw e;
  }
  const loaded = loadConfig({ file: args.values.get('config'), env: process.env });
  if (!loaded.ok) {
    return configRefused(io, loaded);
  }
  const defaults = mirrorDefaults(loaded.runtime.config);
  const timeoutText = args.values.get('timeout-ms');
  const timeoutMs = timeoutText === undefined ? defaults.timeoutMs : Number(timeoutText);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 300_000) return usage(io, '--timeout-ms must be an integer from 100 to 300000');
  if (repeated.image.length > MAX_EXTRA_IMAGES) return usage(io, `at most ${MAX_EXTRA_IMAGES} --image`);

  const runtime = runtimeForVersion(loaded.runtime, args.values.get('mlrun-version'));
  if (!runtime.ok) {
    io.stderr.write(`error: ${runtime.problems.map((p) => `${p.key}: ${p.reason}`).join('; ')}\n`);
    return 2;
  }
  const pythons = args.values.has('python') ? list(args.values.get('python')) : defaults.pythonVersions;
  const catalogue = catalogueFor(runtime.runtime, pythons);
  if (!catalogue.ok) {
    io.stderr.write(`error: ${catalogue.reason}\n`);
    return 2;
  }
  const rows = rowsToCheck(catalogue.entries, repeated.image);
  if (rows.length === 0) {
    io.stderr.write('error: nothing to check: no registry is configured (mlrun.imagesRegistry / vendorImagesRegistry) and no --image given\n');
    return 2;
  }

  const secrets = repeated['pull-secret'].length > 0 ? repeated['pull-secret'] : defaults.pullSecretFiles;
  const keyring = readKeyringFiles(secrets);
  if (keyring.unreadable.length > 0) {
    io.stderr.write(keyring.unreadable.map((p) => `error: pull secret ${p}\n`).join(''));
    return 2;
  }
  for (const p of keyring.problems) io.stderr.write(`note: pull secret ${p}\n`);
  let client: RegistryClient;
  try {
    const caFile = args.values.get('ca-file') ?? defaults.caFile;
    client = createRegistryClient({
      timeoutMs,
      concurrency: defaults.concurrency,
      maxQueue: rows.length,
      insecureRegistries: repeated['insecure-registry'].length > 0 ? repeated['insecure-registry'] : defaults.insecureRegistries,
      keyring: keyring.keyring,
      ...(caFile !== '' ? { caFile } : {}),
    });
  } catch (e) {
    io.stderr.write(`error: ${e instanceof Error ? e.message : 'cannot create the registry client'}\n`);
    return 2;
  }
  try {
    const results = await checkMany(
      rows.map((r) => r.image),
      { workers: defaults.concurrency, check: (image) => client.check(image) },
    );
    results.forEach((r, i) => (rows[i]!.result = r.result));
  } finally {
    client.close();
  }
  return report(io, rows, runtime.runtime.config.mlrun.version, args.flags.has('json'), catalogue.notes);
}

/** Pulls the repeatable options (--x V or --x=V) out of argv; the rest goes through the strict parser. */
function takeRepeatable(argv: string[]): { repeated: Record<Repeatable, string[]>; rest: string[] } {
  const repeated: Record<Repeatable, string[]> = { 'pull-secret': [], image: [], 'insecure-registry': [] };
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    const m = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg);
    const name = m?.[1] as Repeatable | undefined;
    if (!m || !name || !(REPEATABLE as readonly string[]).includes(name)) {
      rest.push(arg);
      continue;
    }
    const value = m[2] ?? argv[++i];
    if (value === undefined || value === '') throw new UsageError(`--${name} needs a value`);
    repeated[name].push(value);
  }
  return { repeated, rest };
}

/** The config's mirror section as flag defaults (a flag given replaces its default). */
function mirrorDefaults(config: Config): Defaults {
  const m = config.mirror;
  return {
    pullSecretFiles: m.pullSecretFiles,
    insecureRegistries: m.insecureRegistries,
    caFile: m.caFile,
    pythonVersions: m.pythonVersions,
    timeoutMs: m.timeoutMs,
    concurrency: m.concurrency,
  };
}

/** Catalogue entries that have a mirror name, then the --image list; each image once. */
function rowsToCheck(entries: readonly CatalogueEntry[], images: readonly string[]): Row[] {
  const rows: Row[] = [];
  const seen = new Set<string>();
  const pending: CheckResult = { state: 'unknown', reason: 'not checked' };
  for (const entry of entries) {
    if (entry.mirror === null || seen.has(entry.mirror)) continue;
    seen.add(entry.mirror);
    rows.push({ image: entry.mirror, result: pending, entry });
  }
  for (const image of images) {
    if (seen.has(image)) continue;
    seen.add(image);
    rows.push({ image, result: image.length > IMAGE_MAX_LENGTH ? { state: 'unknown', reason: 'image name too long' } : pending });
  }
  return rows;
}

function report(io: Io, rows: readonly Row[], mlrunVersion: string, json: boolean, notes: readonly string[]): number {
  const unconfirmed = (r: Row): boolean => r.entry !== undefined && !r.entry.confirmed;
  const missing = rows.filter((r) => r.result.state === 'missing');
  const failing = missing.filter((r) => !unconfirmed(r));
  const unknown = rows.filter((r) => r.result.state === 'unknown');
  const present = rows.length - missing.length - unknown.length;
  const code = failing.length > 0 || unknown.length > 0 ? 1 : 0;
  if (json) {
    const results = rows.map((r) => ({
      image: r.image,
      ...r.result,
      ...(r.entry ? { source: r.entry.source, role: r.entry.role, confirmed: r.entry.confirmed } : {}),
    }));
    const summary = { present, missing: missing.length, missingUnconfirmed: missing.length - failing.length, unknown: unknown.length, ok: code === 0 };
    io.stdout.write(`${JSON.stringify({ mlrunVersion, results, summary }, null, 2)}\n`);
  } else {
    io.stdout.write(table(rows));
    io.stdout.write(`\n${present} present, ${missing.length} missing, ${unknown.length} unknown (MLRun ${mlrunVersion}, ${rows.length} images)\n`);
    if (failing.length > 0) io.stdout.write(`MISSING: ${failing.length} image(s) not in the mirror: copy them (see "catalogue")\n`);
    if (missing.length > failing.length) {
      io.stdout.write(`note: ${missing.length - failing.length} missing image(s) are unconfirmed (MLRun may not publish them); not counted as failures\n`);
    }
    if (unknown.length > 0) io.stdout.write(`UNKNOWN: ${unknown.length} image(s) could not be checked (see the reasons): the mirror is not verified\n`);
    if (code === 0) io.stdout.write(missing.length > 0 ? 'OK: every confirmed image is in the mirror\n' : 'OK: every image is in the mirror\n');
  }
  for (const note of notes) io.stderr.write(`note: ${note}\n`);
  return code;
}

function table(rows: readonly Row[]): string {
  const width = Math.min(100, Math.max(5, ...rows.map((r) => r.image.length)));
  const detail = (r: Row): string => {
    const res = r.result;
    if (res.state === 'present') return res.digest ?? '(no digest)';
    if (res.state === 'missing') {
      const from = r.entry ? `copy from ${r.entry.source}` : 'not in the registry';
      return r.entry && !r.entry.confirmed ? `${from} (unconfirmed: ${r.entry.note ?? ''})` : from;
    }
    return res.reason ?? 'unknown';
  };
  const lines = [`${'STATE'.padEnd(8)} ${'IMAGE'.padEnd(width)} DIGEST / REASON`];
  for (const r of rows) lines.push(`${r.result.state.padEnd(8)} ${r.image.padEnd(width)} ${detail(r)}`);
  return `${lines.join('\n')}\n`;
}

function usage(io: Io, message: string): number {
  return usageFailure(io, CHECK_MIRROR_USAGE, message);
}
