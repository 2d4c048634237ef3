import type { ClaimKey, ClaimSources, ClaimsCall, ClaimsExpression } from './ast.js';
import { readClaim } from './key.js';
import { parseClaimsExpression } from './parser.js';
import { displayCall } from './printer.js';
import { claimToString } from './values.js';

export interface CompiledClaims {
  readonly source: string;
  readonly ast: ClaimsExpression;
  /** Total: a missing claim, a value of the wrong type or an absent access token make a call false. */
  readonly evaluate: (sources: ClaimSources) => boolean;
  /**
   * The result, then one line per node (depth-first, indented two spaces per level) with its value.
   * Lines name claim types, never claim values.
   */
  readonly explain: (sources: ClaimSources) => string[];
  /** Each distinct key once, in source order. */
  readonly referencedKeys: readonly ClaimKey[];
}

type Test = (value: unknown) => boolean;
type Predicate = (sources: ClaimSources) => boolean;

/**
 * What each function means for a claim value. Scalars compare by their string form (see
 * claimToString); arrays only mean something to Contains and OneOf, which look for an element
 * whose string form matches; objects, null and missing claims match nothing.
 */
function compileTest(call: ClaimsCall): Test {
  const [first, second] = call.args.map((a) => a.value);
  switch (call.fn) {
    case 'Equals': {
      const expected = first as string;
      return (value) => claimToString(value) === expected;
    }
    case 'Prefix': {
      const prefix = first as string;
      return (value) => claimToString(value)?.startsWith(prefix) === true;
    }
    case 'Contains': {
      const needle = first as string;
      return (value) => Array.isArray(value)
        ? value.some((element) => claimToString(element) === needle)
        : claimToString(value)?.includes(needle) === true;
    }
    case 'SplitContains': {
      const separator = first as string;
      const wanted = second as string;
      return (value) => {
        if (Array.isArray(value)) return false;
        return claimToString(value)?.split(separator).includes(wanted) === true;
      };
    }
    case 'OneOf': {
      const candidates: ReadonlySet<string> = new Set(call.args.map((a) => a.value));
      const matches = (element: unknown): boolean => {
        const text = claimToString(element);
        return text !== undefined && candidates.has(text);
      };
      return (value) => Array.isArray(value) ? value.some(matches) : matches(value);
    }
  }
}

function pickClaims(key: ClaimKey): (sources: ClaimSources) => Readonly<Record<string, unknown>> | undefined {
  return key.token === 'access_token' ? (s) => s.accessToken : (s) => s.idToken;
}

function compileNode(node: ClaimsExpression, tests: Map<ClaimsCall, Test>): Predicate {
  switch (node.kind) {
    case 'call': {
      const test = compileTest(node);
      tests.set(node, test);
      const pick = pickClaims(node.key);
      const key = node.key;
      return (sources) => test(readClaim(pick(sources), key));
    }
    case 'not': {
      const operand = compileNode(node.operand, tests);
      return (sources) => !operand(sources);
    }
    case 'and': {
      const operands = node.operands.map((o) => compileNode(o, tests));
      return (sources) => operands.every((p) => p(sources));
    }
    case 'or': {
      const operands = node.operands.map((o) => compileNode(o, tests));
      return (sources) => operands.some((p) => p(sources));
    }
  }
}

function describeValue(value: unknown, tokenAbsent: boolean): string {
  if (tokenAbsent) return 'no access token';
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `array of ${value.length}`;
  return typeof value;
}

/** Equals, Prefix and SplitContains are false on an array claim; the usual intent was an element test. */
function arrayHint(node: ClaimsCall, claim: unknown): string {
  if (!Array.isArray(claim) || node.fn === 'Contains' || node.fn === 'OneOf') return '';
  return `  (${node.fn} is false on an array: use Contains or OneOf to test its elements)`;
}

function collectKeys(node: ClaimsExpression, into: Map<string, ClaimKey>): void {
  switch (node.kind) {
    case 'call': {
      const id = JSON.stringify([node.key.token ?? 'id_token', node.key.path]);
      if (!into.has(id)) into.set(id, node.key);
      return;
    }
    case 'not':
      collectKeys(node.operand, into);
      return;
    default:
      for (const operand of node.operands) collectKeys(operand, into);
  }
}

/** Parse once at start; the returned evaluate is what runs per request. Throws ClaimsSyntaxError. */
export function compileClaims(source: string): CompiledClaims {
  const ast = parseClaimsExpression(source);
  const tests = new Map<ClaimsCall, Test>();
  const predicate = compileNode(ast, tests);

  const explainNode = (node: ClaimsExpression, depth: number, sources: ClaimSources, lines: string[]): boolean => {
    const at = lines.length;
    lines.push('');
    let value: boolean;
    let label: string;
    switch (node.kind) {
      case 'call': {
        const test = tests.get(node) as Test;
        const claims = pickClaims(node.key)(sources);
        const claim = readClaim(claims, node.key);
        value = test(claim);
        label = `${displayCall(node)}  [${describeValue(claim, claims === undefined)}]${arrayHint(node, claim)}`;
        break;
      }
      case 'not':
        value = !explainNode(node.operand, depth + 1, sources, lines);
        label = '!';
        break;
      default: {
        // Every operand is explained, not just up to the deciding one, so the output shows all of it.
        const values = node.operands.map((o) => explainNode(o, depth + 1, sources, lines));
        value = node.kind === 'and' ? values.every(Boolean) : values.some(Boolean);
        label = node.kind === 'and' ? '&&' : '||';
      }
    }
    lines[at] = `${'  '.repeat(depth)}${value ? 'true ' : 'false'} ${label}`;
    return value;
  };

  const keys = new Map<string, ClaimKey>();
  collectKeys(ast, keys);

  return Object.freeze({
    source,
    ast,
    evaluate: (sources: ClaimSources): boolean => {
      try {
        return predicate(sources);
      } catch {
        // Unreachable with plain claim objects; if sources are malformed, deny rather than throw.
        return false;
      }
    },
    explain: (sources: ClaimSources): string[] => {
      const lines: string[] = [];
      try {
        const value = explainNode(ast, 0, sources, lines);
        return [String(value), ...lines];
      } catch {
        return ['false'];
      }
    },
    referencedKeys: Object.freeze([...keys.values()]),
  });
}
