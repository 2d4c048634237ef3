/**
 * `/metrics` on an address of its own (`server.metricsListen`): a bare node:http server that
 * answers nothing else, so the port the proxies reach exposes no metrics and the metrics port
 * exposes no forward-auth.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { ListenAddress } from '../config/types.js';
import type { Telemetry } from '../observability/telemetry.js';

export interface MetricsListener {
  /** The port bound (the configured one, or the one the system chose for port 0). */
  readonly port: number;
  /** Stops listening and drops open connections (scrapers keep theirs alive). */
  close(): Promise<void>;
}

export const METRICS_PATH = '/metrics';

/** Whatever produces the exposition: a process's telemetry, or (cluster primary) an aggregation of its workers'. */
export type MetricsSource = Pick<Telemetry, 'scrape'>;

async function answer(request: IncomingMessage, response: ServerResponse, telemetry: MetricsSource, log: Logger): Promise<void> {
  const path = (request.url ?? '').split('?', 1)[0];
  if (path !== METRICS_PATH) {
    response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
    return;
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
    return;
  }
  try {
    const { contentType, body } = await telemetry.scrape();
    response.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
    response.end(request.method === 'HEAD' ? undefined : body);
  } catch (error) {
    log.error({ reason: error instanceof Error ? error.message : 'unknown' }, 'collecting metrics failed');
    response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('collecting metrics failed\n');
  }
}

/** Listens on `address` and serves only GET /metrics; rejects when the address cannot be bound. */
export function startMetricsListener(address: ListenAddress, telemetry: MetricsSource, log: Logger): Promise<MetricsListener> {
  const server = createServer((request, response) => {
    void answer(request, response, telemetry, log);
  });
  return new Promise((resolve, reject) => {
    const failed = (error: Error): void => reject(error);
    server.once('error', failed);
    server.listen(address.port, address.host, () => {
      server.off('error', failed);
      server.on('error', (error) => log.error({ code: (error as NodeJS.ErrnoException).code }, 'metrics listener error'));
      const { port } = server.address() as AddressInfo;
      log.info({ host: address.host, port }, 'serving /metrics on its own address');
      resolve({
        port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
