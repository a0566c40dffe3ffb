/**
 * The one schema of the webhook's configuration.
 *
 * It validates the config file at load time (src/config/load.ts) and is also the source of the Helm chart's
 * values.schema.json (scripts/gen-values-schema.ts), so a key means the same thing in both places and a wrong
 * value is refused by `helm install` with the same reason the server would give.
 *
 * Key names follow MLRun's own vocabulary (images_tag → imagesTag ...), so an operator can copy values from the
 * MLRun API's environment (MLRUN_IMAGES_TAG ...) without translation.
 */
import { Type, type Static } from '@sinclair/typebox';

/**
 * An MLRun version as MLRun itself reports it and the rules accept it (src/mlrun/rules.ts rulesForVersion): strict
 * SemVer 2.0 from 0.10.0 on (1.9.2, 1.10.0-rc18, CI builds 1.10.0+a1b2c3d4), or a development build (0.0.0+unstable,
 * 0.0.0-…, unstable). Written out as a pattern so values.schema.json refuses exactly what the server refuses (RE2:
 * no lookarounds, so "at least 0.10.0" is spelled as alternatives; a 0.10.0 pre-release sorts before 0.10.0).
 */
const NUM = '(0|[1-9][0-9]*)';
const PRE_ID = '(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)';
const PRE = `(-${PRE_ID}(\\.${PRE_ID})*)`;
const BUILD = '(\\+[0-9A-Za-z-]+(\\.[0-9A-Za-z-]+)*)';
const SUPPORTED_SEMVER =
  `[1-9][0-9]*\\.${NUM}\\.${NUM}${PRE}?${BUILD}?` + // 1.x and later
  `|0\\.(1[1-9]|[2-9][0-9]|[1-9][0-9]{2,})\\.${NUM}${PRE}?${BUILD}?` + // 0.11 - 0.99 ...
  `|0\\.10\\.([1-9][0-9]*${PRE}?|0)${BUILD}?`; // 0.10.0 and later, not its pre-releases
export const VERSION_PATTERN = `^(${SUPPORTED_SEMVER}|0\\.0\\.0[-+][0-9A-Za-z.+-]*|unstable)$`;

/** Case-insensitive spelling of a word for patterns that must run in JavaScript without flags (no inline (?i)). */
const anyCase = (word: string) => [...word].map((c) => `[${c.toLowerCase()}${c.toUpperCase()}]`).join('');
const PEP440_KIND = `(${['alpha', 'a', 'beta', 'b', 'c', 'rc', 'preview', 'pre'].map(anyCase).join('|')})`;
/** X.Y.Z whose pre-releases are at least 0.10.0 (so not 0.10.0 itself). */
const PRE_RELEASE_CORE = `([1-9][0-9]*\\.${NUM}\\.${NUM}|0\\.(1[1-9]|[2-9][0-9]|[1-9][0-9]{2,})\\.${NUM}|0\\.10\\.[1-9][0-9]*)`;
/**
 * mlrun.compat: a version label as people and tools write one (src/mlrun/rules.ts rulesForCompat): what
 * VERSION_PATTERN takes, with an optional "v" (git tags), a minor alone (1.9) or a PyPI pre-release (1.10.0rc18,
 * 1.10.0.rc18, 1.10.0-RC.18), each at least 0.10.0. No surrounding whitespace (Go and JavaScript disagree on what
 * whitespace is). Empty: follow mlrun.version.
 */
export const COMPAT_PATTERN =
  `^(|unstable|[vV]?(${SUPPORTED_SEMVER}|0\\.0\\.0[-+][0-9A-Za-z.+-]*|[1-9][0-9]*\\.${NUM}|0\\.[1-9][0-9]+` +
  `|${PRE_RELEASE_CORE}[-._]?${PEP440_KIND}[-._]?[0-9]+))$`;
const MlrunVersion = Type.String({
  minLength: 1,
  maxLength: 128,
  pattern: VERSION_PATTERN,
  description: 'An MLRun version such as 1.9.2, 1.10.0-rc18, 1.10.0+a1b2c3d4 or 0.0.0+unstable.',
});

/**
 * The registry put in front of images (mlrun.imagesRegistry, mlrun.vendorImagesRegistry): the OCI distribution
 * reference grammar's domain (DNS name, IPv4 or bracketed IPv6, optional :port) and optional repository path of
 * lower-case components, with or without the trailing "/" (MLRun adds a missing one). Empty: no prefix.
 * A value outside this grammar can never produce a pullable image: every prefixed Pod would be left unchanged with a
 * warning while the server looked healthy, so it is refused at load (and by values.schema.json: the pattern is
 * written for Go's RE2 as well as JavaScript, no lookarounds or backreferences).
 */
const DOMAIN_COMPONENT = '[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const HOST = `(${DOMAIN_COMPONENT}(\\.${DOMAIN_COMPONENT})*|\\[[0-9A-Fa-f:.]+\\])`;
const PATH_COMPONENT = '[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*';
export const REGISTRY_PATTERN = `^(${HOST}(:[0-9]{1,5})?(/${PATH_COMPONENT})*/?)?$`;

/** The OCI tag grammar; empty means "no forced tag". */
export const IMAGES_TAG_PATTERN = '^([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$';

export const MlrunSection = Type.Object(
  {
    version: Type.Optional({
      ...MlrunVersion,
      default: '1.9.2',
      description:
        'MLRun server version (MLRUN_VERSION). It is the tag of last resort (server_version in MLRun) and, unless ' +
        'mlrun.compat is set, picks whose image rules to follow.',
    }),
    compat: Type.Optional(
      Type.String({
        maxLength: 128,
        pattern: COMPAT_PATTERN,
        default: '',
        description:
          'Follow the image rules of this MLRun version instead of those of mlrun.version (e.g. 1.4.1). Empty: use mlrun.version.',
      }),
    ),
    imagesTag: Type.Optional(
      Type.String({
        maxLength: 128,
        pattern: IMAGES_TAG_PATTERN,
        default: '',
        description: 'MLRUN_IMAGES_TAG: forced tag for MLRun images; beats client and server versions; used as given.',
      }),
    ),
    imagesRegistry: Type.Optional(
      Type.String({
        maxLength: 255,
        pattern: REGISTRY_PATTERN,
        default: '',
        description:
          'MLRUN_IMAGES_REGISTRY: registry (optionally with a path) put in front of MLRun images that match ' +
          'imagesToEnrichRegistry, e.g. datanode-registry.example/ . A missing trailing "/" is added.',
      }),
    ),
    vendorImagesRegistry: Type.Optional(
      Type.String({
        maxLength: 255,
        pattern: REGISTRY_PATTERN,
        default: '',
        description:
          'MLRUN_VENDOR_IMAGES_REGISTRY (MLRun >= 1.7): registry put in front of non-MLRun images that match imagesToEnrichRegistry.',
      }),
    ),
    imagesToEnrichRegistry: Type.Optional(
      Type.Union([Type.String({ maxLength: 4096 }), Type.Null()], {
        default: null,
        description:
          'MLRUN_IMAGES_TO_ENRICH_REGISTRY: comma-separated Python regular expressions (re.match: anchored at the start ' +
          'only; no trimming around commas). null: the default of the selected MLRun version ' +
          '(^mlrun/* up to 1.6, ^mlrun/*,python:3.9 in 1.7-1.8, ^mlrun/*,^python:3.(9|11)$ from 1.9). "" disables prefixing.',
      }),
    ),
    kfpPythonSuffix: Type.Optional(
      Type.Union([Type.Literal('auto'), Type.Literal('exempt'), Type.Literal('always'), Type.Literal('client-at-least-1.10')], {
        default: 'auto',
        description:
          'Python suffix for mlrun-kfp images. auto: as the selected MLRun version does (exempt in 1.9 and 1.10.0-rc*). ' +
          'always: later 1.10 releases (MLRun PR #8463). client-at-least-1.10: only for clients >= 1.10.0-rc0 (MLRun PR #8730). ' +
          'The last two are unverified against MLRun code (see docs/adr).',
      }),
    ),
  },
  { additionalProperties: false, default: {}, description: 'MLRun image settings, in MLRun\'s own vocabulary.' },
);

export const CorrectionsSection = Type.Object(
  {
    tagImagesWithRegistryPort: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          'MLRun never tags an image containing any ":" (so localhost:5000/mlrun/mlrun stays untagged). ' +
          'true: use the real reference grammar and tag it when it has no tag or digest.',
      }),
    ),
    exactMlrunPattern: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          'MLRun\'s default pattern ^mlrun/* also matches mlrunfoo/x and mlrun:1.6. true: read the pattern ^mlrun/* as ^mlrun/.',
      }),
    ),
  },
  {
    additionalProperties: false,
    default: {},
    description: 'Opt-in corrections of MLRun quirks. Default off: the webhook resolves exactly what MLRun would.',
  },
);

/**
 * A Kubernetes qualified name (label and annotation keys): optional DNS-subdomain prefix and '/', then a name of at
 * most 63 characters. A key the API server refuses would make it reject every Pod the webhook patches, so the
 * schema holds the per-part limits; the prefix's own 253 limit is checked at load (see load.ts), as Go's regexp
 * in helm has no lookahead to express it here.
 */
export const QUALIFIED_NAME_PATTERN =
  '^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$';
export const QUALIFIED_NAME_MAX = 253 + 1 + 63;

export const WebhookSection = Type.Object(
  {
    mode: Type.Optional(
      Type.Union([Type.Literal('enforce'), Type.Literal('report')], {
        default: 'enforce',
        description: 'enforce: patch images. report: decide, log, count and warn, but change nothing.',
      }),
    ),
    optOutKey: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: QUALIFIED_NAME_MAX,
        pattern: QUALIFIED_NAME_PATTERN,
        default: 'mlrun-image-webhook/skip',
        description: 'A Pod with this label or annotation set to "true" is left alone.',
      }),
    ),
    annotationKey: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: QUALIFIED_NAME_MAX,
        pattern: QUALIFIED_NAME_PATTERN,
        default: 'mlrun-image-webhook/images',
        description: 'Annotation that records, per changed container, the original image and the reason.',
      }),
    ),
    corrections: Type.Optional(CorrectionsSection),
  },
  { additionalProperties: false, default: {}, description: 'How the webhook applies the rules.' },
);

export const LogSection = Type.Object(
  {
    level: Type.Optional(
      Type.Union(
        [Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'), Type.Literal('debug'), Type.Literal('trace')],
        { default: 'info', description: 'pino log level.' },
      ),
    ),
  },
  { additionalProperties: false, default: {}, description: 'Logging.' },
);

/** The config file the server reads (the chart renders it into a ConfigMap). */
export const ConfigSchema = Type.Object(
  {
    mlrun: Type.Optional(MlrunSection),
    webhook: Type.Optional(WebhookSection),
    log: Type.Optional(LogSection),
  },
  { additionalProperties: false, $id: 'mlrun-image-webhook-config' },
);

export type ConfigInput = Static<typeof ConfigSchema>;

/** The config after defaults: every key present. */
export interface Config {
  mlrun: {
    version: string;
    compat: string;
    imagesTag: string;
    imagesRegistry: string;
    vendorImagesRegistry: string;
    imagesToEnrichRegistry: string | null;
    kfpPythonSuffix: 'auto' | 'exempt' | 'always' | 'client-at-least-1.10';
  };
  webhook: {
    mode: 'enforce' | 'report';
    optOutKey: string;
    annotationKey: string;
    corrections: { tagImagesWithRegistryPort: boolean; exactMlrunPattern: boolean };
  };
  log: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' };
}
