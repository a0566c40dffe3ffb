import { describe, expect, it } from 'vitest';
import { buildCatalogue, formatCatalogue, type CatalogueEntry } from '../../src/mlrun/catalogue.js';
import type { MlrunSettings } from '../../src/mlrun/engine.js';
import { rulesForVersion } from '../../src/mlrun/rules.js';

function catalogue(version: string, settings: Partial<MlrunSettings> = {}, extra: { pythons?: string[]; clients?: string[] } = {}) {
  const r = rulesForVersion(version);
  if (!r.ok) throw new Error(r.reason);
  const full: MlrunSettings = {
    imagesTag: '',
    imagesRegistry: 'datanode.local:5000/',
    vendorImagesRegistry: 'datanode.local:5000/vendor/',
    imagesToEnrichRegistry: r.rules.defaultEnrichPatterns,
    serverVersion: version,
    ...settings,
  };
  const result = buildCatalogue({
    mlrunVersion: version,
    family: r.rules.family,
    settings: full,
    resolverOptions: { rules: r.rules, guardAlreadyPrefixed: true },
    ...(extra.pythons ? { pythonVersions: extra.pythons } : {}),
    ...(extra.clients ? { clientVersions: extra.clients } : {}),
  });
  if (!result.ok) throw new Error(result.reason);
  return result;
}

const pairs = (entries: CatalogueEntry[]) => entries.map((e) => `${e.source} -> ${e.mirror ?? '(none)'}`);

describe('buildCatalogue: what each release family publishes and where it is mirrored', () => {
  it.each([
    [
      '1.9.2',
      [
        'docker.io/mlrun/mlrun:1.9.2-py39 -> datanode.local:5000/mlrun/mlrun:1.9.2-py39',
        'docker.io/mlrun/mlrun:1.9.2 -> datanode.local:5000/mlrun/mlrun:1.9.2',
        'docker.io/mlrun/mlrun-gpu:1.9.2-py39 -> datanode.local:5000/mlrun/mlrun-gpu:1.9.2-py39',
        'docker.io/mlrun/mlrun-gpu:1.9.2 -> datanode.local:5000/mlrun/mlrun-gpu:1.9.2',
        'docker.io/mlrun/ml-base:1.9.2-py39 -> datanode.local:5000/mlrun/ml-base:1.9.2-py39',
        'docker.io/mlrun/ml-base:1.9.2 -> datanode.local:5000/mlrun/ml-base:1.9.2',
        // mlrun-kfp is exempt from the python suffix in 1.9: one image for both pythons.
        'docker.io/mlrun/mlrun-kfp:1.9.2 -> datanode.local:5000/mlrun/mlrun-kfp:1.9.2',
        'quay.io/mlrun/mlrun-api:1.9.2 -> datanode.local:5000/mlrun/mlrun-api:1.9.2',
        'quay.io/mlrun/mlrun-ui:1.9.2 -> datanode.local:5000/mlrun/mlrun-ui:1.9.2',
        'quay.io/mlrun/jupyter:1.9.2 -> datanode.local:5000/mlrun/jupyter:1.9.2',
        'quay.io/mlrun/log-collector:1.9.2 -> datanode.local:5000/mlrun/log-collector:1.9.2',
        'docker.io/library/python:3.9 -> datanode.local:5000/vendor/python:3.9',
        'docker.io/library/python:3.11 -> datanode.local:5000/vendor/python:3.11',
      ],
    ],
    [
      '1.10.0',
      [
        'docker.io/mlrun/mlrun:1.10.0-py39 -> datanode.local:5000/mlrun/mlrun:1.10.0-py39',
        'docker.io/mlrun/mlrun:1.10.0 -> datanode.local:5000/mlrun/mlrun:1.10.0',
        'docker.io/mlrun/mlrun-gpu:1.10.0-py39 -> datanode.local:5000/mlrun/mlrun-gpu:1.10.0-py39',
        'docker.io/mlrun/mlrun-gpu:1.10.0 -> datanode.local:5000/mlrun/mlrun-gpu:1.10.0',
        'docker.io/mlrun/mlrun-kfp:1.10.0 -> datanode.local:5000/mlrun/mlrun-kfp:1.10.0',
        'quay.io/mlrun/mlrun-api:1.10.0 -> datanode.local:5000/mlrun/mlrun-api:1.10.0',
        'quay.io/mlrun/mlrun-ui:1.10.0 -> datanode.local:5000/mlrun/mlrun-ui:1.10.0',
        'quay.io/mlrun/jupyter:1.10.0 -> datanode.local:5000/mlrun/jupyter:1.10.0',
        'quay.io/mlrun/log-collector:1.10.0 -> datanode.local:5000/mlrun/log-collector:1.10.0',
        'docker.io/library/python:3.9 -> datanode.local:5000/vendor/python:3.9',
        'docker.io/library/python:3.11 -> datanode.local:5000/vendor/python:3.11',
      ],
    ],
    [
      '1.8.0',
      [
        'docker.io/mlrun/mlrun:1.8.0 -> datanode.local:5000/mlrun/mlrun:1.8.0',
        'docker.io/mlrun/mlrun-gpu:1.8.0 -> datanode.local:5000/mlrun/mlrun-gpu:1.8.0',
        'docker.io/mlrun/ml-base:1.8.0 -> datanode.local:5000/mlrun/ml-base:1.8.0',
        'docker.io/mlrun/mlrun-kfp:1.8.0 -> datanode.local:5000/mlrun/mlrun-kfp:1.8.0',
        'quay.io/mlrun/mlrun-api:1.8.0 -> datanode.local:5000/mlrun/mlrun-api:1.8.0',
        'quay.io/mlrun/mlrun-ui:1.8.0 -> datanode.local:5000/mlrun/mlrun-ui:1.8.0',
        'quay.io/mlrun/jupyter:1.8.0 -> datanode.local:5000/mlrun/jupyter:1.8.0',
        'quay.io/mlrun/log-collector:1.8.0 -> datanode.local:5000/mlrun/log-collector:1.8.0',
        'docker.io/library/python:3.9 -> datanode.local:5000/vendor/python:3.9',
      ],
    ],
    [
      // 1.5-1.6: one registry for every image, python images not in the default patterns.
      '1.6.4',
      [
        'docker.io/mlrun/mlrun:1.6.4 -> datanode.local:5000/mlrun/mlrun:1.6.4',
        'docker.io/mlrun/mlrun-gpu:1.6.4 -> datanode.local:5000/mlrun/mlrun-gpu:1.6.4',
        'docker.io/mlrun/ml-base:1.6.4 -> datanode.local:5000/mlrun/ml-base:1.6.4',
        'quay.io/mlrun/mlrun-api:1.6.4 -> datanode.local:5000/mlrun/mlrun-api:1.6.4',
        'quay.io/mlrun/mlrun-ui:1.6.4 -> datanode.local:5000/mlrun/mlrun-ui:1.6.4',
        'quay.io/mlrun/jupyter:1.6.4 -> datanode.local:5000/mlrun/jupyter:1.6.4',
        'quay.io/mlrun/log-collector:1.6.4 -> datanode.local:5000/mlrun/log-collector:1.6.4',
      ],
    ],
    [
      // 1.3-1.4: -py37 variants next to the py3.9 default; ml-models still published; no gpu/kfp/log-collector.
      '1.4.1',
      [
        'docker.io/mlrun/mlrun:1.4.1-py37 -> datanode.local:5000/mlrun/mlrun:1.4.1-py37',
        'docker.io/mlrun/mlrun:1.4.1 -> datanode.local:5000/mlrun/mlrun:1.4.1',
        'docker.io/mlrun/ml-base:1.4.1-py37 -> datanode.local:5000/mlrun/ml-base:1.4.1-py37',
        'docker.io/mlrun/ml-base:1.4.1 -> datanode.local:5000/mlrun/ml-base:1.4.1',
        'docker.io/mlrun/ml-models:1.4.1-py37 -> datanode.local:5000/mlrun/ml-models:1.4.1-py37',
        'docker.io/mlrun/ml-models:1.4.1 -> datanode.local:5000/mlrun/ml-models:1.4.1',
        'docker.io/mlrun/ml-models-gpu:1.4.1-py37 -> datanode.local:5000/mlrun/ml-models-gpu:1.4.1-py37',
        'docker.io/mlrun/ml-models-gpu:1.4.1 -> datanode.local:5000/mlrun/ml-models-gpu:1.4.1',
        'quay.io/mlrun/mlrun-api:1.4.1 -> datanode.local:5000/mlrun/mlrun-api:1.4.1',
        'quay.io/mlrun/mlrun-ui:1.4.1 -> datanode.local:5000/mlrun/mlrun-ui:1.4.1',
        'quay.io/mlrun/jupyter:1.4.1 -> datanode.local:5000/mlrun/jupyter:1.4.1',
      ],
    ],
  ])('MLRun %s', (version, expected) => {
    expect(pairs(catalogue(version).entries)).toEqual(expected);
  });

  it('infrastructure images never carry a python suffix, whatever the pythons in use', () => {
    const infra = catalogue('1.9.2', {}, { pythons: ['3.9'] }).entries.filter((e) => e.role === 'infrastructure');
    expect(infra.length).toBe(4);
    for (const e of infra) expect(e.image).not.toMatch(/-py\d+$/);
  });

  it('the python versions in use pick the variants (a 3.11-only site needs no -py39 image)', () => {
    const images = catalogue('1.9.2', {}, { pythons: ['3.11.7'] }).entries.map((e) => e.image);
    expect(images).not.toContain('mlrun/mlrun:1.9.2-py39');
    expect(images).toContain('mlrun/mlrun:1.9.2');
  });

  it('older clients in use add their own tags (computed by the engine)', () => {
    const images = catalogue('1.9.2', {}, { clients: ['1.8.0'] }).entries.map((e) => e.image);
    expect(images).toContain('mlrun/mlrun:1.8.0');
    expect(images).toContain('mlrun/mlrun:1.9.2-py39');
  });

  it('images tag forced by the site wins, as in Pods', () => {
    const images = catalogue('1.9.2', { imagesTag: '1.9.2-site' }).entries.filter((e) => e.role === 'runtime').map((e) => e.image);
    expect(images).toContain('mlrun/mlrun:1.9.2-site-py39');
    expect(images).toContain('mlrun/mlrun:1.9.2-site');
  });

  it('without registries nothing is mirrored, and it says so', () => {
    const r = catalogue('1.9.2', { imagesRegistry: '', vendorImagesRegistry: '' });
    expect(r.entries.every((e) => e.mirror === null)).toBe(true);
    expect(r.notes.join('\n')).toMatch(/no registry is configured/);
  });

  it('a pattern list that does not route python images leaves them unmirrored', () => {
    const r = catalogue('1.9.2', { imagesToEnrichRegistry: '^mlrun/*' });
    const py = r.entries.filter((e) => e.role === 'python-base');
    expect(py.map((e) => e.mirror)).toEqual([null, null]);
  });

  it('marks what MLRun build files do not confirm', () => {
    const e = catalogue('1.9.2').entries;
    expect(e.find((x) => x.image === 'mlrun/mlrun-gpu:1.9.2-py39')?.confirmed).toBe(false);
    expect(e.find((x) => x.image === 'mlrun/mlrun:1.9.2-py39')?.confirmed).toBe(true);
  });

  it('a config MLRun would fail on is refused with the reason', () => {
    const r = rulesForVersion('1.9.2');
    if (!r.ok) throw new Error(r.reason);
    const result = buildCatalogue({
      mlrunVersion: '1.9.2',
      family: 'E',
      settings: { imagesTag: '', imagesRegistry: 'r/', vendorImagesRegistry: '', imagesToEnrichRegistry: '^mlrun/(', serverVersion: '1.9.2' },
      resolverOptions: { rules: r.rules },
    });
    expect(result.ok).toBe(false);
  });
});

describe('formatCatalogue', () => {
  const entries = catalogue('1.9.2', {}, { pythons: ['3.11'] }).entries.filter((e) => e.image === 'mlrun/mlrun:1.9.2' || e.image === 'python:3.11');
  it.each([
    ['list', 'docker.io/mlrun/mlrun:1.9.2 datanode.local:5000/mlrun/mlrun:1.9.2\ndocker.io/library/python:3.11 datanode.local:5000/vendor/python:3.11\n'],
    [
      'crane',
      '#!/bin/sh\nset -eu\ncrane copy docker.io/mlrun/mlrun:1.9.2 datanode.local:5000/mlrun/mlrun:1.9.2\n' +
        'crane copy docker.io/library/python:3.11 datanode.local:5000/vendor/python:3.11\n',
    ],
    [
      'skopeo',
      '#!/bin/sh\nset -eu\nskopeo copy --all docker://docker.io/mlrun/mlrun:1.9.2 docker://datanode.local:5000/mlrun/mlrun:1.9.2\n' +
        'skopeo copy --all docker://docker.io/library/python:3.11 docker://datanode.local:5000/vendor/python:3.11\n',
    ],
  ] as const)('%s', (format, text) => {
    expect(formatCatalogue(entries, format)).toBe(text);
  });

  it('lists unmirrored and unconfirmed entries as comments, never silently', () => {
    const text = formatCatalogue(catalogue('1.9.2', { vendorImagesRegistry: '' }).entries, 'list');
    expect(text).toMatch(/^# docker\.io\/library\/python:3\.9: no registry rule redirects it/m);
    expect(text).toMatch(/mlrun-gpu:1\.9\.2-py39 .*# unconfirmed: /);
  });
});
