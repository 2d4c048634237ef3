/**
 * The server options this area added: `metricsListen`, and $OIDC_FORWARD_AUTH_LISTEN for `listen`.
 * Read through readServerConfig itself, with the environment it is given.
 */
import { describe, expect, it } from 'vitest';
import { createProblemSink, type RawObject } from '../../src/config/field-reader.js';
import type { PendingSecret } from '../../src/config/secret-references.js';
import { readServerConfig } from '../../src/config/server-config.js';

const SECRETS = { secrets: ['a-secret-that-is-long-enough-for-the-test-0123'] };

function read(server: RawObject, env: Record<string, string> = {}) {
  const sink = createProblemSink();
  const pending: PendingSecret[] = [];
  const config = readServerConfig({ ...SECRETS, ...server }, sink, pending, env);
  return { config, problems: sink.problems };
}

describe('server.metricsListen', () => {
  it('is unset by default: /metrics stays on listen', () => {
    const { config, problems } = read({});
    expect(problems).toEqual([]);
    expect(config.metricsListen).toBeUndefined();
  });

  it('takes host:port like listen, IPv6 in brackets', () => {
    expect(read({ metricsListen: '0.0.0.0:9464' }).config.metricsListen).toEqual({ host: '0.0.0.0', port: 9464 });
    expect(read({ metricsListen: '[::1]:9464' }).config.metricsListen).toEqual({ host: '::1', port: 9464 });
  });

  it('refuses what is not host:port, and the address of listen itself', () => {
    expect(read({ metricsListen: '9464' }).problems).toEqual(['server.metricsListen: "9464" is not host:port (IPv6 as [::1]:4181)']);
    expect(read({ listen: '127.0.0.1:4181', metricsListen: '127.0.0.1:4181' }).problems).toEqual([
      'server.metricsListen: must differ from listen: /metrics is served on listen when metricsListen is unset',
    ]);
  });
});

describe('$OIDC_FORWARD_AUTH_LISTEN', () => {
  it('sets listen when the file does not', () => {
    const { config, problems } = read({}, { OIDC_FORWARD_AUTH_LISTEN: '0.0.0.0:4181' });
    expect(problems).toEqual([]);
    expect(config.listen).toEqual({ host: '0.0.0.0', port: 4181 });
  });

  it('gives way to listen in the file, and to nothing when empty', () => {
    expect(read({ listen: '127.0.0.1:5000' }, { OIDC_FORWARD_AUTH_LISTEN: '0.0.0.0:4181' }).config.listen).toEqual({ host: '127.0.0.1', port: 5000 });
    expect(read({}, { OIDC_FORWARD_AUTH_LISTEN: '' }).config.listen).toEqual({ host: '127.0.0.1', port: 4181 });
  });

  it('is checked like listen, the problem naming the variable', () => {
    expect(read({}, { OIDC_FORWARD_AUTH_LISTEN: 'everywhere' }).problems).toEqual([
      '$OIDC_FORWARD_AUTH_LISTEN: "everywhere" is not host:port (IPv6 as [::1]:4181)',
    ]);
  });
});
