/** A real pino logger whose lines are kept in memory, so tests can assert what was (not) logged. */
import { pino, type Logger } from 'pino';

export interface LogRecord {
  readonly level: number;
  readonly msg?: string;
  readonly [key: string]: unknown;
}

export interface TestLogger {
  readonly log: Logger;
  readonly records: LogRecord[];
  /** Every line as written, for "no secret appears anywhere" assertions. */
  text(): string;
  /** Records at warn (40) or above. */
  warnings(): LogRecord[];
}

export function createTestLogger(level: pino.Level = 'debug'): TestLogger {
  const lines: string[] = [];
  const records: LogRecord[] = [];
  const log = pino(
    { level },
    {
      write(line: string) {
        lines.push(line);
        records.push(JSON.parse(line) as LogRecord);
      },
    },
  );
  return {
    log,
    records,
    text: () => lines.join(''),
    warnings: () => records.filter((r) => r.level >= 40),
  };
}
