import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  NAME_TOTAL_LENGTH_MAX,
  format,
  formatReference,
  parseReference,
  type ParsedReference,
  type ReferenceParts,
} from '../../src/image/reference.js';

// Modest run counts: these run on slow shared 2-core CI machines.
const RUNS = { numRuns: 500 };

// ---------------------------------------------------------------------------------------------
// Oracle: the distribution/reference grammar as one (test-only) regular expression, written from
// the grammar. Inputs fed to it are short, so backtracking is not a concern here.
const ALNUM = '[a-z0-9]+';
const SEP = '(?:[._]|__|-+)';
const PATH_COMPONENT = `${ALNUM}(?:${SEP}${ALNUM})*`;
const LABEL = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const HOST = `(?:${LABEL}(?:\\.${LABEL})*|\\[[a-fA-F0-9:]+\\])`;
const DOMAIN = `${HOST}(?::[0-9]+)?`;
const NAME = `(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const GRAMMAR = new RegExp(`^(${NAME})(?::${TAG})?(?:@${DIGEST})?$`);

function grammarAccepts(s: string): boolean {
  const m = GRAMMAR.exec(s);
  return m !== null && (m[1] ?? '').length <= NAME_TOTAL_LENGTH_MAX;
}

/** Reasons for which the parser deliberately rejects strings the bare grammar regex accepts. */
const DOCUMENTED_DEVIATIONS = [
  /repository name must be lowercase/, // uppercase first component is not taken as a registry
  /in registry host|registry host label|empty label|missing registry host/, // "." or ":" in the first component makes it a registry
  /invalid port/, // ":" in the first component makes it a registry; port range
  /IPv6/, // structural IPv6 validation
  /requires exactly \d+ hex digits|hex digits must be lowercase|algorithm must be lowercase/, // sha256/384/512
  /ambiguous with an image ID/,
  /once normalised/,
];

// ---------------------------------------------------------------------------------------------
// Arbitraries generating references from the grammar.
const chars = (s: string) => fc.constantFrom(...s.split(''));
const LOWER_ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';
const MIXED_ALNUM = `${LOWER_ALNUM}ABCDEFGHIJKLMNOPQRSTUVWXYZ`;
const HEX_LOWER = '0123456789abcdef';
const HEX_MIXED = '0123456789abcdefABCDEF';
const WORD = `${MIXED_ALNUM}_`;

const alnumRun = fc.string({ unit: chars(LOWER_ALNUM), minLength: 1, maxLength: 6 });
const separator = fc.constantFrom('.', '_', '__', '-', '--', '---');
const pathComponent = fc
  .tuple(alnumRun, fc.array(fc.tuple(separator, alnumRun), { maxLength: 3 }))
  .map(([first, rest]) => first + rest.map(([s, a]) => s + a).join(''));
const path = fc.array(pathComponent, { minLength: 1, maxLength: 4 }).map((cs) => cs.join('/'));

const label = fc
  .tuple(chars(MIXED_ALNUM), fc.option(fc.tuple(fc.string({ unit: chars(`${MIXED_ALNUM}-`), maxLength: 8 }), chars(MIXED_ALNUM)), { nil: undefined }))
  .map(([a, rest]) => (rest === undefined ? a : a + rest[0] + rest[1]));
const hostName = fc.array(label, { minLength: 1, maxLength: 4 }).map((ls) => ls.join('.'));
const hexGroup = fc.string({ unit: chars(HEX_MIXED), minLength: 1, maxLength: 4 });
const ipv6 = fc.oneof(
  fc.array(hexGroup, { minLength: 8, maxLength: 8 }).map((gs) => gs.join(':')),
  fc
    .tuple(fc.array(hexGroup, { maxLength: 3 }), fc.array(hexGroup, { maxLength: 3 }))
    .map(([l, r]) => `${l.join(':')}::${r.join(':')}`),
);
const port = fc.integer({ min: 0, max: 65535 }).map(String);
/** Registries that splitDockerDomain recognises: contain "." or ":" or are "localhost". */
const domain = fc.oneof(
  fc.tuple(hostName, label).map(([h, l]) => `${h}.${l}`),
  fc.tuple(hostName, port).map(([h, p]) => `${h}:${p}`),
  fc.constant('localhost'),
  fc.constantFrom('docker.io', 'index.docker.io', 'quay.io', 'gcr.io', 'localhost:5000'),
  fc.tuple(ipv6, fc.option(port, { nil: undefined })).map(([a, p]) => (p === undefined ? `[${a}]` : `[${a}]:${p}`)),
);
const tag = fc
  .tuple(chars(WORD), fc.string({ unit: chars(`${WORD}.-`), maxLength: 127 }))
  .map(([a, b]) => a + b);
const algorithmComponent = fc
  .tuple(chars('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'), fc.string({ unit: chars(MIXED_ALNUM), maxLength: 5 }))
  .map(([a, b]) => a + b);
const otherAlgorithm = fc
  .tuple(algorithmComponent, fc.array(fc.tuple(chars('-_+.'), algorithmComponent), { maxLength: 2 }))
  .map(([a, rest]) => a + rest.map(([s, c]) => s + c).join(''))
  .filter((a) => !['sha256', 'sha384', 'sha512'].includes(a.toLowerCase()));
const hex = (n: number) => fc.string({ unit: chars(HEX_LOWER), minLength: n, maxLength: n });
const digest = fc.oneof(
  hex(64).map((h) => `sha256:${h}`),
  hex(96).map((h) => `sha384:${h}`),
  hex(128).map((h) => `sha512:${h}`),
  fc
    .tuple(otherAlgorithm, fc.string({ unit: chars(HEX_MIXED), minLength: 32, maxLength: 80 }))
    .map(([a, h]) => `${a}:${h}`),
);

function normalizedNameLength(p: ReferenceParts): number {
  const d = p.domain === undefined || p.domain === 'index.docker.io' ? 'docker.io' : p.domain;
  const extra = d === 'docker.io' && !p.path.includes('/') ? 'library/'.length : 0;
  return d.length + 1 + extra + p.path.length;
}

const parts: fc.Arbitrary<ReferenceParts> = fc
  .record({
    domain: fc.option(domain, { nil: undefined }),
    path,
    tag: fc.option(tag, { nil: undefined }),
    digest: fc.option(digest, { nil: undefined }),
  })
  .filter((p) => {
    const nameLength = (p.domain === undefined ? 0 : p.domain.length + 1) + p.path.length;
    const bareImageId = p.domain === undefined && p.tag === undefined && p.digest === undefined && /^[a-f0-9]{64}$/.test(p.path);
    // Without a registry, a first path component containing "." would itself be read as a registry
    // (splitDockerDomain), so such a string is not the reference these parts describe.
    const slash = p.path.indexOf('/');
    const firstLooksLikeDomain = p.domain === undefined && slash >= 0 && p.path.slice(0, slash).includes('.');
    return (
      nameLength <= NAME_TOTAL_LENGTH_MAX &&
      normalizedNameLength(p) <= NAME_TOTAL_LENGTH_MAX &&
      !bareImageId &&
      !firstLooksLikeDomain
    );
  });
const validReference = parts.map(formatReference);

/** A valid reference with one character inserted, deleted or replaced: near-miss inputs. */
const mutated = fc
  .tuple(validReference, fc.nat(), fc.constantFrom('insert', 'delete', 'replace'), chars('aZ0:/@.-_[]%# \u00e9'))
  .map(([s, i, op, c]) => {
    const at = i % (s.length + 1);
    if (op === 'insert') return s.slice(0, at) + c + s.slice(at);
    if (op === 'delete') return s.slice(0, at) + s.slice(at + 1);
    return s.slice(0, at) + c + s.slice(at + 1);
  });

const utf16 = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const anyString = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.string({ unit: 'binary', maxLength: 100 }),
  fc.string({ unit: utf16, maxLength: 100 }), // includes lone surrogates
  fc.string({ unit: chars('ab0:/@.-_A[]%'), maxLength: 40 }), // reference-ish alphabet
  mutated,
);

function checkWellFormed(input: string, r: ParsedReference): void {
  expect(typeof r.valid).toBe('boolean');
  expect(r.original).toBe(input);
  if (r.valid) {
    expect(format(r)).toBe(input);
  } else {
    expect(typeof r.reason).toBe('string');
    expect(r.reason.length).toBeGreaterThan(0);
    expect(r.reason).not.toMatch(/^internal parser error/);
    if (r.position !== undefined) {
      expect(Number.isInteger(r.position)).toBe(true);
      expect(r.position).toBeGreaterThanOrEqual(0);
      expect(r.position).toBeLessThan(input.length);
    }
  }
}

describe('parseReference — properties', () => {
  it('never throws on arbitrary strings; invalid results carry a non-empty reason', () => {
    fc.assert(
      fc.property(anyString, (s) => {
        checkWellFormed(s, parseReference(s));
      }),
      { numRuns: 1000 },
    );
  });

  it('references generated from the grammar parse valid and round-trip exactly', () => {
    fc.assert(
      fc.property(parts, (p) => {
        const s = formatReference(p);
        const r = parseReference(s);
        if (!r.valid) throw new Error(`${JSON.stringify(s)} rejected: ${r.reason}`);
        expect(format(r)).toBe(s);
        expect({ domain: r.domain, path: r.path, tag: r.tag, digest: r.digest }).toEqual({
          domain: p.domain,
          path: p.path,
          tag: p.tag,
          digest: p.digest,
        });
      }),
      RUNS,
    );
  });

  it('normalisation is idempotent and the familiar form normalises back', () => {
    fc.assert(
      fc.property(validReference, (s) => {
        const r = parseReference(s);
        if (!r.valid) throw new Error(`${JSON.stringify(s)} rejected: ${r.reason}`);
        const n = parseReference(r.normalized.full);
        if (!n.valid) throw new Error(`normalised ${JSON.stringify(r.normalized.full)} rejected: ${n.reason}`);
        expect(n.normalized).toEqual(r.normalized);
        expect(n.original).toBe(r.normalized.full);
        expect(n.domain).toBe(r.normalized.domain);
        expect(n.path).toBe(r.normalized.path);
        const f = parseReference(r.familiar);
        if (!f.valid) throw new Error(`familiar ${JSON.stringify(r.familiar)} rejected: ${f.reason}`);
        expect(f.normalized.full).toBe(r.normalized.full);
        expect(f.familiar).toBe(r.familiar);
      }),
      RUNS,
    );
  });

  it('never accepts what the distribution grammar rejects', () => {
    fc.assert(
      fc.property(anyString, (s) => {
        const r = parseReference(s);
        if (r.valid) expect(grammarAccepts(s), JSON.stringify(s)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('rejects grammar-accepted strings only for documented reasons', () => {
    fc.assert(
      fc.property(fc.oneof(mutated, fc.string({ unit: chars('ab0:/@.-_A[]'), maxLength: 30 })), (s) => {
        if (!grammarAccepts(s)) return;
        const r = parseReference(s);
        if (!r.valid) {
          expect(
            DOCUMENTED_DEVIATIONS.some((re) => re.test(r.reason)),
            `${JSON.stringify(s)}: ${r.reason}`,
          ).toBe(true);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('rejects a valid name once an uppercase letter is put in a Docker Hub path', () => {
    fc.assert(
      fc.property(path, fc.nat(), (p, i) => {
        const at = i % p.length;
        if (!/[a-z]/.test(p.charAt(at))) return;
        const s = p.slice(0, at) + p.charAt(at).toUpperCase() + p.slice(at + 1);
        const r = parseReference(s);
        // The first component may have become a registry ("a.B/c"); otherwise it must be the
        // lowercase error.
        if (!r.valid && !s.split('/')[0]!.includes('.')) expect(r.reason).toMatch(/must be lowercase/);
        if (!s.includes('/') || !s.split('/')[0]!.includes('.')) expect(r.valid).toBe(false);
      }),
      RUNS,
    );
  });
});
