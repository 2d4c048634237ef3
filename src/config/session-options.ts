/** The cookies a middleware sets: the state cookie of a login, the session (and its store), CSRF. */
import { COOKIE_KEYS, HTTP_TOKEN, readCookieOptions } from './cookie-options.js';
import {
  checkKnownKeys,
  describeType,
  isRawObject,
  joinPath,
  readBoolean,
  readNumber,
  readObject,
  readString,
  type ProblemSink,
  type RawObject,
} from './field-reader.js';
import type { Reading } from './option-reading.js';
import { readRedis } from './redis-config.js';
import type { CsrfConfig, SessionConfig, StateCookieConfig } from './types.js';

export function readStateCookie(options: RawObject, path: string, name: string, sink: ProblemSink): StateCookieConfig {
  const here = joinPath(path, 'stateCookie');
  const object = readObject(options, 'stateCookie', path, [...COOKIE_KEYS, 'maxAge'], sink) ?? {};
  return {
    ...readCookieOptions(object, here, `${name}-state`, sink),
    maxAge: readNumber(object, 'maxAge', here, { integer: true }, sink) ?? 600,
  };
}

export function readSession(options: RawObject, path: string, name: string, reading: Reading): SessionConfig {
  const { sink } = reading;
  const here = joinPath(path, 'session');
  const object = readObject(options, 'session', path, [...COOKIE_KEYS, 'expiry', 'maxLifetime', 'sliding', 'refresh', 'store', 'codecVersion'], sink) ?? {};
  const store = readObject(object, 'store', here, ['redis'], sink);
  const redis = store === undefined ? undefined : readRedis(store, joinPath(here, 'store'), reading);
  return {
    ...readCookieOptions(object, here, `${name}-session`, sink),
    expiry: readNumber(object, 'expiry', here, { integer: true, above: 0 }, sink) ?? 86400,
    maxLifetime: readNumber(object, 'maxLifetime', here, { integer: true, above: 0 }, sink),
    sliding: readBoolean(object, 'sliding', here, sink) ?? true,
    refresh: readBoolean(object, 'refresh', here, sink) ?? true,
    store: redis === undefined ? undefined : { redis },
    codecVersion: readCodecVersion(object, here, sink),
  };
}

/**
 * Written by default is the newest version; an operator upgrading several replicas writes the
 * previous one until no replica of the older release is left (README, "Upgrading with several replicas").
 */
function readCodecVersion(object: RawObject, path: string, sink: ProblemSink): 1 | 2 {
  const version = readNumber(object, 'codecVersion', path, { integer: true }, sink);
  if (version === undefined || version === 2) return 2;
  if (version === 1) return 1;
  sink.error(joinPath(path, 'codecVersion'), `must be 1 or 2 (got ${version})`);
  return 2;
}

export function readCsrf(options: RawObject, path: string, sink: ProblemSink): CsrfConfig | undefined {
  const raw = options['csrf'];
  const here = joinPath(path, 'csrf');
  if (raw === undefined) return undefined;
  // A bare `csrf:` reads as null; silently leaving CSRF off would surprise whoever wrote it.
  if (!isRawObject(raw)) {
    sink.error(here, `must be a mapping; write "csrf: {}" to enable CSRF protection with defaults (got ${describeType(raw)})`);
    return undefined;
  }
  checkKnownKeys(raw, here, ['secure', 'headerName'], sink);
  const headerName = readString(raw, 'headerName', here, sink) || 'TraefikHub-Csrf-Token';
  if (!HTTP_TOKEN.test(headerName)) sink.error(joinPath(here, 'headerName'), `"${headerName}" is not a valid HTTP header name`);
  return { secure: readBoolean(raw, 'secure', here, sink) ?? false, headerName };
}
