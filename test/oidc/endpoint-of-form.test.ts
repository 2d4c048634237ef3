import { describe, expect, it } from 'vitest';
import { endpointOfForm } from '../../src/oidc/http.js';

describe('endpointOfForm', () => {
  it('names what openid-client posts for us from the form’s fields', () => {
    expect(endpointOfForm(new URLSearchParams({ grant_type: 'authorization_code', code: 'c', redirect_uri: 'https://a/cb' }))).toBe('token');
    expect(endpointOfForm(new URLSearchParams({ grant_type: 'client_credentials' }))).toBe('token');
    expect(endpointOfForm(new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'r', client_assertion: 'x' }))).toBe('refresh');
    expect(endpointOfForm(new URLSearchParams({ token: 't', token_type_hint: 'access_token' }))).toBe('introspection');
    expect(endpointOfForm(new URLSearchParams({ response_type: 'code', client_id: 'c', redirect_uri: 'https://a/cb' }))).toBe('par');
  });

  it('names nothing for a body that is not a form it knows', () => {
    expect(endpointOfForm(undefined)).toBeUndefined();
    expect(endpointOfForm('grant_type=refresh_token')).toBeUndefined();
    expect(endpointOfForm(new URLSearchParams({ other: '1' }))).toBeUndefined();
  });
});
