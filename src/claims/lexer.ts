import { ClaimsSyntaxError } from './errors.js';

export type TokenType = 'name' | 'string' | '(' | ')' | ',' | '!' | '&&' | '||' | 'end';

export interface Token {
  readonly type: TokenType;
  /** The identifier, or the string's content without its backticks. */
  readonly text: string;
  readonly position: number;
  readonly end: number;
}

const ANY_TOKEN = 'a function name, "!", "(", ")", ",", "&&", "||" or a backtick-quoted argument';
export const BACKTICK_HINT = 'an argument is quoted with backticks and cannot contain one';

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function isNameStart(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

function isNamePart(c: number): boolean {
  return isNameStart(c) || (c >= 0x30 && c <= 0x39) || c === 0x5f;
}

/** How a token is named in an error message; strings are shortened so messages stay one line. */
export function describeToken(token: Token): string {
  switch (token.type) {
    case 'end':
      return 'the end of the expression';
    case 'string': {
      const shown = token.text.length > 20 ? `${token.text.slice(0, 20)}…` : token.text;
      return `the argument \`${shown}\``;
    }
    case 'name':
      return `"${token.text}"`;
    default:
      return `"${token.type}"`;
  }
}

function describeChar(source: string, position: number): string {
  const code = source.codePointAt(position) ?? 0;
  if (code < 0x20 || code === 0x7f) return `the control character U+${code.toString(16).padStart(4, '0')}`;
  return `"${String.fromCodePoint(code)}"`;
}

/**
 * Hands out tokens on demand, so an error early in the source is reported before anything later
 * is looked at. One pass, no backtracking: each character is read a bounded number of times.
 */
export function createLexer(source: string): () => Token {
  let i = 0;
  return () => {
    while (i < source.length) {
      const c = source.charCodeAt(i);
      if (isSpace(c)) {
        i++;
        continue;
      }
      const start = i;
      if (isNameStart(c)) {
        while (i < source.length && isNamePart(source.charCodeAt(i))) i++;
        return { type: 'name', text: source.slice(start, i), position: start, end: i };
      }
      switch (c) {
        case 0x60: {
          const close = source.indexOf('`', start + 1);
          if (close === -1) {
            throw new ClaimsSyntaxError(start, 'a closing "`"', 'the end of the expression',
              `unterminated argument: expected a closing "\`" for the one opened here (${BACKTICK_HINT})`);
          }
          i = close + 1;
          return { type: 'string', text: source.slice(start + 1, close), position: start, end: i };
        }
        case 0x28:
        case 0x29:
        case 0x2c:
        case 0x21: {
          const type = source[i] as '(' | ')' | ',' | '!';
          i++;
          return { type, text: type, position: start, end: i };
        }
        case 0x26:
        case 0x7c: {
          const pair = c === 0x26 ? '&&' : '||';
          if (source[i + 1] !== pair[0]) {
            throw new ClaimsSyntaxError(start, `"${pair}"`, `a single "${pair[0]}"`);
          }
          i += 2;
          return { type: pair, text: pair, position: start, end: i };
        }
        default:
          throw new ClaimsSyntaxError(start, ANY_TOKEN, describeChar(source, start));
      }
    }
    return { type: 'end', text: '', position: source.length, end: source.length };
  };
}
