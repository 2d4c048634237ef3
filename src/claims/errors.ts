/**
 * Every way a claims expression or key can be malformed. Positions are 0-based offsets into the
 * source; messages speak in 1-based columns because that is what an editor shows.
 */
export class ClaimsSyntaxError extends Error {
  readonly position: number;
  readonly expected: string;
  readonly found: string;

  constructor(position: number, expected: string, found: string, detail?: string) {
    super(`at column ${position + 1}: ${detail ?? `expected ${expected} but found ${found}`}`);
    this.name = 'ClaimsSyntaxError';
    this.position = position;
    this.expected = expected;
    this.found = found;
  }
}
