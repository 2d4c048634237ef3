import type { ClaimsArgument, ClaimsCall, ClaimsExpression, ClaimsFunction } from './ast.js';
import { ClaimsSyntaxError } from './errors.js';
import { parseClaimKeyAt } from './key.js';
import { BACKTICK_HINT, createLexer, describeToken, type Token, type TokenType } from './lexer.js';
import { MAX_CALLS, MAX_EXPRESSION_LENGTH, MAX_NESTING_DEPTH } from './limits.js';

/** Arguments counted with the key. OneOf takes a key and at least one candidate. */
const ARITY: Readonly<Record<ClaimsFunction, { readonly min: number; readonly max: number }>> = {
  Equals: { min: 2, max: 2 },
  Prefix: { min: 2, max: 2 },
  Contains: { min: 2, max: 2 },
  SplitContains: { min: 3, max: 3 },
  OneOf: { min: 2, max: Number.POSITIVE_INFINITY },
};
const FUNCTION_NAMES = Object.keys(ARITY) as ClaimsFunction[];
const FUNCTION_LIST = `one of ${FUNCTION_NAMES.join(', ')}`;

function isFunctionName(name: string): name is ClaimsFunction {
  return Object.hasOwn(ARITY, name);
}

function describeArity(fn: ClaimsFunction): string {
  const { min, max } = ARITY[fn];
  return max === min ? `${fn} takes ${min} arguments` : `${fn} takes ${min} or more arguments`;
}

/**
 * Grammar (recursive descent, one token of lookahead, no backtracking):
 *   or      := and ("||" and)*
 *   and     := unary ("&&" unary)*
 *   unary   := "!" unary | primary
 *   primary := "(" or ")" | call
 *   call    := Name "(" string ("," string)* ")"
 */
export function parseClaimsExpression(source: string): ClaimsExpression {
  if (typeof source !== 'string') throw new TypeError('a claims expression must be a string');
  if (source.length > MAX_EXPRESSION_LENGTH) {
    throw new ClaimsSyntaxError(MAX_EXPRESSION_LENGTH, `at most ${MAX_EXPRESSION_LENGTH} characters`,
      `${source.length}`, `the expression is longer than ${MAX_EXPRESSION_LENGTH} characters`);
  }
  const nextToken = createLexer(source);
  let current = nextToken();
  let before: Token | undefined;
  let calls = 0;

  const peek = (): Token => current;
  const advance = (): void => {
    before = current;
    current = nextToken();
  };

  const fail = (token: Token, expected: string, hint?: string): never => {
    const found = describeToken(token);
    // A stray backtick splits an argument in two, which shows up as a name or string glued to the
    // previous argument's closing backtick.
    const glued = before?.type === 'string' && before.end === token.position
      && (token.type === 'name' || token.type === 'string');
    const hints = [hint, glued ? BACKTICK_HINT : undefined].filter((h) => h !== undefined);
    throw new ClaimsSyntaxError(token.position, expected, found,
      `expected ${expected} but found ${found}${hints.length > 0 ? ` (${hints.join('; ')})` : ''}`);
  };

  const expect = (type: TokenType, expected: string, hint?: string): Token => {
    const token = peek();
    if (token.type !== type) fail(token, expected, hint);
    advance();
    return token;
  };

  const checkDepth = (token: Token, depth: number): void => {
    if (depth > MAX_NESTING_DEPTH) {
      throw new ClaimsSyntaxError(token.position, `at most ${MAX_NESTING_DEPTH} levels of nesting`,
        describeToken(token), `the expression nests deeper than ${MAX_NESTING_DEPTH} levels of "(" and "!"`);
    }
  };

  const parseOr = (depth: number): ClaimsExpression => {
    const first = parseAnd(depth);
    if (peek().type !== '||') return first;
    const operands = [first];
    while (peek().type === '||') {
      advance();
      operands.push(parseAnd(depth));
    }
    const last = operands[operands.length - 1] as ClaimsExpression;
    return { kind: 'or', operands, position: first.position, end: last.end };
  };

  const parseAnd = (depth: number): ClaimsExpression => {
    const first = parseUnary(depth);
    if (peek().type !== '&&') return first;
    const operands = [first];
    while (peek().type === '&&') {
      advance();
      operands.push(parseUnary(depth));
    }
    const last = operands[operands.length - 1] as ClaimsExpression;
    return { kind: 'and', operands, position: first.position, end: last.end };
  };

  const parseUnary = (depth: number): ClaimsExpression => {
    const token = peek();
    if (token.type !== '!') return parsePrimary(depth);
    checkDepth(token, depth + 1);
    advance();
    const operand = parseUnary(depth + 1);
    return { kind: 'not', operand, position: token.position, end: operand.end };
  };

  const parsePrimary = (depth: number): ClaimsExpression => {
    const token = peek();
    if (token.type === '(') {
      checkDepth(token, depth + 1);
      advance();
      const inner = parseOr(depth + 1);
      expect(')', '"&&", "||" or ")"');
      return inner;
    }
    if (token.type === 'name') return parseCall();
    return fail(token, 'a function call, "!" or "("');
  };

  const parseCall = (): ClaimsCall => {
    const nameToken = peek();
    const name = nameToken.text;
    if (!isFunctionName(name)) {
      const differsInCase = FUNCTION_NAMES.find((fn) => fn.toLowerCase() === name.toLowerCase());
      return fail(nameToken, FUNCTION_LIST,
        differsInCase === undefined ? undefined : `function names are case-sensitive: did you mean ${differsInCase}?`);
    }
    calls++;
    if (calls > MAX_CALLS) {
      throw new ClaimsSyntaxError(nameToken.position, `at most ${MAX_CALLS} function calls`,
        describeToken(nameToken), `the expression has more than ${MAX_CALLS} function calls`);
    }
    advance();
    expect('(', '"("', `${name} is a function: ${name}(\`key\`, …)`);
    const { min, max } = ARITY[name];
    const args: ClaimsArgument[] = [];
    let close: Token;
    for (;;) {
      const arg = expect('string', 'a backtick-quoted argument');
      args.push({ value: arg.text, position: arg.position });
      const count = args.length;
      if (count < min) {
        expect(',', '","', describeArity(name));
      } else if (count >= max) {
        close = expect(')', '")"', describeArity(name));
        break;
      } else if (peek().type === ')') {
        close = peek();
        advance();
        break;
      } else {
        expect(',', '"," or ")"');
      }
    }
    const [keyArg, ...rest] = args as [ClaimsArgument, ...ClaimsArgument[]];
    const key = parseClaimKeyAt(keyArg.value, keyArg.position + 1);
    if (name === 'SplitContains' && rest[0]?.value === '') {
      throw new ClaimsSyntaxError(rest[0].position, 'a non-empty separator', 'an empty one',
        'expected a non-empty separator as the second argument of SplitContains but found ``');
    }
    return { kind: 'call', fn: name, key, keyPosition: keyArg.position, args: rest,
      position: nameToken.position, end: close.end };
  };

  const expression = parseOr(0);
  expect('end', '"&&", "||" or the end of the expression');
  return expression;
}
