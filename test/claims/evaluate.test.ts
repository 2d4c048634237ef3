import { describe, expect, it } from 'vitest';
import { claimToString, compileClaims, type ClaimSources } from '../../src/claims/index.js';

const idOnly = (idToken: Record<string, unknown>): ClaimSources => ({ idToken, accessToken: undefined });
const holds = (expression: string, sources: ClaimSources): boolean => compileClaims(expression).evaluate(sources);

describe('claimToString', () => {
  it('gives strings, booleans and numbers their string form', () => {
    expect(claimToString('x')).toBe('x');
    expect(claimToString(true)).toBe('true');
    expect(claimToString(false)).toBe('false');
    expect(claimToString(42)).toBe('42');
    expect(claimToString(1.5)).toBe('1.5');
    expect(claimToString(1e21)).toBe('1e+21');
    expect(claimToString(-0)).toBe('0');
  });

  it('gives null, objects, arrays and undefined no string form', () => {
    for (const value of [null, undefined, {}, [], ['a'], { a: 1 }]) expect(claimToString(value)).toBeUndefined();
  });
});

describe('evaluating functions', () => {
  const claims = idOnly({
    s: 'alpha beta', n: 42, f: 1.5, t: true, z: null, o: { a: 'x' }, arr: ['a', 7, true, null, { a: 'x' }, ['b']],
    csv: 'a,b,,c',
  });

  it('compares scalars by their string form', () => {
    expect(holds('Equals(`n`, `42`)', claims)).toBe(true);
    expect(holds('Equals(`f`, `1.5`)', claims)).toBe(true);
    expect(holds('Equals(`t`, `true`)', claims)).toBe(true);
    expect(holds('Prefix(`n`, `4`)', claims)).toBe(true);
    expect(holds('Contains(`t`, `ru`)', claims)).toBe(true);
    expect(holds('OneOf(`n`, `1`, `42`)', claims)).toBe(true);
    expect(holds('Equals(`n`, `42.0`)', claims)).toBe(false);
  });

  it('treats null like a missing claim', () => {
    expect(holds('Equals(`z`, `null`)', claims)).toBe(false);
    expect(holds('Contains(`z`, ``)', claims)).toBe(false);
    expect(holds('Contains(`arr`, `null`)', claims)).toBe(false);
  });

  it('never matches an object, whatever the function', () => {
    for (const fn of ['Equals(`o`, `[object Object]`)', 'Contains(`o`, `a`)', 'Prefix(`o`, ``)', 'OneOf(`o`, `a`, `x`)', 'SplitContains(`o`, `,`, `a`)']) {
      expect(holds(fn, claims), fn).toBe(false);
    }
  });

  it('matches Contains on an array by element string form, never by substring', () => {
    expect(holds('Contains(`arr`, `a`)', claims)).toBe(true);
    expect(holds('Contains(`arr`, `7`)', claims)).toBe(true);
    expect(holds('Contains(`arr`, `true`)', claims)).toBe(true);
    expect(holds('Contains(`arr`, `b`)', claims)).toBe(false);
    expect(holds('Contains(`arr`, ``)', claims)).toBe(false);
  });

  it('matches Contains on a string by substring', () => {
    expect(holds('Contains(`s`, `ha be`)', claims)).toBe(true);
    expect(holds('Contains(`s`, ``)', claims)).toBe(true);
    expect(holds('Contains(`s`, `gamma`)', claims)).toBe(false);
  });

  it('matches OneOf on an array by any element and on a scalar by equality', () => {
    expect(holds('OneOf(`arr`, `q`, `7`)', claims)).toBe(true);
    expect(holds('OneOf(`s`, `alpha`, `alpha beta`)', claims)).toBe(true);
    expect(holds('OneOf(`s`, `alpha`, `beta`)', claims)).toBe(false);
  });

  it('compares Equals and Prefix on an array as false', () => {
    expect(holds('Equals(`arr`, `a`)', claims)).toBe(false);
    expect(holds('Prefix(`arr`, `a`)', claims)).toBe(false);
    expect(holds('SplitContains(`arr`, `,`, `a`)', claims)).toBe(false);
  });

  it('splits SplitContains on the whole separator, keeping empty parts', () => {
    expect(holds('SplitContains(`csv`, `,`, `c`)', claims)).toBe(true);
    expect(holds('SplitContains(`csv`, `,`, ``)', claims)).toBe(true);
    expect(holds('SplitContains(`csv`, `,`, `a,b`)', claims)).toBe(false);
    expect(holds('SplitContains(`s`, `ph`, `a beta`)', claims)).toBe(true);
  });

  it('reads array elements by index', () => {
    expect(holds('Equals(`arr.1`, `7`)', claims)).toBe(true);
    expect(holds('Contains(`arr.5`, `b`)', claims)).toBe(true);
  });
});

describe('totality', () => {
  it('is false for missing keys, wrong types and an absent access token, and never throws', () => {
    const compiled = compileClaims('Equals(`access_token.grp`, `a`) || Contains(`missing.deep.key`, `x`) || SplitContains(`arr`, ` `, `1`) || OneOf(`o.a.b`, `x`)');
    expect(compiled.evaluate({ idToken: { arr: [1], o: { a: 'x' } }, accessToken: undefined })).toBe(false);
    expect(compiled.evaluate({ idToken: {}, accessToken: {} })).toBe(false);
  });

  it('lets ! turn an unsatisfied call true, so a negated absent claim holds', () => {
    expect(holds('!Equals(`access_token.grp`, `admin`)', idOnly({ grp: 'admin' }))).toBe(true);
  });

  it('is false rather than throwing when the sources are not claim objects', () => {
    const compiled = compileClaims('Equals(`a`, `b`)');
    expect(compiled.evaluate(undefined as unknown as ClaimSources)).toBe(false);
    expect(compiled.evaluate({ idToken: 'nope', accessToken: 7 } as unknown as ClaimSources)).toBe(false);
    expect(compiled.evaluate({ idToken: ['b'], accessToken: undefined } as unknown as ClaimSources)).toBe(false);
    expect(compiled.explain(undefined as unknown as ClaimSources)).toEqual(['false']);
  });
});

describe('compileClaims', () => {
  it('keeps the source and the tree', () => {
    const compiled = compileClaims('Equals(`a`, `b`)');
    expect(compiled.source).toBe('Equals(`a`, `b`)');
    expect(compiled.ast.kind).toBe('call');
    expect(Object.isFrozen(compiled)).toBe(true);
  });

  it('lists each referenced key once, in source order, telling tokens apart', () => {
    const compiled = compileClaims('Equals(`b`, `1`) && (Equals(`a`, `1`) || !Prefix(`b`, `2`)) && Equals(`id_token.a`, `3`) && Equals(`access_token.a`, `4`)');
    expect(compiled.referencedKeys.map((k) => k.raw)).toEqual(['b', 'a', 'access_token.a']);
  });

  it('explains every sub-expression with its value, indented by depth, without claim values', () => {
    const compiled = compileClaims('(Equals(`grp`, `admin`) && !Equals(`active`, `false`)) || OneOf(`access_token.areas`, `lab`)');
    const lines = compiled.explain(idOnly({ grp: 'admin', active: true, secret: 'hunter2' }));
    expect(lines).toEqual([
      'true',
      'true  ||',
      '  true  &&',
      '    true  Equals(`grp`, `admin`)  [string]',
      '    true  !',
      '      false Equals(`active`, `false`)  [boolean]',
      '  false OneOf(`access_token.areas`, `lab`)  [no access token]',
    ]);
  });

  it('describes missing, null and array claims in the explanation', () => {
    const lines = compileClaims('Equals(`a`, `x`) || Equals(`b`, `x`) || Contains(`c`, `x`)').explain(idOnly({ b: null, c: ['y', 'z'] }));
    expect(lines.slice(2)).toEqual([
      '  false Equals(`a`, `x`)  [missing]',
      '  false Equals(`b`, `x`)  [null]',
      '  false Contains(`c`, `x`)  [array of 2]',
    ]);
  });

  it('explains and evaluates to the same result', () => {
    const compiled = compileClaims('Equals(`a`, `1`) && !Equals(`b`, `2`)');
    for (const idToken of [{ a: '1' }, { a: '1', b: '2' }, {}]) {
      expect(compiled.explain(idOnly(idToken))[0]).toBe(String(compiled.evaluate(idOnly(idToken))));
    }
  });
});
