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
};
