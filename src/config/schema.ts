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
/** X.Y.Z whose pre-releases are at least 0.10.0 (so not 0.10.0 itself), or 0.0.0 (development builds). */
// 0.0.0 too: rulesForCompat turns 0.0.0rc2 / 0.0.0.RC.2 into 0.0.0-rc2, a development build.
const PRE_RELEASE_CORE = `([1-9][0-9]*\\.${NUM}\\.${NUM}|0\\.(1[1-9]|[2-9][0-9]|[1-9][0-9]{2,})\\.${NUM}|0\\.10\\.[1-9][0-9]*|0\\.0\\.0)`;
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

/** A Kubernetes namespace name (RFC 1123 label). */
export const NAMESPACE_PATTERN = '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$';
const NamespaceName = Type.String({ minLength: 1, maxLength: 63, pattern: NAMESPACE_PATTERN });
/** A registry as written in image names, host[:port], for lists of registries the webhook may contact. */
export const REGISTRY_HOST_PATTERN = `^${HOST}(:[0-9]{1,5})?$`;
const RegistryHost = Type.String({ minLength: 1, maxLength: 255, pattern: REGISTRY_HOST_PATTERN });
const Seconds = (min: number, max: number, dflt: number, description: string) =>
  Type.Optional(Type.Integer({ minimum: min, maximum: max, default: dflt, description }));

/** The discovered keys an operator may pin to a value that deliberately differs from the MLRun install's. */
export const DiscoveryOverrides = Type.Object(
  {
    imagesTag: Type.Optional(
      Type.Union([Type.String({ maxLength: 128, pattern: IMAGES_TAG_PATTERN }), Type.Null()], {
        default: null,
        description: 'Beats the discovered MLRUN_IMAGES_TAG (as mlrun.imagesTag). null: follow MLRun.',
      }),
    ),
    imagesRegistry: Type.Optional(
      Type.Union([Type.String({ maxLength: 255, pattern: REGISTRY_PATTERN }), Type.Null()], {
        default: null,
        description: 'Beats the discovered MLRUN_IMAGES_REGISTRY (as mlrun.imagesRegistry). null: follow MLRun.',
      }),
    ),
    vendorImagesRegistry: Type.Optional(
      Type.Union([Type.String({ maxLength: 255, pattern: REGISTRY_PATTERN }), Type.Null()], {
        default: null,
        description: 'Beats the discovered MLRUN_VENDOR_IMAGES_REGISTRY (as mlrun.vendorImagesRegistry). null: follow MLRun.',
      }),
    ),
    imagesToEnrichRegistry: Type.Optional(
      Type.Union([Type.String({ maxLength: 4096 }), Type.Null()], {
        default: null,
        description: 'Beats the discovered MLRUN_IMAGES_TO_ENRICH_REGISTRY (as mlrun.imagesToEnrichRegistry). null: follow MLRun.',
      }),
    ),
  },
  {
    additionalProperties: false,
    default: {},
    description:
      'Values that beat what discovery finds in the MLRun install (same meaning as the mlrun.* keys); null: follow MLRun.',
  },
);

export const DEFAULT_DISCOVERY_POD_SELECTOR =
  'app.kubernetes.io/name=mlrun,app.kubernetes.io/component=api,app.kubernetes.io/sub-component=chief';

export const DiscoverySection = Type.Object(
  {
    enabled: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          "Follow the cluster's MLRun install(s) through the Kubernetes API: the server version (the MLRun API image tag) " +
          'and the MLRUN_IMAGES_* settings of the MLRun API container.',
      }),
    ),
    namespaces: Type.Optional(
      Type.Array(Type.Union([NamespaceName, Type.Literal('*')]), {
        default: ['mlrun'],
        minItems: 1,
        maxItems: 256,
        uniqueItems: true,
        description: 'Namespaces where MLRun APIs run. ["*"]: every namespace (the chart then needs a ClusterRole).',
      }),
    ),
    defaultNamespace: Type.Optional(
      Type.String({
        maxLength: 63,
        pattern: '^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)?$',
        default: 'mlrun',
        description:
          'The install used for Pods of namespaces that have no MLRun API of their own. "": those Pods use the static config.',
      }),
    ),
    deployment: Type.Optional(
      Type.String({ minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$', default: 'mlrun-api-chief', description: 'Deployment of the MLRun API chief.' }),
    ),
    container: Type.Optional(
      Type.String({ minLength: 1, maxLength: 63, pattern: NAMESPACE_PATTERN, default: 'mlrun-api', description: 'The MLRun API container in that Deployment.' }),
    ),
    podSelector: Type.Optional(
      Type.String({ minLength: 1, maxLength: 1024, default: DEFAULT_DISCOVERY_POD_SELECTOR, description: 'Label selector of the chief Pods.' }),
    ),
    syncTimeoutSeconds: Seconds(0, 600, 30, 'At start, readiness waits this long for the first sync, then goes ready on the static config.'),
    overrides: Type.Optional(DiscoveryOverrides),
  },
  { additionalProperties: false, default: {}, description: 'Follow the MLRun install(s) of the cluster.' },
);

export const MirrorSection = Type.Object(
  {
    enabled: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          'Check the registries the webhook rewrites images to (mlrun.imagesRegistry, mlrun.vendorImagesRegistry) for ' +
          'the images it writes: warn (and count) rewrites to images the mirror lacks, and check the MLRun catalogue in the background.',
      }),
    ),
    missing: Type.Optional(
      Type.Union([Type.Literal('rewrite'), Type.Literal('keep-original')], {
        default: 'rewrite',
        description:
          'rewrite: MLRun-exact, rewrite and warn when the mirror is known to lack the image. keep-original: leave the ' +
          'original image then (for sites that are not fully air-gapped).',
      }),
    ),
    budgetMs: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 7500,
        default: 300,
        description:
          'Time one admission may wait for registry answers, for all its images together (at most a quarter of the ' +
          "webhook's timeoutSeconds). 0: only what is already known is used.",
      }),
    ),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 30000, default: 5000, description: 'Per registry request.' })),
    concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 64, default: 8, description: 'Registry requests in flight at once.' })),
    intervalSeconds: Seconds(30, 86400, 600, 'Background coverage check period (with jitter).'),
    presentTtlSeconds: Seconds(0, 86400, 600, 'How long "present" is believed.'),
    missingTtlSeconds: Seconds(0, 3600, 60, 'How long "missing" is believed before asking again.'),
    cacheEntries: Type.Optional(Type.Integer({ minimum: 16, maximum: 100000, default: 4096, description: 'Registry answers kept at most.' })),
    pythonVersions: Type.Optional(
      Type.Array(Type.String({ pattern: '^3\\.[0-9]{1,2}$' }), {
        default: [],
        maxItems: 16,
        description: 'Client python versions whose image variants the background check covers; []: those the MLRun release publishes.',
      }),
    ),
    insecureRegistries: Type.Optional(
      Type.Array(RegistryHost, { default: [], maxItems: 64, uniqueItems: true, description: 'Registries (host[:port]) reached over plain HTTP.' }),
    ),
    caFile: Type.Optional(Type.String({ maxLength: 4096, default: '', description: 'PEM CA bundle trusted for registry TLS, besides the system roots.' })),
    pullSecretFiles: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 4096 }), {
        default: [],
        maxItems: 32,
        description: '.dockerconfigjson files (mounted image pull Secrets) with registry credentials.',
      }),
    ),
  },
  { additionalProperties: false, default: {}, description: 'Air-gap readiness: know what the data-node registry holds.' },
);

export const PIN_TAGS = ['off', 'warn', 'deny', 'rewrite'] as const;

export const PolicySection = Type.Object(
  {
    namespaces: Type.Optional(
      Type.Array(NamespaceName, {
        default: [],
        maxItems: 1024,
        uniqueItems: true,
        description: 'Production namespaces by name, besides those the chart selects by namespace label.',
      }),
    ),
    mlrunVersion: Type.Optional(
      Type.String({
        maxLength: 128,
        pattern: `^$|${VERSION_PATTERN}`,
        default: '',
        description: 'The MLRun version MLRun images are pinned to in production namespaces. "": no version pin.',
      }),
    ),
    pinTags: Type.Optional(
      Type.Union(
        PIN_TAGS.map((l) => Type.Literal(l)),
        {
          default: 'off',
          description:
            'Images with no tag or a moving tag (latest), and MLRun images off mlrunVersion: off, warn (admit with a ' +
            'warning), deny (refuse the Pod, naming the image to use), rewrite (MLRun images get the pinned tag; the rest are denied).',
        },
      ),
    ),
    pinDigests: Type.Optional(
      Type.Union([Type.Literal('off'), Type.Literal('resolve')], {
        default: 'off',
        description:
          'resolve: add the digest (repo:tag@sha256:...) asked from the registry, only for images whose registry is ' +
          'the images/vendor registry or listed in digestRegistries.',
      }),
    ),
    digestRegistries: Type.Optional(
      Type.Array(RegistryHost, { default: [], maxItems: 64, uniqueItems: true, description: 'More registries (host[:port]) digests may be asked from.' }),
    ),
    allow: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 1024 }), {
        default: [],
        maxItems: 256,
        description: 'Python regular expressions (re.match, from the start) of images exempt from the policy.',
      }),
    ),
  },
  { additionalProperties: false, default: {}, description: "Production image policy: MLRun's advice to pin images, enforced per namespace." },
);

/** The config file the server reads (the chart renders it into a ConfigMap). */
export const ConfigSchema = Type.Object(
  {
    mlrun: Type.Optional(MlrunSection),
    webhook: Type.Optional(WebhookSection),
    log: Type.Optional(LogSection),
    discovery: Type.Optional(DiscoverySection),
    mirror: Type.Optional(MirrorSection),
    policy: Type.Optional(PolicySection),
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
  discovery: {
    enabled: boolean;
    namespaces: string[];
    defaultNamespace: string;
    deployment: string;
    container: string;
    podSelector: string;
    syncTimeoutSeconds: number;
    overrides: {
      imagesTag: string | null;
      imagesRegistry: string | null;
      vendorImagesRegistry: string | null;
      imagesToEnrichRegistry: string | null;
    };
  };
  mirror: {
    enabled: boolean;
    missing: 'rewrite' | 'keep-original';
    budgetMs: number;
    timeoutMs: number;
    concurrency: number;
    intervalSeconds: number;
    presentTtlSeconds: number;
    missingTtlSeconds: number;
    cacheEntries: number;
    pythonVersions: string[];
    insecureRegistries: string[];
    caFile: string;
    pullSecretFiles: string[];
  };
  policy: {
    namespaces: string[];
    mlrunVersion: string;
    pinTags: (typeof PIN_TAGS)[number];
    pinDigests: 'off' | 'resolve';
    digestRegistries: string[];
    allow: string[];
  };
}
