/**
 * `resolve`: one image (human or --json output), or batch mode (--jsonl) over vector-shaped JSON lines on stdin.
 *
 * Batch mode is an exact-MLRun mode: config values are used as given ("" is a value, null is None), no webhook
 * guard against double prefixes, and `error` carries the exception MLRun would raise.
 */
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { compileResolver, type MlrunSettings, type Resolution, type Resolver } from '../mlrun/engine.js';
import { rulesForVersion, type Rules } from '../mlrun/rules.js';
import { parseArgs, UsageError } from './args.js';

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
] as const;
const BOOLEAN_OPTIONS = ['json', 'jsonl', 'tag-images-with-registry-port', 'exact-mlrun-pattern'] as const;

export const RESOLVE_USAGE = `Usage:
  mlrun-image-webhook resolve IMAGE [--client-version V] [--python-version V] [--mlrun-version V]
      [--mlrun-compat V] [--images-registry R] [--vendor-images-registry R] [--images-tag T]
      [--enrich-patterns P] [--kfp-python-suffix auto|exempt|always|client-at-least-1.10]
      [--tag-images-with-registry-port] [--exact-mlrun-pattern] [--json]
  mlrun-image-webhook resolve --jsonl --mlrun-compat VERSION   < cases.jsonl > results.jsonl

--mlrun-version is the MLRun server version (default 1.9.2); its rules are followed unless --mlrun-compat names
another version. --enrich-patterns defaults to that version's images_to_enrich_registry.
Exit codes: 0 resolved (changed or not), 1 MLRun would raise for this input, 2 usage or config error.`;

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
  if (args.flags.has('jsonl')) {
    if (args.positionals.length > 0) return usage(io, '--jsonl reads images from stdin; do not pass IMAGE');
    const compat = v('mlrun-compat') ?? v('mlrun-version');
    if (!compat) return usage(io, '--jsonl needs --mlrun-compat VERSION');
    const rules = rulesForVersion(compat);
    if (!rules.ok) return usage(io, `--mlrun-compat: ${rules.reason}`);
    await runBatch(rules.rules, io);
    return 0;
  }
  if (args.positionals.length !== 1) return usage(io, 'give exactly one IMAGE');
  const image = args.positionals[0]!;
  const mlrunVersion = v('mlrun-version') ?? '1.9.2';
  const rules = rulesForVersion(v('mlrun-compat') ?? mlrunVersion);
  if (!rules.ok) return usage(io, `${v('mlrun-compat') ? '--mlrun-compat' : '--mlrun-version'}: ${rules.reason}`);
  const kfp = v('kfp-python-suffix') ?? 'auto';
  if (!['auto', 'exempt', 'always', 'client-at-least-1.10'].includes(kfp)) {
    return usage(io, `--kfp-python-suffix must be one of auto, exempt, always, client-at-least-1.10`);
  }
  const resolver = compileResolver(
    {
      imagesTag: v('images-tag') ?? '',
      imagesRegistry: v('images-registry') ?? '',
      vendorImagesRegistry: v('vendor-images-registry') ?? '',
      imagesToEnrichRegistry: v('enrich-patterns') ?? rules.rules.defaultEnrichPatterns,
      serverVersion: mlrunVersion,
    },
    {
      rules: rules.rules,
      kfpPythonSuffix: kfp as 'auto',
      corrections: {
        tagImagesWithRegistryPort: args.flags.has('tag-images-with-registry-port'),
        exactMlrunPattern: args.flags.has('exact-mlrun-pattern'),
      },
    },
  );
  if (resolver.configError?.kind === 'unsupported') {
    return usage(io, `--enrich-patterns: ${resolver.configError.reason}`);
  }
  const r = resolver.resolve(image, v('client-version') ?? null, v('python-version') ?? null);
  if (args.flags.has('json')) {
    io.stdout.write(
      JSON.stringify({
        input: image,
        rules: rules.rules.label,
        ...(rules.note ? { note: rules.note } : {}),
        ...(r.ok
          ? { image: r.image, changed: r.changed, actions: r.actions, reasons: r.reasons }
          : { image: null, error: r.error, reason: r.reason }),
      }) + '\n',
    );
  } else if (r.ok) {
    io.stdout.write(`${r.image}\n`);
    io.stderr.write(`  ${rules.rules.label}\n${r.reasons.map((x) => `  - ${x}\n`).join('')}`);
    if (rules.note) io.stderr.write(`  note: ${rules.note}\n`);
  } else {
    io.stderr.write(`error: MLRun would raise ${r.error}: ${r.reason}\n  (the webhook leaves such an image unchanged and warns)\n`);
  }
  return r.ok ? 0 : 1;
}

function usage(io: Io, message: string): number {
  io.stderr.write(`error: ${message}\n\n${RESOLVE_USAGE}\n`);
  return 2;
}

type Json = Record<string, unknown>;
const isObj = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);

/** One output line per input line, in order; a bad line gets an error line, never stops the batch. */
async function runBatch(rules: Rules, io: Io): Promise<void> {
  const cache = new Map<string, Resolver>();
  const lines = createInterface({ input: io.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    const out = batchLine(line, rules, cache);
    if (!io.stdout.write(JSON.stringify(out) + '\n')) {
      await new Promise((resolve) => io.stdout.once('drain', resolve));
    }
  }
}

function batchLine(line: string, rules: Rules, cache: Map<string, Resolver>): Json {
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
    imagesToEnrichRegistry: field(cfg, 'images_to_enrich_registry', rules.defaultEnrichPatterns),
    serverVersion: field(cfg, 'server_version', null),
  };
  const image = rec.image;
  const cv = field(rec, 'client_version', null);
  const py = field(rec, 'client_python_version', null);
  if (typeof image !== 'string') {
    return { case_id: caseId, image: null, error: 'TypeError', reason: 'image is not a string' };
  }
  if (cv === undefined || py === undefined || Object.values(settings).some((x) => x === undefined)) {
    // MLRun calls string methods on these values; anything else raises.
    return { case_id: caseId, image: null, error: 'TypeError', reason: 'a version or config value is neither a string nor null' };
  }
  const key = JSON.stringify(settings);
  let resolver = cache.get(key);
  if (!resolver) {
    if (cache.size >= 1024) cache.clear();
    resolver = compileResolver(settings as MlrunSettings, { rules });
    cache.set(key, resolver);
  }
  const r: Resolution = resolver.resolve(image, cv, py);
  return r.ok ? { case_id: caseId, image: r.image } : { case_id: caseId, image: null, error: r.error, reason: r.reason };
}
