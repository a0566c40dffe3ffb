/**
 * `resolve`: one image (human or --json output), or batch mode (--jsonl) over vector-shaped JSON lines on stdin.
 *
 * Batch mode is an exact-MLRun mode: config values are used as given ("" is a value, null is None), no webhook
 * guard against double prefixes, and `error` carries the exception MLRun would raise.
 */
import type { Readable, Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import {
  compileResolver,
  type KfpPythonSuffix,
  type MlrunSettings,
  type Resolution,
  type Resolver,
  type ResolverOptions,
} from '../mlrun/engine.js';
import { PIN_TAGS_MODES, pinReport, type PinReport, type PinTagsMode } from '../mlrun/policy.js';
import { normalizeVersionLabel, rulesForCompat, rulesForVersion } from '../mlrun/rules.js';
import { parseArgs, UsageError, usageFailure } from './args.js';
import { isJsonObject as isObj, type JsonObject as Json } from '../util/json.js';

const VALUE_OPTIONS = [
  'client-version',
  'python-version',
  'mlrun-version',
  'mlrun-compat',
  'images-registry',
  'vendor-images-registry',
  'images-tag',
  'enrich-patterns',
  'kfp-python-suffix',
  'namespace-policy',
  'pin-mlrun-version',
  'pin-tags',
] as const;
const BOOLEAN_OPTIONS = ['json', 'jsonl', 'tag-images-with-registry-port', 'exact-mlrun-pattern'] as const;
const PER_LINE_OPTIONS: string[] = ['client-version', 'python-version', 'images-registry', 'vendor-images-registry', 'images-tag', 'enrich-patterns'];
const KFP_MODES: readonly KfpPythonSuffix[] = ['auto', 'exempt', 'always', 'client-at-least-1.10'];

export const RESOLVE_USAGE = `Usage:
  mlrun-image-webhook resolve IMAGE [--client-version V] [--python-version V] [--mlrun-version V]
      [--mlrun-compat V] [--images-registry R] [--vendor-images-registry R] [--images-tag T]
      [--enrich-patterns P] [--kfp-python-suffix auto|exempt|always|client-at-least-1.10]
      [--tag-images-with-registry-port] [--exact-mlrun-pattern] [--json]
      [--namespace-policy production [--pin-mlrun-version V] [--pin-tags off|warn|deny|rewrite]]
  mlrun-image-webhook resolve --jsonl --mlrun-compat VERSION [--mlrun-version V] [--kfp-python-suffix M]
      [--tag-images-with-registry-port] [--exact-mlrun-pattern]   < cases.jsonl > results.jsonl

--mlrun-version is the MLRun server version (default: the --mlrun-compat version, else 1.9.2); its rules are
followed unless --mlrun-compat names another version (also as a tag or PyPI version: v1.9.2, 1.10.0rc18, 1.9).
--enrich-patterns defaults to that version's images_to_enrich_registry. --namespace-policy production also prints
the production policy's verdict on IMAGE and the image to use (--pin-tags, default deny; --pin-mlrun-version: the
namespace's pinned MLRun version); with --pin-tags rewrite the pin is resolved. In --jsonl mode each line carries image,
versions and config; a line without config.server_version gets --mlrun-version, else the --mlrun-compat version.
Exit codes: 0 resolved (changed or not; in --jsonl mode also lines where MLRun would raise), 1 MLRun would raise
for IMAGE, the production policy would deny it, or an input line is not a JSON object ("invalid-input"), 2 usage
or config error.`;

export interface Io {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
}

export async function runResolve(argv: string[], io: Io): Promise<number> {
  let args;
  try {
    args = parseArgs(argv, VALUE_OPTIONS, BOOLEAN_OPTIONS);
  } catch (e) {
    if (e instanceof UsageError) return usage(io, e.message);
    throw e;
  }
  const v = (k: (typeof VALUE_OPTIONS)[number]) => args.values.get(k);
  const kfp = v('kfp-python-suffix') ?? 'auto';
  if (!KFP_MODES.includes(kfp as KfpPythonSuffix)) {
    return usage(io, `--kfp-python-suffix must be one of ${KFP_MODES.join(', ')}, got ${JSON.stringify(kfp)}`);
  }
  const switches = {
    kfpPythonSuffix: kfp as KfpPythonSuffix,
    corrections: {
      tagImagesWithRegistryPort: args.flags.has('tag-images-with-registry-port'),
      exactMlrunPattern: args.flags.has('exact-mlrun-pattern'),
    },
  };
  if (args.flags.has('jsonl')) {
    if (args.positionals.length > 0) return usage(io, '--jsonl reads images from stdin; do not pass IMAGE');
    // Each line carries its own image, versions and config: options that would set them have no meaning here.
    const perLine = PER_LINE_OPTIONS.filter((o) => args.values.has(o));
    if (perLine.length > 0) {
      return usage(io, `--jsonl takes image, versions and config from each input line; drop ${perLine.map((o) => `--${o}`).join(', ')}`);
    }
    const compat = v('mlrun-compat') ?? v('mlrun-version');
    if (!compat) return usage(io, '--jsonl needs --mlrun-compat VERSION');
    const rules = v('mlrun-compat') ? rulesForCompat(compat) : rulesForVersion(compat);
    if (!rules.ok) return usage(io, `${v('mlrun-compat') ? '--mlrun-compat' : '--mlrun-version'}: ${rules.reason}`);
    // A line without config.server_version: MLRun's own version, i.e. the server version given, else the
    // version whose rules are followed.
    const serverVersion = v('mlrun-version') ?? normalizeVersionLabel(compat);
    const invalid = await runBatch({ rules: rules.rules, ...switches }, serverVersion, io);
    // A line MLRun would raise on is an answer; a line that is not a JSON object is an input that failed.
    return invalid > 0 ? 1 : 0;
  }
  if (args.positionals.length !== 1) return usage(io, 'give exactly one IMAGE');
  const policyOptions = ['pin-mlrun-version', 'pin-tags'].filter((o) => args.values.has(o as (typeof VALUE_OPTIONS)[number]));
  const namespacePolicy = v('namespace-policy');
  if (namespacePolicy !== undefined && namespacePolicy !== 'production') {
    return usage(io, `--namespace-policy must be production, got ${JSON.stringify(namespacePolicy)}`);
  }
  if (namespacePolicy === undefined && policyOptions.length > 0) {
    return usage(io, `${policyOptions.map((o) => `--${o}`).join(', ')} need --namespace-policy production`);
  }
  const pinTags = v('pin-tags') ?? 'deny';
  if (!(PIN_TAGS_MODES as readonly string[]).includes(pinTags)) {
    return usage(io, `--pin-tags must be one of ${PIN_TAGS_MODES.join(', ')}, got ${JSON.stringify(pinTags)}`);
  }
  const pinVersion = v('pin-mlrun-version') ?? null;
  if (pinVersion !== null && !rulesForVersion(pinVersion).ok) return usage(io, `--pin-mlrun-version: ${JSON.stringify(pinVersion)} is not an MLRun version`);
  let image = args.positionals[0]!;
  // As in batch mode: without --mlrun-version, MLRun's own version is the one whose rules are followed.
  const mlrunVersion = v('mlrun-version') ?? (v('mlrun-compat') ? normalizeVersionLabel(v('mlrun-compat')!) : '1.9.2');
  const rules = v('mlrun-compat') ? rulesForCompat(v('mlrun-compat')!) : rulesForVersion(mlrunVersion);
  if (!rules.ok) return usage(io, `${v('mlrun-compat') ? '--mlrun-compat' : '--mlrun-version'}: ${rules.reason}`);
  const resolver = compileResolver(
    {
      imagesTag: v('images-tag') ?? '',
      imagesRegistry: v('images-registry') ?? '',
      vendorImagesRegistry: v('vendor-images-registry') ?? '',
      imagesToEnrichRegistry: v('enrich-patterns') ?? rules.rules.defaultEnrichPatterns,
      serverVersion: mlrunVersion,
    },
    { rules: rules.rules, ...switches },
  );
  if (resolver.configError?.kind === 'unsupported') {
    return usage(io, `--enrich-patterns: ${resolver.configError.reason}`);
  }
  let policy: PinReport | undefined;
  if (namespacePolicy === 'production') {
    // The image a user writes for the pinned version: this engine without registries (the prefix comes after).
    const unprefixed = compileResolver({ ...resolver.settings, imagesTag: '', imagesRegistry: '', vendorImagesRegistry: '' }, { rules: rules.rules, ...switches });
    const ctx = { mlrunVersion: pinVersion, allow: [], unprefixed, clientPythonVersion: v('python-version') ?? null };
    policy = pinReport('IMAGE', image, ctx, pinTags as PinTagsMode);
    if (policy.action === 'rewrite' && policy.suggestion !== undefined) image = policy.suggestion;
  }
  const input = args.positionals[0]!;
  const r = resolver.resolve(image, v('client-version') ?? null, v('python-version') ?? null);
  if (args.flags.has('json')) {
    io.stdout.write(
      JSON.stringify({
        input,
        rules: rules.rules.label,
        ...(rules.note ? { note: rules.note } : {}),
        ...(policy ? { policy } : {}),
        ...(r.ok
          ? { image: r.image, changed: r.changed, actions: r.actions, reasons: r.reasons }
          : { image: null, error: r.error, reason: r.reason }),
      }) + '\n',
    );
  } else if (r.ok) {
    io.stdout.write(`${r.image}\n`);
    io.stderr.write(`  ${rules.rules.label}\n${r.reasons.map((x) => `  - ${x}\n`).join('')}`);
    if (policy) {
      const why = policy.message.replace(/^container "IMAGE": /, '');
      io.stderr.write(`  production policy (pinTags ${pinTags}): ${policy.verdict} -> ${policy.action}${why ? `: ${why}` : ''}\n`);
    }
    if (rules.note) io.stderr.write(`  note: ${rules.note}\n`);
  } else {
    io.stderr.write(`error: MLRun would raise ${r.error}: ${r.reason}\n  (the webhook leaves such an image unchanged and warns)\n`);
  }
  return r.ok && policy?.action !== 'deny' ? 0 : 1;
}

function usage(io: Io, message: string): number {
  return usageFailure(io, RESOLVE_USAGE, message);
}


/**
 * One output line per input line, in order; a bad line gets an error line, never stops the batch; returns how many
 * lines were not JSON objects. Lines end at
 * "\n" only (a lone "\r" is JSON whitespace, not a line break); "\r\n" and a UTF-8 byte order mark are accepted;
 * blank lines are skipped.
 */
async function runBatch(options: ResolverOptions, serverVersion: string, io: Io): Promise<number> {
  const cache = new Map<string, Resolver>();
  let invalid = 0;
  const emit = async (line: string) => {
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.trim() === '') return;
    const out = batchLine(line, options, serverVersion, cache);
    if (out.error === 'invalid-input') invalid++;
    if (!io.stdout.write(JSON.stringify(out) + '\n')) {
      await new Promise((resolve) => io.stdout.once('drain', resolve));
    }
  };
  const decoder = new StringDecoder('utf8');
  // The unfinished line, as parts: a long line costs one join, not a re-scan per chunk.
  let parts: string[] = [];
  let first = true;
  const take = async (text: string) => {
    if (first && text.length > 0) {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      first = false;
    }
    let start = 0;
    let nl: number;
    while ((nl = text.indexOf('\n', start)) >= 0) {
      parts.push(text.slice(start, nl));
      const line = parts.join('');
      parts = [];
      start = nl + 1;
      await emit(line);
    }
    if (start < text.length) parts.push(text.slice(start));
  };
  for await (const chunk of io.stdin) await take(typeof chunk === 'string' ? chunk : decoder.write(chunk as Buffer));
  await take(decoder.end());
  await emit(parts.join(''));
  return invalid;
}

/** Python's type name in an AttributeError ("'NoneType' object has no attribute 'strip'"). */
function pyTypeName(x: unknown): string {
  if (x === null || x === undefined) return 'NoneType';
  if (typeof x === 'boolean') return 'bool';
  if (typeof x === 'number') return Number.isInteger(x) ? 'int' : 'float';
  if (Array.isArray(x)) return 'list';
  return 'dict';
}

function batchLine(line: string, options: ResolverOptions, serverVersion: string, cache: Map<string, Resolver>): Json {
  let rec: unknown;
  try {
    rec = JSON.parse(line);
  } catch (e) {
    return { case_id: null, image: null, error: 'invalid-input', reason: `not JSON: ${(e as Error).message}` };
  }
  if (!isObj(rec)) return { case_id: null, image: null, error: 'invalid-input', reason: 'line is not a JSON object' };
  const caseId = rec.case_id ?? null;
  const cfg = isObj(rec.config) ? rec.config : {};
  const field = (o: Json, k: string, dflt: string | null): string | null | undefined => {
    if (!(k in o)) return dflt;
    const x = o[k];
    return x === null || typeof x === 'string' ? x : undefined;
  };
  const settings = {
    imagesTag: field(cfg, 'images_tag', ''),
    imagesRegistry: field(cfg, 'images_registry', ''),
    vendorImagesRegistry: field(cfg, 'vendor_images_registry', ''),
    imagesToEnrichRegistry: field(cfg, 'images_to_enrich_registry', options.rules.defaultEnrichPatterns),
    serverVersion: field(cfg, 'server_version', serverVersion),
  };
  const image = rec.image;
  const cv = field(rec, 'client_version', null);
  const py = field(rec, 'client_python_version', null);
  if (typeof image !== 'string') {
    // enrich_image_url starts with image.strip().
    return { case_id: caseId, image: null, error: 'AttributeError', reason: `'${pyTypeName(image)}' object has no attribute 'strip'` };
  }
  if (cv === undefined || py === undefined || Object.values(settings).some((x) => x === undefined)) {
    // MLRun calls string methods on these values; anything else raises.
    return { case_id: caseId, image: null, error: 'TypeError', reason: 'a version or config value is neither a string nor null' };
  }
  const key = JSON.stringify(settings);
  let resolver = cache.get(key);
  if (!resolver) {
    if (cache.size >= 1024) cache.clear();
    resolver = compileResolver(settings as MlrunSettings, options);
    cache.set(key, resolver);
  }
  const r: Resolution = resolver.resolve(image, cv, py);
  return r.ok ? { case_id: caseId, image: r.image } : { case_id: caseId, image: null, error: r.error, reason: r.reason };
}
