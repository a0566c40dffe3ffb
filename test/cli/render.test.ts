/**
 * `render`: pod templates of every workload kind resolved through the admission code, comments and untouched
 * documents kept, JSON in/JSON out, the summary, exit codes, and agreement with the webhook itself.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { admit } from '../../src/admission/admit.js';
import { podCreateReview } from '../../src/admission/review.js';
import { renderText } from '../../src/cli/render.js';
import { mutateOne } from '../../src/cli/mutate.js';
import { runCli as run } from '../helpers/cli.js';
import { testRuntime } from '../helpers/runtime.js';

const dir = mkdtempSync(join(tmpdir(), 'render-cli-'));
const write = (name: string, text: string) => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
};
const runtime = testRuntime({ mlrun: { imagesRegistry: 'datanode-registry.example/' } });
const RESOLVED = 'datanode-registry.example/mlrun/mlrun:1.9.2';
const RECORD = 'mlrun-image-webhook/images';

/** A pod spec with one MLRun image, indented to sit at `indent`. */
const podSpec = (indent: string) =>
  [`spec:`, `  containers:`, `    - name: main`, `      image: mlrun/mlrun`].map((l) => indent + l).join('\n');

// Each workload kind with its pod template where Kubernetes puts it.
const WORKLOADS: [string, string, string, (string | number)[]][] = [
  ['Pod', 'v1', podSpec(''), []],
  ['Deployment', 'apps/v1', `spec:\n  template:\n${podSpec('    ')}`, ['spec', 'template']],
  ['StatefulSet', 'apps/v1', `spec:\n  template:\n${podSpec('    ')}`, ['spec', 'template']],
  ['DaemonSet', 'apps/v1', `spec:\n  template:\n${podSpec('    ')}`, ['spec', 'template']],
  ['ReplicaSet', 'apps/v1', `spec:\n  template:\n${podSpec('    ')}`, ['spec', 'template']],
  ['ReplicationController', 'v1', `spec:\n  template:\n${podSpec('    ')}`, ['spec', 'template']],
  ['Job', 'batch/v1', `spec:\n  template:\n${podSpec('    ')}`, ['spec', 'template']],
  ['CronJob', 'batch/v1', `spec:\n  jobTemplate:\n    spec:\n      template:\n${podSpec('        ')}`, ['spec', 'jobTemplate', 'spec', 'template']],
  ['PodTemplate', 'v1', `template:\n${podSpec('  ')}`, ['template']],
];

function at(obj: unknown, path: (string | number)[]): any {
  return path.reduce((o: any, k) => (o == null ? undefined : o[k]), obj);
}

describe('render: pod templates of every workload kind', () => {
  it.each(WORKLOADS)('%s (%s): image resolved, record annotation on the template metadata', (kind, apiVersion, body, path) => {
    const r = renderText(`apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata:\n  name: w\n${body}\n`, runtime);
    expect(r.failed).toBe(false);
    const out = parseYaml(r.output);
    const template = at(out, path);
    expect(template.spec.containers[0].image).toBe(RESOLVED);
    expect(JSON.parse(template.metadata.annotations[RECORD])).toEqual({
      'containers/main': { from: 'mlrun/mlrun', to: RESOLVED, reason: expect.stringContaining('tag from server version 1.9.2') },
    });
    // The template's metadata goes in front of its spec, where a reader looks for it.
    const keys = Object.keys(template);
    expect(keys.indexOf('metadata')).toBeLessThan(keys.indexOf('spec'));
    expect(r.reports).toEqual([expect.objectContaining({ object: `${kind} w`, status: 'changed' })]);
  });

  it('List and *List items, each with its own namespace in the summary', () => {
    const list = {
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'a', namespace: 'ns1' }, spec: { template: { spec: { containers: [{ name: 'c', image: 'mlrun/mlrun' }] } } } },
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm' } },
        { apiVersion: 'v1', kind: 'PodList', items: [{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'mlrun/mlrun-gpu' }] } }] },
      ],
    };
    const r = renderText(JSON.stringify(list), runtime, { namespace: 'dflt' });
    const out = JSON.parse(r.output);
    expect(out.items[0].spec.template.spec.containers[0].image).toBe(RESOLVED);
    expect(out.items[1]).toEqual(list.items[1]);
    expect(out.items[2].items[0].spec.containers[0].image).toBe('datanode-registry.example/mlrun/mlrun-gpu:1.9.2');
    expect(r.reports.map((x) => `${x.object}: ${x.status}`)).toEqual(['Deployment ns1/a: changed', 'ConfigMap dflt/cm: passed', 'Pod dflt/p: changed']);
  });

  it.each([
    ['an unknown kind', 'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec:\n  image: mlrun/mlrun\n'],
    ['a Job of another API group', `apiVersion: batch.volcano.sh/v1alpha1\nkind: Job\nmetadata: {name: v}\nspec:\n  template:\n${podSpec('    ')}\n`],
    ['a workload fragment without a pod template', 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: 3\n'],
    ['a Service', 'apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports: [{port: 80}]\n'],
  ])('%s passes through byte for byte', (_what, text) => {
    const r = renderText(text, runtime);
    expect(r.output).toBe(text);
    expect(r.failed).toBe(false);
    expect(r.reports.every((x) => x.status === 'passed')).toBe(true);
  });
});

describe('render: the document is kept', () => {
  const stream = `# Source: chart/templates/deployment.yaml
# a comment before the document
apiVersion: apps/v1
kind: Deployment     # the workload
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: main
        image: mlrun/mlrun   # resolved by render
        args: ["serve", "--port", "8080"]
        env:
        - name: LONG
          value: "a value that is much longer than eighty characters so that a folding emitter would wrap it somewhere"
      - name: side
        image: busybox:1.36
---
# Source: chart/templates/configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name:   cm      # odd spacing, kept
data:
  key: |
    line one
    line two
`;

  it('keeps comments, key order, sequence style and long strings; untouched documents byte for byte', () => {
    const r = renderText(stream, runtime);
    const [dep, cm] = r.output.split(/^---$/m);
    expect(cm).toBe(stream.split(/^---$/m)[1]);
    expect(dep).toContain('# Source: chart/templates/deployment.yaml\n# a comment before the document\n');
    expect(dep).toContain(`image: ${RESOLVED} # resolved by render`);
    expect(dep).toContain('kind: Deployment # the workload');
    expect(dep).toContain('      - name: main\n'); // block sequences stay unindented, as written
    expect(dep).toContain('args: ["serve", "--port", "8080"]');
    expect(dep).toContain('value: "a value that is much longer than eighty characters so that a folding emitter would wrap it somewhere"');
    const out = parseAllDocuments(r.output).map((d) => d.toJS());
    expect(Object.keys(out[0].spec.template)).toEqual(['metadata', 'spec']);
    expect(Object.keys(out[0].spec.template.metadata)).toEqual(['labels', 'annotations']);
    expect(out[0].spec.template.spec.containers[1].image).toBe('busybox:1.36');
  });

  it('is a fixed point: rendering its own output changes nothing', () => {
    const once = renderText(stream, runtime).output;
    const twice = renderText(once, runtime);
    expect(twice.output).toBe(once);
    expect(twice.reports.map((x) => x.status)).toEqual(['unchanged', 'passed']);
  });

  it('JSON in, JSON out (key order kept)', () => {
    const pod = { kind: 'Pod', apiVersion: 'v1', metadata: { name: 'p' }, spec: { containers: [{ image: 'mlrun/mlrun', name: 'c' }] } };
    const r = renderText(JSON.stringify(pod), runtime);
    expect(r.output.endsWith('}\n')).toBe(true);
    const out = JSON.parse(r.output);
    expect(Object.keys(out)).toEqual(['kind', 'apiVersion', 'metadata', 'spec']);
    expect(Object.keys(out.spec.containers[0])).toEqual(['image', 'name']);
    expect(out.spec.containers[0].image).toBe(RESOLVED);
  });

  it('an empty input or a stream of empty documents is written back as it is', () => {
    for (const text of ['', '---\n', '# only a comment\n', '---\n# Source: x\n---\n']) {
      const r = renderText(text, runtime);
      expect(r.output).toBe(text);
      expect(r.failed).toBe(false);
    }
  });
});

describe('render and the webhook cannot disagree', () => {
  const fixtures = readdirSync(new URL('../fixtures/mlrun-pods/', import.meta.url)).filter((f) => f.endsWith('.json'));
  const stripTags = (pod: any) => {
    for (const k of ['containers', 'initContainers']) for (const c of pod.spec[k] ?? []) c.image = String(c.image).replace(/:[^:/]+$/, '');
    return pod;
  };

  it.each(fixtures)('%s as a Deployment template: the same images and record as `mutate` gives the Pod', (file) => {
    const pod = stripTags(JSON.parse(readFileSync(new URL(`../fixtures/mlrun-pods/${file}`, import.meta.url), 'utf8')));
    const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { template: { metadata: pod.metadata, spec: pod.spec } } };
    const rendered = parseYaml(renderText(JSON.stringify(deployment), runtime).output).spec.template;
    const mutated = mutateOne(pod, runtime).pod as any;
    expect(rendered.spec).toEqual(mutated.spec);
    expect(rendered.metadata).toEqual(mutated.metadata);
  });

  it('the webhook then finds nothing to change in a Pod made from the rendered template', () => {
    const dep = `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: mlrun}\nspec:\n  template:\n${podSpec('    ')}\n`;
    const template = parseYaml(renderText(dep, runtime).output).spec.template;
    const result = admit(podCreateReview({ apiVersion: 'v1', kind: 'Pod', ...template }), runtime);
    expect(result.status).toBe(200);
    if (result.status === 200) {
      expect(result.summary.outcome).toBe('unchanged');
      expect(result.body.response.patch).toBeUndefined();
    }
  });

  it('after a config change: tagged images keep the rendered tag, an image render left alone may now change', () => {
    const dep = `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n${podSpec('    ')}\n        - {name: py, image: "python:3.9"}\n`;
    const template = parseYaml(renderText(dep, runtime).output).spec.template;
    expect(template.spec.containers.map((c: { image: string }) => c.image)).toEqual([RESOLVED, 'python:3.9']);
    const newer = testRuntime({ mlrun: { version: '1.10.0', imagesRegistry: 'datanode-registry.example/', vendorImagesRegistry: 'vendor.example/' } });
    const result = admit(podCreateReview({ apiVersion: 'v1', kind: 'Pod', ...template }), newer);
    expect(result.status).toBe(200);
    if (result.status !== 200) return;
    // MLRun never re-tags a tagged image: the rendered 1.9.2 stays; the vendor registry now applies to python:3.9.
    expect(result.summary.decisions.map((d) => [d.original, d.image])).toEqual([
      [RESOLVED, RESOLVED],
      ['python:3.9', 'vendor.example/python:3.9'],
    ]);
    // Rendering again with the new config is what moves Git to the new version.
    const again = renderText(dep, newer);
    expect(parseYaml(again.output).spec.template.spec.containers.map((c: { image: string }) => c.image)).toEqual([
      'datanode-registry.example/mlrun/mlrun:1.10.0',
      'vendor.example/python:3.9',
    ]);
  });
});

describe('render: report mode, opt-out, warnings, failures', () => {
  const dep = `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n${podSpec('    ')}\n`;

  it('webhook.mode report: nothing changes, the summary says what would', () => {
    const r = renderText(dep, testRuntime({ mlrun: { imagesRegistry: 'datanode-registry.example/' }, webhook: { mode: 'report' } }));
    expect(r.output).toBe(dep);
    expect(r.reports[0]!.status).toBe('reported');
  });

  it('an opted-out template is left alone', () => {
    const optedOut = dep.replace('  template:\n', '  template:\n    metadata:\n      labels: {mlrun-image-webhook/skip: "true"}\n');
    const r = renderText(optedOut, runtime);
    expect(r.output).toBe(optedOut);
    expect(r.reports[0]!.status).toBe('skipped');
  });

  it('an image MLRun would raise on is left with a warning, not a failure', () => {
    const rt = testRuntime({ mlrun: { imagesTag: 'latest' } });
    const withPython = dep.replace('  template:\n', '  template:\n    metadata:\n      labels: {mlrun/client_version: 1.9.2, mlrun/client_python_version: 3.9.18}\n');
    const r = renderText(withPython, rt);
    expect(r.failed).toBe(false);
    expect(r.output).toBe(withPython);
    expect(r.reports[0]!.notes.join('\n')).toMatch(/MLRun would raise ValueError/);
  });

  it('a template it cannot understand fails the document (exit 1) and leaves it as it was', () => {
    const bad = 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      containers: oops\n';
    const r = renderText(`${bad}---\n${dep}`, runtime);
    expect(r.failed).toBe(true);
    expect(r.output.startsWith(bad)).toBe(true);
    expect(r.output).toContain(RESOLVED); // the other document is still rendered
  });

  it('a pod template reached through a YAML alias fails its document, which goes out unchanged', () => {
    const aliased = 'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: &c\n    - {name: main, image: mlrun/mlrun}\n  initContainers: *c\n';
    const r = renderText(`${aliased}---\n${dep}`, runtime);
    expect(r.failed).toBe(true);
    expect(r.output.startsWith(`${aliased}---\n`)).toBe(true);
    expect(r.output).toContain(RESOLVED); // the next document is still rendered
    expect(r.reports[0]).toMatchObject({ object: 'Pod p', status: 'failed', notes: [expect.stringMatching(/spec\.initContainers is a YAML alias/)] });
  });

  it('a stream that is not YAML is written back unchanged, exit 1', async () => {
    const text = `${dep}---\nkey: [1, 2\n`;
    const r = await run(['render', '-f', write('broken.yaml', text)]);
    expect(r.code).toBe(1);
    expect(r.out).toBe(text);
    expect(r.err).toMatch(/document 2: not YAML/);
  });
});

describe('render: the command', () => {
  const dep = `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: mlrun}\nspec:\n  template:\n${podSpec('    ')}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n`;

  it('reads stdin by default, -f -, -f FILE or FILE; summary on stderr', async () => {
    const cfg = write('cfg.yaml', 'mlrun:\n  version: "1.9.2"\n  imagesRegistry: datanode-registry.example/\n');
    const f = write('dep.yaml', dep);
    for (const argv of [['render'], ['render', '-f', '-'], ['render', '-f', f], ['render', f], ['render', `--file=${f}`]]) {
      const r = await run([...argv, '--config', cfg], dep);
      expect(r.code, argv.join(' ')).toBe(0);
      expect(r.out).toContain(`image: ${RESOLVED}`);
      expect(r.err).toBe(
        [
          'Deployment mlrun/web: 1 image changed',
          `  containers/main: mlrun/mlrun -> ${RESOLVED} (tag from server version 1.9.2; prefixed images registry (pattern ^mlrun/*))`,
          '1 other object passed through unchanged (Service 1)',
          'render: 1 image changed in 1 object',
          '',
        ].join('\n'),
      );
    }
  });

  it.each([
    [['render', '--bogus'], /unknown option --bogus/],
    [['render', '-x'], /unknown option -x/],
    [['render', 'a.yaml', 'b.yaml'], /at most one input/],
    [['render', '-f', 'a.yaml', 'b.yaml'], /at most one input/],
    [['render', '-f', join(dir, 'missing.yaml')], /cannot read/],
  ])('usage error %j exits 2', async (argv, message) => {
    const r = await run(argv, dep);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.out).toBe('');
  });

  it('a bad --config exits 2 with key and reason, writing nothing', async () => {
    const r = await run(['render', '--config', write('bad.yaml', 'webhook:\n  mode: banana\n')], dep);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/webhook\.mode/);
    expect(r.out).toBe('');
  });

  it('--help', async () => {
    const r = await run(['render', '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/render \[-f FILE\|-\] \[--config F\] \[--namespace N\]/);
  });
});
