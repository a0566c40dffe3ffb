/**
 * MLRun's production advice as a verdict per image: "auto tags are fine for a POC; in production, pin the image".
 * Pure: an image as it arrives in a Pod, the policy, and (for MLRun images) the engine's resolution of the pinned
 * version → a verdict and, where one exists, the exact image to write instead. The admission layer turns the verdict
 * into warn / deny / rewrite and the messages; this file knows nothing about AdmissionReviews.
 *
 * What is flagged:
 *  1. a floating image: no tag and no digest (the kubelet pulls "latest"), or the moving tags `latest` and
 *     `unstable` (MLRun's dev builds), whoever wrote the Pod (`localhost:5000/mlrun/mlrun` included: a registry port
 *     is not a tag, whatever MLRun's own "any colon" rule says);
 *  2. with a pinned MLRun version: an MLRun image whose tag is another MLRun version (a 1.10 client's auto tag in a
 *     namespace pinned to 1.9.2), with or without its python suffix or a digest.
 * A digest alone pins content: never flagged. A custom tag that is not a version (`my-build`) is the user's own pin.
 */
import { parseReference } from '../image/reference.js';
import { normalizeVersionTag, type Resolver } from './engine.js';
import { parseSemver } from './semver.js';

export const PIN_TAGS_MODES = ['off', 'warn', 'deny', 'rewrite'] as const;
export type PinTagsMode = (typeof PIN_TAGS_MODES)[number];

/** Tags that move by design. */
const FLOATING_TAGS = new Set(['latest', 'unstable']);
/** MLRun's python suffix on a version tag (-py37, -py39, -py311). */
const PY_SUFFIX = /-py\d{2,3}$/;

export type PinVerdict =
  | { kind: 'pinned' }
  | { kind: 'allowed'; pattern: string }
  /** Unusable for policy (not a valid reference): the admission layer already warns about it. */
  | { kind: 'not-a-reference' }
  | { kind: 'floating'; why: 'untagged' | 'moving-tag'; tag?: string; mlrun: boolean; suggestion: Suggestion }
  | { kind: 'off-pin'; tag: string; version: string; pinned: string; suggestion: Suggestion };

/** What to write instead: exact for MLRun images with a pinned version, a template otherwise. */
export type Suggestion = { exact: true; image: string } | { exact: false; template: string };

export interface PinContext {
  /** Pinned MLRun version of the namespace (MLRun's version form, e.g. 1.9.2), or null. */
  mlrunVersion: string | null;
  /** Operator's exemptions, compiled at config load: an image matching one is never flagged. */
  allow: readonly { source: string; match: (image: string) => boolean }[];
  /**
   * The engine of this namespace compiled without registries (so its answer is the image a user writes, before the
   * webhook adds the registry prefix): gives the image MLRun would build for the pinned version.
   */
  unprefixed: Pick<Resolver, 'resolve'>;
  clientPythonVersion: string | null;
}

/** The same test MLRun's enrich_image_url uses (spec §2.4): starts with mlrun/ or contains /mlrun/. */
export function isMlrunImage(image: string): boolean {
  return image.startsWith('mlrun/') || image.includes('/mlrun/');
}

export function pinVerdict(image: string, ctx: PinContext): PinVerdict {
  for (const a of ctx.allow) if (a.match(image)) return { kind: 'allowed', pattern: a.source };
  const ref = parseReference(image);
  if (!ref.valid) return { kind: 'not-a-reference' };
  const mlrun = isMlrunImage(image);
  const pinned = ctx.mlrunVersion ? normalizeVersionTag(ctx.mlrunVersion) : null;

  if (ref.tag === undefined) {
    if (ref.digest !== undefined) return { kind: 'pinned' };
    return { kind: 'floating', why: 'untagged', mlrun, suggestion: suggest(ref, mlrun, pinned, ctx) };
  }
  if (FLOATING_TAGS.has(ref.tag.replace(PY_SUFFIX, ''))) {
    return { kind: 'floating', why: 'moving-tag', tag: ref.tag, mlrun, suggestion: suggest(ref, mlrun, pinned, ctx) };
  }
  if (mlrun && pinned) {
    const version = ref.tag.replace(PY_SUFFIX, '');
    // Only a tag that is an MLRun version can be "another version"; a custom tag is the user's own pin.
    if (parseSemver(version) !== undefined && version !== pinned) {
      return { kind: 'off-pin', tag: ref.tag, version, pinned, suggestion: suggest(ref, true, pinned, ctx) };
    }
  }
  return { kind: 'pinned' };
}

/**
 * The image to write instead. For an MLRun image with a pinned version: the engine's own answer for the repository
 * path with the pinned version as the client version (so the python suffix and the ml-base rule follow MLRun for
 * that version), under the registry the user wrote. The path is resolved without its registry because MLRun's
 * "any colon blocks tagging" rule would otherwise leave `localhost:5000/mlrun/mlrun` untagged. No registry prefix
 * is added here: the webhook adds it afterwards, as for any image.
 */
function suggest(ref: { domain: string | undefined; path: string; name: string }, mlrun: boolean, pinned: string | null, ctx: PinContext): Suggestion {
  if (mlrun && pinned) {
    const r = ctx.unprefixed.resolve(ref.path, pinned, ctx.clientPythonVersion);
    // The engine's tag must be the pinned version (with MLRun's python suffix at most): an engine compiled with
    // mlrun.imagesTag would tag with that instead, and the suggestion would not be the pin.
    const tag = r.ok ? r.image.slice(r.image.lastIndexOf(':') + 1) : '';
    const tagged = r.ok && r.image.includes(':') && tag.replace(PY_SUFFIX, '') === pinned ? r.image : `${ref.path}:${pinned}`;
    return { exact: true, image: ref.domain ? `${ref.domain}/${tagged}` : tagged };
  }
  return { exact: false, template: `${ref.name}:<version>` };
}

/** What the admission layer does with a verdict. */
export type PinAction = 'none' | 'warn' | 'deny' | 'rewrite';

/**
 * warn/deny apply to every flagged image; rewrite replaces what it can write exactly (MLRun images with a pinned
 * version) and denies the rest, since there is no tag to invent for `nginx`. kubectl debug (ephemeral containers)
 * is never denied: a debugging session must not be blocked by a production rule; it is warned.
 */
export function pinAction(verdict: PinVerdict, mode: PinTagsMode, ephemeral: boolean): PinAction {
  if (mode === 'off') return 'none';
  if (verdict.kind !== 'floating' && verdict.kind !== 'off-pin') return 'none';
  let action: PinAction = mode;
  if (mode === 'rewrite' && !verdict.suggestion.exact) action = 'deny';
  if (ephemeral && action === 'deny') action = 'warn';
  return action;
}

/** One sentence for the user (kubectl shows it): what is wrong and exactly what to write. */
export function pinMessage(container: string, image: string, verdict: PinVerdict): string {
  const use = (s: Suggestion) => (s.exact ? `use image ${JSON.stringify(s.image)}` : `pin a version, e.g. ${JSON.stringify(s.template)} or a digest`);
  switch (verdict.kind) {
    case 'floating':
      return verdict.why === 'untagged'
        ? `container ${JSON.stringify(container)}: image ${JSON.stringify(image)} has no tag (the kubelet pulls "latest"); ${use(verdict.suggestion)}`
        : `container ${JSON.stringify(container)}: image ${JSON.stringify(image)} uses the moving tag ${JSON.stringify(verdict.tag)}; ${use(verdict.suggestion)}`;
    case 'off-pin':
      return `container ${JSON.stringify(container)}: image ${JSON.stringify(image)} is MLRun ${verdict.version}, but this namespace is pinned to MLRun ${verdict.pinned}; ${use(verdict.suggestion)}`;
    default:
      return '';
  }
}

/** One image's policy decision in plain values, for the CLI (`resolve --namespace-policy production`) and logs. */
export interface PinReport {
  verdict: PinVerdict['kind'];
  action: PinAction;
  /** The sentence the user would see ('' when nothing is flagged). */
  message: string;
  /** The image to write instead (exact), or a template such as `nginx:<version>`. */
  suggestion?: string;
  exact?: boolean;
}

export function pinReport(container: string, image: string, ctx: PinContext, mode: PinTagsMode, ephemeral = false): PinReport {
  const verdict = pinVerdict(image, ctx);
  const action = pinAction(verdict, mode, ephemeral);
  if (verdict.kind !== 'floating' && verdict.kind !== 'off-pin') return { verdict: verdict.kind, action, message: '' };
  const s = verdict.suggestion;
  return {
    verdict: verdict.kind,
    action,
    message: pinMessage(container, image, verdict),
    suggestion: s.exact ? s.image : s.template,
    exact: s.exact,
  };
}
