/**
 * Which registries admission may name for a look-up: the ones the operator configured, compared by host[:port] and
 * path prefix exactly. Image names come from Pod authors; an image on any other host is never listed, so nobody can
 * make the webhook contact (or send credentials to) a host of their choosing. Pure.
 */
import { DEFAULT_DOMAIN, LEGACY_DEFAULT_DOMAIN, parseReference } from '../image/reference.js';
import type { Config } from '../config/schema.js';
import { BoundedMemo } from '../util/memo.js';

export interface RegistryPrefix {
  /** host[:port], lower-case (host names are case-insensitive); docker.io for Docker Hub in any spelling. */
  host: string;
  /** Repository path prefix without slashes; '' = the whole registry. */
  path: string;
}

/**
 * `reg.example:5000/mirror/` → { host: 'reg.example:5000', path: 'mirror' }; '' or null → undefined. The config
 * schema already holds these to the registry grammar, so nothing else needs refusing here.
 */
export function registryPrefix(configured: string | null): RegistryPrefix | undefined {
  if (!configured) return undefined;
  const trimmed = configured.endsWith('/') ? configured.slice(0, -1) : configured;
  const slash = trimmed.indexOf('/');
  const host = normalizeHost(slash < 0 ? trimmed : trimmed.slice(0, slash));
  if (host === '') return undefined;
  return { host, path: slash < 0 ? '' : trimmed.slice(slash + 1) };
}

function normalizeHost(host: string): string {
  const h = host.toLowerCase();
  return h === LEGACY_DEFAULT_DOMAIN ? DEFAULT_DOMAIN : h;
}

/** Whether a (valid) image lives under one of the prefixes. */
export function onRegistry(image: string, prefixes: readonly RegistryPrefix[]): boolean {
  if (prefixes.length === 0) return false;
  const ref = parseReference(image);
  if (!ref.valid) return false;
  const host = normalizeHost(ref.normalized.domain);
  const path = ref.normalized.path;
  return prefixes.some((p) => p.host === host && (p.path === '' || path === p.path || path.startsWith(`${p.path}/`)));
}

export interface ConfiguredRegistries {
  /** mlrun.imagesRegistry and mlrun.vendorImagesRegistry: where the webhook's MLRun rewrite sends images. */
  mirror: RegistryPrefix[];
  /** The mirror registries plus policy.digestRegistries: where digests may be asked. */
  digest: RegistryPrefix[];
  /** Whether the webhook checks this (rewritten) image against its mirror. */
  onMirror(image: string): boolean;
  /** Whether a digest may be asked for this image: tagged, no digest yet, on a digest registry. */
  digestTarget(image: string): boolean;
}

// A cluster repeats a few images: remember the answers per config (bounded; keys are request data).
const MEMO_ENTRIES = 4096;
const MEMO_KEY_LENGTH = 1024;

// Built once per config object (a reload makes a new one), not per request.
const byConfig = new WeakMap<Config, ConfiguredRegistries>();

export function configuredRegistries(config: Config): ConfiguredRegistries {
  let r = byConfig.get(config);
  if (!r) {
    const mirror = [config.mlrun.imagesRegistry, config.mlrun.vendorImagesRegistry].flatMap((c) => registryPrefix(c) ?? []);
    const digest = [...mirror, ...config.policy.digestRegistries.flatMap((c) => registryPrefix(c) ?? [])];
    const mirrorMemo = new BoundedMemo<boolean>(MEMO_ENTRIES, MEMO_KEY_LENGTH);
    const digestMemo = new BoundedMemo<boolean>(MEMO_ENTRIES, MEMO_KEY_LENGTH);
    r = {
      mirror,
      digest,
      onMirror: (image) => mirrorMemo.get(image, () => onRegistry(image, mirror)),
      digestTarget: (image) =>
        digestMemo.get(image, () => {
          const ref = parseReference(image);
          return ref.valid && ref.tag !== undefined && ref.digest === undefined && onRegistry(image, digest);
        }),
    };
    byConfig.set(config, r);
  }
  return r;
}
