/**
 * Settings that are valid but give away a protection the operator may not mean to give away.
 * `check` prints them as warnings (exit 0): each can be deliberate (a private CA not yet
 * distributed, a listener on a private network), so none is an error.
 */
import { isIP } from 'node:net';
import { applicationWarnings } from './application-warnings.js';
import type { Config } from './types.js';

export function securityWarnings(config: Config): string[] {
  const warnings: string[] = [];
  const { server } = config;
  if (server.metricsListen === undefined && !isLoopback(server.listen.host)) {
    warnings.push(
      `server.metricsListen: is unset while server.listen (${server.listen.host}) is not a loopback address: /metrics (middleware names, decision counts, provider errors) is served to whoever reaches the service; set server.metricsListen to an address of its own`,
    );
  }
  for (const middleware of Object.values(config.middlewares)) {
    const at = `middlewares.${middleware.name}`;
    if (middleware.clientConfig.tls.insecureSkipVerify) {
      warnings.push(
        `${at}.clientConfig.tls.insecureSkipVerify: is true: the identity provider's certificate is not verified, so whoever is on the path can answer in its name (set tls.ca instead)`,
      );
    }
    if (middleware.session.store?.redis.tls?.insecureSkipVerify === true) {
      warnings.push(
        `${at}.session.store.redis.tls.insecureSkipVerify: is true: the Redis server's certificate is not verified, so whoever is on the path can read and change sessions (set tls.caBundle instead)`,
      );
    }
    warnings.push(...applicationWarnings(middleware));
  }
  return warnings;
}

/** 127.0.0.0/8, ::1 and the name localhost: reachable from this machine only. */
function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || /^::ffff:127\./i.test(host);
  return false;
}
