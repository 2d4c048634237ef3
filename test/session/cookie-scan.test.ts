import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cookieValues, parseCookieHeader, scanCookieValues } from '../../src/session/cookies.js';

const NAME = 'app-session';

describe('scanCookieValues', () => {
  it('finds every value of the name in header order, a tossed duplicate included', () => {
    expect(scanCookieValues('a=1; app-session=tossed; b=2; app-session=ours', NAME)).toEqual(['tossed', 'ours']);
  });

  it('does not take a longer name, a name inside a value, or a name without "=" for the cookie', () => {
    expect(scanCookieValues('my-app-session=x; app-session-old=y; other=app-session=z; app-session; app-session x=1', NAME)).toEqual([]);
  });

  it('removes quotes and surrounding whitespace like the parser, and joins HTTP/2 fields', () => {
    expect(scanCookieValues([' app-session = "v1" ', 'x=1'], NAME)).toEqual(['v1']);
  });

  it('answers nothing for a missing, empty or absurdly long header', () => {
    expect(scanCookieValues(undefined, NAME)).toEqual([]);
    expect(scanCookieValues('', NAME)).toEqual([]);
    expect(scanCookieValues(`${NAME}=${'x'.repeat(100_000)}`, NAME)).toEqual([]);
  });

  it('keeps at most 8 values of the name', () => {
    expect(scanCookieValues(Array.from({ length: 20 }, (_, i) => `${NAME}=${i}`).join('; '), NAME)).toHaveLength(8);
  });

  it('agrees with parseCookieHeader on any header of fewer than 200 pairs', () => {
    const piece = fc.constantFrom(NAME, 'app', 'session', '-', '=', ';', ' ', '\t', '"', 'x', 'app-session-2', 'a=b', '; ');
    const header = fc.array(piece, { maxLength: 40 }).map((parts) => parts.join(''));
    fc.assert(
      fc.property(header, (text) => {
        expect(scanCookieValues(text, NAME)).toEqual(cookieValues(parseCookieHeader(text), NAME));
      }),
      { numRuns: 5000 },
    );
  });
});
