import { describe, expect, it } from 'vitest';
import {
  ClaimsSyntaxError,
  MAX_CALLS,
  MAX_EXPRESSION_LENGTH,
  MAX_NESTING_DEPTH,
  parseClaimsExpression,
  printClaimsExpression,
  type ClaimsExpression,
} from '../../src/claims/index.js';

function syntaxErrorOf(source: string): ClaimsSyntaxError {
  try {
    parseClaimsExpression(source);
  } catch (error) {
    expect(error).toBeInstanceOf(ClaimsSyntaxError);
    return error as ClaimsSyntaxError;
  }
  throw new Error(`expected ${JSON.stringify(source)} not to parse`);
}

/** The tree as a compact string: calls by their key, operators in prefix form. */
function shape(node: ClaimsExpression): string {
  switch (node.kind) {
    case 'call':
      return node.key.raw;
    case 'not':
      return `!${shape(node.operand)}`;
    default:
      return `${node.kind}(${node.operands.map(shape).join(' ')})`;
  }
}

const e = (key: string): string => `Equals(\`${key}\`, \`v\`)`;

describe('parsing', () => {
  it('binds ! tighter than && and && tighter than ||', () => {
    expect(shape(parseClaimsExpression(`${e('a')} || ${e('b')} && !${e('c')}`))).toBe('or(a and(b !c))');
    expect(shape(parseClaimsExpression(`!${e('a')} && ${e('b')} || ${e('c')}`))).toBe('or(and(!a b) c)');
  });

  it('lets parentheses override precedence and keeps their grouping in the tree', () => {
    expect(shape(parseClaimsExpression(`(${e('a')} || ${e('b')}) && ${e('c')}`))).toBe('and(or(a b) c)');
    expect(shape(parseClaimsExpression(`!(${e('a')} || ${e('b')})`))).toBe('!or(a b)');
    expect(shape(parseClaimsExpression(`${e('a')} && (${e('b')} && ${e('c')})`))).toBe('and(a and(b c))');
    expect(shape(parseClaimsExpression(`((${e('a')}))`))).toBe('a');
  });

  it('reads chains of one operator as one n-ary node', () => {
    expect(shape(parseClaimsExpression(`${e('a')}&&${e('b')}&&${e('c')}`))).toBe('and(a b c)');
    expect(shape(parseClaimsExpression(`${e('a')}||${e('b')}||${e('c')}`))).toBe('or(a b c)');
  });

  it('allows any whitespace between tokens and none at all', () => {
    const spaced = parseClaimsExpression(' \tOneOf ( `areas` ,\n`a` , `b` )\r\n&& ! Equals(`x`,`y`) ');
    const tight = parseClaimsExpression('OneOf(`areas`,`a`,`b`)&&!Equals(`x`,`y`)');
    expect(printClaimsExpression(spaced)).toBe(printClaimsExpression(tight));
  });

  it('records source positions of calls, keys and arguments', () => {
    const source = '!Equals(`grp`, `admin`) || SplitContains(`scope`, ` `, `w`)';
    const ast = parseClaimsExpression(source);
    if (ast.kind !== 'or') throw new Error('expected an or');
    const [not, split] = ast.operands;
    if (not?.kind !== 'not' || not.operand.kind !== 'call' || split?.kind !== 'call') throw new Error('unexpected shape');
    expect(not.position).toBe(0);
    expect(not.operand.position).toBe(1);
    expect(not.operand.keyPosition).toBe(8);
    expect(not.operand.args).toEqual([{ value: 'admin', position: 15 }]);
    expect(not.operand.end).toBe(23);
    expect(split.position).toBe(27);
    expect(split.args.map((a) => source[a.position])).toEqual(['`', '`']);
    expect(split.end).toBe(source.length);
    expect(ast.position).toBe(0);
    expect(ast.end).toBe(source.length);
  });

  it('prints the canonical form without whitespace or redundant parentheses', () => {
    const ast = parseClaimsExpression(' ( Equals(`a`, `1`) ) || !( Prefix(`b`,`2`) && Contains(`c`, `3`) ) ');
    expect(printClaimsExpression(ast)).toBe('Equals(`a`,`1`)||!(Prefix(`b`,`2`)&&Contains(`c`,`3`))');
  });
});

describe('syntax errors', () => {
  it('name the column, what was expected and what was found', () => {
    const error = syntaxErrorOf('Equals(`a`, `b` && Equals(`c`, `d`)');
    expect(error.position).toBe(16);
    expect(error.expected).toBe('")"');
    expect(error.message).toBe('at column 17: expected ")" but found "&&" (Equals takes 2 arguments)');
  });

  it.each([
    ['Equals(`a`)', 10, '","'],
    ['Equals(`a`, `b`, `c`)', 15, '")"'],
    ['Prefix(`a`)', 10, '","'],
    ['Contains(`a`, `b`, `c`)', 17, '")"'],
    ['SplitContains(`a`, ` `)', 22, '","'],
    ['SplitContains(`a`, ` `, `b`, `c`)', 27, '")"'],
    ['OneOf(`a`)', 9, '","'],
    ['Equals()', 7, 'a backtick-quoted argument'],
  ])('reports a wrong number of arguments in %s at column %i + 1', (source, position, expected) => {
    const error = syntaxErrorOf(source);
    expect(error.position).toBe(position);
    expect(error.expected).toBe(expected);
  });

  it('accepts OneOf with any number of candidates', () => {
    const ast = parseClaimsExpression('OneOf(`k`, `a`, `b`, `c`, `d`)');
    expect(ast.kind === 'call' && ast.args.map((a) => a.value)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('treats function names as case-sensitive and says so', () => {
    const error = syntaxErrorOf('Equals(`a`, `b`) && oneOf(`a`, `b`)');
    expect(error.position).toBe(20);
    expect(error.message).toContain('case-sensitive: did you mean OneOf?');
    expect(syntaxErrorOf('Nope(`a`, `b`)').expected).toBe('one of Equals, Prefix, Contains, SplitContains, OneOf');
  });

  it('explains that a backtick cannot appear inside an argument', () => {
    const stray = syntaxErrorOf('Equals(`a`b`, `c`)');
    expect(stray.position).toBe(10);
    expect(stray.message).toContain('cannot contain one');
    const unterminated = syntaxErrorOf('Equals(`a`, `b)');
    expect(unterminated.position).toBe(12);
    expect(unterminated.message).toContain('cannot contain one');
  });

  it.each([
    ['', 0, 'a function call, "!" or "("'],
    ['   ', 3, 'a function call, "!" or "("'],
    ['Equals(`a`, `b`) Equals(`c`, `d`)', 17, '"&&", "||" or the end of the expression'],
    ['(Equals(`a`, `b`)', 17, '"&&", "||" or ")"'],
    ['Equals(`a`, `b`))', 16, '"&&", "||" or the end of the expression'],
    ['Equals(`a`, `b`) & Equals(`c`, `d`)', 17, '"&&"'],
    ['Equals(`a`, `b`) | Equals(`c`, `d`)', 17, '"||"'],
    ['Equals(`a`, `b`) && ', 20, 'a function call, "!" or "("'],
    ['Equals `a`, `b`)', 7, '"("'],
    ['Equals(`a` `b`)', 11, '","'],
    ['Equals(a, `b`)', 7, 'a backtick-quoted argument'],
    ['Equals(`a`, `b`) # comment', 17, 'a function name, "!", "(", ")", ",", "&&", "||" or a backtick-quoted argument'],
    ['SplitContains(`a`, ``, `b`)', 19, 'a non-empty separator'],
  ])('%j fails at offset %i expecting %s', (source, position, expected) => {
    const error = syntaxErrorOf(source);
    expect(error.position).toBe(position);
    expect(error.expected).toBe(expected);
    expect(error.message.startsWith(`at column ${position + 1}: `)).toBe(true);
  });

  it('reports errors inside a key at their position in the expression', () => {
    expect(syntaxErrorOf('Equals(`a\\x`, `b`)').position).toBe(9);
    expect(syntaxErrorOf('Equals(`a..b`, `b`)').position).toBe(10);
    expect(syntaxErrorOf('Equals(`a.`, `b`)').position).toBe(10);
    expect(syntaxErrorOf('Equals(``, `b`)').position).toBe(8);
  });

  it('names control characters instead of printing them', () => {
    expect(syntaxErrorOf('Equals(`a`, `b`)\u0000').found).toBe('the control character U+0000');
  });
});

describe('limits', () => {
  const call = 'Equals(`a`,`b`)';

  it(`accepts ${MAX_EXPRESSION_LENGTH} characters and rejects one more at that offset`, () => {
    const fits = call + ' '.repeat(MAX_EXPRESSION_LENGTH - call.length);
    expect(() => parseClaimsExpression(fits)).not.toThrow();
    const error = syntaxErrorOf(`${fits} `);
    expect(error.position).toBe(MAX_EXPRESSION_LENGTH);
    expect(error.message).toContain(`longer than ${MAX_EXPRESSION_LENGTH} characters`);
  });

  it(`accepts ${MAX_NESTING_DEPTH} levels of parentheses and rejects the next one where it opens`, () => {
    const nest = (n: number): string => '('.repeat(n) + call + ')'.repeat(n);
    expect(() => parseClaimsExpression(nest(MAX_NESTING_DEPTH))).not.toThrow();
    const error = syntaxErrorOf(nest(MAX_NESTING_DEPTH + 1));
    expect(error.position).toBe(MAX_NESTING_DEPTH);
    expect(error.message).toContain('nests deeper');
  });

  it('counts ! and parentheses together as nesting', () => {
    expect(() => parseClaimsExpression('!'.repeat(MAX_NESTING_DEPTH) + call)).not.toThrow();
    expect(syntaxErrorOf('!'.repeat(MAX_NESTING_DEPTH + 1) + call).position).toBe(MAX_NESTING_DEPTH);
    const half = MAX_NESTING_DEPTH / 2;
    expect(syntaxErrorOf('!('.repeat(half) + '!' + call + ')'.repeat(half)).position).toBe(MAX_NESTING_DEPTH);
  });

  it('rejects pathological nesting quickly without overflowing the stack', () => {
    expect(syntaxErrorOf('('.repeat(100_000)).position).toBe(MAX_EXPRESSION_LENGTH);
    expect(syntaxErrorOf('('.repeat(MAX_EXPRESSION_LENGTH)).position).toBe(MAX_NESTING_DEPTH);
  });

  it(`accepts ${MAX_CALLS} calls and rejects the next one at its name`, () => {
    const calls = (n: number): string => Array.from({ length: n }, () => call).join('||');
    expect(() => parseClaimsExpression(calls(MAX_CALLS))).not.toThrow();
    const error = syntaxErrorOf(calls(MAX_CALLS + 1));
    expect(error.position).toBe(MAX_CALLS * (call.length + 2));
    expect(error.message).toContain(`more than ${MAX_CALLS} function calls`);
  });
});
