/**
 * The environment a container gets, computed the way the kubelet builds it (pkg/kubelet's
 * makeEnvironmentVariables), for the variables image discovery cares about. Pure: ConfigMaps come in through a
 * lookup function; Secrets are never read (a value that depends on one is "not followed").
 *
 * Kubernetes' order: envFrom sources in order (a later source overwrites an earlier one's key; `prefix` is
 * prepended to each key; a missing `optional` ConfigMap is skipped, a missing non-optional one keeps the container
 * from starting), then inline `env` in order, each overwriting whatever set the name before. An inline `value` has
 * its `$(VAR)` references expanded against the variables set so far (envFrom and earlier env entries; `$$` is a
 * literal `$`; an undefined reference stays as written). An optional configMapKeyRef whose ConfigMap or key is
 * missing leaves the name as it was (it does not unset it).
 */
import { IMAGE_KEYS, type ContainerView, type EnvValue, type ImageKey, type NotFollowed } from './types.js';

/** ConfigMap data by name; undefined when the ConfigMap does not exist. */
export type ConfigMapLookup = (name: string) => Readonly<Record<string, string>> | undefined;

export interface EnvContext {
  namespace: string;
  /** The object whose spec this is, for sources: "Deployment mlrun/mlrun-api-chief" or "Pod mlrun/x". */
  owner: string;
  /** The Pod's name, when the spec is a Pod's (resolves fieldRef metadata.name). */
  podName?: string | undefined;
}

export type Resolved =
  | { kind: 'unset' }
  | { kind: 'known'; value: string; source: string }
  | { kind: 'unknown'; source: string; reason: string; otherwise?: EnvValue };

interface Entry {
  resolved: Exclude<Resolved, { kind: 'unset' }>;
  /** Position of the source that set it (envFrom sources first, then env entries). */
  order: number;
}

interface SecretLayer {
  prefix: string;
  source: string;
  order: number;
}

export interface EffectiveEnv {
  /** The value a variable has in the container, or why it cannot be known without reading a Secret. */
  get(name: string): Resolved;
  /** Reasons the kubelet would refuse to start a container with this spec (missing non-optional sources). */
  problems: string[];
}

export function effectiveEnv(container: ContainerView, lookup: ConfigMapLookup, ctx: EnvContext): EffectiveEnv {
  const vars = new Map<string, Entry>();
  const secretLayers: SecretLayer[] = [];
  const problems: string[] = [];
  let order = 0;

  const get = (name: string): Resolved => {
    const entry = vars.get(name);
    // An envFrom Secret after the last known setter may set the name: we cannot know without reading it.
    let layer: SecretLayer | undefined;
    for (const l of secretLayers) if (name.startsWith(l.prefix) && l.order > (entry?.order ?? -1)) layer = l;
    if (layer) {
      const otherwise = entry?.resolved.kind === 'known' ? { value: entry.resolved.value, source: entry.resolved.source } : undefined;
      return {
        kind: 'unknown',
        source: layer.source,
        reason: 'it may be set by an envFrom Secret, and Secrets are never read',
        ...(otherwise ? { otherwise } : {}),
      };
    }
    return entry ? entry.resolved : { kind: 'unset' };
  };

  for (const from of container.envFrom) {
    order++;
    const prefixNote = from.prefix ? ` (envFrom prefix ${from.prefix})` : '';
    if (from.configMapRef) {
      const { name, optional } = from.configMapRef;
      const data = lookup(name);
      if (data === undefined) {
        if (!optional) {
          problems.push(`envFrom ConfigMap ${ctx.namespace}/${name} does not exist and is not optional: a Pod with this spec would not start`);
        }
        continue;
      }
      for (const [key, value] of Object.entries(data)) {
        vars.set(from.prefix + key, {
          resolved: { kind: 'known', value, source: `ConfigMap ${ctx.namespace}/${name} key ${key}${prefixNote}` },
          order,
        });
      }
    } else if (from.secretRef) {
      secretLayers.push({ prefix: from.prefix, source: `envFrom Secret ${ctx.namespace}/${from.secretRef.name}${prefixNote}`, order });
    }
  }

  for (const env of container.env) {
    order++;
    const here = `${ctx.owner} env ${env.name}`;
    let resolved: Entry['resolved'] | undefined;
    if (env.configMapKeyRef) {
      const { name, key, optional } = env.configMapKeyRef;
      const data = lookup(name);
      const value = data === undefined ? undefined : Object.hasOwn(data, key) ? data[key] : undefined;
      if (value === undefined) {
        if (!optional) {
          problems.push(
            data === undefined
              ? `ConfigMap ${ctx.namespace}/${name} (${here}) does not exist and is not optional: a Pod with this spec would not start`
              : `ConfigMap ${ctx.namespace}/${name} has no key ${key} (${here}) and it is not optional: a Pod with this spec would not start`,
          );
        }
        continue; // the kubelet leaves the name as an earlier source set it
      }
      resolved = { kind: 'known', value, source: `ConfigMap ${ctx.namespace}/${name} key ${key} (${here})` };
    } else if (env.secretKeyRef) {
      resolved = {
        kind: 'unknown',
        source: `Secret ${ctx.namespace}/${env.secretKeyRef.name} key ${env.secretKeyRef.key} (${here})`,
        reason: 'Secrets are never read',
      };
    } else if (env.fieldRef !== undefined) {
      resolved = fieldValue(env.fieldRef, ctx, here);
    } else if (env.runtimeOnly !== undefined) {
      resolved = { kind: 'unknown', source: here, reason: `its value (${env.runtimeOnly}) is only known to the kubelet` };
    } else {
      resolved = expandValue(env.value ?? '', get, here);
    }
    vars.set(env.name, { resolved, order });
  }
  return { get, problems };
}

function fieldValue(path: string, ctx: EnvContext, here: string): Entry['resolved'] {
  if (path === 'metadata.namespace') return { kind: 'known', value: ctx.namespace, source: `${here} (fieldRef ${path})` };
  if (path === 'metadata.name' && ctx.podName !== undefined) {
    return { kind: 'known', value: ctx.podName, source: `${here} (fieldRef ${path})` };
  }
  return { kind: 'unknown', source: here, reason: `its value (fieldRef ${path}) is only known to the kubelet` };
}

function expandValue(text: string, get: (name: string) => Resolved, here: string): Entry['resolved'] {
  if (text === '') return { kind: 'known', value: '', source: here };
  const used: string[] = [];
  let unknown: Exclude<Resolved, { kind: 'unset' | 'known' }> | undefined;
  const value = expandVars(text, (name) => {
    const r = get(name);
    if (r.kind === 'unset') return undefined;
    if (r.kind === 'unknown') {
      unknown ??= { kind: 'unknown', source: here, reason: `it expands $(${name}) from ${r.source}, which ${r.reason.replace(/^it /, '')}` };
      return '';
    }
    used.push(`$(${name}) from ${r.source}`);
    return r.value;
  });
  if (unknown) return unknown;
  return { kind: 'known', value, source: used.length > 0 ? `${here}, expanding ${used.join(', ')}` : here };
}

/**
 * Kubernetes' `$(VAR)` expansion (third_party/forked/golang/expansion), byte for byte as the kubelet runs it on
 * the UTF-8 string: `$$` → `$`, `$(NAME)` → the mapping's value or left as written when undefined, an unclosed
 * `$(` and any other `$x` kept. Go writes `$` + the next byte as a rune, which for a non-ASCII byte re-encodes it
 * (U+0080..U+00FF); reproduced. Linear time: the next `)` after each position is found once, not per `$(`.
 */
export function expandVars(input: string, mapping: (name: string) => string | undefined): string {
  if (!input.includes('$')) return input;
  const b = Buffer.from(input, 'utf8');
  const n = b.length;
  const nextClose = new Int32Array(n + 1);
  nextClose[n] = -1;
  for (let i = n - 1; i >= 0; i--) nextClose[i] = b[i] === 0x29 ? i : nextClose[i + 1]!;
  const out: Buffer[] = [];
  let checkpoint = 0;
  for (let cursor = 0; cursor < n; cursor++) {
    if (b[cursor] !== 0x24 || cursor + 1 >= n) continue;
    out.push(b.subarray(checkpoint, cursor));
    const next = b[cursor + 1]!;
    if (next === 0x24) {
      out.push(Buffer.from('$'));
    } else if (next === 0x28) {
      const close = nextClose[cursor + 2 <= n ? cursor + 2 : n]!;
      if (close >= 0) {
        const name = b.subarray(cursor + 2, close).toString('utf8');
        const value = mapping(name);
        out.push(Buffer.from(value ?? `$(${name})`, 'utf8'));
        cursor = close - 1; // advance past ")" (the loop adds one)
      } else {
        out.push(Buffer.from('$(')); // incomplete reference: kept, scanning goes on after "("
      }
    } else {
      out.push(Buffer.from('$'), Buffer.from(String.fromCharCode(next), 'utf8'));
    }
    cursor += 1;
    checkpoint = cursor + 1;
  }
  out.push(b.subarray(checkpoint));
  return Buffer.concat(out).toString('utf8');
}

export interface ImageEnv {
  env: Partial<Record<ImageKey, EnvValue>>;
  notFollowed: NotFollowed[];
  problems: string[];
}

/** The image keys as the container sees them. */
export function imageEnv(container: ContainerView, lookup: ConfigMapLookup, ctx: EnvContext): ImageEnv {
  const eff = effectiveEnv(container, lookup, ctx);
  const out: ImageEnv = { env: {}, notFollowed: [], problems: eff.problems };
  for (const key of IMAGE_KEYS) {
    const r = eff.get(key);
    if (r.kind === 'known') out.env[key] = { value: r.value, source: r.source };
    else if (r.kind === 'unknown') {
      out.notFollowed.push({ key, source: r.source, reason: r.reason, ...(r.otherwise ? { otherwise: r.otherwise } : {}) });
    }
  }
  return out;
}
