/**
 * HTTP/1.1 over a bare TCP socket, for what no HTTP client will send: any method token (CONNECT
 * to a path), a body announced and never sent, a request cut halfway.
 */
import { connect, type Socket } from 'node:net';

export interface RawAnswer {
  /** 0 when the server closed the connection without an answer. */
  readonly status: number;
  /** Lower-case names; the last value of a repeated header. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface OpenConnection {
  readonly socket: Socket;
  /** Everything the server sent so far. */
  received(): string;
  /** Resolves once the server closed (or reset) the connection. */
  readonly closed: Promise<void>;
}

/** Opens a connection to 127.0.0.1:port and writes `text` once connected. */
export function openConnection(port: number, text = ''): Promise<OpenConnection> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    // A reset by the server counts as a close here.
    socket.on('error', () => undefined);
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    socket.once('connect', () => {
      if (text !== '') socket.write(text);
      resolve({ socket, received: () => received, closed });
    });
    socket.once('error', reject);
  });
}

export function parseRawAnswer(text: string): RawAnswer {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return { status: 0, headers: {}, body: text };
  const [statusLine = '', ...lines] = text.slice(0, end).split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status, headers, body: text.slice(end + 4) };
}

/** Sends one request with `Connection: close` and reads the answer until the server closes. */
export async function rawRequest(port: number, method: string, path: string, headers: Readonly<Record<string, string>> = {}): Promise<RawAnswer> {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)];
  const connection = await openConnection(port, `${lines.join('\r\n')}\r\n\r\n`);
  await connection.closed;
  return parseRawAnswer(connection.received());
}
