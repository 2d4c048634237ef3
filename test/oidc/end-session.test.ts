import * as client from 'openid-client';
import { describe, expect, it } from 'vitest';
import { endSessionUrl } from '../../src/oidc/end-session.js';

const ISSUER = 'https://op.example';

function configurationWith(metadata: Partial<client.ServerMetadata>): client.Configuration {
  return new client.Configuration({ issuer: ISSUER, ...metadata }, 'app', 'secret');
}

describe('endSessionUrl', () => {
  it('is undefined when the provider advertises no end_session_endpoint', () => {
    expect(endSessionUrl(configurationWith({}), { clientID: 'app', idTokenHint: 'x.y.z', postLogoutRedirectUri: undefined })).toBeUndefined();
  });

  it('names the client, and passes the ID token hint and where to come back when there are some', () => {
    const url = endSessionUrl(configurationWith({ end_session_endpoint: `${ISSUER}/session/end` }), {
      clientID: 'app',
      idTokenHint: 'x.y.z',
      postLogoutRedirectUri: 'https://app.example/bye',
    });
    expect(url?.origin + (url?.pathname ?? '')).toBe(`${ISSUER}/session/end`);
    expect(Object.fromEntries(url?.searchParams ?? [])).toEqual({
      client_id: 'app',
      id_token_hint: 'x.y.z',
      post_logout_redirect_uri: 'https://app.example/bye',
    });
  });

  it('leaves out the hint and the return address it was not given', () => {
    const url = endSessionUrl(configurationWith({ end_session_endpoint: `${ISSUER}/session/end` }), {
      clientID: 'app',
      idTokenHint: undefined,
      postLogoutRedirectUri: undefined,
    });
    expect(Object.fromEntries(url?.searchParams ?? [])).toEqual({ client_id: 'app' });
  });
});
