/**
 * Which MLRun version's image rules to follow.
 *
 * MLRun changed enrich_image_url several times; each behaviour is a set of switches here rather than a copy of
 * each version's function, so the intermediate 1.10 release candidates (which have no vectors) are expressed as
 * combinations of switches that the vectored families already exercise.
 */
import { compareSemver, parseSemver, semver, type SemVer } from './semver.js';

export type FamilyId = 'A' | 'B' | 'C' | 'D' | 'E' | 'F';

export interface SuffixRule {
  /** Python version prefix that selects the suffixed image variant. */
  devPython: string;
  low: SemVer;
  /** undefined: no upper bound (1.3-1.4). */
  high: SemVer | undefined;
  suffix: string;
}

export interface Rules {
  family: FamilyId;
  /** Human-readable name, e.g. "MLRun 1.9.x rules (family E)". */
  label: string;
  /** null: no python suffix logic at all (<= 1.2). */
  suffix: SuffixRule | null;
  /** 1.3-1.8: `tag += suffix` with tag None raises TypeError. 1.9+: `tag = ver or ""`. */
  noVersionRaises: boolean;
  /** 1.9 - 1.10.0-rc18: images containing "mlrun-kfp" never get the python suffix. */
  kfpExempt: boolean;
  /** 1.7+: non-MLRun images take vendor_images_registry. */
  vendorRegistry: boolean;
  /** Bare "python" image rewrite: none, full client python version (1.10.0-rc3/rc4), or major.minor. */
  pythonRewrite: 'none' | 'full' | 'major-minor';
  /** ml-base → mlrun rewrite (1.10.0-rc6+). */
  mlBase: { threshold: SemVer; thresholdText: string; urlTagAware: boolean } | null;
  /** images_to_enrich_registry default of this version. */
  defaultEnrichPatterns: string;
}

const PY37: SuffixRule = { devPython: '3.7', low: semver('1.3.0-X'), high: undefined, suffix: '-py37' };
const PY37_BOUNDED: SuffixRule = { ...PY37, high: semver('1.5.0-X') };
const PY39: SuffixRule = { devPython: '3.9', low: semver('1.9.0-X'), high: semver('1.11.0-X'), suffix: '-py39' };

const PATTERNS_OLD = '^mlrun/*';
const PATTERNS_17 = '^mlrun/*,python:3.9';
const PATTERNS_19 = '^mlrun/*,^python:3.(9|11)$';

const A: Rules = {
  family: 'A',
  label: 'MLRun 0.10.0-1.2.x rules (family A)',
  suffix: null,
  noVersionRaises: false,
  kfpExempt: false,
  vendorRegistry: false,
  pythonRewrite: 'none',
  mlBase: null,
  defaultEnrichPatterns: PATTERNS_OLD,
};
const B: Rules = { ...A, family: 'B', label: 'MLRun 1.3.x-1.4.x rules (family B)', suffix: PY37, noVersionRaises: true };
const C: Rules = { ...B, family: 'C', label: 'MLRun 1.5.x-1.6.x rules (family C)', suffix: PY37_BOUNDED };
const D: Rules = {
  ...C,
  family: 'D',
  label: 'MLRun 1.7.x-1.8.x rules (family D)',
  vendorRegistry: true,
  defaultEnrichPatterns: PATTERNS_17,
};
const E: Rules = {
  ...D,
  family: 'E',
  label: 'MLRun 1.9.x rules (family E)',
  suffix: PY39,
  noVersionRaises: false,
  kfpExempt: true,
  pythonRewrite: 'major-minor',
  defaultEnrichPatterns: PATTERNS_19,
};
const F: Rules = {
  ...E,
  family: 'F',
  label: 'MLRun 1.10.0-rc12+ rules (family F)',
  mlBase: { threshold: semver('1.10.0-rc0'), thresholdText: '1.10.0-rc0', urlTagAware: true },
};

export const FAMILIES: Readonly<Record<FamilyId, Rules>> = { A, B, C, D, E, F };

/** The oracle version whose vectors define each family (for tests and docs). */
export const FAMILY_ORACLE: Readonly<Record<FamilyId, string>> = {
  A: '1.2.3',
  B: '1.4.1',
  C: '1.6.4',
  D: '1.8.0',
  E: '1.9.2',
  F: '1.10.0-rc18',
};

export type RulesResult = { ok: true; rules: Rules; note?: string } | { ok: false; reason: string };

const V0_10 = semver('0.10.0');
const V1_11 = semver('1.11.0-0');

/**
 * Rules of a given MLRun version. Accepts what MLRun reports as its version: semver with optional build metadata
 * (1.10.0+a1b2c3d4) and development builds (0.0.0+unstable, unstable), which follow the newest rules.
 */
export function rulesForVersion(version: string): RulesResult {
  const text = version.trim();
  if (text === '') return { ok: false, reason: 'empty MLRun version' };
  if (text === 'unstable' || text.startsWith('0.0.0+') || text.startsWith('0.0.0-')) {
    return { ok: true, rules: F, note: `development version ${text}: following the newest known rules (${F.label})` };
  }
  const v = parseSemver(text);
  if (!v) {
    return {
      ok: false,
      reason: `"${text}" is not an MLRun version (expected semver such as 1.9.2, 1.10.0-rc18 or 0.0.0+unstable)`,
    };
  }
  if (compareSemver(v, V0_10) < 0) {
    return { ok: false, reason: `MLRun ${text} is older than 0.10.0, whose image rules are not supported` };
  }
  if (v.major === 1n) {
    switch (v.minor) {
      case 0n:
      case 1n:
      case 2n:
        return { ok: true, rules: A };
      case 3n:
      case 4n:
        return { ok: true, rules: B };
      case 5n:
      case 6n:
        return { ok: true, rules: C };
      case 7n:
      case 8n:
        return { ok: true, rules: D };
      case 9n:
        return { ok: true, rules: E };
      case 10n:
        return rules110(v, text);
      default:
        break;
    }
  }
  if (v.major === 0n) return { ok: true, rules: A };
  if (compareSemver(v, V1_11) >= 0) {
    return { ok: true, rules: F, note: `MLRun ${text} is newer than the newest known rules; following ${F.label}` };
  }
  return { ok: true, rules: F };
}

/**
 * Rules named by a version label as people and tools write one (an MLRun git tag `v1.9.2`, a PyPI version
 * `1.10.0rc18`, a minor `1.9`), not as MLRun reports its own version. Only for choosing rules: a server version,
 * which also becomes an image tag, goes through rulesForVersion unchanged.
 */
export function rulesForCompat(label: string): RulesResult {
  return rulesForVersion(normalizeVersionLabel(label));
}

export function normalizeVersionLabel(label: string): string {
  let t = label.trim();
  if (/^[vV]\d/.test(t)) t = t.slice(1);
  // PEP 440's spellings of a pre-release (1.10.0rc18, 1.10.0.rc18, 1.10.0-RC.18, 1.10.0c18) → semver 1.10.0-rc18.
  const pep440 = /^(\d+\.\d+\.\d+)[-._]?(a|alpha|b|beta|c|rc|pre|preview)[-._]?(\d+)$/i.exec(t);
  if (pep440) {
    const kind = pep440[2]!.toLowerCase();
    const short = kind.startsWith('a') ? 'a' : kind.startsWith('b') ? 'b' : 'rc';
    t = `${pep440[1]}-${short}${Number(pep440[3])}`;
  }
  if (/^\d+\.\d+$/.test(t)) t = `${t}.0`;
  return t;
}

/** 1.10 release candidates changed the rules several times (spec §5, family F row). */
function rules110(v: SemVer, text: string): RulesResult {
  const pre = v.prerelease;
  const rc = pre.length >= 1 && /^rc\d+$/.test(pre[0]!) && v.patch === 0n ? Number(pre[0]!.slice(2)) : undefined;
  if (rc === undefined || rc >= 12) return { ok: true, rules: F };
  const base = { ...E, family: 'E' as const };
  if (rc <= 2) return { ok: true, rules: { ...base, label: `MLRun ${text} rules (1.9 rules without the python rewrite)`, pythonRewrite: 'none' } };
  if (rc <= 4) return { ok: true, rules: { ...base, label: `MLRun ${text} rules (python rewrite keeps the full version)`, pythonRewrite: 'full' } };
  if (rc === 5) return { ok: true, rules: { ...base, label: `MLRun ${text} rules (same as 1.9)` } };
  const threshold = rc <= 8 ? '1.10.0' : '1.10.0-rc0';
  return {
    ok: true,
    rules: {
      ...F,
      label: `MLRun ${text} rules (ml-base rewrite at ${threshold}, computed tag only)`,
      mlBase: { threshold: semver(threshold), thresholdText: threshold, urlTagAware: false },
    },
  };
}
