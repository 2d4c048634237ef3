import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { writeAccessLine, type AccessEntry } from '../../src/server/access-log.js';

function loggerWritingTo(lines: string[], level: pino.Level = 'info') {
  return pino({ level, base: { service: 'oidc-forward-auth' } }, { write: (line: string) => void lines.push(line) }).child({ middleware: 'app' });
}

const entry: AccessEntry = {
  method: 'GET',
  host: 'app.example:8443',
  path: '/a"b\\c/ü',
  status: 200,
  decision: 'allow',
  outcome: 'allowed',
  code: undefined,
  clientusername: 'Zoë "z" <z@example.com>',
  ms: 0.1234,
  traceId: undefined,
};

describe('the access line', () => {
  it('is the line log.info would write for the same fields, byte for byte but the time', () => {
    for (const fields of [entry, { ...entry, code: 'OFA_LOGIN_REQUIRED', clientusername: undefined, traceId: '0af7651916cd43dd8448eb211c80319c', status: 401 }]) {
      const ours: string[] = [];
      const pinos: string[] = [];
      writeAccessLine(loggerWritingTo(ours), fields);
      const { traceId, ...rest } = fields;
      loggerWritingTo(pinos).info({ ...rest, trace_id: traceId }, 'forward-auth');
      const withoutTime = (line: string | undefined): string => (line ?? '').replace(/"time":\d+/, '"time":0');
      expect(withoutTime(ours[0])).toBe(withoutTime(pinos[0]));
      expect(JSON.parse(ours[0] ?? '')).toMatchObject({ level: 30, service: 'oidc-forward-auth', middleware: 'app', msg: 'forward-auth', path: fields.path });
    }
  });

  it('writes nothing when info is off', () => {
    const lines: string[] = [];
    writeAccessLine(loggerWritingTo(lines, 'warn'), entry);
    expect(lines).toEqual([]);
  });
});
