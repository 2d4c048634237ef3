import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ClaimsSyntaxError,
  MAX_CALLS,
  MAX_EXPRESSION_LENGTH,
  MAX_NESTING_DEPTH,
  compileClaims,
  parseClaimsExpression,
  printClaimsExpression,
  type ClaimsExpression,
  type ClaimSources,
} from '../../src/claims/index.js';

// A test-side model of expressions, generated directly and written out as source with random
// whitespace and redundant parentheses; the reference interpreter below evaluates the model.
type Fn = 'Equals' | 'Prefix' | 'Contains' | 'SplitContains' | 'OneOf';
type Model =
  | { kind: 'call'; fn: Fn; token: 'id_token' | 'access_token' | undefined; path: string[]; args: string[] }
  | { kind: 'not'; operand: Model }
  | { kind: 'and' | 'or'; operands: Model[] };

// Small pools so that generated keys and values often meet the generated claims.
const SEGMENTS = ['a', 'b', 'x.y', 'p\\q', '0', '1'];
const WORDS = ['a', 'b', 'a b', 'a,b', 'x.y', 'true', '1', '1.5', 'null', ''];
const SEPARATORS = [' ', ',', '.', 'a'];

const argWord = fc.constantFrom(...WORDS);
const callModel: fc.Arbitrary<Model> = fc.record({
  fn: fc.constantFrom<Fn>('Equals', 'Prefix', 'Contains', 'SplitContains', 'OneOf'),
  token: fc.constantFrom(undefined, 'id_token' as const, 'access_token' as const),
  path: fc.array(fc.constantFrom(...SEGMENTS), { minLength: 1, maxLength: 3 }),
  value: argWord,
  separator: fc.constantFrom(...SEPARATORS),
  more: fc.array(argWord, { maxLength: 3 }),
}).map(({ fn, token, path, value, separator, more }) => ({
  kind: 'call' as const,
  fn,
  token,
  path,
  args: fn === 'SplitContains' ? [separator, value] : fn === 'OneOf' ? [value, ...more] : [value],
}));

const modelArb: fc.Arbitrary<Model> = fc.letrec<{ node: Model }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    callModel,
    tie('node').map((operand) => ({ kind: 'not' as const, operand })),
    fc.record({ kind: fc.constantFrom('and' as const, 'or' as const), operands: fc.array(tie('node'), { minLength: 2, maxLength: 4 }) }),
  ),
})).node;

const claimValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom(...WORDS),
    fc.constantFrom(0, 1, 1.5, -0, true, false, null),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom(...SEGMENTS), tie('value'), { maxKeys: 3 }),
  ),
})).value;
const claimSet = fc.dictionary(fc.constantFrom(...SEGMENTS), claimValue, { maxKeys: 5 });
const sourcesArb: fc.Arbitrary<ClaimSources> = fc.record({ idToken: claimSet, accessToken: fc.option(claimSet, { nil: undefined }) });

function escapeSegment(segment: string): string {
  return segment.replaceAll('\\', '\\\\').replaceAll('.', '\\.');
}

function rawKey(model: Extract<Model, { kind: 'call' }>): string {
  return [...(model.token === undefined ? [] : [model.token]), ...model.path.map(escapeSegment)].join('.');
}

/** Writes a model as source; `noise` supplies whitespace and decides on redundant parentheses. */
function writeModel(model: Model, noise: () => number): string {
  const ws = (): string => [' ', '', '', '\n', '\t', '  '][noise() % 6] as string;
  const paren = (text: string, needed: boolean): string => needed || noise() % 5 === 0 ? `(${ws()}${text}${ws()})` : text;
  switch (model.kind) {
    case 'call':
      return `${model.fn}${ws()}(${[rawKey(model), ...model.args].map((a) => `${ws()}\`${a}\`${ws()}`).join(',')})`;
    case 'not':
      return `!${ws()}${paren(writeModel(model.operand, noise), model.operand.kind === 'and' || model.operand.kind === 'or')}`;
    case 'and':
      return model.operands.map((o) => paren(writeModel(o, noise), o.kind === 'and' || o.kind === 'or')).join(`${ws()}&&${ws()}`);
    case 'or':
      return model.operands.map((o) => paren(writeModel(o, noise), o.kind === 'or')).join(`${ws()}||${ws()}`);
  }
}

function nesting(model: Model): number {
  switch (model.kind) {
    case 'call':
      return 0;
    case 'not':
      return 1 + nesting(model.operand) + (model.operand.kind === 'and' || model.operand.kind === 'or' ? 1 : 0);
    default:
      return 1 + Math.max(...model.operands.map(nesting));
  }
}

function countCalls(model: Model): number {
  return model.kind === 'call' ? 1 : model.kind === 'not' ? countCalls(model.operand) : model.operands.reduce((n, o) => n + countCalls(o), 0);
}

/** The parsed tree in the model's shape: positions and raw keys dropped. */
function toModel(node: ClaimsExpression): Model {
  switch (node.kind) {
    case 'call':
      return { kind: 'call', fn: node.fn, token: node.key.token, path: [...node.key.path], args: node.args.map((a) => a.value) };
    case 'not':
      return { kind: 'not', operand: toModel(node.operand) };
    default:
      return { kind: node.kind, operands: node.operands.map(toModel) };
  }
}

/** Structure, raw keys and argument values, without positions. */
function withoutPositions(node: ClaimsExpression): unknown {
  switch (node.kind) {
    case 'call':
      return [node.fn, node.key, node.args.map((a) => a.value)];
    case 'not':
      return ['!', withoutPositions(node.operand)];
    default:
      return [node.kind, node.operands.map(withoutPositions)];
  }
}

// ---- the reference interpreter: written for obviousness, not speed ----
function refString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value === true) return 'true';
  if (value === false) return 'false';
  if (typeof value === 'number') return String(value);
  return undefined;
}

function refLookup(claims: unknown, path: readonly string[]): unknown {
  let current = claims;
  for (const segment of path) {
    if (Array.isArray(current)) {
      if (!/^(0|[1-9][0-9]*)$/.test(segment) || Number(segment) >= current.length) return undefined;
      current = current[Number(segment)];
    } else if (typeof current === 'object' && current !== null && Object.hasOwn(current, segment)) {
      current = (current as Record<string, unknown>)[segment];
    } else {
      return undefined;
    }
  }
  return current;
}

function refEvaluate(model: Model, sources: ClaimSources): boolean {
  switch (model.kind) {
    case 'not':
      return !refEvaluate(model.operand, sources);
    case 'and':
      return model.operands.every((o) => refEvaluate(o, sources));
    case 'or':
      return model.operands.some((o) => refEvaluate(o, sources));
    case 'call':
      return refCall(model, sources);
  }
}

function refCall(model: Extract<Model, { kind: 'call' }>, sources: ClaimSources): boolean {
  const claims = model.token === 'access_token' ? sources.accessToken : sources.idToken;
  const value = refLookup(claims, model.path);
  const text = refString(value);
  const [a = '', b = ''] = model.args;
  switch (model.fn) {
    case 'Equals':
      return text === a;
    case 'Prefix':
      return text !== undefined && text.startsWith(a);
    case 'Contains':
      return Array.isArray(value) ? value.some((e) => refString(e) === a) : text !== undefined && text.includes(a);
    case 'SplitContains':
      return !Array.isArray(value) && text !== undefined && text.split(a).includes(b);
    case 'OneOf':
      return Array.isArray(value)
        ? value.some((e) => { const t = refString(e); return t !== undefined && model.args.includes(t); })
        : text !== undefined && model.args.includes(text);
  }
}

const noiseArb = fc.array(fc.nat(), { minLength: 1, maxLength: 50 }).map((values) => {
  let i = 0;
  return () => values[i++ % values.length] as number;
});

function withinLimits(model: Model, source: string): boolean {
  return source.length <= MAX_EXPRESSION_LENGTH && countCalls(model) <= MAX_CALLS && nesting(model) <= MAX_NESTING_DEPTH / 2;
}

describe('properties', () => {
  it('parses a written expression back to the tree it was written from', () => {
    fc.assert(fc.property(modelArb, noiseArb, (model, noise) => {
      const source = writeModel(model, noise);
      fc.pre(withinLimits(model, source));
      expect(toModel(parseClaimsExpression(source))).toEqual(model);
    }), { numRuns: 500 });
  });

  it('prints a tree that re-parses to the same tree, and is no longer than its source', () => {
    fc.assert(fc.property(modelArb, noiseArb, (model, noise) => {
      const source = writeModel(model, noise);
      fc.pre(withinLimits(model, source));
      const ast = parseClaimsExpression(source);
      const printed = printClaimsExpression(ast);
      expect(printed.length).toBeLessThanOrEqual(source.length);
      const reparsed = parseClaimsExpression(printed);
      expect(withoutPositions(reparsed)).toEqual(withoutPositions(ast));
      expect(printClaimsExpression(reparsed)).toBe(printed);
    }), { numRuns: 500 });
  });

  it('points every call, key and argument position at its text in the source', () => {
    fc.assert(fc.property(modelArb, noiseArb, (model, noise) => {
      const source = writeModel(model, noise);
      fc.pre(withinLimits(model, source));
      const visit = (node: ClaimsExpression): void => {
        expect(node.position).toBeLessThan(node.end);
        if (node.kind === 'call') {
          expect(source.startsWith(node.fn, node.position)).toBe(true);
          expect(source.startsWith(`\`${node.key.raw}\``, node.keyPosition)).toBe(true);
          for (const arg of node.args) expect(source.startsWith(`\`${arg.value}\``, arg.position)).toBe(true);
          expect(source[node.end - 1]).toBe(')');
        } else if (node.kind === 'not') {
          expect(source[node.position]).toBe('!');
          visit(node.operand);
        } else {
          node.operands.forEach(visit);
        }
      };
      visit(parseClaimsExpression(source));
    }), { numRuns: 300 });
  });

  it('evaluates and explains exactly as the reference interpreter on random claims', () => {
    // Counted so the test fails if the generators drift into producing only one outcome.
    const outcomes = { true: 0, false: 0 };
    fc.assert(fc.property(modelArb, noiseArb, fc.array(sourcesArb, { minLength: 1, maxLength: 5 }), (model, noise, claimSets) => {
      const source = writeModel(model, noise);
      fc.pre(withinLimits(model, source));
      const compiled = compileClaims(source);
      for (const sources of claimSets) {
        const expected = refEvaluate(model, sources);
        outcomes[String(expected) as 'true' | 'false']++;
        expect(compiled.evaluate(sources)).toBe(expected);
        expect(compiled.explain(sources)[0]).toBe(String(expected));
      }
    }), { numRuns: 1000 });
    expect(outcomes.true).toBeGreaterThan(300);
    expect(outcomes.false).toBeGreaterThan(300);
  });
});

const FRAGMENTS = [
  'Equals', 'Prefix', 'Contains', 'SplitContains', 'OneOf', 'equals', 'X', '(', ')', ',', '!', '&&', '||', '&', '|',
  '`a`', '`a.b`', '`a\\.b`', '`a\\x`', '`\\`', '`', '``', '` `', ' ', '\n', '.', '\\', '#', '\u0000', '\u{1F600}',
];
const soup = fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 60 }).map((parts) => parts.join(''));

function checkNeverCrashes(source: string, sources: ClaimSources): void {
  let compiled;
  try {
    compiled = compileClaims(source);
  } catch (error) {
    expect(error).toBeInstanceOf(ClaimsSyntaxError);
    const { position, message } = error as ClaimsSyntaxError;
    expect(Number.isInteger(position)).toBe(true);
    expect(position).toBeGreaterThanOrEqual(0);
    expect(position).toBeLessThanOrEqual(Math.min(source.length, MAX_EXPRESSION_LENGTH));
    expect(message.startsWith(`at column ${position + 1}: `)).toBe(true);
    return;
  }
  expect(source.length).toBeLessThanOrEqual(MAX_EXPRESSION_LENGTH);
  expect(typeof compiled.evaluate(sources)).toBe('boolean');
  expect(compiled.explain(sources)[0]).toMatch(/^(true|false)$/);
}

describe('hostile input', () => {
  const anySources = { idToken: { a: 'a', 'a.b': ['x'] }, accessToken: undefined };

  it('random strings only ever fail with a positioned ClaimsSyntaxError', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (s) => checkNeverCrashes(s, anySources)), { numRuns: 1000 });
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => checkNeverCrashes(s, anySources)), { numRuns: 1000 });
  });

  it('random token soup only ever fails with a positioned ClaimsSyntaxError', () => {
    fc.assert(fc.property(soup, (s) => checkNeverCrashes(s, anySources)), { numRuns: 3000 });
  });

  it('random nesting of "(" and "!" parses exactly when it stays within the depth limit', () => {
    fc.assert(fc.property(fc.array(fc.constantFrom('(', '!'), { maxLength: 200 }), (openers) => {
      const closers = openers.filter((o) => o === '(').map(() => ')').join('');
      const source = `${openers.join('')}Equals(\`a\`,\`a\`)${closers}`;
      if (openers.length <= MAX_NESTING_DEPTH) {
        expect(compileClaims(source).evaluate(anySources)).toBe(openers.filter((o) => o === '!').length % 2 === 0);
      } else {
        expect(() => parseClaimsExpression(source)).toThrow(ClaimsSyntaxError);
      }
    }), { numRuns: 500 });
  });

  it('huge inputs of every shape are rejected at the length limit', () => {
    for (const unit of ['(', '!', '`', 'a', ' ', 'Equals(`a`,`b`)&&', '\\']) {
      const error = (() => { try { parseClaimsExpression(unit.repeat(1_000_000)); } catch (e) { return e; } return undefined; })();
      expect(error, unit).toBeInstanceOf(ClaimsSyntaxError);
      expect((error as ClaimsSyntaxError).position).toBe(MAX_EXPRESSION_LENGTH);
    }
  });

  it('parses and evaluates the largest allowed inputs', () => {
    const longArg = `Contains(\`a\`,\`${'x'.repeat(MAX_EXPRESSION_LENGTH - 16)}\`)`;
    expect(longArg.length).toBe(MAX_EXPRESSION_LENGTH);
    expect(compileClaims(longArg).evaluate({ idToken: { a: 'x'.repeat(100_000) }, accessToken: undefined })).toBe(true);
    const oneOf = `OneOf(\`a\`${',`v`'.repeat(1000)})`;
    expect(compileClaims(oneOf).evaluate({ idToken: { a: Array.from({ length: 10_000 }, () => 'w') }, accessToken: undefined })).toBe(false);
  });
});
