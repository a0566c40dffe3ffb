import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { bcrypt, piWords } from './bcrypt.js';

function pythonBcrypt(password: string, salt: string): string | undefined {
  try {
    const out = execFileSync(
      'python3',
      ['-W', 'ignore', '-c', 'import crypt,sys; print(crypt.crypt(sys.argv[1], sys.argv[2]) or "")', password, salt],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    ).trim();
    return out.startsWith('$2b$') ? out : undefined;
  } catch {
    return undefined;
  }
}

describe('test bcrypt (for htpasswd)', () => {
  it('derives Blowfish tables from π: known first and last words', () => {
    const w = piWords();
    expect([w[0], w[17], w[18], w[1041]].map((x) => x!.toString(16))).toEqual(['243f6a88', '8979fb1b', 'd1310ba6', '3ac372e6']);
  });

  it.each([
    ['s3cret', 4, 'abcdefghijklmnopqrstuu'],
    ['', 4, '..........................'.slice(0, 22)],
    ['p@ss:w0rd é', 5, 'N9qo8uLOickgx2ZMRZoMye'],
  ])('hash of %j (cost %i) equals python crypt when it exists', (pw, cost, salt) => {
    const ours = bcrypt(pw, cost, salt);
    expect(ours).toMatch(/^\$2b\$0\d\$[./A-Za-z0-9]{53}$/);
    const theirs = pythonBcrypt(pw, ours.slice(0, 29));
    if (theirs !== undefined) expect(ours).toBe(theirs);
  });

  it('matches the OpenBSD reference vector', () => {
    // From OpenBSD's bcrypt test vectors ("U*U", cost 5).
    expect(bcrypt('U*U', 5, 'CCCCCCCCCCCCCCCCCCCCC.')).toBe('$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW');
  });
});
