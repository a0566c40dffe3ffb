/**
 * Lints the Dockerfile without a Docker engine: stages, base image pinning, the runtime user, the entrypoint against
 * package.json, COPY sources against the repository and .dockerignore, and every npm command against package.json.
 * (CI runs the build stage's commands for real anyway: npm ci + npm run build.)
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helm.js';

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}
interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

/** Dockerfile instructions with line continuations joined and comments/parser directives dropped. */
function parseDockerfile(text: string): { args: Map<string, string>; stages: Stage[] } {
  const instructions: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i]!;
    if (/^\s*(#|$)/.test(line)) continue;
    while (/\\\s*$/.test(line) && i + 1 < lines.length) {
      line = line.replace(/\\\s*$/, ' ');
      i++;
      if (/^\s*#/.test(lines[i]!)) continue;
      line += lines[i]!;
    }
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`Dockerfile line ${start + 1}: cannot parse ${JSON.stringify(line)}`);
    instructions.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.trim().replace(/\s+/g, ' '), line: start + 1 });
  }
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`Dockerfile line ${ins.line}: bad FROM`);
      const from = m[1]!.replace(/\$\{?(\w+)\}?/g, (_s, name: string) => globalArgs.get(name) ?? `<unset ${name}>`);
      stages.push({ from, name: m[2], instructions: [] });
    } else if (stages.length === 0) {
      if (ins.keyword !== 'ARG') throw new Error(`Dockerfile line ${ins.line}: ${ins.keyword} before the first FROM`);
      const [name, value] = ins.args.split('=');
      globalArgs.set(name!, value ?? '');
    } else {
      stages[stages.length - 1]!.instructions.push(ins);
    }
  }
  return { args: globalArgs, stages };
}

/** .dockerignore with the allow-list syntax this repository uses: `*`, then `!path` / `!dir/` entries. */
function dockerignoreIncludes(ignore: string, rel: string): boolean {
  let included = true;
  for (const raw of ignore.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    const pattern = (negate ? line.slice(1) : line).replace(/\/$/, '');
    const matches = pattern === '*' || rel === pattern || rel.startsWith(`${pattern}/`);
    if (matches) included = negate;
  }
  return included;
}

const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
const dockerignore = fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  bin: Record<string, string>;
  scripts: Record<string, string>;
  engines?: { node?: string };
};
const { stages } = parseDockerfile(dockerfile);
const build = stages.find((s) => s.name === 'build')!;
const runtime = stages[stages.length - 1]!;
const all = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);
const runs = (stage: Stage) => all(stage, 'RUN').map((i) => i.args);

describe('Dockerfile', () => {
  it('has a build stage and a separate final runtime stage', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(build).toBeDefined();
    expect(runtime.name).toBe('runtime');
    expect(runtime).not.toBe(build);
  });

  it('pins every base image by tag (never latest, never untagged) to a Node LTS major that package.json engines allow', () => {
    for (const s of stages) {
      expect(s.from, s.from).not.toMatch(/<unset/);
      expect(s.from, s.from).toMatch(/^[^@\s]+:[^@\s]+(@sha256:[a-f0-9]{64})?$/);
      const tag = s.from.split('@')[0]!.split(':').pop()!;
      expect(tag, s.from).not.toMatch(/latest|current/);
      const major = /^(\d+)/.exec(tag)?.[1] ?? /nodejs(\d+)/.exec(s.from)?.[1];
      expect(Number(major), `Node major of ${s.from}`).toBeGreaterThanOrEqual(20);
      expect(Number(major) % 2, `${s.from} is not an LTS (even) major`).toBe(0);
    }
    expect(pkg.engines?.node).toMatch(/^>=\s*20/);
  });

  it('every RUN npm command is one package.json supports (ci, prune --omit=dev, run <existing script>)', () => {
    const npmCommands = stages.flatMap((s) => runs(s)).flatMap((r) => r.split(/&&|;/).map((c) => c.trim()).filter((c) => /^npm\b/.test(c)));
    expect(npmCommands.length).toBeGreaterThan(0);
    for (const cmd of npmCommands) {
      const [, sub, ...rest] = cmd.split(' ');
      if (sub === 'ci') continue;
      if (sub === 'prune') {
        expect(rest, cmd).toContain('--omit=dev');
        continue;
      }
      if (sub === 'run') {
        expect(Object.keys(pkg.scripts), cmd).toContain(rest[0]);
        continue;
      }
      throw new Error(`unexpected npm command in Dockerfile: ${cmd}`);
    }
  });

  it('build stage: npm ci from the lockfile, then npm run build, then prune dev dependencies', () => {
    const r = runs(build);
    const ci = r.findIndex((c) => /^npm ci\b/.test(c));
    const b = r.findIndex((c) => c === 'npm run build');
    const prune = r.findIndex((c) => /^npm prune --omit=dev/.test(c));
    expect(ci).toBeGreaterThanOrEqual(0);
    expect(b).toBeGreaterThan(ci);
    expect(prune).toBeGreaterThan(b);
    const copies = all(build, 'COPY').map((c) => c.args);
    expect(copies[0]).toMatch(/package\.json package-lock\.json/); // dependency layer cached apart from sources
  });

  it('COPY sources exist in the repository and are in the build context (.dockerignore)', () => {
    for (const s of stages) {
      for (const c of all(s, 'COPY')) {
        if (c.args.startsWith('--from=')) continue;
        const parts = c.args.split(' ').filter((p) => !p.startsWith('--'));
        for (const src of parts.slice(0, -1)) {
          expect(fs.existsSync(path.join(ROOT, src)), `COPY ${src} (line ${c.line}) does not exist`).toBe(true);
          expect(dockerignoreIncludes(dockerignore, src.replace(/\/$/, '')), `COPY ${src} is excluded by .dockerignore`).toBe(true);
        }
      }
    }
    expect(all(runtime, 'ADD')).toEqual([]);
    expect(all(build, 'ADD')).toEqual([]);
  });

  it("the entrypoint's node flags are ones this Node accepts (a flag Node refuses would stop the container at start)", () => {
    const argv = JSON.parse(all(runtime, 'ENTRYPOINT').pop()!.args) as string[];
    const flags = argv.slice(1, -1);
    expect(flags.length).toBeGreaterThan(0);
    const r = spawnSync(process.execPath, [...flags, '-e', '0'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('.dockerignore keeps local state and non-runtime files out of the context', () => {
    for (const p of ['node_modules', 'dist', '.git', '.cache', 'test', 'charts', 'docs', '.env']) {
      expect(dockerignoreIncludes(dockerignore, p), p).toBe(false);
    }
  });

  it('runtime stage: production only, NODE_ENV=production, uid 65532, entrypoint = package.json bin, CMD serve', () => {
    const bin = Object.values(pkg.bin)[0]!;
    expect(bin).toBe('dist/cli/main.js');
    const entrypoint = all(runtime, 'ENTRYPOINT').pop()!;
    expect(JSON.parse(entrypoint.args)).toEqual(['node', '--single-threaded-gc', `/app/${bin}`]);
    expect(JSON.parse(all(runtime, 'CMD').pop()!.args)).toEqual(['serve']);
    expect(all(runtime, 'WORKDIR').pop()!.args).toBe('/app');
    expect(all(runtime, 'USER').pop()!.args).toMatch(/^65532(:65532)?$/);
    expect(all(runtime, 'ENV').map((e) => e.args).join(' ')).toMatch(/NODE_ENV=production/);
    const fromBuild = all(runtime, 'COPY').filter((c) => c.args.startsWith('--from=build')).map((c) => c.args);
    expect(fromBuild.some((c) => /\/src\/dist \.\/dist$/.test(c))).toBe(true);
    expect(fromBuild.some((c) => /\/src\/node_modules \.\/node_modules$/.test(c))).toBe(true);
    expect(fromBuild.some((c) => /\/src\/package\.json \.\/package\.json$/.test(c))).toBe(true);
    // no sources, no dev tooling, no package manager in the runtime stage
    expect(all(runtime, 'COPY').filter((c) => !c.args.startsWith('--from='))).toEqual([]);
    expect(runs(runtime).join(' ')).not.toMatch(/\bnpm (ci|install|i)\b/);
    expect(runs(runtime).join(' ')).toMatch(/rm -rf .*\/usr\/local\/bin\/npm/);
    // USER comes before ENTRYPOINT and nothing runs as root after it
    const idx = (k: string) => runtime.instructions.findIndex((i) => i.keyword === k);
    expect(idx('USER')).toBeLessThan(idx('ENTRYPOINT'));
    expect(runtime.instructions.slice(idx('USER')).filter((i) => i.keyword === 'RUN')).toEqual([]);
  });

  it('exposes the ports the chart uses', () => {
    const deployment = fs.readFileSync(path.join(ROOT, 'charts/mlrun-image-webhook/templates/deployment.yaml'), 'utf8');
    const exposed = all(runtime, 'EXPOSE').flatMap((e) => e.args.split(' '));
    expect(exposed.sort()).toEqual(['8080', '8443']);
    for (const p of exposed) expect(deployment).toContain(`containerPort: ${p}`);
  });

  it('the build command in its header passes VERSION, an ARG of the runtime stage that labels the image', () => {
    const header = dockerfile.split('\n').filter((l) => l.startsWith('#')).join('\n');
    expect(header).toMatch(/docker build --build-arg VERSION="\$VERSION"/);
    expect(all(runtime, 'ARG').map((a) => a.args.split('=')[0])).toContain('VERSION');
    expect(all(runtime, 'LABEL').map((l) => l.args).join(' ')).toContain('org.opencontainers.image.version="${VERSION}"');
  });

  it('never fetches anything from the internet at build time beyond the npm registry (air-gapped builders)', () => {
    expect(dockerfile).not.toMatch(/\b(curl|wget)\b/);
    expect(dockerfile).not.toMatch(/^ADD\s+https?:/m);
  });
});
