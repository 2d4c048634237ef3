import { pino, type Logger } from 'pino';

/** One forward-auth decision, as its access line tells it. */
export interface AccessEntry {
  readonly method: string;
  readonly host: string;
  /** The path only: a query may carry a code or a state. */
  readonly path: string;
  readonly status: number;
  readonly decision: string;
  readonly outcome: string;
  readonly code: string | undefined;
  readonly clientusername: string | undefined;
  readonly ms: number;
  readonly traceId: string | undefined;
}

interface LineStream {
  write(line: string): void;
}

const INFO = 30;

/**
 * Writes the access line of one decision: the same JSON line `log.info(entry, 'forward-auth')`
 * would write (level, time, the logger's bindings, the fields in this order, undefined ones left
 * out, msg), built from its known fields instead of going through pino's generic serialization,
 * since every request writes one. Nothing here comes from headers but the validated method, host
 * and path; every string is JSON-escaped all the same.
 */
export function writeAccessLine(log: Logger, entry: AccessEntry): void {
  if (log.levelVal > INFO) return;
  // pino's own destination and serialized bindings (public as pino.symbols): the line goes where log.info's would.
  const stream = (log as unknown as Record<symbol, LineStream>)[pino.symbols.streamSym] as LineStream;
  const bindings = (log as unknown as Record<symbol, string>)[pino.symbols.chindingsSym] ?? '';
  let line = `{"level":30,"time":${Date.now()}${bindings},"method":${JSON.stringify(entry.method)},"host":${JSON.stringify(entry.host)},"path":${JSON.stringify(entry.path)},"status":${entry.status},"decision":${JSON.stringify(entry.decision)},"outcome":${JSON.stringify(entry.outcome)}`;
  if (entry.code !== undefined) line += `,"code":${JSON.stringify(entry.code)}`;
  if (entry.clientusername !== undefined) line += `,"clientusername":${JSON.stringify(entry.clientusername)}`;
  line += `,"ms":${JSON.stringify(entry.ms)}`;
  if (entry.traceId !== undefined) line += `,"trace_id":${JSON.stringify(entry.traceId)}`;
  stream.write(`${line},"msg":"forward-auth"}\n`);
}
