/**
 * The record annotation: a JSON map "<kind>/<container>" → {from, to, reason, policy?, digest?, mirror?} of what
 * this webhook changed or flagged (production policy, mirror), read back on reinvocation (from/to only). Both directions are bounded: an existing record is parsed only under a size cap, and the
 * record written is sized against its own cap and against the API server's 256 KiB total for a Pod's annotations,
 * so adding it can never make the API server reject a Pod it would otherwise accept.
 */
import { jsonNestingWithin } from '../mlrun/discovery.js';
import type { ImageDecision } from './types.js';
import { ADMISSION_LIMITS } from './limits.js';
import { isJsonObject as isObj, type JsonObject as Obj } from '../util/json.js';

/** A prototype-less map: a "__proto__" entry stays an entry instead of replacing the prototype. */
export type RecordMap = Record<string, unknown>;

// Our record nests two deep; anything deeper is not ours (and not worth a deep parse).
const MAX_RECORD_DEPTH = 8;

/** record: undefined when there is nothing to read back (most Pods: no annotation), so nothing is built. */
export type ReadRecord = { readonly record: RecordMap | undefined; readonly tooLarge: boolean };

const NOTHING: ReadRecord = Object.freeze({ record: undefined, tooLarge: false });
const TOO_LARGE: ReadRecord = Object.freeze({ record: undefined, tooLarge: true });

/** The record of an earlier pass; anything else (absent, damaged, not ours, too large) reads as nothing. */
export function readRecord(value: unknown): ReadRecord {
  if (typeof value !== 'string' || value === '') return NOTHING;
  // Characters ≤ UTF-8 bytes, so this admits every record this webhook can have written, and little more.
  if (value.length > ADMISSION_LIMITS.maxRecordBytes) return TOO_LARGE;
  if (!jsonNestingWithin(value, MAX_RECORD_DEPTH)) return NOTHING;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return NOTHING; // damaged: replaced when this pass writes its own
  }
  if (!isObj(parsed)) return NOTHING;
  const record = Object.create(null) as RecordMap;
  for (const [k, v] of Object.entries(parsed)) record[k] = v;
  return { record, tooLarge: false };
}

const utf8 = (s: string): number => Buffer.byteLength(s, 'utf8');

/**
 * Bytes the API server counts for the Pod's annotations other than `exceptKey`: len(key) + len(value) in UTF-8.
 * Non-string values are counted as the API server would see them after its own decoding fails: not at all.
 */
export function otherAnnotationsBytes(annotations: Obj | undefined, exceptKey: string): number {
  let total = 0;
  if (!annotations) return total;
  for (const [k, v] of Object.entries(annotations)) {
    if (k === exceptKey) continue;
    total += utf8(k) + (typeof v === 'string' ? utf8(v) : 0);
  }
  return total;
}

/**
 * Short codes recorded per container besides from/to/reason: `policy` = "<verdict>/<action>" of pin-tags (e.g.
 * "off-pin/rewrite", "floating/warn"), `digest` = resolved | unresolved, `mirror` = present | missing | unknown.
 */
const CODE_FIELDS = ['policy', 'digest', 'mirror'] as const;
type CodeField = (typeof CODE_FIELDS)[number];
type SlimEntry = { from: string; to: string } & Partial<Record<CodeField, string>>;
/** Our codes are at most "not-a-reference/rewrite"-long; a longer value in an earlier record is not ours. */
const MAX_CODE_LENGTH = 32;

function codesOf(d: ImageDecision): Partial<Record<CodeField, string>> {
  const out: Partial<Record<CodeField, string>> = {};
  if (d.policy && d.policy.action !== 'none') out.policy = `${d.policy.verdict}/${d.policy.action}`;
  if (d.digest) out.digest = d.digest;
  if (d.mirror) out.mirror = d.mirror;
  return out;
}

/** Entries written as text directly (no merged map, no entry objects) when no earlier record is to be merged. */
const FAST_MAX_ENTRIES = 16;

/** JSON text `t` as it reads inside a JSON string (JSON.stringify(t) without its quotes). */
const inString = (t: string): string => JSON.stringify(t).slice(1, -1);

/** from, to and reason of one entry as JSON members, and the same as they read inside the patch's JSON string. */
type EntryText = { from: string; to: string; text: string; inString: string };

/**
 * Entry texts by the engine's (memoised, never modified) reasons list of a resolution: Pods repeat a few images, so
 * the same entry is written again and again. Weak keys: entries go when the engine's bounded memo drops the
 * resolution. from/to are compared before use, so a reasons list shared by other images is only a miss.
 */
const entryTexts = new WeakMap<readonly string[], EntryText>();

/** Only plain decisions: one with a policy, digest or mirror code carries a list built for that decision alone. */
const isPlain = (d: ImageDecision): boolean => (!d.policy || d.policy.action === 'none') && !d.digest && !d.mirror;

/** `"from":…,"to":…,"reason":…` of an entry. */
const membersOf = (d: ImageDecision): string =>
  `"from":${JSON.stringify(d.original)},"to":${JSON.stringify(d.image)},"reason":${JSON.stringify(d.reasons.join('; '))}`;

/** A plain decision's entry text, remembered by its reasons list. */
function plainEntryText(d: ImageDecision): EntryText {
  let e = entryTexts.get(d.reasons);
  if (e === undefined || e.from !== d.original || e.to !== d.image) {
    const text = membersOf(d);
    e = { from: d.original, to: d.image, text, inString: inString(text) };
    entryTexts.set(d.reasons, e);
  }
  return e;
}

/**
 * The record of this pass alone, written as JSON.stringify writes the merged map (same keys, order and fields), and
 * the same text as a JSON string (what JSON.stringify(value) gives, for the patch), or undefined when two
 * containers share a key (the map keeps the last at the first one's place: the general path).
 *
 * When every entry is plain, the JSON string is put together from remembered pieces (every piece boundary is an
 * ASCII character, so escaping the pieces one by one escapes the whole). Otherwise (the production policy, the
 * mirror or digests flagged a container) the entries are this Pod's own, never asked for again: the whole text is
 * escaped at once, one native pass instead of three per entry (the large review with the policy on, in process:
 * admit 75.5 -> 72 µs).
 */
function ownRecordText(changed: readonly ImageDecision[]): { value: string; json: string } | undefined {
  let plain = true;
  for (let i = 0; i < changed.length; i++) {
    const d = changed[i]!;
    for (let j = 0; j < i; j++) if (changed[j]!.kind === d.kind && changed[j]!.name === d.name) return undefined;
    if (plain && !isPlain(d)) plain = false;
  }
  let text = '{';
  if (!plain) {
    for (let i = 0; i < changed.length; i++) {
      const d = changed[i]!;
      // A plain entry's text is still the remembered one; a flagged one gets its codes (codesOf) after the reason.
      const members = isPlain(d) ? plainEntryText(d).text : `${membersOf(d)},${JSON.stringify(codesOf(d)).slice(1, -1)}`;
      text += `${i > 0 ? ',' : ''}${JSON.stringify(`${d.kind}/${d.name}`)}:{${members}}`;
    }
    text += '}';
    return { value: text, json: JSON.stringify(text) };
  }
  let json = '"{';
  for (let i = 0; i < changed.length; i++) {
    const d = changed[i]!;
    if (i > 0) {
      text += ',';
      json += ',';
    }
    const key = JSON.stringify(`${d.kind}/${d.name}`);
    const e = plainEntryText(d);
    text += `${key}:{${e.text}}`;
    json += `${inString(key)}:{${e.inString}}`;
  }
  return { value: `${text}}`, json: `${json}}"` };
}

export type RecordWrite =
  /** json, when present: JSON.stringify(value), written along with it. */
  | { kind: 'full'; value: string; json?: string }
  | { kind: 'trimmed'; value: string; entries: number; of: number } // always without reasons
  | { kind: 'omitted'; room: number };

/**
 * The record to write: earlier entries kept (reinvocation, copied templates), this pass's entries win. If it does
 * not fit in `room` bytes: without reasons; then this pass's entries first, then earlier ones, as many as fit; else
 * none. Linear in the number and size of entries.
 */
export function writeRecord(earlier: RecordMap | undefined, changed: readonly ImageDecision[], room: number): RecordWrite {
  if (earlier === undefined && changed.length <= FAST_MAX_ENTRIES) {
    const own = ownRecordText(changed);
    // A UTF-16 unit is at most 3 UTF-8 bytes: the exact count is needed only near the limit.
    if (own !== undefined && (own.value.length * 3 <= room || utf8(own.value) <= room)) return { kind: 'full', value: own.value, json: own.json };
  }
  const merged = Object.create(null) as RecordMap;
  if (earlier) for (const k of Object.keys(earlier)) merged[k] = earlier[k];
  const ours = new Set<string>();
  for (const d of changed) {
    const key = `${d.kind}/${d.name}`;
    const before = merged[key];
    // A container flagged again on reinvocation, its image being this webhook's earlier result: the earlier entry
    // stays as it is (it says where the image came from and why), so a reinvocation has nothing to patch.
    if (!d.changed && isObj(before) && before.to === d.image && typeof before.from === 'string') merged[key] = before;
    else merged[key] = { from: d.original, to: d.image, reason: d.reasons.join('; '), ...codesOf(d) };
    ours.add(key);
  }
  const keys = Object.keys(merged);
  const full = JSON.stringify(merged);
  // A UTF-16 unit is at most 3 UTF-8 bytes: the exact count is needed only near the limit.
  if (full.length * 3 <= room || utf8(full) <= room) return { kind: 'full', value: full };

  // Without reasons: only from/to are read back, and the short codes (policy, digest, mirror) say what happened.
  // Earlier entries not of our shape are dropped.
  const slim = new Map<string, SlimEntry>();
  for (const k of keys) {
    const e = merged[k];
    if (!isObj(e) || typeof e.from !== 'string' || typeof e.to !== 'string') continue;
    const entry: SlimEntry = { from: e.from, to: e.to };
    for (const c of CODE_FIELDS) {
      const v = e[c];
      if (typeof v === 'string' && v.length <= MAX_CODE_LENGTH) entry[c] = v;
    }
    slim.set(k, entry);
  }
  const size = new Map<string, number>();
  let total = 2; // "{}"
  for (const [k, e] of slim) {
    const n = utf8(JSON.stringify(k)) + 1 + utf8(JSON.stringify(e));
    size.set(k, n);
    total += n;
  }
  total += Math.max(0, slim.size - 1); // commas
  const pick = new Set<string>();
  if (total <= room) for (const k of slim.keys()) pick.add(k);
  else {
    let used = 2;
    const order = [...[...slim.keys()].filter((k) => ours.has(k)), ...[...slim.keys()].filter((k) => !ours.has(k))];
    for (const k of order) {
      const n = size.get(k)! + (pick.size > 0 ? 1 : 0);
      if (used + n > room) continue;
      pick.add(k);
      used += n;
    }
  }
  if (pick.size === 0) return { kind: 'omitted', room };
  const out = Object.create(null) as RecordMap;
  for (const k of slim.keys()) if (pick.has(k)) out[k] = slim.get(k);
  return { kind: 'trimmed', value: JSON.stringify(out), entries: pick.size, of: keys.length };
}
