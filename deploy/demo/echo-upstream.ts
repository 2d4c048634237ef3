/**
 * The demo's protected application: it answers every request with the headers it received,
 * so you can see what the proxy forwards (identity headers included). HTML for browsers,
 * JSON for `Accept: application/json` or `?format=json`.
 *
 * Run alone: `npx tsx deploy/demo/echo-upstream.ts [--host 127.0.0.1] [--port 3000]`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';

export interface EchoUpstream {
  readonly url: string;
  readonly port: number;
  readonly close: () => Promise<void>;
}

export interface EchoedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string | string[]>>;
}

const IDENTITY_HEADER = /^x-forwarded-(user|groups|email|preferred-username|name)$/;

export function startEchoUpstream(options: { host?: string; port?: number } = {}): Promise<EchoUpstream> {
  const server = createServer(answerWithEcho);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      const { address, port } = server.address() as AddressInfo;
      resolve({
        url: `http://${address}:${port}`,
        port,
        close: () =>
          new Promise<void>((done, fail) => {
            server.close((error) => (error ? fail(error) : done()));
            server.closeAllConnections();
          }),
      });
    });
  });
}

function answerWithEcho(request: IncomingMessage, response: ServerResponse): void {
  const echoed = echoOf(request);
  const wantsJson =
    (request.headers.accept ?? '').includes('application/json') || /[?&]format=json(&|$)/.test(echoed.url);
  // The demo page must never be cached: it shows who is logged in right now.
  response.setHeader('Cache-Control', 'no-store');
  if (wantsJson) {
    response.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' });
    response.end(JSON.stringify(echoed, null, 2));
    return;
  }
  response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
  response.end(renderPage(echoed));
}

function echoOf(request: IncomingMessage): EchoedRequest {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined) headers[name] = value;
  }
  return { method: request.method ?? 'GET', url: request.url ?? '/', headers };
}

function renderPage(echoed: EchoedRequest): string {
  const rows = Object.entries(echoed.headers)
    .map(([name, value]) => {
      const shown = name === 'cookie' ? '(present, not shown)' : Array.isArray(value) ? value.join(', ') : value;
      const marked = IDENTITY_HEADER.test(name) ? ' class="identity"' : '';
      return `<tr${marked}><th>${escapeHtml(name)}</th><td>${escapeHtml(shown)}</td></tr>`;
    })
    .join('\n');
  const user = echoed.headers['x-forwarded-user'];
  const greeting = typeof user === 'string' && user !== '' ? `Signed in as <b>${escapeHtml(user)}</b>` : 'No X-Forwarded-User header';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>oidc-forward-auth demo upstream</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{width:16rem;font-family:monospace}td{font-family:monospace;word-break:break-all}
tr.identity{background:#e8f5e9}
</style></head>
<body>
<h1>Demo upstream</h1>
<p id="greeting">${greeting}</p>
<p>${escapeHtml(echoed.method)} <code>${escapeHtml(echoed.url)}</code> — <a href="/logout">Log out</a></p>
<p>Headers this application received (identity headers highlighted):</p>
<table>
${rows}
</table>
</body></html>
`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function argValue(argv: readonly string[], flag: string): string | undefined {
  const index = argv.indexOf(flag);
  return index === -1 ? undefined : argv[index + 1];
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  const argv = process.argv.slice(2);
  const upstream = await startEchoUpstream({
    host: argValue(argv, '--host') ?? '127.0.0.1',
    port: Number(argValue(argv, '--port') ?? '3000'),
  });
  process.stdout.write(`echo upstream listening on ${upstream.url}\n`);
  const stop = (): void => {
    void upstream.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
