/**
 * bcrypt ($2b$) for writing the docker-registry htpasswd file in tests. docker-registry accepts bcrypt only, and a
 * clean Debian machine has no bcrypt generator (no apache2-utils, no python3-bcrypt; python's `crypt` module is gone
 * in 3.13), and no new npm dependency may be added. Blowfish's initial P-array and S-boxes are the hexadecimal
 * digits of π, so they are computed here (BigInt Machin formula) instead of pasting 4 KB of constants; the test
 * checks the known first/last words and, when python3's crypt is present, compares hashes with it.
 */
import { randomBytes } from 'node:crypto';

const WORDS = 18 + 4 * 256;

let initial: Uint32Array | undefined;

/** The first 1042 32-bit words of π's fractional hexadecimal expansion (P-array then S-boxes). */
export function piWords(): Uint32Array {
  if (initial) return initial;
  const bits = BigInt(WORDS * 32 + 64); // 64 guard bits
  const one = 1n << bits;
  const atanInv = (x: bigint): bigint => {
    // atan(1/x) = Σ (-1)^k / ((2k+1) x^(2k+1)), in fixed point
    let power = one / x;
    let sum = power;
    const x2 = x * x;
    for (let k = 1n; power !== 0n; k++) {
      power /= x2;
      const term = power / (2n * k + 1n);
      sum += k % 2n === 1n ? -term : term;
    }
    return sum;
  };
  const pi = 16n * atanInv(5n) - 4n * atanInv(239n);
  const frac = (pi - (3n << bits)) >> 64n; // drop the guard bits
  const out = new Uint32Array(WORDS);
  for (let i = 0; i < WORDS; i++) out[i] = Number((frac >> BigInt((WORDS - 1 - i) * 32)) & 0xffffffffn);
  initial = out;
  return out;
}

class Blowfish {
  readonly p: Uint32Array;
  readonly s: Uint32Array; // four 256-word boxes, back to back

  constructor() {
    const w = piWords();
    this.p = w.slice(0, 18);
    this.s = w.slice(18);
  }

  private f(x: number): number {
    const s = this.s;
    return (((s[x >>> 24]! + s[256 + ((x >>> 16) & 0xff)]!) ^ s[512 + ((x >>> 8) & 0xff)]!) + s[768 + (x & 0xff)]!) >>> 0;
  }

  encrypt(lr: Uint32Array, off: number): void {
    let l = lr[off]!;
    let r = lr[off + 1]!;
    for (let i = 0; i < 16; i += 2) {
      l ^= this.p[i]!;
      r ^= this.f(l);
      r ^= this.p[i + 1]!;
      l ^= this.f(r);
    }
    l ^= this.p[16]!;
    r ^= this.p[17]!;
    lr[off] = r >>> 0;
    lr[off + 1] = l >>> 0;
  }

  /** Blowfish key schedule with bcrypt's salt mixing (salt undefined = plain key schedule). */
  expand(key: Uint8Array, salt: Uint8Array | undefined): void {
    let kp = 0;
    const keyWord = (): number => {
      let w = 0;
      for (let i = 0; i < 4; i++) {
        w = ((w << 8) | key[kp]!) >>> 0;
        kp = (kp + 1) % key.length;
      }
      return w;
    };
    for (let i = 0; i < 18; i++) this.p[i] = (this.p[i]! ^ keyWord()) >>> 0;
    let sp = 0;
    const saltWord = (): number => {
      if (!salt) return 0;
      let w = 0;
      for (let i = 0; i < 4; i++) {
        w = ((w << 8) | salt[sp]!) >>> 0;
        sp = (sp + 1) % salt.length;
      }
      return w;
    };
    const lr = new Uint32Array(2);
    const fill = (arr: Uint32Array): void => {
      for (let i = 0; i < arr.length; i += 2) {
        lr[0] = (lr[0]! ^ saltWord()) >>> 0;
        lr[1] = (lr[1]! ^ saltWord()) >>> 0;
        this.encrypt(lr, 0);
        arr[i] = lr[0]!;
        arr[i + 1] = lr[1]!;
      }
    };
    fill(this.p);
    fill(this.s);
  }
}

const B64 = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function encode(bytes: Uint8Array, length: number): string {
  const ch = (n: number): string => B64.charAt(n);
  let out = '';
  let i = 0;
  while (i < length) {
    let c1 = bytes[i++]!;
    out += ch((c1 >> 2) & 0x3f);
    c1 = (c1 & 0x03) << 4;
    if (i >= length) {
      out += ch(c1);
      break;
    }
    let c2 = bytes[i++]!;
    c1 |= (c2 >> 4) & 0x0f;
    out += ch(c1);
    c1 = (c2 & 0x0f) << 2;
    if (i >= length) {
      out += ch(c1);
      break;
    }
    c2 = bytes[i++]!;
    c1 |= (c2 >> 6) & 0x03;
    out += ch(c1) + ch(c2 & 0x3f);
  }
  return out;
}

function decode(s: string, length: number): Uint8Array {
  const out = new Uint8Array(length);
  const v = [...s].map((c) => B64.indexOf(c));
  let o = 0;
  for (let i = 0; o < length; i += 4) {
    const a = v[i]!;
    const b = v[i + 1]!;
    const c = v[i + 2] ?? 0;
    const d = v[i + 3] ?? 0;
    out[o++] = (a << 2) | (b >> 4);
    if (o < length) out[o++] = ((b & 0x0f) << 4) | (c >> 2);
    if (o < length) out[o++] = ((c & 0x03) << 6) | d;
  }
  return out;
}

/** `$2b$<cost>$<salt><hash>`; salt is the 22-character bcrypt-base64 salt (random when omitted). */
export function bcrypt(password: string, cost = 4, salt22?: string): string {
  const salt = salt22 === undefined ? randomBytes(16) : decode(salt22, 16);
  const pw = Buffer.from(password, 'utf8');
  const key = new Uint8Array(Math.min(pw.length, 72) + 1); // NUL-terminated, $2b$ caps at 72 bytes
  key.set(pw.subarray(0, 72));
  const bf = new Blowfish();
  bf.expand(key, salt);
  for (let i = 0; i < 1 << cost; i++) {
    bf.expand(key, undefined);
    bf.expand(salt, undefined);
  }
  const text = Buffer.from('OrpheanBeholderScryDoubt', 'latin1');
  const cdata = new Uint32Array(6);
  for (let i = 0; i < 6; i++) cdata[i] = text.readUInt32BE(i * 4);
  for (let i = 0; i < 64; i++) for (let j = 0; j < 6; j += 2) bf.encrypt(cdata, j);
  const hash = Buffer.alloc(24);
  for (let i = 0; i < 6; i++) hash.writeUInt32BE(cdata[i]!, i * 4);
  return `$2b$${String(cost).padStart(2, '0')}$${encode(salt, 16)}${encode(hash, 23)}`;
}
