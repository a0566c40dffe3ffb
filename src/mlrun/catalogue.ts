/**
 * The images an MLRun version publishes and needs, and where an air-gapped site must mirror them (spec §7).
 *
 * Pure data and functions. The runtime images' tags and mirrored names are not written here: they come from the
 * same engine that resolves Pods (compileResolver), fed with the version as the client version and each python
 * version in use, so the catalogue can never disagree with what the webhook will write into a Pod. Only the
 * infrastructure images (which MLRun's own chart deploys with explicit tags, and which never carry python
 * suffixes) are named here directly.
 *
 * Sources: MLRun's dockerfiles/README.md, Makefile (MLRUN_DOCKER_TAG) and .github/workflows/build-workflow-matrix.json
 * as summarised in docs/spec/mlrun-image-semantics.md §7, and mlrun/config.py defaults (§4). What could not be
 * confirmed from those is marked `confirmed: false` with the reason in `note`.
 */
import { compileResolver, normalizeVersionTag, type MlrunSettings, type ResolverOptions } from './engine.js';
import { parseSemver, compareSemver, semver } from './semver.js';
import type { FamilyId } from './rules.js';

export type ImageRole = 'runtime' | 'infrastructure' | 'python-base';

interface PublishedImage {
  /** Repository on the publisher, e.g. mlrun/mlrun or library/python. */
  repository: string;
  role: ImageRole;
  /** Publisher registry. */
  registry: 'docker.io' | 'quay.io';
  /** First MLRun release that publishes (runtime) or deploys (infrastructure) it. */
  since?: string;
  /** First MLRun release that no longer needs it (exclusive). */
  until?: string;
  note?: string;
  /** false: the range or the variants come from descriptions, not from MLRun's build files. */
  confirmed: boolean;
}

/** What MLRun publishes (spec §7). Runtime images are pulled by MLRun-created Pods; the rest by MLRun's own chart. */
const PUBLISHED: readonly PublishedImage[] = [
  { repository: 'mlrun/mlrun', role: 'runtime', registry: 'docker.io', confirmed: true },
  { repository: 'mlrun/mlrun-gpu', role: 'runtime', registry: 'docker.io', since: '1.5.0-0', confirmed: true },
  {
    repository: 'mlrun/ml-base',
    role: 'runtime',
    registry: 'docker.io',
    until: '1.10.0-0',
    note: 'deprecated in 1.10: the 1.10 rules rewrite mlrun/ml-base to mlrun/mlrun, so 1.10 sites need not mirror it',
    confirmed: true,
  },
  { repository: 'mlrun/ml-models', role: 'runtime', registry: 'docker.io', until: '1.5.0-0', confirmed: true },
  { repository: 'mlrun/ml-models-gpu', role: 'runtime', registry: 'docker.io', until: '1.5.0-0', confirmed: true },
  {
    repository: 'mlrun/mlrun-kfp',
    role: 'runtime',
    registry: 'docker.io',
    since: '1.8.0-0',
    note: 'workflow runner image (kfp_image) since 1.8',
    confirmed: true,
  },
  { repository: 'mlrun/mlrun-api', role: 'infrastructure', registry: 'quay.io', note: "MLRun's chart: mlrun.api.image", confirmed: true },
  { repository: 'mlrun/mlrun-ui', role: 'infrastructure', registry: 'quay.io', note: "MLRun's chart: mlrun.ui.image", confirmed: true },
  { repository: 'mlrun/jupyter', role: 'infrastructure', registry: 'quay.io', note: "MLRun CE chart: jupyterNotebook.image", confirmed: true },
  {
    repository: 'mlrun/log-collector',
    role: 'infrastructure',
    registry: 'quay.io',
    since: '1.5.0-0',
    note: 'first release unconfirmed (the log collector service appeared around 1.5)',
    confirmed: false,
  },
];

/**
 * Python versions whose images a release publishes (spec §7 release matrix), used when the operator names none.
 * The engine decides which of them get a suffixed tag.
 */
const DEFAULT_PYTHONS: Readonly<Record<FamilyId, readonly string[]>> = {
  A: ['3.7'],
  B: ['3.7', '3.9'],
  C: ['3.9'],
  D: ['3.9'],
  E: ['3.9', '3.11'],
  F: ['3.9', '3.11'],
};

/** Python images named by a family's default images_to_enrich_registry (§4): pulled by MLRun's application/nuclio runtimes. */
const DEFAULT_PYTHON_IMAGES: Readonly<Record<FamilyId, readonly string[]>> = {
  A: [],
  B: [],
  C: [],
  D: ['python:3.9'],
  E: ['python:3.9', 'python:3.11'],
  F: ['python:3.9', 'python:3.11'],
};

/** Variants the build matrix snapshots disagree on (spec §7 vs a later matrix): listed, marked unconfirmed. */
function variantNote(repository: string, tag: string): string | undefined {
  if (repository === 'mlrun/mlrun-gpu' && tag.endsWith('-py39')) {
    return 'a -py39 variant of mlrun-gpu is in the spec\'s 1.9 matrix but not in every later build matrix';
  }
  return undefined;
}

export interface CatalogueOptions {
  /** The MLRun (server) version: which images exist, and the tag of infrastructure images. */
  mlrunVersion: string;
  /** The rules family of that version (from rulesForVersion). */
  family: FamilyId;
  /** Python versions of the clients in use (3.9, 3.11.7 ...); default: what the release publishes. */
  pythonVersions?: readonly string[];
  /** Client versions in use besides the server version (older SDKs pull their own tags). */
  clientVersions?: readonly string[];
  /** The effective MLRun settings and engine options (the same the webhook resolves Pods with). */
  settings: MlrunSettings;
  resolverOptions: ResolverOptions;
}

export interface CatalogueEntry {
  role: ImageRole;
  /** Fully qualified reference to copy from, e.g. docker.io/mlrun/mlrun:1.9.2-py39. */
  source: string;
  /**
   * Where Pods will pull it from once the webhook has resolved them (registry-prefixed), or null when no
   * registry rule redirects it (the site pulls it from the source, or must set an image value itself).
   */
  mirror: string | null;
  /** The image as Pods name it before the registry prefix (e.g. mlrun/mlrun:1.9.2-py39). */
  image: string;
  /** The python version this variant serves, when it depends on one. */
  python?: string;
  clientVersion?: string;
  confirmed: boolean;
  note?: string;
}

export type CatalogueResult = { ok: true; entries: CatalogueEntry[]; notes: string[] } | { ok: false; reason: string };

function inRange(version: string, image: PublishedImage): boolean {
  const v = parseSemver(normalizeVersionTag(version) ?? '');
  // Development builds (0.0.0+unstable, hashes) publish everything the newest release does.
  if (!v || v.major === 0n) return image.until === undefined;
  if (image.since && compareSemver(v, semver(image.since)) < 0) return false;
  if (image.until && compareSemver(v, semver(image.until)) >= 0) return false;
  return true;
}

function qualify(registry: string, image: string): string {
  return `${registry}/${image}`;
}

/** The python image's repository on Docker Hub (official images live under library/). */
function pythonSource(image: string): string {
  return `docker.io/library/${image}`;
}

/**
 * The catalogue for a version: runtime images per (client version, python) as the engine tags and prefixes them,
 * infrastructure images at the server version, and the python base images the version's patterns redirect.
 * Entries are unique by source; order: runtime, infrastructure, python-base.
 */
export function buildCatalogue(options: CatalogueOptions): CatalogueResult {
  const { mlrunVersion, family, settings } = options;
  const pythons = options.pythonVersions && options.pythonVersions.length > 0 ? options.pythonVersions : DEFAULT_PYTHONS[family];
  const clients = [mlrunVersion, ...(options.clientVersions ?? []).filter((c) => c !== mlrunVersion)];
  // The same config, once with its registries (what Pods get) and once without (the published name).
  const resolver = compileResolver(settings, options.resolverOptions);
  const bare = compileResolver({ ...settings, imagesRegistry: '', vendorImagesRegistry: '' }, options.resolverOptions);
  if (resolver.configError) return { ok: false, reason: resolver.configError.reason };

  const notes: string[] = [];
  const entries: CatalogueEntry[] = [];
  const seen = new Set<string>();
  const push = (e: CatalogueEntry) => {
    if (seen.has(e.source)) return;
    seen.add(e.source);
    entries.push(e);
  };

  for (const image of PUBLISHED.filter((i) => i.role === 'runtime' && inRange(mlrunVersion, i))) {
    for (const client of clients) {
      for (const python of pythons) {
        const named = bare.resolve(image.repository, client, python);
        const routed = resolver.resolve(image.repository, client, python);
        if (!named.ok || !routed.ok) {
          notes.push(`${image.repository} for client ${client} / python ${python}: MLRun would raise (${named.ok ? '' : named.reason}${routed.ok ? '' : routed.reason})`);
          continue;
        }
        const tag = named.image.slice(named.image.lastIndexOf(':') + 1);
        const note = [image.note, variantNote(image.repository, tag)].filter(Boolean).join('; ') || undefined;
        push({
          role: 'runtime',
          source: qualify(image.registry, named.image),
          mirror: routed.image !== named.image ? routed.image : null,
          image: named.image,
          python,
          clientVersion: client,
          confirmed: image.confirmed && variantNote(image.repository, tag) === undefined,
          ...(note ? { note } : {}),
        });
      }
    }
  }

  // Deployed by MLRun's chart with explicit tags: never suffixed, never touched by the patterns' default
  // (they carry a registry). Mirrored under the images registry, where the chart's image values should point.
  const tag = normalizeVersionTag(mlrunVersion) ?? mlrunVersion;
  const registry = settings.imagesRegistry ? (settings.imagesRegistry.endsWith('/') ? settings.imagesRegistry : `${settings.imagesRegistry}/`) : '';
  for (const image of PUBLISHED.filter((i) => i.role === 'infrastructure' && inRange(mlrunVersion, i))) {
    const named = `${image.repository}:${tag}`;
    push({
      role: 'infrastructure',
      source: qualify(image.registry, named),
      mirror: registry ? `${registry}${named}` : null,
      image: named,
      confirmed: image.confirmed,
      note: `${image.note ?? ''}${image.note ? '; ' : ''}set the chart's image value to the mirror`.trim(),
    });
  }

  // Python base images: those the version's default patterns name, plus the bare "python" rewrite for each python
  // in use (1.9+), routed by the effective patterns (a custom pattern list may route none of them).
  const pythonImages = new Set(DEFAULT_PYTHON_IMAGES[family]);
  for (const python of pythons) {
    const r = bare.resolve('python', null, python);
    if (r.ok && r.image !== 'python') pythonImages.add(r.image);
  }
  for (const image of pythonImages) {
    const routed = resolver.resolve(image, null, null);
    if (!routed.ok) continue;
    push({
      role: 'python-base',
      source: pythonSource(image),
      mirror: routed.image !== image ? routed.image : null,
      image,
      confirmed: true,
      note: 'python base image of the application/nuclio runtimes',
    });
  }
  if (entries.every((e) => e.mirror === null)) {
    notes.push('no registry is configured (mlrun.imagesRegistry / vendorImagesRegistry): nothing is redirected to a mirror');
  }
  return { ok: true, entries, notes };
}

export type CatalogueFormat = 'list' | 'skopeo' | 'crane';

/**
 * The copy instructions for the entries that have a mirror:
 * - list: "source mirror" per line;
 * - crane: a shell script of `crane copy source mirror`;
 * - skopeo: a script of `skopeo copy --all docker://source docker://mirror` lines. (skopeo sync's YAML cannot
 *   rename a repository, and python images move from library/python to <vendor registry>python, so per-image copies
 *   are the exact form.)
 * Entries without a mirror are listed as comments, so nothing is silently left out.
 */
export function formatCatalogue(entries: readonly CatalogueEntry[], format: CatalogueFormat): string {
  const lines: string[] = [];
  if (format !== 'list') lines.push('#!/bin/sh', 'set -eu');
  for (const e of entries) {
    if (e.mirror === null) {
      lines.push(`# ${e.source}: no registry rule redirects it (not mirrored)`);
      continue;
    }
    const unconfirmed = e.confirmed ? '' : `  # unconfirmed: ${e.note ?? ''}`;
    switch (format) {
      case 'list':
        lines.push(`${e.source} ${e.mirror}${unconfirmed}`);
        break;
      case 'crane':
        lines.push(`crane copy ${shellQuote(e.source)} ${shellQuote(e.mirror)}${unconfirmed}`);
        break;
      case 'skopeo':
        lines.push(`skopeo copy --all ${shellQuote(`docker://${e.source}`)} ${shellQuote(`docker://${e.mirror}`)}${unconfirmed}`);
        break;
    }
  }
  return `${lines.join('\n')}\n`;
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`;
}
