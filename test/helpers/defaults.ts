/**
 * The config every default source must produce (schema defaults, an empty file, the chart's default values), written
 * out by hand: tests compare against this literal, so a changed default shows up as a failing test, not a silent
 * change.
 */
export const EXPECTED_DEFAULT_CONFIG = {
  mlrun: {
    version: '1.9.2',
    compat: '',
    imagesTag: '',
    imagesRegistry: '',
    vendorImagesRegistry: '',
    imagesToEnrichRegistry: null,
    kfpPythonSuffix: 'auto',
  },
  webhook: {
    mode: 'enforce',
    optOutKey: 'mlrun-image-webhook/skip',
    annotationKey: 'mlrun-image-webhook/images',
    corrections: { tagImagesWithRegistryPort: false, exactMlrunPattern: false },
  },
  log: { level: 'info' },
  discovery: {
    enabled: false,
    namespaces: ['mlrun'],
    defaultNamespace: 'mlrun',
    deployment: 'mlrun-api-chief',
    container: 'mlrun-api',
    podSelector: 'app.kubernetes.io/name=mlrun,app.kubernetes.io/component=api,app.kubernetes.io/sub-component=chief',
    syncTimeoutSeconds: 30,
    overrides: { imagesTag: null, imagesRegistry: null, vendorImagesRegistry: null, imagesToEnrichRegistry: null },
  },
  mirror: {
    enabled: false,
    missing: 'rewrite',
    budgetMs: 300,
    timeoutMs: 5000,
    concurrency: 8,
    intervalSeconds: 600,
    presentTtlSeconds: 600,
    missingTtlSeconds: 60,
    cacheEntries: 4096,
    pythonVersions: [],
    insecureRegistries: [],
    caFile: '',
    pullSecretFiles: [],
  },
  policy: { namespaces: [], mlrunVersion: '', pinTags: 'off', pinDigests: 'off', digestRegistries: [], allow: [] },
};
