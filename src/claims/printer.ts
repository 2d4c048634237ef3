import type { ClaimsCall, ClaimsExpression } from './ast.js';

function quote(value: string): string {
  if (value.includes('`')) throw new TypeError('a claims argument cannot contain a backtick');
  return `\`${value}\``;
}

function printCall(call: ClaimsCall, separator: string): string {
  return `${call.fn}(${[call.key.raw, ...call.args.map((a) => a.value)].map(quote).join(separator)})`;
}

/** A call as people read it, with a space after each comma; used in explanations. */
export function displayCall(call: ClaimsCall): string {
  return printCall(call, ', ');
}

/**
 * The canonical form: no whitespace and only the parentheses the tree needs. It re-parses to the
 * same tree, and is never longer than any source that parses to that tree (every token it prints
 * was in the source), so it always fits the length limit too.
 */
export function printClaimsExpression(ast: ClaimsExpression): string {
  switch (ast.kind) {
    case 'call':
      return printCall(ast, ',');
    case 'not':
      return `!${wrapUnless(ast.operand, ast.operand.kind === 'call' || ast.operand.kind === 'not')}`;
    case 'and':
      return ast.operands.map((o) => wrapUnless(o, o.kind === 'call' || o.kind === 'not')).join('&&');
    case 'or':
      return ast.operands.map((o) => wrapUnless(o, o.kind !== 'or')).join('||');
  }
}

function wrapUnless(node: ClaimsExpression, bare: boolean): string {
  const printed = printClaimsExpression(node);
  return bare ? printed : `(${printed})`;
}
