export { ClaimsSyntaxError } from './errors.js';
export { parseClaimsExpression } from './parser.js';
export { printClaimsExpression } from './printer.js';
export { compileClaims, type CompiledClaims } from './compile.js';
export { parseClaimKey, readClaim } from './key.js';
export { claimToString } from './values.js';
export { MAX_CALLS, MAX_EXPRESSION_LENGTH, MAX_NESTING_DEPTH } from './limits.js';
export type {
  ClaimKey,
  ClaimSources,
  ClaimsAnd,
  ClaimsArgument,
  ClaimsCall,
  ClaimsExpression,
  ClaimsFunction,
  ClaimsNot,
  ClaimsOr,
} from './ast.js';
