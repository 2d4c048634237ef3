/**
 * `/auth/NAME` answers every method Node's HTTP parser accepts (it refuses any other with 400
 * before a route is chosen). A proxy that passes the request's own method on (Traefik's
 * `preserveRequestMethod`) sends PURGE, PROPFIND or CONNECT as readily as GET, and each must get a
 * decision, not a 404 or a closed connection.
 */
import { METHODS, ServerResponse, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** The part of a Fastify instance that knows methods (any logger, any type provider). */
interface MethodRegistry {
  readonly supportedMethods: readonly string[];
  addHttpMethod(method: string, options?: { hasBody?: boolean; overrideExisting?: boolean }): unknown;
}

/** The part of a Fastify instance on node:http that routes a raw request. */
interface RawRouter {
  readonly server: Server;
  routing(request: IncomingMessage, response: ServerResponse): void;
}

/**
 * Makes Fastify route every method Node parses and returns them all. The methods Fastify does not
 * know are added without a body: the only body the service reads is a back-channel logout POST.
 */
export function acceptEveryMethod(fastify: MethodRegistry): string[] {
  for (const method of METHODS) {
    if (!fastify.supportedMethods.includes(method)) fastify.addHttpMethod(method);
  }
  // Fastify refuses a QUERY without Content-Type (400) as RFC 10008 asks of a server that reads
  // the query in its body; a proxy forwards the method without the body, and the service reads none.
  if (METHODS.includes('QUERY')) fastify.addHttpMethod('QUERY', { hasBody: false, overrideExisting: true });
  return [...fastify.supportedMethods];
}

/**
 * Node hands a CONNECT to the `connect` event as a tunnel request and, when nobody listens,
 * closes the connection unanswered. Here it goes through the routes like any other request, and
 * the connection is closed after the answer: nothing is ever tunnelled, and bytes the client sent
 * past the request head are never read.
 */
export function answerConnectRequests(fastify: RawRouter): void {
  fastify.server.on('connect', (request: IncomingMessage, stream: Duplex) => {
    // Node took its own error listener off the socket with the parser; without one, a client's
    // reset would be an uncaught exception.
    stream.on('error', () => stream.destroy());
    const socket = stream as Socket;
    const response = new ServerResponse(request);
    response.shouldKeepAlive = false;
    response.assignSocket(socket);
    response.once('finish', () => {
      response.detachSocket(socket);
      socket.destroySoon();
    });
    fastify.routing(request, response);
  });
}
