/** The AST of a claims expression. Positions are 0-based offsets into the source; `end` is exclusive. */

export type ClaimsFunction = 'Equals' | 'Prefix' | 'Contains' | 'SplitContains' | 'OneOf';

export interface ClaimKey {
  /** The key exactly as written, escapes included. */
  readonly raw: string;
  /** Which token the key names explicitly; undefined means the default (the ID token). */
  readonly token: 'id_token' | 'access_token' | undefined;
  /** Unescaped segments, the token prefix removed. */
  readonly path: readonly string[];
}

export interface ClaimsArgument {
  readonly value: string;
  /** Offset of the opening backtick. */
  readonly position: number;
}

export interface ClaimsCall {
  readonly kind: 'call';
  readonly fn: ClaimsFunction;
  readonly key: ClaimKey;
  /** Offset of the key's opening backtick. */
  readonly keyPosition: number;
  /** The arguments after the key: `[value]`, `[separator, value]` for SplitContains, the candidates for OneOf. */
  readonly args: readonly ClaimsArgument[];
  readonly position: number;
  readonly end: number;
}

export interface ClaimsNot {
  readonly kind: 'not';
  readonly operand: ClaimsExpression;
  readonly position: number;
  readonly end: number;
}

/** `&&` and `||` chains are n-ary; a nested and/or operand only ever comes from parentheses in the source. */
export interface ClaimsAnd {
  readonly kind: 'and';
  readonly operands: readonly ClaimsExpression[];
  readonly position: number;
  readonly end: number;
}

export interface ClaimsOr {
  readonly kind: 'or';
  readonly operands: readonly ClaimsExpression[];
  readonly position: number;
  readonly end: number;
}

export type ClaimsExpression = ClaimsCall | ClaimsNot | ClaimsAnd | ClaimsOr;

export interface ClaimSources {
  readonly idToken: Readonly<Record<string, unknown>>;
  readonly accessToken: Readonly<Record<string, unknown>> | undefined;
}
