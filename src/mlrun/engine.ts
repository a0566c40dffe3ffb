/**
 * MLRun's enrich_image_url, reproduced as a pure function (spec: docs/spec/mlrun-image-semantics.md §2).
 *
 * compileResolver() does all per-config work once (pattern compilation, registry normalisation); the returned
 * resolve() is called per image on the admission hot path and does no parsing of config and no regex compilation.
 * MLRun's exceptions become typed outcomes: the caller decides (webhook: leave the image unchanged and warn).
 */
import { parseReference } from '../image/reference.js';
import { compilePythonMatcher, type PyCompileError } from './pyregex.js';
import type { Rules } from './rules.js';
import { compareSemver, parseSemver, type SemVer } from './semver.js';
import { BoundedMemo, BoundedTripleMemo } from '../util/memo.js';
import { isSpaceU } from '../python/unicode.js';

/** MLRun config in MLRun's vocabulary. null is Python None; "" is an empty string (both falsy, as in MLRun). */
export interface MlrunSettings {
  imagesTag: string | null;
  imagesRegistry: string | null;
  vendorImagesRegistry: string | null;
  imagesToEnrichRegistry: string | null;
  serverVersion: string | null;
}

export type KfpPythonSuffix = 'auto' | 'exempt' | 'always' | 'client-at-least-1.10';

export interface Corrections {
  /** Tag images whose only ":" is a registry port (MLRun: any ":" blocks tagging). */
  tagImagesWithRegistryPort: boolean;
  /** Read the default pattern ^mlrun/* as ^mlrun/ (MLRun: it also matches mlrunfoo/x). */
  exactMlrunPattern: boolean;
}

export interface ResolverOptions {
  rules: Rules;
  kfpPythonSuffix?: KfpPythonSuffix;
  corrections?: Partial<Corrections>;
  /**
   * Never prefix an image that already starts with the registry it would get. MLRun enriches once per pod; the
   * webhook also sees pods MLRun (or the webhook itself, on reinvocation) already enriched, and a pattern that
   * matches its own output (".*", "") would otherwise prefix again. Off for exact MLRun reproduction (CLI batch).
   */
  guardAlreadyPrefixed?: boolean;
}

/** What the engine did, in order; bounded set, so usable as a metric label. */
export type ResolutionAction = 'strip' | 'python' | 'ml-base' | 'tag' | 'prefix';

export type MlrunErrorKind = 'ValueError' | 'TypeError' | 'AttributeError' | 'OverflowError' | 're.error' | 'unsupported';

export type Resolution =
  | { ok: true; image: string; changed: boolean; readonly actions: readonly ResolutionAction[]; readonly reasons: readonly string[] }
  | { ok: false; error: MlrunErrorKind; reason: string; image: string };

export interface Resolver {
  readonly rules: Rules;
  readonly settings: Readonly<MlrunSettings>;
  /** Problems with the config itself (invalid pattern): MLRun would raise for every image. */
  readonly configError: { kind: PyCompileError | 'unsupported'; reason: string; pattern: string } | undefined;
  resolve(image: string, clientVersion: string | null, clientPythonVersion: string | null): Resolution;
  /** Entries held by the memos now (diagnostics and tests: both stay within their limits). */
  memoSizes(): { results: number; suffixes: number };
}

/** MLRun's _convert_python_package_version_to_image_tag: "+" → "-", then drop every "0.0.0-". */
export function normalizeVersionTag(version: string | null): string | null {
  if (!version) return version;
  return version.replaceAll('+', '-').replaceAll('0.0.0-', '');
}

/**
 * Python's str.isspace() for one UTF-16 unit: the `re` emulation's table (all 29 code points are in the BMP, so no
 * surrogate pairs to consider). Unlike JavaScript's \s it has U+001C..U+001F and U+0085 and lacks U+FEFF.
 */
export const isPySpace: (c: number) => boolean = isSpaceU;

/**
 * Python str.strip() with no argument. A scan from each end, so one pass over the string whatever its content: the
 * regex it replaces (`^WS+|WS+$`, global) restarted its trailing branch at every position of a whitespace run,
 * quadratic in the run's length (8 s for one 120,000-space image).
 */
export function pyStrip(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isPySpace(s.charCodeAt(start))) start++;
  while (end > start && isPySpace(s.charCodeAt(end - 1))) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

/**
 * The engine's memos, keyed by request data (images, versions). A key past maxKeyLength is computed every time and
 * never kept. Result keys hold an image plus two versions: 640 covers the longest valid reference (about 520
 * characters) with its versions; suffix keys hold two versions (a tag is at most 128 characters).
 */
export const RESULT_MEMO_LIMITS = { maxEntries: 4096, maxKeyLength: 640 } as const;
export const SUFFIX_MEMO_LIMITS = { maxEntries: 512, maxKeyLength: 2 * 128 + 1 } as const;

/**
 * Matcher instructions across all enrich patterns together (each one is capped at MAX_PROGRAM_SIZE = 1,000 by the
 * matcher). resolve() may try an image against every pattern, so without a total the worst case per image grows
 * with the number of patterns; 2,000 is two worst-case patterns, far above real lists (MLRun's default set of two
 * patterns compiles to a few dozen instructions).
 */
export const MAX_TOTAL_PROGRAM_SIZE = 2000;

/** The config switch that lifts MLRun's registry-port quirk; reasons name it so an operator finds the way out. */
export const REGISTRY_PORT_CORRECTION = 'webhook.corrections.tagImagesWithRegistryPort';

/** MLRun's validate_component_version_compatibility for the mlrun-client component. */
function clientAtLeast(tag: string, min: SemVer): boolean {
  if (tag.startsWith('0.0.0+') || tag.includes('unstable')) return true;
  const v = parseSemver(tag);
  return v !== undefined && compareSemver(v, min) >= 0;
}

const V1_10_RC0 = parseSemver('1.10.0-rc0')!;

interface Pattern {
  source: string;
  match: (s: string) => boolean;
}

export function compileResolver(settings: MlrunSettings, options: ResolverOptions): Resolver {
  const { rules } = options;
  const corrections: Corrections = {
    tagImagesWithRegistryPort: options.corrections?.tagImagesWithRegistryPort ?? false,
    exactMlrunPattern: options.corrections?.exactMlrunPattern ?? false,
  };
  const kfpMode: KfpPythonSuffix = options.kfpPythonSuffix ?? 'auto';
  const guard = options.guardAlreadyPrefixed ?? false;

  // Patterns: compiled once. Split on "," without trimming, as MLRun does; "" is a pattern that matches everything.
  const patterns: Pattern[] = [];
  let configError: Resolver['configError'];
  let programTotal = 0;
  if (settings.imagesToEnrichRegistry) {
    for (const raw of settings.imagesToEnrichRegistry.split(',')) {
      const source = corrections.exactMlrunPattern && raw === '^mlrun/*' ? '^mlrun/' : raw;
      const compiled = compilePythonMatcher(source);
      if (!compiled.ok) {
        // MLRun raises at the first pattern Python refuses; an untranslatable pattern (which Python may accept)
        // gives way to a later one Python refuses.
        if (!configError || (configError.kind === 'unsupported' && compiled.kind !== 'unsupported')) {
          configError = { kind: compiled.kind, reason: `pattern ${JSON.stringify(raw)}: ${compiled.reason}`, pattern: raw };
        }
        continue;
      }
      patterns.push({ source: raw, match: compiled.match });
      programTotal += compiled.programSize;
    }
    // An image may be matched against every pattern, so the per-image worst case grows with their total size.
    if (!configError && programTotal > MAX_TOTAL_PROGRAM_SIZE) {
      configError = {
        kind: 'unsupported',
        reason:
          `the ${patterns.length} patterns need ${programTotal} matcher instructions together, more than the ` +
          `${MAX_TOTAL_PROGRAM_SIZE} allowed across all of them (each image may be matched against every pattern; ` +
          'this cap keeps the cost per image independent of the number of patterns)',
        pattern: settings.imagesToEnrichRegistry,
      };
    }
  }
  const registryFor = (r: string | null): string | null => (r ? (r.endsWith('/') ? r : `${r}/`) : null);
  const mlrunRegistry = registryFor(settings.imagesRegistry);
  const vendorRegistry = registryFor(rules.vendorRegistry ? settings.vendorImagesRegistry : settings.imagesRegistry);
  const vendorRegistryKey = rules.vendorRegistry ? 'vendor images registry' : 'images registry';
  const sv = normalizeVersionTag(settings.serverVersion);
  const imagesTag = settings.imagesTag;
  const suffixRule = rules.suffix;

  // A cluster has few distinct (version, python) pairs; memoising the semver parse keeps resolve() cheap.
  type SuffixResult = { ok: true; suffix: string } | { ok: false; reason: string };
  const suffixMemo = new BoundedMemo<SuffixResult>(SUFFIX_MEMO_LIMITS.maxEntries, SUFFIX_MEMO_LIMITS.maxKeyLength);
  function suffixFor(ver: string | null, py: string | null): SuffixResult {
    if (!suffixRule || !py || !ver) return { ok: true, suffix: '' };
    return suffixMemo.get(`${ver}\u0000${py}`, () => computeSuffix(suffixRule, ver, py));
  }

  function computeSuffix(suffixRule: NonNullable<Rules['suffix']>, ver: string, py: string): SuffixResult {
    if (ver.startsWith('0.0.0-') || ver.includes('unstable')) {
      return { ok: true, suffix: py.startsWith(suffixRule.devPython) ? suffixRule.suffix : '' };
    }
    const v = parseSemver(ver);
    if (!v) return { ok: false, reason: `${JSON.stringify(ver)} is not valid SemVer string` };
    const inRange =
      compareSemver(v, suffixRule.low) >= 0 && (suffixRule.high === undefined || compareSemver(v, suffixRule.high) < 0);
    return { ok: true, suffix: inRange && py.startsWith(suffixRule.devPython) ? suffixRule.suffix : '' };
  }

  function kfpExempt(img: string, cv: string | null): boolean {
    if (!img.includes('mlrun-kfp')) return false;
    switch (kfpMode) {
      case 'auto':
        return rules.kfpExempt;
      case 'exempt':
        return true;
      case 'always':
        return false;
      case 'client-at-least-1.10':
        return !(cv !== null && cv !== '' && clientAtLeast(cv, V1_10_RC0));
    }
  }

  // Pods repeat a few (image, client version, python) triples; results are immutable, so remember them (bounded).
  const memo = new BoundedTripleMemo<Resolution>(RESULT_MEMO_LIMITS.maxEntries, RESULT_MEMO_LIMITS.maxKeyLength);
  function memoResolve(image: string, clientVersion: string | null, clientPythonVersion: string | null): Resolution {
    return memo.get(clientVersion, clientPythonVersion, image, () => resolve(image, clientVersion, clientPythonVersion));
  }

  function resolve(image: string, clientVersion: string | null, clientPythonVersion: string | null): Resolution {
    const reasons: string[] = [];
    const actions: ResolutionAction[] = [];
    let img = pyStrip(image);
    if (img !== image) {
      actions.push('strip');
      reasons.push('stripped surrounding whitespace');
    }

    // (2.1) bare python → python:<client python>
    if (rules.pythonRewrite !== 'none' && img === 'python' && clientPythonVersion) {
      const v = rules.pythonRewrite === 'full' ? clientPythonVersion : clientPythonVersion.split('.').slice(0, 2).join('.');
      img = `python:${v}`;
      actions.push('python');
      reasons.push(`python → python:${v} from client python ${clientPythonVersion}`);
    }

    // (2.2) version: images_tag (raw) || client || server, with Python's `or` returning the last operand.
    const cv = normalizeVersionTag(clientVersion);
    let ver: string | null;
    let verSource: string;
    if (imagesTag) {
      ver = imagesTag;
      verSource = `images tag ${imagesTag}`;
    } else if (cv) {
      ver = cv;
      verSource = `client version ${clientVersion}`;
    } else {
      ver = sv;
      verSource = `server version ${settings.serverVersion}`;
    }

    // (2.3) python suffix
    let tag: string | null = ver;
    let suffixNote = '';
    if (rules.suffix) {
      if (ver === null && rules.noVersionRaises) {
        return fail('TypeError', 'no images tag, client version or server version (MLRun raises TypeError)');
      }
      tag = ver ?? '';
      if (!kfpExempt(img, cv)) {
        const s = suffixFor(ver, clientPythonVersion);
        if (!s.ok) {
          return fail('ValueError', `${s.reason} (needed to choose the python suffix for python ${clientPythonVersion})`);
        }
        if (s.suffix) {
          tag += s.suffix;
          suffixNote = ` + ${s.suffix.slice(1)} for python ${clientPythonVersion}`;
        }
      } else if (clientPythonVersion) {
        suffixNote = ' (mlrun-kfp: no python suffix)';
      }
    }

    // (2.4) MLRun image: starts with mlrun/ or contains /mlrun/ (case-sensitive).
    const isMlrun = img.startsWith('mlrun/') || img.includes('/mlrun/');

    // (2.5) ml-base deprecation
    if (rules.mlBase && isMlrun && img.includes('mlrun/ml-base')) {
      const colon = img.lastIndexOf(':');
      const urlTag = rules.mlBase.urlTagAware && colon >= 0 ? img.slice(colon + 1) : '';
      const t = urlTag || tag;
      if (t) {
        if (clientAtLeast(t, rules.mlBase.threshold)) {
          img = img.replaceAll('mlrun/ml-base', 'mlrun/mlrun');
          actions.push('ml-base');
          reasons.push(`ml-base → mlrun (tag ${t} >= ${rules.mlBase.thresholdText})`);
        }
      } else {
        img = 'mlrun/mlrun';
        actions.push('ml-base');
        reasons.push('ml-base with no version → mlrun/mlrun');
      }
    }

    // (2.6) auto tag: MLRun lets any ":" (tag, digest, registry port) block tagging.
    let portNote = '';
    if (isMlrun && tag && !hasTagOrDigest(img)) {
      img = `${img}:${tag}`;
      actions.push('tag');
      reasons.push(`tag from ${verSource}${suffixNote}`);
    } else if (isMlrun && tag && onlyColonIsRegistry(img)) {
      portNote = `not tagged: MLRun takes the ":" of the registry address for a tag; set ${REGISTRY_PORT_CORRECTION}: true to tag it`;
      reasons.push(portNote);
    }

    // (2.7) registry prefix. MLRun evaluates every pattern, so an invalid one raises even after a match: that is
    // configError, known at compile time; the first match is enough otherwise.
    if (configError) return fail(configError.kind, configError.reason);
    const hit = patterns.find((p) => p.match(img))?.source;
    const reg = isMlrun ? mlrunRegistry : vendorRegistry;
    if (reg && hit !== undefined) {
      if (guard && img.startsWith(reg)) {
        reasons.push(`already prefixed with ${reg}`);
      } else {
        img = reg + img;
        actions.push('prefix');
        reasons.push(`prefixed ${isMlrun ? 'images registry' : vendorRegistryKey} (pattern ${hit})`);
      }
    }

    const changed = img !== image;
    if (!changed) reasons.push(portNote ? `unchanged (${portNote})` : unchangedReason(image, isMlrun, tag));
    return { ok: true, image: img, changed, actions, reasons };

    function fail(error: MlrunErrorKind, reason: string): Resolution {
      return { ok: false, error, reason, image };
    }
  }

  function hasTagOrDigest(img: string): boolean {
    if (!img.includes(':')) return false;
    if (!corrections.tagImagesWithRegistryPort) return true;
    const ref = parseReference(img);
    return !ref.valid || ref.tag !== undefined || ref.digest !== undefined;
  }

  /** MLRun's quirk at work: the image has no tag or digest, its ":" is the registry's (a port, or an IPv6 host). */
  function onlyColonIsRegistry(img: string): boolean {
    if (corrections.tagImagesWithRegistryPort || !img.includes(':')) return false;
    const ref = parseReference(img);
    return ref.valid && ref.tag === undefined && ref.digest === undefined;
  }

  function unchangedReason(image: string, isMlrun: boolean, tag: string | null): string {
    if (!isMlrun) return 'unchanged: not an MLRun image and no registry rule applies';
    if (image.includes('@')) return 'unchanged: pinned by digest';
    if (image.includes(':')) return 'unchanged: already tagged (or has a ":")';
    if (!tag) return 'unchanged: no images tag, client version or server version';
    return 'unchanged';
  }

  return {
    rules,
    settings: { ...settings },
    configError,
    resolve: memoResolve,
    memoSizes: () => ({ results: memo.size, suffixes: suffixMemo.size }),
  };
}
