/**
 * The string a claim value is compared as, or undefined when it has none (and then every
 * comparison with it is false):
 * - strings as they are; booleans as "true" / "false";
 * - numbers as JavaScript's String(n): 1 → "1", 1.50 → "1.5", 1e21 → "1e+21", -0 → "0";
 * - null has none: OpenID Connect Core §5.3.2 says a claim without a value is omitted rather than
 *   null, so a null claim is treated like a missing one (`Equals(\`x\`, \`null\`)` is false);
 * - objects and arrays have none; arrays are searched element by element by Contains and OneOf.
 */
export function claimToString(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return value;
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
    case 'bigint':
      return String(value);
    default:
      return undefined;
  }
}
