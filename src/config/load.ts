/**
 * Loading the webhook's configuration: file (YAML or JSON) → MLRun-style environment overrides → schema defaults
 * and validation → compiled Runtime. Every way this can go wrong ends as a list of problems, each naming the
 * dotted key and a reason an operator can act on; nothing here throws.
 */
import { readFileSync } from 'node:fs';
import type { TSchema } from '@sinclair/typebox';
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value';
import { parseDocument } from 'yaml';
import { rulesForCompat, rulesForVersion } from '../mlrun/rules.js';
import { buildRuntime, type ConfigProblem, type Runtime } from './runtime.js';
import {
  COMPAT_PATTERN,
  ConfigSchema,
  IMAGES_TAG_PATTERN,
  QUALIFIED_NAME_PATTERN,
  REGISTRY_PATTERN,
  VERSION_PATTERN,
  type Config,
  type ConfigInput,
} from './schema.js';
import { isJsonObject as isPlainObject } from '../util/json.js';

export type { ConfigProblem } from './runtime.js';

/**
 * Used when no --config is given (e.g. `npm start` on a fresh machine). The registry is set so that a local try
 * shows both an auto tag and a registry prefix.
 */
export const EMBEDDED_DEFAULT_CONFIG: ConfigInput = deepFreeze({
  mlrun: { version: '1.9.2', imagesRegistry: 'datanode-registry.example/' },
});

export const EMBEDDED_SOURCE = 'embedded default';

/** A ConfigMap cannot hold more than 1 MiB; anything bigger is not a config file. */
const MAX_FILE_BYTES = 1024 * 1024;

export type LoadResult =
  | { ok: true; runtime: Runtime; source: string }
  | { ok: false; problems: ConfigProblem[]; source: string };

export type ValidateResult = { ok: true; config: Config } | { ok: false; problems: ConfigProblem[] };

// ---------------------------------------------------------------------------------------------------------------
// Validation

/**
 * Applies schema defaults, then validates. null/undefined (what an empty YAML file parses to) are refused: the chart
 * always renders a config, so an empty one is what a failed or truncated write leaves, not a wish for the defaults.
 * Also builds the runtime, so an invalid enrich pattern or an unsupported MLRun version is refused here too.
 */
export function validateConfig(raw: unknown): ValidateResult {
  const r = validateAndBuild(raw);
  return r.ok ? { ok: true, config: r.runtime.config } : r;
}

/** validateConfig, keeping the compiled runtime (the discovered installs go through exactly this). */
export function validateAndBuild(raw: unknown): { ok: true; runtime: Runtime } | { ok: false; problems: ConfigProblem[] } {
  if (raw === null || raw === undefined) return { ok: false, problems: [EMPTY_DOCUMENT] };
  if (!isPlainObject(raw)) {
    return { ok: false, problems: [{ key: '(root)', reason: `must be a mapping with keys ${allowedKeys(ConfigSchema)}, got ${describeValue(raw)}` }] };
  }
  // Value.Default mutates and may share default objects: work on a private copy.
  const copy = Value.Clone(raw);
  dropEmptySections(copy);
  const listProblems = replaceListSections(ConfigSchema, copy, '');
  const withDefaults: unknown = Value.Default(ConfigSchema, copy);
  if (listProblems.length > 0 || !Value.Check(ConfigSchema, withDefaults)) {
    return { ok: false, problems: [...listProblems, ...schemaProblems(withDefaults)] };
  }
  // Check passed and Default filled every optional key, so this is the full Config.
  const config = withDefaults as Config;
  const keyProblems = qualifiedNamePrefixProblems(config);
  if (keyProblems.length > 0) return { ok: false, problems: keyProblems };
  try {
    return buildRuntime(config);
  } catch (e) {
    // buildRuntime is meant to report, not throw; keep the "never throws" promise if it ever does.
    return { ok: false, problems: [{ key: '(runtime)', reason: `internal error while compiling the config: ${errorMessage(e)}` }] };
  }
}

/** The one limit of a qualified name the schema pattern cannot hold: the DNS prefix is at most 253 characters. */
function qualifiedNamePrefixProblems(config: Config): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const name of ['optOutKey', 'annotationKey'] as const) {
    const value = config.webhook[name];
    const slash = value.indexOf('/');
    if (slash > 253) problems.push({ key: `webhook.${name}`, reason: `prefix before "/" must be at most 253 characters, got ${slash}` });
  }
  return problems;
}

/**
 * `mlrun:` with every line below it commented out is YAML null; read it as an empty section rather than refusing
 * the file (Value.Default only fills undefined).
 */
function dropEmptySections(config: Record<string, unknown>): void {
  for (const section of ['mlrun', 'webhook', 'log', 'discovery', 'mirror', 'policy']) if (config[section] === null) delete config[section];
  const discovery = config['discovery'];
  if (isPlainObject(discovery) && discovery['overrides'] === null) delete discovery['overrides'];
  const webhook = config['webhook'];
  if (isPlainObject(webhook) && webhook['corrections'] === null) delete webhook['corrections'];
}

/**
 * Value.Default turns a list where a mapping is expected into a mapping (`webhook: []` would pass as `{}`), so
 * such lists are reported here and replaced by {} to still collect the other problems in one go.
 */
function replaceListSections(schema: TSchema, value: Record<string, unknown>, prefix: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const props = (schema['properties'] as Record<string, TSchema> | undefined) ?? {};
  for (const [name, sub] of Object.entries(props)) {
    if (sub['type'] !== 'object' || !Object.hasOwn(value, name)) continue;
    const key = `${prefix}${name}`;
    const v = value[name];
    if (Array.isArray(v)) {
      problems.push({ key, reason: 'must be a mapping (key: value), got a list' });
      value[name] = {};
    } else if (isPlainObject(v)) {
      problems.push(...replaceListSections(sub, v, `${key}.`));
    }
  }
  return problems;
}

function schemaProblems(value: unknown): ConfigProblem[] {
  const byKey = new Map<string, string>();
  for (const error of Value.Errors(ConfigSchema, value)) {
    const key = dottedKey(error.path);
    // The first error per key is the most specific one (e.g. "must not be empty" before the pattern).
    if (!byKey.has(key)) byKey.set(key, reasonFor(error, key));
  }
  return [...byKey].map(([key, reason]) => ({ key, reason }));
}

function dottedKey(pointer: string): string {
  if (pointer === '' || pointer === '/') return '(root)';
  return pointer
    .slice(1)
    .split('/')
    .map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'))
    .join('.');
}

/** The reason for an empty config document (empty file, only comments, or `null`). */
const EMPTY_DOCUMENT: ConfigProblem = {
  key: '(root)',
  reason:
    'the config is empty (no YAML document, only comments, or null); the chart always renders one, so an empty ' +
    'file is what a failed write leaves. Write at least "mlrun: {}" to run on the defaults',
};

const REGISTRY_FORM =
  'a registry host such as datanode-registry.example:5000/mlrun/ (DNS name, IPv4 or [IPv6], optional :port, optional ' +
  'lower-case path)';
const REGISTRY_RULE = `must be ${REGISTRY_FORM}, without a scheme, whitespace or "//"`;

const KNOWN_PATTERNS: Record<string, string> = {
  [REGISTRY_PATTERN]: REGISTRY_RULE,
  [IMAGES_TAG_PATTERN]:
    'must be an image tag: letters, digits, "_", "." or "-", not starting with "." or "-", at most 128 characters',
  [VERSION_PATTERN]:
    'must be an MLRun version such as 1.9.2, 1.10.0-rc18, 1.10.0+a1b2c3d4 or 0.0.0+unstable (semver from 0.10.0 ' +
    'on, or a development build)',
  [COMPAT_PATTERN]:
    'must be empty or an MLRun version label such as 1.9.2, v1.9.2, 1.9, 1.10.0rc18 or 1.10.0-rc18 (0.10.0 or ' +
    'later, no surrounding spaces)',
  [QUALIFIED_NAME_PATTERN]:
    'must be a Kubernetes label/annotation key such as example.com/name (optional DNS prefix and "/", then ' +
    'at most 63 letters, digits, "-", "_" or "." starting and ending alphanumeric)',
};

function reasonFor(error: ValueError, key: string): string {
  const schema = error.schema as TSchema;
  const got = describeValue(error.value);
  switch (error.type) {
    case ValueErrorType.ObjectAdditionalProperties: {
      const parentKey = key.includes('.') ? key.slice(0, key.lastIndexOf('.')) : '';
      const name = key.slice(parentKey ? parentKey.length + 1 : 0);
      const hint = didYouMean(name, schema, parentKey);
      return `unknown key (allowed: ${allowedKeys(schema)})${hint ? `; did you mean ${hint}?` : ''}`;
    }
    case ValueErrorType.String:
      return typeof error.value === 'number'
        ? `must be a string, got ${got}: quote it ("...") — unquoted YAML numbers lose digits (1.10 becomes 1.1)`
        : `must be a string, got ${got}`;
    case ValueErrorType.Boolean:
      return `must be true or false, got ${got}`;
    case ValueErrorType.Object:
      return `must be a mapping (key: value), got ${got}`;
    case ValueErrorType.Union:
      return `must be ${describeSchema(schema)}, got ${got}`;
    case ValueErrorType.StringMinLength:
      return schema['minLength'] === 1 ? 'must not be empty' : `must be at least ${String(schema['minLength'])} characters`;
    case ValueErrorType.StringMaxLength:
      return `must be at most ${String(schema['maxLength'])} characters, got ${String((error.value as string).length)}`;
    case ValueErrorType.StringPattern: {
      const pattern = String(schema['pattern']);
      if (pattern === REGISTRY_PATTERN) return `${registryProblem(String(error.value))}, got ${got}`;
      if (pattern === VERSION_PATTERN || pattern === COMPAT_PATTERN) {
        // The rules say why (older than 0.10.0, not semver); the pattern is their exact shape.
        const rules = (pattern === VERSION_PATTERN ? rulesForVersion : rulesForCompat)(String(error.value));
        return `${KNOWN_PATTERNS[pattern]!}${rules.ok ? '' : ` (${rules.reason})`}, got ${got}`;
      }
      const known = KNOWN_PATTERNS[pattern];
      if (known) return `${known}, got ${got}`;
      return `must match ${pattern}, got ${got}`;
    }
    default:
      return `${error.message}, got ${got}`;
  }
}

/** The registry mistakes worth naming, in order (a scheme also contains "//"): undefined when not this one. */
const REGISTRY_MISTAKES: ((value: string) => string | undefined)[] = [
  (v) => {
    const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(v);
    return scheme ? `must not have a scheme: drop "${scheme[1]!}://"` : undefined;
  },
  (v) => (/\s/.test(v) ? 'must not contain whitespace' : undefined),
  (v) => (v.includes('//') ? 'must not contain "//" (an empty path component)' : undefined),
  (v) => (v.startsWith('/') ? 'must start with the registry host, not "/"' : undefined),
  (v) => {
    const slash = v.indexOf('/');
    return slash >= 0 && /[A-Z]/.test(v.slice(slash)) ? 'must have a lower-case path after the host (repository names are lower case)' : undefined;
  },
];

/**
 * Names the first registry mistake an operator can act on (the schema only says "does not match"). Called only for
 * a value that failed REGISTRY_PATTERN as its first error, so at most 255 characters (maxLength comes first).
 */
function registryProblem(value: string): string {
  for (const mistake of REGISTRY_MISTAKES) {
    const specific = mistake(value);
    if (specific) return `${specific}; a registry is ${REGISTRY_FORM}`;
  }
  return REGISTRY_RULE;
}

/** "a string or null", "one of enforce, report" ... from the (sub)schema. */
function describeSchema(schema: TSchema): string {
  const variants = schema['anyOf'] as TSchema[] | undefined;
  if (variants) {
    if (variants.every((v) => 'const' in v)) return `one of ${variants.map((v) => String(v['const'])).join(', ')}`;
    return variants.map(describeSchema).join(' or ');
  }
  switch (schema['type']) {
    case 'string':
      return 'a string';
    case 'null':
      return 'null';
    case 'boolean':
      return 'true or false';
    case 'object':
      return 'a mapping';
    default:
      return String(schema['type']);
  }
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  switch (typeof v) {
    case 'string':
      return `the string ${JSON.stringify(v.length > 80 ? `${v.slice(0, 77)}...` : v)}`;
    case 'number':
      return `the number ${String(v)}`;
    case 'boolean':
      return `the boolean ${String(v)}`;
    case 'object':
      return 'a mapping';
    default:
      return typeof v;
  }
}

function allowedKeys(schema: TSchema): string {
  return Object.keys((schema['properties'] as Record<string, unknown> | undefined) ?? {}).join(', ');
}

const squash = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]/g, '');

/**
 * Suggest the right key for the usual slips: MLRun's snake_case (images_tag), its env names (MLRUN_IMAGES_TAG),
 * wrong case, or a key put in the wrong section (imagesTag at the top level).
 */
function didYouMean(name: string, parent: TSchema, parentKey: string): string | undefined {
  const wanted = squash(name).replace(/^mlrun(?=.)/, '');
  const props = (parent['properties'] as Record<string, TSchema> | undefined) ?? {};
  for (const k of Object.keys(props)) {
    if (squash(k) === wanted || squash(k) === squash(name)) return parentKey ? `${parentKey}.${k}` : k;
  }
  // Wrong section: look one level down from the root.
  if (parentKey === '') {
    for (const [section, sub] of Object.entries(props)) {
      const subProps = (sub['properties'] as Record<string, TSchema> | undefined) ?? {};
      for (const k of Object.keys(subProps)) if (squash(k) === wanted || squash(k) === squash(name)) return `${section}.${k}`;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Environment

/** MLRun's own variables, as the MLRun API reads them (MLRUN_ + key, json.loads-ed). */
const MLRUN_ENV = {
  MLRUN_VERSION: 'version',
  MLRUN_IMAGES_TAG: 'imagesTag',
  MLRUN_IMAGES_REGISTRY: 'imagesRegistry',
  MLRUN_VENDOR_IMAGES_REGISTRY: 'vendorImagesRegistry',
  MLRUN_IMAGES_TO_ENRICH_REGISTRY: 'imagesToEnrichRegistry',
} as const;

type MlrunEnvKey = (typeof MLRUN_ENV)[keyof typeof MLRUN_ENV];

export interface EnvOverrides {
  /** Partial config in the file's shape, merged over the file (env wins). */
  config: {
    mlrun?: Partial<Record<MlrunEnvKey, string>>;
    webhook?: { mode?: string };
    log?: { level?: string };
  };
  /** Dotted key → the variable that set it (for notes and problem reasons). */
  sources: Record<string, string>;
  /** Worth logging at load time (e.g. a JSON null read as "no prefixing"). */
  notes: string[];
  /** Variables refused outright; key is `env NAME`. */
  problems: ConfigProblem[];
}

/**
 * Environment variables in MLRun's vocabulary override the file, read the way MLRun's `read_env` reads them
 * (spec §4.2), so the webhook sees what the MLRun API sees when both take their env from the same ConfigMap:
 *   - the value is json.loads-ed first; invalid JSON (1.6.0, mlrun/, "") stays the raw string;
 *   - a JSON string ("\"1.6\"") is that string;
 *   - JSON null is Python None, which MLRun treats as falsy. We map it to "" — for imagesToEnrichRegistry that
 *     means "no prefixing", as in MLRun (our schema's null would mean "the version's default patterns", which is
 *     NOT what MLRun does). For MLRUN_VERSION a missing version is refused;
 *   - a number, boolean, list or object (MLRUN_IMAGES_TAG=1.6 is the float 1.6) breaks MLRun's string
 *     operations, so it is refused with the advice to quote it.
 * The webhook's own variables (MLRUN_IMAGE_WEBHOOK_MODE, MLRUN_IMAGE_WEBHOOK_LOG_LEVEL) are taken literally and
 * validated by the schema; empty means unset (Helm charts often render `value: ""`).
 */
export function readEnvOverrides(env: Record<string, string | undefined>): EnvOverrides {
  const out: EnvOverrides = { config: {}, sources: {}, notes: [], problems: [] };
  for (const [name, key] of Object.entries(MLRUN_ENV) as [keyof typeof MLRUN_ENV, MlrunEnvKey][]) {
    const text = env[name];
    if (text === undefined) continue;
    const parsed = pyJsonLoads(text);
    let value: string;
    if (parsed.kind === 'raw') {
      value = text;
    } else if (typeof parsed.value === 'string') {
      value = parsed.value;
    } else if (parsed.value === null) {
      if (key === 'version') {
        out.problems.push({ key: `env ${name}`, reason: 'is null (MLRun reads it as None); give an MLRun version such as 1.9.2' });
        continue;
      }
      value = '';
      out.notes.push(
        key === 'imagesToEnrichRegistry'
          ? `env ${name}=null: MLRun reads None, so no image is prefixed (mlrun.imagesToEnrichRegistry = "")`
          : `env ${name}=null: MLRun reads None, treated as "" (unset)`,
      );
    } else {
      const what = pythonKind(parsed.value);
      out.problems.push({
        key: `env ${name}`,
        reason:
          `MLRun reads this variable with json.loads and would get ${what} ${text.trim()}, not a string, which breaks ` +
          `its image handling; quote it as a JSON string, e.g. ${name}='"${text.trim()}"'` +
          (what === 'a number' || what === 'a boolean' ? ` (in a Pod spec: value: '"${text.trim()}"')` : ''),
      });
      continue;
    }
    (out.config.mlrun ??= {})[key] = value;
    out.sources[`mlrun.${key}`] = name;
  }
  const mode = env['MLRUN_IMAGE_WEBHOOK_MODE'];
  if (mode) {
    out.config.webhook = { mode };
    out.sources['webhook.mode'] = 'MLRUN_IMAGE_WEBHOOK_MODE';
  }
  const level = env['MLRUN_IMAGE_WEBHOOK_LOG_LEVEL'];
  if (level) {
    out.config.log = { level };
    out.sources['log.level'] = 'MLRUN_IMAGE_WEBHOOK_LOG_LEVEL';
  }
  return out;
}

/**
 * Python's json.loads as far as the kind of result goes. JSON.parse has the same grammar except that Python also
 * accepts NaN, Infinity and -Infinity (as values anywhere), which are numbers to MLRun.
 */
function pyJsonLoads(text: string): { kind: 'json'; value: unknown } | { kind: 'raw' } {
  try {
    return { kind: 'json', value: JSON.parse(text) as unknown };
  } catch {
    // Only the kind matters for such values (they are refused), so a null stand-in is fine.
    if (/(NaN|Infinity)/.test(text)) {
      try {
        const value = JSON.parse(text.replace(/-?Infinity|NaN/g, 'null')) as unknown;
        if (typeof value !== 'string') return { kind: 'json', value: value === null ? Number.NaN : value };
      } catch {
        /* not JSON for Python either */
      }
    }
    return { kind: 'raw' };
  }
}

function pythonKind(v: unknown): string {
  if (typeof v === 'number') return 'a number';
  if (typeof v === 'boolean') return 'a boolean';
  if (Array.isArray(v)) return 'a list';
  return 'an object';
}

/** Env over file. A section of the wrong type is left alone, so validation reports the file's mistake. */
function mergeOverrides(raw: unknown, overrides: EnvOverrides['config']): unknown {
  if (!isPlainObject(raw)) return raw;
  const merged: Record<string, unknown> = { ...raw };
  for (const [section, values] of Object.entries(overrides)) {
    if (values === undefined) continue;
    const current = merged[section];
    if (current === undefined || current === null) merged[section] = { ...values };
    else if (isPlainObject(current)) merged[section] = { ...current, ...values };
  }
  return merged;
}

// ---------------------------------------------------------------------------------------------------------------
// Loading

/**
 * Reads the config file (YAML or JSON; an empty file is refused), applies env overrides, validates and builds the
 * runtime. Without a file, the embedded default is used. Never throws.
 */
export function loadConfig(opts: { file?: string; env?: Record<string, string | undefined> }): LoadResult {
  if (opts.file === undefined) return buildFromRaw(EMBEDDED_DEFAULT_CONFIG, EMBEDDED_SOURCE, opts.env);
  const read = readConfigFile(opts.file);
  if (!read.ok) return { ok: false, problems: [read.problem], source: opts.file };
  return loadConfigText(read.text, opts.file, opts.env);
}

/** The file's text, or a `(file)` problem. Shared with the watcher, which hashes exactly what it parses. */
export function readConfigFile(file: string): { ok: true; text: string } | { ok: false; problem: ConfigProblem } {
  try {
    const bytes = readFileSync(file);
    if (bytes.length > MAX_FILE_BYTES) {
      return { ok: false, problem: { key: '(file)', reason: `${file} is larger than 1 MiB (${bytes.length} bytes); not a config file` } };
    }
    return { ok: true, text: bytes.toString('utf8') };
  } catch (e) {
    return { ok: false, problem: { key: '(file)', reason: `cannot read ${file}: ${errorMessage(e)}` } };
  }
}

/** Like loadConfig, for text already read (source names it in problems). Never throws. */
export function loadConfigText(text: string, source: string, env?: Record<string, string | undefined>): LoadResult {
  const parsed = parseYaml(text);
  if (!parsed.ok) return { ok: false, problems: parsed.problems, source };
  return buildFromRaw(parsed.value, source, env);
}

function parseYaml(text: string): { ok: true; value: unknown } | { ok: false; problems: ConfigProblem[] } {
  try {
    const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
    if (doc.errors.length > 0) {
      return {
        ok: false,
        problems: doc.errors.slice(0, 3).map((e) => {
          const pos = e.linePos?.[0];
          const where = pos ? `line ${pos.line}, column ${pos.col}` : 'unknown position';
          let message = (e.message.split('\n')[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, '');
          if (e.code === 'MULTIPLE_DOCS') message = 'the file must hold a single YAML document, found another one';
          return { key: '(file)', reason: `YAML/JSON syntax error at ${where}: ${message}` };
        }),
      };
    }
    return { ok: true, value: doc.toJS() as unknown };
  } catch (e) {
    // e.g. an unresolved alias or too many aliases (toJS throws for those).
    return { ok: false, problems: [{ key: '(file)', reason: `cannot read the YAML: ${errorMessage(e)}` }] };
  }
}

function buildFromRaw(raw: unknown, source: string, env: Record<string, string | undefined> | undefined): LoadResult {
  try {
    const overrides = readEnvOverrides(env ?? {});
    // An empty document stays empty whatever the env says: the file itself is broken.
    const built = validateAndBuild(raw === null || raw === undefined ? raw : mergeOverrides(raw, overrides.config));
    if (!built.ok || overrides.problems.length > 0) {
      const problems = [...overrides.problems];
      for (const p of built.ok ? [] : built.problems) {
        // Point at the variable when the bad value came from the environment, not the file.
        const from = overrides.sources[p.key.split(' ')[0] ?? p.key];
        problems.push(from ? { key: p.key, reason: `${p.reason} (value from env ${from})` } : p);
      }
      return { ok: false, problems, source };
    }
    const notes = [...built.runtime.notes, ...overrides.notes];
    for (const [key, name] of Object.entries(overrides.sources)) notes.push(`${key} set from env ${name}`);
    return { ok: true, runtime: { ...built.runtime, notes }, source };
  } catch (e) {
    return { ok: false, problems: [{ key: '(config)', reason: `internal error: ${errorMessage(e)}` }], source };
  }
}

// ---------------------------------------------------------------------------------------------------------------

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null) {
    for (const child of Object.values(v)) deepFreeze(child);
    Object.freeze(v);
  }
  return v;
}
