import { describe, it, expect } from 'vitest';
import {
  NAME_TOTAL_LENGTH_MAX,
  REFERENCE_MAX_LENGTH,
  format,
  formatReference,
  isValidReference,
  normalizeReference,
  parseReference,
  withDigest,
  withDomain,
  withTag,
  type ParsedReference,
  type ValidReference,
} from '../../src/image/reference.js';

const H64 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const H96 = '38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b';
const H128 =
  'cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e';
const H32 = '0123456789abcdefABCDEF0123456789';

interface OkRow {
  input: string;
  domain?: string;
  path: string;
  tag?: string;
  digest?: string;
  full: string;
  familiar: string;
}

function ok(
  input: string,
  parts: { domain?: string; path: string; tag?: string; digest?: string },
  full: string,
  familiar: string,
): OkRow {
  return { input, ...parts, full, familiar };
}

// ---------------------------------------------------------------------------------------------
// Valid references: input → parts (as written), canonical form, familiar form.
const VALID: OkRow[] = [
  // plain Docker Hub names and library/ normalisation
  ok('python', { path: 'python' }, 'docker.io/library/python', 'python'),
  ok('python:3.11', { path: 'python', tag: '3.11' }, 'docker.io/library/python:3.11', 'python:3.11'),
  ok('a', { path: 'a' }, 'docker.io/library/a', 'a'),
  ok('0', { path: '0' }, 'docker.io/library/0', '0'),
  ok('library/python', { path: 'library/python' }, 'docker.io/library/python', 'python'),
  ok('library/python:3.11-slim', { path: 'library/python', tag: '3.11-slim' }, 'docker.io/library/python:3.11-slim', 'python:3.11-slim'),
  ok('docker.io/python', { domain: 'docker.io', path: 'python' }, 'docker.io/library/python', 'python'),
  ok('docker.io/library/python:3.11', { domain: 'docker.io', path: 'library/python', tag: '3.11' }, 'docker.io/library/python:3.11', 'python:3.11'),
  ok('index.docker.io/python', { domain: 'index.docker.io', path: 'python' }, 'docker.io/library/python', 'python'),
  ok('index.docker.io/mlrun/mlrun:1.9.2', { domain: 'index.docker.io', path: 'mlrun/mlrun', tag: '1.9.2' }, 'docker.io/mlrun/mlrun:1.9.2', 'mlrun/mlrun:1.9.2'),
  ok('docker.io/library/a/b', { domain: 'docker.io', path: 'library/a/b' }, 'docker.io/library/a/b', 'library/a/b'),
  ok('library/a/b', { path: 'library/a/b' }, 'docker.io/library/a/b', 'library/a/b'),
  // familiar keeps docker.io/ when stripping it would turn a path component into a registry
  ok('docker.io/foo.bar/baz', { domain: 'docker.io', path: 'foo.bar/baz' }, 'docker.io/foo.bar/baz', 'docker.io/foo.bar/baz'),
  ok('docker.io/localhost/x', { domain: 'docker.io', path: 'localhost/x' }, 'docker.io/localhost/x', 'docker.io/localhost/x'),
  ok('docker.io/foo.bar', { domain: 'docker.io', path: 'foo.bar' }, 'docker.io/library/foo.bar', 'foo.bar'),
  // ...and library/ for a bare 64-hex name (which alone would be read as an image ID)
  ok(`library/${H64}`, { path: `library/${H64}` }, `docker.io/library/${H64}`, `library/${H64}`),
  ok(`${H64}:v1`, { path: H64, tag: 'v1' }, `docker.io/library/${H64}:v1`, `${H64}:v1`),
  // MLRun-flavoured
  ok('mlrun/mlrun', { path: 'mlrun/mlrun' }, 'docker.io/mlrun/mlrun', 'mlrun/mlrun'),
  ok('mlrun/mlrun:1.9.2-py39', { path: 'mlrun/mlrun', tag: '1.9.2-py39' }, 'docker.io/mlrun/mlrun:1.9.2-py39', 'mlrun/mlrun:1.9.2-py39'),
  ok('mlrun/mlrun:1.10.0-rc1', { path: 'mlrun/mlrun', tag: '1.10.0-rc1' }, 'docker.io/mlrun/mlrun:1.10.0-rc1', 'mlrun/mlrun:1.10.0-rc1'),
  ok('docker.io/mlrun/mlrun:1.9.2', { domain: 'docker.io', path: 'mlrun/mlrun', tag: '1.9.2' }, 'docker.io/mlrun/mlrun:1.9.2', 'mlrun/mlrun:1.9.2'),
  ok('quay.io/mlrun/mlrun', { domain: 'quay.io', path: 'mlrun/mlrun' }, 'quay.io/mlrun/mlrun', 'quay.io/mlrun/mlrun'),
  ok('localhost:5000/mlrun/mlrun', { domain: 'localhost:5000', path: 'mlrun/mlrun' }, 'localhost:5000/mlrun/mlrun', 'localhost:5000/mlrun/mlrun'),
  ok(`mlrun/mlrun@sha256:${H64}`, { path: 'mlrun/mlrun', digest: `sha256:${H64}` }, `docker.io/mlrun/mlrun@sha256:${H64}`, `mlrun/mlrun@sha256:${H64}`),
  ok(
    'datanode-registry.iguazio-platform.app.vm/mlrun/mlrun:1.10.0',
    { domain: 'datanode-registry.iguazio-platform.app.vm', path: 'mlrun/mlrun', tag: '1.10.0' },
    'datanode-registry.iguazio-platform.app.vm/mlrun/mlrun:1.10.0',
    'datanode-registry.iguazio-platform.app.vm/mlrun/mlrun:1.10.0',
  ),
  ok(
    'registry.local:5000/mlrun-mirror/mlrun/mlrun:1.9.2',
    { domain: 'registry.local:5000', path: 'mlrun-mirror/mlrun/mlrun', tag: '1.9.2' },
    'registry.local:5000/mlrun-mirror/mlrun/mlrun:1.9.2',
    'registry.local:5000/mlrun-mirror/mlrun/mlrun:1.9.2',
  ),
  ok('gcr.io/kaniko-project/executor:v1.23.2', { domain: 'gcr.io', path: 'kaniko-project/executor', tag: 'v1.23.2' }, 'gcr.io/kaniko-project/executor:v1.23.2', 'gcr.io/kaniko-project/executor:v1.23.2'),
  ok('docker-registry.default-tenant.app.vm:80/mlrun/func-default-x:latest', { domain: 'docker-registry.default-tenant.app.vm:80', path: 'mlrun/func-default-x', tag: 'latest' }, 'docker-registry.default-tenant.app.vm:80/mlrun/func-default-x:latest', 'docker-registry.default-tenant.app.vm:80/mlrun/func-default-x:latest'),
  ok('ghcr.io/owner/repo:sha-abc123', { domain: 'ghcr.io', path: 'owner/repo', tag: 'sha-abc123' }, 'ghcr.io/owner/repo:sha-abc123', 'ghcr.io/owner/repo:sha-abc123'),
  // localhost
  ok('localhost/foo', { domain: 'localhost', path: 'foo' }, 'localhost/foo', 'localhost/foo'),
  ok('localhost', { path: 'localhost' }, 'docker.io/library/localhost', 'localhost'),
  // "localhost:5000" alone is the Docker Hub image "localhost" with tag "5000" (as upstream)
  ok('localhost:5000', { path: 'localhost', tag: '5000' }, 'docker.io/library/localhost:5000', 'localhost:5000'),
  ok('localhost:5000/x', { domain: 'localhost:5000', path: 'x' }, 'localhost:5000/x', 'localhost:5000/x'),
  ok('foo:5000', { path: 'foo', tag: '5000' }, 'docker.io/library/foo:5000', 'foo:5000'),
  // IPv4 / IPv6 / ports
  ok('127.0.0.1:5000/foo/bar:1', { domain: '127.0.0.1:5000', path: 'foo/bar', tag: '1' }, '127.0.0.1:5000/foo/bar:1', '127.0.0.1:5000/foo/bar:1'),
  ok('10.0.0.1/foo', { domain: '10.0.0.1', path: 'foo' }, '10.0.0.1/foo', '10.0.0.1/foo'),
  ok('[::1]:5000/x', { domain: '[::1]:5000', path: 'x' }, '[::1]:5000/x', '[::1]:5000/x'),
  ok('[::1]/x', { domain: '[::1]', path: 'x' }, '[::1]/x', '[::1]/x'),
  ok('[::]/x', { domain: '[::]', path: 'x' }, '[::]/x', '[::]/x'),
  ok('[2001:db8::1]:443/team/app:v1', { domain: '[2001:db8::1]:443', path: 'team/app', tag: 'v1' }, '[2001:db8::1]:443/team/app:v1', '[2001:db8::1]:443/team/app:v1'),
  ok('[2001:DB8:0:0:0:0:0:1]/x', { domain: '[2001:DB8:0:0:0:0:0:1]', path: 'x' }, '[2001:DB8:0:0:0:0:0:1]/x', '[2001:DB8:0:0:0:0:0:1]/x'),
  ok('registry:5000/x', { domain: 'registry:5000', path: 'x' }, 'registry:5000/x', 'registry:5000/x'),
  ok('host:65535/x', { domain: 'host:65535', path: 'x' }, 'host:65535/x', 'host:65535/x'),
  ok('host:00080/x', { domain: 'host:00080', path: 'x' }, 'host:00080/x', 'host:00080/x'),
  // registry host forms; uppercase registry is valid and kept as written
  ok('foo.bar/baz', { domain: 'foo.bar', path: 'baz' }, 'foo.bar/baz', 'foo.bar/baz'),
  ok('REGISTRY.EXAMPLE.COM/foo', { domain: 'REGISTRY.EXAMPLE.COM', path: 'foo' }, 'REGISTRY.EXAMPLE.COM/foo', 'REGISTRY.EXAMPLE.COM/foo'),
  ok('Docker.IO/foo', { domain: 'Docker.IO', path: 'foo' }, 'Docker.IO/foo', 'Docker.IO/foo'),
  ok('Registry.Example.com:8080/foo/bar:Tag_1', { domain: 'Registry.Example.com:8080', path: 'foo/bar', tag: 'Tag_1' }, 'Registry.Example.com:8080/foo/bar:Tag_1', 'Registry.Example.com:8080/foo/bar:Tag_1'),
  ok('xn--bcher-kva.example/foo', { domain: 'xn--bcher-kva.example', path: 'foo' }, 'xn--bcher-kva.example/foo', 'xn--bcher-kva.example/foo'),
  ok('a-b.c-d/x', { domain: 'a-b.c-d', path: 'x' }, 'a-b.c-d/x', 'a-b.c-d/x'),
  ok('1.2/x', { domain: '1.2', path: 'x' }, '1.2/x', '1.2/x'),
  // path components and separators
  ok('a/b/c/d/e', { path: 'a/b/c/d/e' }, 'docker.io/a/b/c/d/e', 'a/b/c/d/e'),
  ok('foo/bar.baz', { path: 'foo/bar.baz' }, 'docker.io/foo/bar.baz', 'foo/bar.baz'),
  ok('foo_bar', { path: 'foo_bar' }, 'docker.io/library/foo_bar', 'foo_bar'),
  ok('foo__bar', { path: 'foo__bar' }, 'docker.io/library/foo__bar', 'foo__bar'),
  ok('foo-bar', { path: 'foo-bar' }, 'docker.io/library/foo-bar', 'foo-bar'),
  ok('foo---bar', { path: 'foo---bar' }, 'docker.io/library/foo---bar', 'foo---bar'),
  ok('foo.bar', { path: 'foo.bar' }, 'docker.io/library/foo.bar', 'foo.bar'),
  ok('x/a.b_c__d-e---f/g', { path: 'x/a.b_c__d-e---f/g' }, 'docker.io/x/a.b_c__d-e---f/g', 'x/a.b_c__d-e---f/g'),
  ok('r.io/a.b/c_d/e__f/g-h', { domain: 'r.io', path: 'a.b/c_d/e__f/g-h' }, 'r.io/a.b/c_d/e__f/g-h', 'r.io/a.b/c_d/e__f/g-h'),
  // tags
  ok(`foo:${'a'.repeat(128)}`, { path: 'foo', tag: 'a'.repeat(128) }, `docker.io/library/foo:${'a'.repeat(128)}`, `foo:${'a'.repeat(128)}`),
  ok('foo:_tag', { path: 'foo', tag: '_tag' }, 'docker.io/library/foo:_tag', 'foo:_tag'),
  ok('foo:1.0-rc.1', { path: 'foo', tag: '1.0-rc.1' }, 'docker.io/library/foo:1.0-rc.1', 'foo:1.0-rc.1'),
  ok('foo:A', { path: 'foo', tag: 'A' }, 'docker.io/library/foo:A', 'foo:A'),
  ok('foo:a..b--c', { path: 'foo', tag: 'a..b--c' }, 'docker.io/library/foo:a..b--c', 'foo:a..b--c'),
  // digests
  ok(`foo:latest@sha256:${H64}`, { path: 'foo', tag: 'latest', digest: `sha256:${H64}` }, `docker.io/library/foo:latest@sha256:${H64}`, `foo:latest@sha256:${H64}`),
  ok(`python:3.11-slim@sha256:${H64}`, { path: 'python', tag: '3.11-slim', digest: `sha256:${H64}` }, `docker.io/library/python:3.11-slim@sha256:${H64}`, `python:3.11-slim@sha256:${H64}`),
  ok(`quay.io/mlrun/mlrun:1.9.2@sha256:${H64}`, { domain: 'quay.io', path: 'mlrun/mlrun', tag: '1.9.2', digest: `sha256:${H64}` }, `quay.io/mlrun/mlrun:1.9.2@sha256:${H64}`, `quay.io/mlrun/mlrun:1.9.2@sha256:${H64}`),
  ok(`foo@sha384:${H96}`, { path: 'foo', digest: `sha384:${H96}` }, `docker.io/library/foo@sha384:${H96}`, `foo@sha384:${H96}`),
  ok(`foo@sha512:${H128}`, { path: 'foo', digest: `sha512:${H128}` }, `docker.io/library/foo@sha512:${H128}`, `foo@sha512:${H128}`),
  // unregistered algorithms: accepted per the grammar (>= 32 hex digits, either case)
  ok(`foo@md5x:${H32}`, { path: 'foo', digest: `md5x:${H32}` }, `docker.io/library/foo@md5x:${H32}`, `foo@md5x:${H32}`),
  ok(`foo@tarsum.v1+sha256:${H64}`, { path: 'foo', digest: `tarsum.v1+sha256:${H64}` }, `docker.io/library/foo@tarsum.v1+sha256:${H64}`, `foo@tarsum.v1+sha256:${H64}`),
  ok(`foo@multihash_base-x:${H32}`, { path: 'foo', digest: `multihash_base-x:${H32}` }, `docker.io/library/foo@multihash_base-x:${H32}`, `foo@multihash_base-x:${H32}`),
  // length limits: exactly 255 characters of name
  ok(`r.io/${'a'.repeat(250)}`, { domain: 'r.io', path: 'a'.repeat(250) }, `r.io/${'a'.repeat(250)}`, `r.io/${'a'.repeat(250)}`),
  ok('a'.repeat(237), { path: 'a'.repeat(237) }, `docker.io/library/${'a'.repeat(237)}`, 'a'.repeat(237)),
];

interface BadRow {
  input: string;
  reason: string;
  position?: number;
  label?: string;
}
const bad = (input: string, reason: string, position?: number, label?: string): BadRow =>
  position === undefined ? { input, reason, label } : { input, reason, position, label };

const MB_JUNK = Array.from({ length: 1 << 20 }, (_, i) => String.fromCharCode(32 + ((i * 7919) % 95))).join('');

// ---------------------------------------------------------------------------------------------
// Invalid references: input → reason substring (and position when meaningful).
const INVALID: BadRow[] = [
  // empty / whitespace
  bad('', 'empty reference'),
  bad(' ', 'blank reference', 0),
  bad('\t\n', 'blank reference', 0),
  bad(' python', 'leading whitespace', 0),
  bad('python ', 'trailing whitespace', 6),
  bad('\tpython', 'leading whitespace', 0),
  bad('mlrun/mlrun:1.9.2\n', 'trailing whitespace', 17),
  bad('py thon', 'invalid character " " at position 2', 2),
  // lowercase
  bad('Python', 'repository name must be lowercase', 0),
  bad('MLRUN/mlrun', 'repository name must be lowercase', 0),
  bad('mlrun/MLRun', 'repository name must be lowercase', 6),
  bad('LOCALHOST/foo', 'repository name must be lowercase', 0),
  bad('quay.io/MLRun/mlrun', 'repository name must be lowercase', 8),
  bad('foo/Bar:tag', 'repository name must be lowercase', 4),
  // slashes
  bad('foo/', 'must not end with "/"', 3),
  bad('foo/:tag', 'must not end with "/"', 3),
  bad('foo//bar', 'empty path component ("//")', 3),
  bad('/foo', 'must not start with "/"', 0),
  bad('quay.io/', 'missing repository path after registry "quay.io"', 7),
  bad('quay.io//foo', 'empty path component ("//")', 8),
  // separators
  bad('foo___bar', 'invalid separator "___"', 3),
  bad('foo_-bar', 'invalid separator "_-"', 3),
  bad('foo.-bar', 'invalid separator ".-"', 3),
  bad('foo..bar', 'invalid separator ".."', 3),
  bad('foo._bar', 'invalid separator "._"', 3),
  bad('-foo', 'must start with a lowercase letter or digit', 0),
  bad('.foo', 'must start with a lowercase letter or digit', 0),
  bad('_foo', 'must start with a lowercase letter or digit', 0),
  bad('a/-b', 'must start with a lowercase letter or digit', 2),
  bad('foo-', 'must not end with separator "-"', 3),
  bad('x/foo./bar', 'must not end with separator "."', 5),
  // a first component containing "." is a registry (splitDockerDomain), so path rules do not apply
  bad('foo./bar', 'empty label in registry host "foo."', 4, 'first component with "." is a registry'),
  bad('a.b_c/g', 'invalid character "_" in registry host', 3, 'first component with "." is a registry host, "_" not allowed'),
  bad('foo__/bar', 'must not end with separator "__"', 3),
  // name part missing
  bad(':tag', 'missing repository name', 0),
  bad(`@sha256:${H64}`, 'missing repository name', 0),
  // tags
  bad('foo:', 'empty tag after ":"', 3),
  bad('foo/bar:', 'empty tag after ":"', 7),
  bad(`foo:${'a'.repeat(129)}`, 'too long (129 characters; max 128)', 4 + 128),
  bad('foo:.tag', 'must start with a letter, digit or "_"', 4),
  bad('foo:-tag', 'must start with a letter, digit or "_"', 4),
  bad('foo:a:b', 'invalid tag "a:b": invalid character ":" at position 5', 5),
  bad('foo:tag!', 'invalid tag "tag!"', 7),
  bad('foo:tàg', 'invalid tag', 5),
  bad('foo:ta/g', 'invalid port "ta"', 4, 'colon before the last "/" makes the first component a registry'),
  // digests
  bad('foo@', 'empty digest after "@"', 3),
  bad('foo:tag@', 'empty digest after "@"', 7),
  bad('foo:t@g', 'expected "<algorithm>:<hex>"', 6),
  bad('foo@sha256', 'expected "<algorithm>:<hex>"', 4),
  bad(`foo@:${H64}`, 'missing algorithm', 4),
  bad(`foo@sha256:${H64.slice(1)}`, 'sha256 requires exactly 64 hex digits, got 63', 11),
  bad(`foo@sha256:${H64}0`, 'sha256 requires exactly 64 hex digits, got 65', 11),
  bad(`foo@sha256:${H32}`, 'sha256 requires exactly 64 hex digits, got 32', 11),
  bad(`foo@sha256:${H64.toUpperCase()}`, 'hex digits must be lowercase', 11),
  bad(`foo@SHA256:${H64}`, 'algorithm must be lowercase "sha256"', 4),
  bad(`foo@sha384:${H64}`, 'sha384 requires exactly 96 hex digits, got 64', 11),
  bad(`foo@sha512:${H96}`, 'sha512 requires exactly 128 hex digits, got 96', 11),
  bad(`foo@md5x:${H32.slice(1)}`, 'at least 32 hex digits, got 31', 9),
  bad(`foo@sha256:${'g'.repeat(64)}`, 'encoded part must be hexadecimal', 11),
  bad(`foo@1sha:${H32}`, 'must start with a letter', 4),
  bad(`foo@sha-:${H32}`, 'must not end with a separator', 7),
  bad(`foo@sha256:${H64}@sha256:${H64}`, 'multiple "@"', 75),
  bad(`foo@sha256:${H64}:tag`, 'encoded part must be hexadecimal', 75),
  // image ID lookalike
  bad(H64, 'ambiguous with an image ID'),
  // length
  bad('a'.repeat(256), 'reference too long (name is 256 characters; max 255 for the name)'),
  bad(`r.io/${'a'.repeat(251)}`, 'max 255 for the name'),
  bad('a'.repeat(238), 'once normalised to "docker.io/library/aaa', undefined, 'normalised name would be 256 characters'),
  bad(MB_JUNK, 'reference too long (1048576 characters', undefined, '1 MB of junk'),
  bad('a'.repeat(1 << 20), 'reference too long (1048576 characters', undefined, '1 MB of "a"'),
  bad(`foo:${'a'.repeat(REFERENCE_MAX_LENGTH)}`, `max ${REFERENCE_MAX_LENGTH} for a whole reference`),
  // unicode and control characters
  bad('mlrun/mlrün', 'invalid character "ü" (U+00FC) at position 9', 9),
  bad('🐳', 'invalid character "🐳" (U+1F433) at position 0', 0),
  bad('foo\u0000bar', 'invalid character "\\u0000" (U+0000) at position 3', 3),
  bad('foo\nbar', 'invalid character "\\n" (U+000A) at position 3', 3),
  bad('foo\u200bbar', 'invalid character', 3, 'zero-width space'),
  bad('ｍlrun', 'invalid character', 0, 'full-width letter'),
  bad('\ud800', 'invalid character', 0, 'lone surrogate'),
  // IPv6
  bad('[fe80::1%eth0]:5000/x', 'zone identifiers ("%...") are not allowed', 8),
  bad('[fe80::1%25eth0]/x', 'zone identifiers', 8),
  bad('[::1/x', 'missing "]"', 0),
  bad('[::1]5000/x', 'invalid character "5" after IPv6 address', 5),
  bad('[:::1]/x', '"::" may appear only once', 1),
  bad('[1:2:3]/x', 'expected 8 groups', 1),
  bad('[1:2:3:4:5:6:7:8:9]/x', 'expected 8 groups', 1),
  bad('[1:2:3:4::5:6:7:8]/x', 'too many groups', 1),
  bad('[12345::1]/x', 'more than 4 hex digits', 1),
  bad('[::ffff:1.2.3.4]/x', 'embedded IPv4', 9),
  bad('[::g]/x', 'invalid character "g" in IPv6 address', 3),
  bad('[]/x', 'invalid character "[" at position 0', 0, 'no "." or ":" so not a registry; "[" is not a path character'),
  bad('[::1]:5000', 'invalid character "[" at position 0', 0, 'no "/": the whole thing is a Docker Hub name'),
  // registry host and port
  bad('host:/x', 'missing port', 5),
  bad(':5000/x', 'missing registry host', 0),
  bad('host:99999/x', 'must be at most 65535', 5),
  bad('host:5000:6000/x', 'invalid port "5000:6000"', 9),
  bad('host:5a/x', 'invalid port "5a"', 6),
  bad('https://docker.io/foo', 'missing port after ":" in registry "https:"', 6),
  bad('-host.io/x', 'must not start with "-"', 0),
  bad('host-.io/x', 'must not end with "-"', 4),
  bad('host..io/x', 'empty label', 5),
  bad('.host.io/x', 'empty label', 0),
  bad('host.io./x', 'empty label', 8),
  bad('ho_st.io/x', 'invalid character "_" in registry host', 2),
  bad('höst.io/x', 'invalid character "ö" (U+00F6) in registry host', 1),
];

function validOf(r: ParsedReference): ValidReference {
  if (!r.valid) throw new Error(`expected valid, got: ${r.reason}`);
  return r;
}

describe('parseReference — valid golden table', () => {
  it.each(VALID.map((row) => [row.input.length > 70 ? `${row.input.slice(0, 70)}…` : row.input, row] as const))(
    '%s',
    (_label, row) => {
      const r = validOf(parseReference(row.input));
      expect({ domain: r.domain, path: r.path, tag: r.tag, digest: r.digest }).toEqual({
        domain: row.domain,
        path: row.path,
        tag: row.tag,
        digest: row.digest,
      });
      expect(r.original).toBe(row.input);
      expect(r.hasExplicitDomain).toBe(row.domain !== undefined);
      expect(r.name).toBe(row.domain === undefined ? row.path : `${row.domain}/${row.path}`);
      expect(r.normalized.full).toBe(row.full);
      expect(r.normalized.name).toBe(`${r.normalized.domain}/${r.normalized.path}`);
      expect(r.familiar).toBe(row.familiar);
      // lossless
      expect(format(r)).toBe(row.input);
      // canonical and familiar forms re-parse to the same canonical reference
      expect(validOf(parseReference(r.normalized.full)).normalized.full).toBe(row.full);
      expect(validOf(parseReference(r.familiar)).normalized.full).toBe(row.full);
    },
  );
});

describe('parseReference — invalid golden table', () => {
  it.each(
    INVALID.map((row) => [row.label ?? (row.input.length > 70 ? `${row.input.slice(0, 70)}…` : JSON.stringify(row.input)), row] as const),
  )('%s', (_label, row) => {
    const r = parseReference(row.input);
    expect(r.valid).toBe(false);
    if (r.valid) return;
    expect(r.original).toBe(row.input);
    expect(r.reason).toContain(row.reason);
    if (row.position !== undefined) expect(r.position).toBe(row.position);
    if (r.position !== undefined) {
      expect(r.position).toBeGreaterThanOrEqual(0);
      expect(r.position).toBeLessThan(Math.max(1, row.input.length));
    }
  });
});

describe('parseReference — misc', () => {
  it('golden tables are large enough', () => {
    expect(VALID.length + INVALID.length).toBeGreaterThanOrEqual(80);
  });

  it('never throws for non-string input from untyped JSON', () => {
    for (const v of [undefined, null, 42, {}, [], Object.create(null) as object, Symbol('x')]) {
      const r = parseReference(v as unknown as string);
      expect(r.valid).toBe(false);
      if (!r.valid) expect(r.reason).toMatch(/^reference must be a string/);
    }
  });

  it('keeps long reason strings readable (quoted values are truncated)', () => {
    const r = parseReference(`foo:${'a'.repeat(200)}`);
    expect(r.valid).toBe(false);
    if (!r.valid) expect(r.reason.length).toBeLessThan(200);
  });

  it('exports the name limit used by the grammar', () => {
    expect(NAME_TOTAL_LENGTH_MAX).toBe(255);
  });

  it('isValidReference / normalizeReference', () => {
    expect(isValidReference('mlrun/mlrun:1.9.2')).toBe(true);
    expect(isValidReference('MLRun/mlrun')).toBe(false);
    expect(normalizeReference('python:3.11')).toBe('docker.io/library/python:3.11');
    expect(normalizeReference('index.docker.io/mlrun/mlrun')).toBe('docker.io/mlrun/mlrun');
    expect(normalizeReference('foo:')).toBeUndefined();
  });
});

describe('formatReference and builders', () => {
  const mlrun = validOf(parseReference('mlrun/mlrun:1.9.2'));
  const python = validOf(parseReference('python:3.11'));
  const quay = validOf(parseReference(`quay.io/mlrun/mlrun:1.9.2@sha256:${H64}`));

  it('formatReference concatenates parts', () => {
    expect(formatReference({ path: 'x' })).toBe('x');
    expect(formatReference({ domain: 'r.io:5000', path: 'a/b', tag: 't', digest: `sha256:${H64}` })).toBe(
      `r.io:5000/a/b:t@sha256:${H64}`,
    );
    expect(formatReference({ domain: undefined, path: 'a', tag: undefined, digest: `sha256:${H64}` })).toBe(
      `a@sha256:${H64}`,
    );
  });

  it('withTag replaces / removes the tag and re-validates', () => {
    expect(validOf(withTag(mlrun, '1.10.0')).original).toBe('mlrun/mlrun:1.10.0');
    expect(validOf(withTag(mlrun, undefined)).original).toBe('mlrun/mlrun');
    expect(validOf(withTag(quay, 'x')).original).toBe(`quay.io/mlrun/mlrun:x@sha256:${H64}`);
    const badTag = withTag(mlrun, '-bad');
    expect(badTag.valid).toBe(false);
    if (!badTag.valid) expect(badTag.reason).toContain('invalid tag');
  });

  it('withDigest replaces / removes the digest and re-validates', () => {
    expect(validOf(withDigest(mlrun, `sha256:${H64}`)).original).toBe(`mlrun/mlrun:1.9.2@sha256:${H64}`);
    expect(validOf(withDigest(quay, undefined)).original).toBe('quay.io/mlrun/mlrun:1.9.2');
    expect(withDigest(mlrun, 'sha256:abc').valid).toBe(false);
  });

  it('withDomain sets a registry (optionally with a path prefix)', () => {
    const m = validOf(withDomain(mlrun, 'registry.example/mirror'));
    expect(m.original).toBe('registry.example/mirror/mlrun/mlrun:1.9.2');
    expect(m.domain).toBe('registry.example');
    expect(m.path).toBe('mirror/mlrun/mlrun');
    expect(validOf(withDomain(quay, 'localhost:5000')).original).toBe(`localhost:5000/mlrun/mlrun:1.9.2@sha256:${H64}`);
    expect(validOf(withDomain(python, 'registry.local:5000/mlrun-mirror')).original).toBe(
      'registry.local:5000/mlrun-mirror/python:3.11',
    );
    expect(validOf(withDomain(python, 'harbor.local/dockerhub', { path: 'normalized' })).original).toBe(
      'harbor.local/dockerhub/library/python:3.11',
    );
    expect(validOf(withDomain(quay, undefined)).original).toBe(`mlrun/mlrun:1.9.2@sha256:${H64}`);
  });

  it('withDomain rejects a registry that would be read as a Docker Hub namespace, and over-long results', () => {
    const notHost = withDomain(mlrun, 'mirror');
    expect(notHost.valid).toBe(false);
    if (!notHost.valid) expect(notHost.reason).toContain('is not a registry host');
    const trailing = withDomain(mlrun, 'registry.example/');
    expect(trailing.valid).toBe(false);
    const tooLong = withDomain(mlrun, `r.io/${'a'.repeat(250)}`);
    expect(tooLong.valid).toBe(false);
    if (!tooLong.valid) expect(tooLong.reason).toContain('max 255 for the name');
  });
});
