import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import secureJson from 'secure-json-parse';
import { readJsonBody } from '../../src/server/body.js';

/** fastify's own reading of a JSON body with this server's options (what readJsonBody must return). */
const OPTIONS = { protoAction: 'remove', constructorAction: 'remove' } as const;
function fastifyReads(text: string): { value: unknown } | { problem: true } {
  try {
    return { value: secureJson.parse(text, undefined, OPTIONS) };
  } catch {
    return { problem: true };
  }
}

/** A value's text with its own keys ("__proto__" included) and every object's prototype. */
function shape(value: unknown): string {
  const protos: string[] = [];
  const walk = (v: unknown) => {
    if (v === null || typeof v !== 'object') return;
    protos.push(Object.getPrototypeOf(v) === (Array.isArray(v) ? Array.prototype : Object.prototype) ? 'std' : 'OTHER');
    for (const k of Object.keys(v)) walk((v as Record<string, unknown>)[k]);
  };
  walk(value);
  return `${JSON.stringify(value)} ${protos.join(',')}`;
}

function same(text: string): void {
  const want = fastifyReads(text);
  const got = readJsonBody(text);
  if ('problem' in want) expect('problem' in got, text).toBe(true);
  else {
    expect('value' in got, text).toBe(true);
    expect(shape((got as { value: unknown }).value), text).toBe(shape(want.value));
  }
}

describe('readJsonBody: fastify\'s parsing, __proto__ and constructor keys removed', () => {
  it('removes a __proto__ or constructor key written plainly or with escaped letters', () => {
    for (const key of ['__proto__', '\\u005f_proto__', '__pr\\u006Fto__', '__proto\\u005F_']) {
      const text = `{"metadata":{"${key}" :{"polluted":"yes"},"name":"x"}}`;
      const got = readJsonBody(text) as { value: { metadata: object } };
      expect(Object.hasOwn(got.value.metadata, '__proto__'), key).toBe(false);
      expect(got.value.metadata).toEqual({ name: 'x' });
      same(text);
    }
    for (const key of ['constructor', '\\u0063onstructor', 'constr\\u0075ctor']) {
      const text = `{"a":{"${key}"\n:{"prototype":{"polluted":"yes"}},"b":1}}`;
      const got = readJsonBody(text) as { value: { a: object } };
      expect(Object.hasOwn(got.value.a, 'constructor'), key).toBe(false);
      same(text);
    }
  });

  it('keeps what only looks like such a key: inside a string, or a constructor without a prototype', () => {
    const inString = '{"env":[{"name":"X","value":"{\\"__proto__\\": 1, \\"constructor\\": {\\"prototype\\": 2}}"}]}';
    expect(readJsonBody(inString)).toEqual({ value: JSON.parse(inString) });
    const plainConstructor = '{"constructor":{"name":"kept"}}';
    expect(readJsonBody(plainConstructor)).toEqual({ value: { constructor: { name: 'kept' } } });
    same(inString);
    same(plainConstructor);
  });

  it('drops a leading byte-order mark and refuses what is not JSON, with a reason', () => {
    expect(readJsonBody('\ufeff{"a":1}')).toEqual({ value: { a: 1 } });
    expect(readJsonBody('{"a":')).toEqual({ problem: expect.stringMatching(/JSON|end/i) });
    expect(readJsonBody('{"__proto__":')).toEqual({ problem: expect.any(String) });
  });

  it('reads any text as secure-json-parse does (generated bodies: keys spelt plainly and escaped, HTML escapes, broken texts)', () => {
    const key = fc.constantFrom('a', 'name', '__proto__', 'constructor', 'prototype', '\\u005f_proto__', '__pr\\u006fto__',
      '\\u0063onstructor', 'constr\\u0075ctor', 'x\\u0026y', '\\u003cb\\u003e', '__proto', 'constructors');
    const space = fc.constantFrom('', ' ', '\t', '\n', '\r\n  ');
    const str = fc.constantFrom('v', '\\"__proto__\\": 1', '\\"constructor\\":{\\"prototype\\":{}}', 'a\\u0026b', '\\u005f', '');
    const { value } = fc.letrec<{ value: string }>((tie) => ({
      value: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        str.map((s) => `"${s}"`),
        fc.constantFrom('1', '-2.5e3', 'true', 'null'),
        fc.array(tie('value'), { maxLength: 3 }).map((xs) => `[${xs.join(',')}]`),
        fc.array(fc.tuple(key, space, tie('value')), { maxLength: 4 })
          .map((es) => `{${es.map(([k, s, v]) => `"${k}"${s}:${v}`).join(',')}}`),
      ),
    }));
    const text = fc.tuple(fc.boolean(), value, fc.nat(), fc.boolean()).map(([bom, v, at, cut]) => {
      const body = cut && v.length > 1 ? v.slice(0, at % v.length) + v.slice((at % v.length) + 1) : v;
      return (bom ? '\ufeff' : '') + body;
    });
    fc.assert(fc.property(text, (t) => same(t)), { numRuns: 3000 });
  });
});
