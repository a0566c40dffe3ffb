/**
 * Where an image reference lives in the distribution API: the host to connect to, the repository, and the
 * manifest path. Uses the real reference grammar (src/image/reference.ts), with Docker Hub's naming rules:
 * `nginx` → registry `docker.io`, repository `library/nginx`, served by `registry-1.docker.io`.
 */
import { parseReference } from '../image/reference.js';

export const DOCKER_HUB_REGISTRY = 'docker.io';
export const DOCKER_HUB_API_HOST = 'registry-1.docker.io';

export interface RegistryTarget {
  /** Registry as named in references, normalised (`docker.io` for Docker Hub). Used for credentials and config. */
  registry: string;
  /** host[:port] the API is served on. */
  apiHost: string;
  /** Repository inside the registry (`library/nginx`). */
  repository: string;
  /** The digest when there is one (a runtime pulls by digest then), else the tag, else `latest`. */
  reference: string;
  /** `registry/repository` without tag: the name the kubelet looks credentials up by. */
  name: string;
  /** `/v2/<repository>/manifests/<reference>`. */
  manifestPath: string;
}

export type TargetResult = { ok: true; target: RegistryTarget } | { ok: false; reason: string };

export function registryApiHost(registry: string): string {
  return registry === DOCKER_HUB_REGISTRY ? DOCKER_HUB_API_HOST : registry;
}

export function targetFor(image: string): TargetResult {
  const ref = parseReference(image);
  if (!ref.valid) return { ok: false, reason: `invalid image reference: ${ref.reason}` };
  const { domain, path, name } = ref.normalized;
  const reference = ref.digest ?? ref.tag ?? 'latest';
  // Every character of a valid repository, tag or digest is URL-path safe ([a-z0-9._/-], [A-Za-z0-9_.-], ":").
  return {
    ok: true,
    target: {
      registry: domain,
      apiHost: registryApiHost(domain),
      repository: path,
      reference,
      name,
      manifestPath: `/v2/${path}/manifests/${reference}`,
    },
  };
}

/** The Accept header for a manifest HEAD: every manifest kind a runtime can pull. */
export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');
