/**
 * check-mirror end to end against Debian's docker-registry: the catalogue of a small version pushed but one image,
 * then all of it; a registry that is down; credentials from a pull secret file; usage and config errors.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCatalogue } from '../../src/cli/catalogue.js';
import { runCheckMirror } from '../../src/cli/check-mirror.js';
import { runCommand } from '../helpers/cli.js';
import { freePort, pushImage, registryBinary, REGISTRY_SKIP_REASON, startRegistry, type RunningRegistry } from '../helpers/registry-server.js';



const bin = registryBinary();
if (!bin) console.log(`skipping check-mirror registry tests: ${REGISTRY_SKIP_REASON}`);
const dir = mkdtempSync(join(tmpdir(), 'check-mirror-'));

function writeConfig(name: string, registry: string): string {
  const file = join(dir, name);
  const mlrun = registry === '' ? '' : `  imagesRegistry: "${registry}/"\n  vendorImagesRegistry: "${registry}/vendor/"\n`;
  writeFileSync(file, `mlrun:\n  version: "1.9.2"\n${mlrun}`);
  return file;
}

/** "repo:tag" of a mirror name under host/. */
function repoTag(mirror: string, host: string): [string, string] {
  const rest = mirror.slice(host.length + 1);
  const colon = rest.lastIndexOf(':');
  return [rest.slice(0, colon), rest.slice(colon + 1)];
}

describe.skipIf(!bin)('check-mirror against a real registry', () => {
  let reg: RunningRegistry;
  let config: string;
  let mirrors: string[];

  beforeAll(async () => {
    reg = await startRegistry();
    config = writeConfig('config.yaml', reg.host);
    // The copy list the operator would use, from the catalogue command (not from the code under test).
    const cat = await runCommand(runCatalogue, ['--config', config, '--python', '3.9']);
    expect(cat.code).toBe(0);
    mirrors = cat.out
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => l.split(' ')[1]!);
  });
  afterAll(async () => {
    await reg?.stop();
  });

  const check = (...extra: string[]) => runCommand(runCheckMirror, ['--config', config, '--python', '3.9', '--insecure-registry', reg.host, ...extra]);

  it('the catalogue pushed but one image: exit 1, naming it and where to copy it from; then all pushed: exit 0', async () => {
    const left = `${reg.host}/mlrun/mlrun-kfp:1.9.2`;
    const unconfirmed = `${reg.host}/mlrun/log-collector:1.9.2`;
    expect(mirrors).toContain(left);
    expect(mirrors).toContain(unconfirmed);
    expect(mirrors.length).toBeGreaterThan(5);
    for (const m of mirrors.filter((m) => m !== left && m !== unconfirmed)) await pushImage(reg, ...repoTag(m, reg.host));

    const one = await check();
    expect(one.code).toBe(1);
    const rows = one.out.split('\n');
    expect(rows.find((l) => l.includes(left))).toMatch(new RegExp(`^missing +${left.replaceAll('.', '\\.')} +copy from docker\\.io/mlrun/mlrun-kfp:1\\.9\\.2$`));
    expect(rows.filter((l) => l.startsWith('present ')).length).toBe(mirrors.length - 2);
    expect(rows.find((l) => l.includes(unconfirmed))).toMatch(/^missing .*unconfirmed/);
    expect(one.out).toContain(`${mirrors.length - 2} present, 2 missing, 0 unknown (MLRun 1.9.2, ${mirrors.length} images)`);
    expect(one.out).toContain('MISSING: 1 image(s) not in the mirror');
    expect(one.out).toContain('note: 1 missing image(s) are unconfirmed');

    await pushImage(reg, ...repoTag(left, reg.host));
    const two = await check();
    expect(two.code).toBe(0);
    expect(two.out).toContain('OK: every confirmed image is in the mirror');

    await pushImage(reg, ...repoTag(unconfirmed, reg.host));
    const all = await check('--json');
    expect(all.code).toBe(0);
    const doc = JSON.parse(all.out) as { mlrunVersion: string; results: { image: string; state: string; digest?: string }[]; summary: Record<string, unknown> };
    expect(doc.mlrunVersion).toBe('1.9.2');
    expect(doc.summary).toEqual({ present: mirrors.length, missing: 0, missingUnconfirmed: 0, unknown: 0, ok: true });
    expect(doc.results.map((r) => r.image).sort()).toEqual([...mirrors].sort());
    expect(doc.results.every((r) => /^sha256:[0-9a-f]{64}$/.test(r.digest ?? ''))).toBe(true);
  });

  it("the config's mirror section gives the defaults (insecure registries, python versions); a flag replaces them", async () => {
    const file = join(dir, 'with-mirror.yaml');
    writeFileSync(
      file,
      `mlrun:\n  version: "1.9.2"\n  imagesRegistry: "${reg.host}/"\n  vendorImagesRegistry: "${reg.host}/vendor/"\n` +
        `mirror:\n  insecureRegistries: ["${reg.host}"]\n  pythonVersions: ["3.9"]\n`,
    );
    const r = await runCommand(runCheckMirror, ['--config', file]);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`${mirrors.length} present, 0 missing, 0 unknown`);
    // --insecure-registry replaces the config's list: the registry is then asked over HTTPS, which it does not speak.
    const replaced = await runCommand(runCheckMirror, ['--config', file, '--insecure-registry', 'other.example:5000']);
    expect(replaced.code).toBe(1);
    expect(replaced.out).toMatch(/^UNKNOWN: /m);
  });

  it('--image adds images; one missing fails the check', async () => {
    const r = await check('--image', `${reg.host}/team/tool:2.0`);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(new RegExp(`^missing +${reg.host.replaceAll('.', '\\.')}/team/tool:2\\.0 +not in the registry$`, 'm'));
  });
});

describe('check-mirror when it cannot tell, and usage errors', () => {
  it('a registry that is down: exit 1 with a distinct UNKNOWN line, never a pass', async () => {
    const host = `127.0.0.1:${await freePort()}`;
    const config = writeConfig('down.yaml', host);
    const r = await runCommand(runCheckMirror, ['--config', config, '--python', '3.9', '--insecure-registry', host]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^unknown +127\.0\.0\.1:\d+\/mlrun\/mlrun:1\.9\.2-py39 +connection refused$/m);
    expect(r.out).toMatch(/^UNKNOWN: \d+ image\(s\) could not be checked/m);
    expect(r.out).not.toContain('OK:');
  });

  it.each([
    [['--bogus'], /unknown option --bogus/],
    [['--pull-secret'], /--pull-secret needs a value/],
    [['--timeout-ms', '5'], /--timeout-ms must be/],
    [['extra'], /unexpected argument "extra"/],
  ])('usage error %j: exit 2', async (argv, message) => {
    const r = await runCommand(runCheckMirror, argv);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
  });

  it('config problems exit 2: no registry configured and no --image, an unreadable pull secret, a bad version', async () => {
    const none = writeConfig('none.yaml', '');
    expect((await runCommand(runCheckMirror, ['--config', none])).err).toMatch(/nothing to check: no registry is configured/);
    const withReg = writeConfig('secret.yaml', 'reg.example');
    const secret = await runCommand(runCheckMirror, ['--config', withReg, '--pull-secret', join(dir, 'nope.json')]);
    expect(secret.code).toBe(2);
    expect(secret.err).toContain(`error: pull secret ${join(dir, 'nope.json')}: cannot read (ENOENT)`);
    const version = await runCommand(runCheckMirror, ['--config', withReg, '--mlrun-version', 'banana']);
    expect(version.code).toBe(2);
    const ca = await runCommand(runCheckMirror, ['--config', withReg, '--ca-file', join(dir, 'no-ca.pem')]);
    expect(ca.code).toBe(2);
    expect(ca.err).toContain('no-ca.pem');
  });
});

describe.skipIf(!bin)('check-mirror with registry credentials', () => {
  let reg: RunningRegistry;
  const password = 'mirror-secret-pw-4711';
  beforeAll(async () => {
    reg = await startRegistry({ auth: { kind: 'htpasswd', username: 'mirror', password } });
    await pushImage(reg, 'team/tool', '1.0');
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it('--pull-secret (.dockerconfigjson) gets in; without it the image is unknown (unauthorized), exit 1; no secret in any output', async () => {
    const config = writeConfig('auth.yaml', '');
    const secret = join(dir, 'pull.json');
    writeFileSync(secret, JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`mirror:${password}`).toString('base64') } } }));
    const image = `${reg.host}/team/tool:1.0`;
    const ok = await runCommand(runCheckMirror, ['--config', config, '--image', image, '--insecure-registry', reg.host, '--pull-secret', secret]);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/^present +\S+team\/tool:1\.0 +sha256:/m);
    const no = await runCommand(runCheckMirror, ['--config', config, '--image', image, '--insecure-registry', reg.host]);
    expect(no.code).toBe(1);
    expect(no.out).toMatch(/^unknown +\S+ +unauthorized$/m);
    for (const text of [ok.out, ok.err, no.out, no.err]) {
      expect(text).not.toContain(password);
      expect(text).not.toContain(Buffer.from(`mirror:${password}`).toString('base64'));
    }
  });
});
