import { describe, expect, it } from 'vitest';
import { renderNginxConf } from '../../deploy/demo/nginx-conf.js';

const addresses = { prefix: '/tmp/ofa', listen: '127.0.0.1:9999', authAddress: '127.0.0.1:1111', appAddress: '127.0.0.1:2222' };

describe('renderNginxConf', () => {
  it('puts the real addresses into the shipped snippet and keeps nginx files under the prefix', () => {
    const conf = renderNginxConf(addresses);

    expect(conf).toContain('server 127.0.0.1:1111;');
    expect(conf).toContain('server 127.0.0.1:2222;');
    expect(conf).toMatch(/^\s*listen 127\.0\.0\.1:9999;$/m);
    expect(conf).not.toContain('4181');
    expect(conf).toContain('proxy_temp_path /tmp/ofa/tmp/proxy;');
  });

  it('points every /auth/ URL at the chosen middleware', () => {
    const conf = renderNginxConf({ ...addresses, middleware: 'demo' });

    expect(conf).not.toContain('/auth/app;');
    expect(conf.match(/proxy_pass http:\/\/oidc_forward_auth\/auth\/demo;/g)?.length).toBeGreaterThanOrEqual(3);
  });

  it('refuses a snippet whose service address it cannot find, rather than testing something else', () => {
    const edited = 'upstream oidc_forward_auth { server auth.internal:4181; }\nserver { listen 8080; }';

    expect(() => renderNginxConf({ ...addresses, snippet: edited })).toThrow(/service address/);
  });

  it('refuses a middleware name that would change the nginx syntax', () => {
    expect(() => renderNginxConf({ ...addresses, middleware: 'a; evil' })).toThrow(/middleware name/);
  });
});
