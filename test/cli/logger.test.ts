import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, REDACTED, SECRET_LOG_FIELDS } from '../../src/cli/logger.js';

/** A logger writing into memory, and the lines it wrote, parsed. */
function capture(): { readonly log: ReturnType<typeof createLogger>; lines(): Record<string, unknown>[] } {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  const log = createLogger('debug', sink);
  return {
    log,
    lines: () =>
      text
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

const SECRET = 'sekrit-value-0123456789';

describe('the service logger', () => {
  it('writes the access line with every field as given', () => {
    const { log, lines } = capture();
    log.info({ method: 'GET', host: 'app.example', path: '/a', status: 200, decision: 'allow', clientusername: 'ann', ms: 0.4 }, 'forward-auth');
    expect(lines()).toEqual([
      expect.objectContaining({ method: 'GET', host: 'app.example', path: '/a', status: 200, decision: 'allow', clientusername: 'ann', ms: 0.4, msg: 'forward-auth' }),
    ]);
  });

  it.each(SECRET_LOG_FIELDS)('redacts a top-level %s field, in a log call and in a child binding', (field) => {
    const { log, lines } = capture();
    log.warn({ [field]: SECRET }, 'oops');
    log.child({ [field]: { nested: SECRET } }).info('child');
    const written = lines();
    expect(written.map((line) => line[field])).toEqual([REDACTED, REDACTED]);
    expect(JSON.stringify(written)).not.toContain(SECRET);
  });

  it('redacts credential headers in a headers object and keeps the others', () => {
    const { log, lines } = capture();
    log.info({ headers: { Cookie: SECRET, authorization: SECRET, 'proxy-authorization': SECRET, 'set-cookie': [SECRET], accept: 'text/html' } }, 'h');
    expect(lines()[0]?.headers).toEqual({ Cookie: REDACTED, authorization: REDACTED, 'proxy-authorization': REDACTED, 'set-cookie': REDACTED, accept: 'text/html' });
  });

  it('redacts secrets an error carries as properties or headers', () => {
    const { log, lines } = capture();
    const error = Object.assign(new Error('request failed'), { code: 'E_X', refreshToken: SECRET, headers: { authorization: SECRET, host: 'op.example' } });
    log.error({ err: error }, 'failed');
    const line = lines()[0] as { err: Record<string, unknown> };
    expect(line.err).toMatchObject({ message: 'request failed', code: 'E_X', refreshToken: REDACTED, headers: { authorization: REDACTED, host: 'op.example' } });
    expect(JSON.stringify(line)).not.toContain(SECRET);
  });
});

/** Runs a script in a child process with the service's logger on its real stdout; resolves with what it printed. */
function runWithStdoutLogger(body: string): Promise<string> {
  const logger = JSON.stringify(join(import.meta.dirname, '../../src/cli/logger.ts'));
  const script = `import { createLogger, flushLog } from ${logger};\nconst log = createLogger('info');\n${body}`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(output) : reject(new Error(`exited with ${code}`))));
  });
}

const linesOf = (output: string): { n: number }[] => output.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as { n: number });

describe('the service logger on stdout', () => {
  it('loses no line, and keeps their order, when the process exits without flushing (less than a chunk, and many chunks)', async () => {
    for (const count of [3, 5000]) {
      const output = await runWithStdoutLogger(`for (let n = 0; n < ${count}; n++) log.info({ n }, 'line');\nprocess.exit(0);`);
      expect(linesOf(output).map((line) => line.n)).toEqual(Array.from({ length: count }, (_, n) => n));
    }
  });

  it('has written every line when flushLog resolves', async () => {
    const output = await runWithStdoutLogger(
      `for (let n = 0; n < 2000; n++) log.info({ n }, 'line');\nawait flushLog(log);\nprocess.stdout.write(JSON.stringify({ n: -1 }) + '\\n');\nprocess.exit(0);`,
    );
    const numbers = linesOf(output).map((line) => line.n);
    expect(numbers).toEqual([...Array.from({ length: 2000 }, (_, n) => n), -1]);
  });
});
