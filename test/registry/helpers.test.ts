/** Pure parts of the registry client, table-tested: WWW-Authenticate, kubelet credential matching, targets, caches. */
import { describe, expect, it } from 'vitest';
import { TtlLru } from '../../src/registry/cache.js';
import { buildKeyring, globMatch, isDefaultRegistryMatch, lookupCredentials } from '../../src/registry/docker-config.js';
import { BusyError, Limiter } from '../../src/registry/limiter.js';
import { targetFor } from '../../src/registry/target.js';
import { describeError } from '../../src/registry/transport.js';
import { parseWwwAuthenticate, WWW_AUTHENTICATE_MAX_LENGTH } from '../../src/registry/www-authenticate.js';

type Ch = { scheme: string; params: Record<string, string>; token68?: string };
function challenges(header: string): Ch[] | string {
  const r = parseWwwAuthenticate(header);
  if (!r.ok) return r.reason;
  return r.challenges.map((c) => ({ scheme: c.scheme, params: Object.fromEntries(c.params), ...(c.token68 === undefined ? {} : { token68: c.token68 }) }));
}

describe('parseWwwAuthenticate', () => {
  it.each<[string, Ch[]]>([
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"',
      [{ scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/nginx:pull' } }],
    ],
    ['Basic realm="Registry Realm"', [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]],
    // Commas inside quotes (a scope with two actions), and an escaped quote.
    ['Bearer realm="r",scope="repository:a/b:pull,push"', [{ scheme: 'bearer', params: { realm: 'r', scope: 'repository:a/b:pull,push' } }]],
    ['Basic realm="say \\"hi\\", ok"', [{ scheme: 'basic', params: { realm: 'say "hi", ok' } }]],
    // Several challenges in one header, spaces around "=" and ",", case-insensitive names.
    [
      'Negotiate, BASIC Realm = "x" , Bearer realm="https://a/t", error="invalid_token"',
      [
        { scheme: 'negotiate', params: {} },
        { scheme: 'basic', params: { realm: 'x' } },
        { scheme: 'bearer', params: { realm: 'https://a/t', error: 'invalid_token' } },
      ],
    ],
    ['Bearer realm=token-unquoted,service=svc', [{ scheme: 'bearer', params: { realm: 'token-unquoted', service: 'svc' } }]],
    ['Negotiate abc+/=, Basic realm="r"', [{ scheme: 'negotiate', params: {}, token68: 'abc+/=' }, { scheme: 'basic', params: { realm: 'r' } }]],
    ['Bearer realm="first", realm="second"', [{ scheme: 'bearer', params: { realm: 'first' } }]],
    ['', []],
    [' , ,Basic', [{ scheme: 'basic', params: {} }]],
  ])('%s', (header, expected) => {
    expect(challenges(header)).toEqual(expected);
  });

  it.each([
    ['Bearer realm="unterminated', /unterminated quoted string/],
    ['Bearer realm=', /expected a token or quoted string|token68/],
    ['"quoted"', /expected an auth scheme/],
    ['Bearer realm="a" service="b"', /expected "," between parameters/],
  ])('malformed %j is refused with a reason', (header, reason) => {
    const r = challenges(header);
    if (typeof r !== 'string') {
      // "Bearer realm=" is also readable as a token68 ("realm="): accepted, but then it has no realm param.
      expect(r.every((c) => c.params.realm === undefined)).toBe(true);
      return;
    }
    expect(r).toMatch(reason);
  });

  it('refuses an over-long header before scanning it', () => {
    const r = parseWwwAuthenticate(`Basic realm="${'x'.repeat(WWW_AUTHENTICATE_MAX_LENGTH)}"`);
    expect(r.ok).toBe(false);
  });

  it('is linear: a header of many params at the cap parses (no backtracking blow-up)', () => {
    const header = `Bearer ${Array.from({ length: 800 }, (_, i) => `p${i}="v,${i}"`).join(',')}`.slice(0, WWW_AUTHENTICATE_MAX_LENGTH);
    const r = parseWwwAuthenticate(header.slice(0, header.lastIndexOf(',')));
    expect(r.ok && r.challenges[0]!.params.size).toBeGreaterThan(500);
  });
});

const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe('docker config keyring (kubelet matching)', () => {
  const config = {
    auths: {
      'https://index.docker.io/v1/': { auth: b64('hub:hubpw') },
      'registry.example.com': { auth: b64('plain:pw1') },
      'registry.example.com/team': { username: 'team', password: 'pw2' },
      'https://registry.example.com:5000/v2/': { auth: b64('port:pw3') },
      '*.mirror.example': { auth: b64('glob:pw4') },
      'http://quay.io/coreos': { auth: b64('coreos:pw5:with:colons') },
      'user:secretinkey@withuserinfo.example': { auth: b64('ui:pw6') },
    },
  };
  const { keyring, problems } = buildKeyring([{ source: 'secret-a', text: JSON.stringify(config) }]);
  const who = (image: string): string[] => lookupCredentials(keyring, image).map((c) => `${c.username}:${c.password}`);

  it('has no problems for a valid file', () => {
    expect(problems).toEqual([]);
  });

  it.each<[string, string[]]>([
    // Docker Hub: no key matches docker.io, so index.docker.io's credentials are used.
    ['docker.io/library/nginx', ['hub:hubpw']],
    ['docker.io/mlrun/mlrun', ['hub:hubpw']],
    // Longest path first (reverse order), then the host-only key.
    ['registry.example.com/team/app', ['team:pw2', 'plain:pw1']],
    ['registry.example.com/teamx/app', ['team:pw2', 'plain:pw1']], // a plain string prefix, as in the kubelet
    ['registry.example.com/other/app', ['plain:pw1']],
    // Port must match exactly.
    ['registry.example.com:5000/team/app', ['port:pw3']],
    ['registry.example.com:5001/team/app', []],
    // One glob label matches one label.
    ['a.mirror.example/x', ['glob:pw4']],
    ['a.b.mirror.example/x', []],
    ['mirror.example/x', []],
    // Scheme ignored; only the first ":" splits user and password.
    ['quay.io/coreos/etcd', ['coreos:pw5:with:colons']],
    ['quay.io/other/etcd', []],
    ['withuserinfo.example/x', ['ui:pw6']],
    ['unknown.example/x', []],
  ])('%s → %j', (image, expected) => {
    expect(who(image)).toEqual(expected);
  });

  it('several files make one keyring; the same key keeps every credential in file order', () => {
    const a = JSON.stringify({ auths: { 'r.example': { auth: b64('a:1') } } });
    const b = JSON.stringify({ auths: { 'https://r.example': { auth: b64('b:2') } } });
    const kr = buildKeyring([{ source: 'a', text: a }, { source: 'b', text: b }]);
    expect(lookupCredentials(kr.keyring, 'r.example/x').map((c) => c.username)).toEqual(['a', 'b']);
    expect(lookupCredentials(kr.keyring, 'r.example/x').map((c) => c.origin)).toEqual(['a: "r.example"', 'b: "r.example"']);
  });

  it('a legacy .dockercfg (the map itself) is read too', () => {
    const kr = buildKeyring([{ source: 'legacy', text: JSON.stringify({ 'r.example': { auth: b64('l:p') } }) }]);
    expect(lookupCredentials(kr.keyring, 'r.example/x').map((c) => c.username)).toEqual(['l']);
  });

  it.each([
    ['{not json "hunter2"', /^f: not valid JSON$/],
    ['[]', /^f: expected a JSON object$/],
    ['{"auths": 3}', /^f: "auths" must be an object$/],
    [JSON.stringify({ auths: { 'r.example': { auth: 'hunter2!!' } } }), /^f: "r\.example": "auth" is not valid base64$/],
    [JSON.stringify({ auths: { 'r.example': { auth: b64('hunter2') } } }), /"auth" must be base64 of "username:password"$/],
    [JSON.stringify({ auths: { 'r.example': {} } }), /no "auth" and no "username"\/"password"$/],
    [JSON.stringify({ auths: { 'u:hunter2@r.example': 'x' } }), /^f: "r\.example": entry must be an object$/],
  ])('problems name the file and key, never a secret: %s', (text, reason) => {
    const r = buildKeyring([{ source: 'f', text }]);
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatch(reason);
    expect(r.problems[0]).not.toContain('hunter2');
    expect(r.problems[0]).not.toContain(b64('hunter2'));
  });

  it('caps file size and the number of entries', () => {
    const many = Object.fromEntries(Array.from({ length: 1005 }, (_, i) => [`r${i}.example`, { auth: b64('u:p') }]));
    const r = buildKeyring([{ source: 'f', text: JSON.stringify({ auths: many }) }]);
    expect(r.keyring.entries.length).toBe(1000);
    expect(r.problems).toEqual(['f: more than 1000 entries in all; the rest are ignored']);
    expect(buildKeyring([{ source: 'big', text: ' '.repeat(1024 * 1024 + 1) }]).problems[0]).toMatch(/^big: file too large/);
  });

  it.each<[string, string, boolean]>([
    ['*', 'anything', true],
    ['*', '', true],
    ['reg*', 'registry', true],
    ['r?g', 'reg', true],
    ['r?g', 'rg', false],
    ['[a-c]x', 'bx', true],
    ['[^a-c]x', 'bx', false],
    ['[^a-c]x', 'dx', true],
    ['\\*', '*', true],
    ['\\*', 'a', false],
    ['[a-', 'a', false], // malformed: matches nothing
    ['a*b*c', 'aXbYc', true],
    ['a*b*c', 'aXbY', false],
  ])('glob %j ~ %j = %s', (pattern, name, expected) => {
    expect(globMatch(pattern, name)).toBe(expected);
  });

  it.each<[string, boolean]>([
    ['nginx', true],
    ['library/nginx', true],
    ['docker.io/library/nginx', true],
    ['index.docker.io/x/y', true],
    ['localhost/x', true], // the kubelet's rule: no "." or ":" in the first part
    ['quay.io/x', false],
    ['localhost:5000/x', false],
    ['/x', false],
  ])('isDefaultRegistryMatch(%j) = %s', (image, expected) => {
    expect(isDefaultRegistryMatch(image)).toBe(expected);
  });
});

describe('targetFor', () => {
  it.each([
    ['nginx', 'registry-1.docker.io', 'library/nginx', 'latest', 'docker.io/library/nginx'],
    ['docker.io/mlrun/mlrun:1.9.2', 'registry-1.docker.io', 'mlrun/mlrun', '1.9.2', 'docker.io/mlrun/mlrun'],
    ['index.docker.io/python:3.11', 'registry-1.docker.io', 'library/python', '3.11', 'docker.io/library/python'],
    ['quay.io/mlrun/mlrun-ui:1.9.2', 'quay.io', 'mlrun/mlrun-ui', '1.9.2', 'quay.io/mlrun/mlrun-ui'],
    ['localhost:5000/a/b/c:t', 'localhost:5000', 'a/b/c', 't', 'localhost:5000/a/b/c'],
    ['[::1]:5000/a:t', '[::1]:5000', 'a', 't', '[::1]:5000/a'],
    [`r.example/a:t@sha256:${'a'.repeat(64)}`, 'r.example', 'a', `sha256:${'a'.repeat(64)}`, 'r.example/a'],
  ])('%s', (image, apiHost, repository, reference, name) => {
    const r = targetFor(image);
    expect(r.ok && r.target).toEqual({
      registry: name.slice(0, name.indexOf('/')),
      apiHost,
      repository,
      reference,
      name,
      manifestPath: `/v2/${repository}/manifests/${reference}`,
    });
  });

  it.each(['', 'UPPER/x', 'a b', 'x:', `${'a'.repeat(300)}`])('invalid %j → a reason, no target', (image) => {
    const r = targetFor(image);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(/^invalid image reference: /);
  });
});

describe('TtlLru', () => {
  it('expires by its own TTL, evicts the least recently used, and does not keep over-long keys', () => {
    let now = 0;
    const c = new TtlLru<number>(2, 5, () => now);
    c.set('a', 1, 100);
    c.set('b', 2, 10);
    expect(c.get('a')).toBe(1); // a is now the most recent
    c.set('c', 3, 100); // evicts b
    expect([c.get('a'), c.get('b'), c.get('c')]).toEqual([1, undefined, 3]);
    now = 100;
    expect(c.get('a')).toBeUndefined();
    c.set('toolong', 1, 100);
    expect(c.get('toolong')).toBeUndefined();
    c.set('zero', 1, 0);
    expect(c.size).toBe(1);
  });

  it('expiresAt tells a live entry\'s expiry without refreshing its recency', () => {
    let now = 0;
    const c = new TtlLru<number>(2, 5, () => now);
    c.set('a', 1, 100);
    c.set('b', 2, 50);
    expect([c.expiresAt('a'), c.expiresAt('b'), c.expiresAt('x')]).toEqual([100, 50, undefined]);
    c.set('c', 3, 100); // a stays the least recently used: expiresAt did not touch it
    expect([c.get('a'), c.get('b')]).toEqual([undefined, 2]);
    now = 50;
    expect(c.expiresAt('b')).toBeUndefined();
  });
});

describe('Limiter', () => {
  it('runs at most max, queues at most maxQueue, refuses the rest, and hands slots over in order', async () => {
    const l = new Limiter(1, 1);
    const r1 = await l.acquire();
    const order: number[] = [];
    const p2 = l.acquire().then((r) => {
      order.push(2);
      return r;
    });
    await expect(l.acquire()).rejects.toBeInstanceOf(BusyError);
    expect([l.running, l.queued]).toEqual([1, 1]);
    r1();
    r1(); // a second release is ignored
    const r2 = await p2;
    expect(order).toEqual([2]);
    expect([l.running, l.queued]).toEqual([1, 0]);
    r2();
    expect(l.running).toBe(0);
  });

  it('a waiter whose signal aborts leaves the queue', async () => {
    const l = new Limiter(1, 2);
    const r1 = await l.acquire();
    const ctl = new AbortController();
    const p = l.acquire(ctl.signal);
    ctl.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
    expect(l.queued).toBe(0);
    r1();
    expect(l.running).toBe(0);
  });
});

describe('describeError', () => {
  it.each([
    ['ECONNREFUSED', 'connection refused'],
    ['ENOTFOUND', 'DNS lookup failed (host not found)'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'TLS error: DEPTH_ZERO_SELF_SIGNED_CERT'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'TLS error: ERR_TLS_CERT_ALTNAME_INVALID'],
    ['HPE_INVALID_CONSTANT', 'invalid HTTP response (HPE_INVALID_CONSTANT)'],
    ['EWHATEVER', 'request failed: EWHATEVER'],
  ])('%s → %s, never the message', (code, reason) => {
    const err = Object.assign(new Error('GET https://user:hunter2@x/ failed'), { code });
    expect(describeError(err)).toBe(reason);
  });
});
