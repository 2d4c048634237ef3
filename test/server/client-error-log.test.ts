import { describe, expect, it } from 'vitest';
import { createRateLimitedLog, isClientError, safeErrorCode } from '../../src/server/client-error-log.js';
import { createTestLogger } from '../support/log.js';

describe('createRateLimitedLog', () => {
  it('writes at most its budget per window, then says how many it held back with the next line', () => {
    const logger = createTestLogger();
    let nowMs = 1_000_000;
    const limited = createRateLimitedLog(logger.log, { level: 'info', message: 'client error', linesPerWindow: 3, windowMs: 60_000, nowMs: () => nowMs });

    for (let i = 0; i < 10; i += 1) limited.write({ code: 'FST_ERR_CTP_BODY_TOO_LARGE', i });
    expect(logger.records.map((record) => record.i)).toEqual([0, 1, 2]);

    nowMs += 60_000;
    limited.write({ code: 'ECONNRESET', i: 10 });

    expect(logger.records.slice(3)).toEqual([
      expect.objectContaining({ level: 30, msg: 'client error', withheld: 7, windowSeconds: 60 }),
      expect.objectContaining({ level: 30, msg: 'client error', code: 'ECONNRESET', i: 10 }),
    ]);
  });

  it('writes at the level it was given, and no summary after a window with nothing held back', () => {
    const logger = createTestLogger();
    let nowMs = 0;
    const limited = createRateLimitedLog(logger.log, { level: 'warn', message: 'limit reached', linesPerWindow: 2, windowMs: 1000, nowMs: () => nowMs });

    limited.write({});
    nowMs += 5000;
    limited.write({});

    expect(logger.records.map((record) => [record.level, record.withheld])).toEqual([
      [40, undefined],
      [40, undefined],
    ]);
  });
});

describe('isClientError', () => {
  it("takes Fastify's 4xx refusals and a client hanging up for the client's doing, and nothing else", () => {
    expect(isClientError({ code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 })).toBe(true);
    expect(isClientError({ code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 })).toBe(true);
    expect(isClientError({ code: 'ECONNRESET' })).toBe(true);
    expect(isClientError({ code: 'ERR_STREAM_PREMATURE_CLOSE' })).toBe(true);
    expect(isClientError({ code: 'ERR_INVALID_ARG_TYPE' })).toBe(false);
    expect(isClientError({ statusCode: 500 })).toBe(false);
    expect(isClientError({})).toBe(false);
  });

  it('writes out only codes that look like library constants', () => {
    expect(safeErrorCode({ code: 'ECONNRESET' })).toBe('ECONNRESET');
    expect(safeErrorCode({ code: 'Cookie: app-session=abc' })).toBeUndefined();
    expect(safeErrorCode({ code: 42 })).toBeUndefined();
  });
});
