/**
 * The shipped alert rules (deploy/prometheus/oidc-forward-auth.rules.yml) pass `promtool check
 * rules`, and `promtool test rules` runs them over the series a real scrape of the service
 * produced: a middleware whose provider is down, and one that is healthy while its users bring
 * stale sign-in links. The first pages; the second never does. The label sets come from the
 * scrape, so a rule that names a metric or label the service does not export fails here.
 * promtool comes with Debian's `prometheus` package (deploy/install-deps.sh).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { createCookieJar } from '../support/cookie-jar.js';
import { forwardAuth, NAVIGATION_HEADERS } from '../support/forward-auth-client.js';
import { startTestProvider, TEST_APP_ORIGIN, type DevProvider } from '../support/op.js';
import { startService, type TestService } from '../support/service.js';
import { parsePrometheusText, type Sample } from '../observability/prometheus-text.js';

const run = promisify(execFile);
const RULES = resolve(import.meta.dirname, '../../deploy/prometheus/oidc-forward-auth.rules.yml');
const work = mkdtempSync(join(tmpdir(), 'ofa-promtool-'));

/** A sample as a promtool series selector: `name{label="value",…}`. */
function seriesOf(sample: Sample): string {
  const labels = Object.entries(sample.labels).map(([name, value]) => `${name}=${JSON.stringify(value)}`);
  return `${sample.name}{${labels.join(',')}}`;
}

describe('the shipped Prometheus alert rules', () => {
  let op: DevProvider;
  let service: TestService;
  let scraped: Sample[];

  beforeAll(async () => {
    op = await startTestProvider();
    // `down` points at a port nothing listens on: its discovery fails and its pages get 503.
    service = await startService({ middlewares: [{ name: 'app', issuer: op.issuer }, { name: 'down', issuer: 'http://127.0.0.1:1', clientConfig: { maxRetries: 0 } }], awaitProviders: false });
    await service.app.middlewares.get('app')?.provider.ready();

    const jar = createCookieJar();
    const login = await forwardAuth(service.authAddress('app'), { url: `${TEST_APP_ORIGIN}/page`, headers: NAVIGATION_HEADERS }, jar);
    expect(login.status).toBe(302);
    // A user back with a sign-in link whose code the provider no longer knows: 4xx at the token endpoint.
    const state = new URL(String(login.location)).searchParams.get('state') ?? '';
    const stale = await forwardAuth(service.authAddress('app'), { url: `${TEST_APP_ORIGIN}/callback?code=stale&state=${state}&iss=${encodeURIComponent(op.issuer)}`, headers: NAVIGATION_HEADERS }, jar);
    expect(stale.status).toBe(400);
    // And one whose login state is gone.
    await forwardAuth(service.authAddress('app'), { url: `${TEST_APP_ORIGIN}/callback?code=c&state=gone`, headers: NAVIGATION_HEADERS }, createCookieJar());
    expect((await forwardAuth(service.authAddress('down'), { url: `${TEST_APP_ORIGIN}/page`, headers: NAVIGATION_HEADERS }, createCookieJar())).status).toBe(503);

    // The failed discovery is counted once its call has ended: scrape until it is.
    const failedDiscovery = (s: Sample): boolean => s.name === 'ofa_provider_requests_total' && s.labels.middleware === 'down';
    for (let attempt = 0; attempt < 100 && !(scraped ?? []).some(failedDiscovery); attempt += 1) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, 100));
      const response = await fetch(`${service.origin}/metrics`);
      scraped = parsePrometheusText(await response.text()).filter((s) => s.name === 'ofa_decisions_total' || s.name === 'ofa_provider_requests_total');
    }
  }, 30_000);
  afterAll(async () => {
    await service?.stop();
    await op?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('pass promtool check rules', async () => {
    const { stdout } = await run('promtool', ['check', 'rules', RULES]);
    expect(stdout).toContain('SUCCESS: 5 rules found');
  });

  it('page for a provider that is down, and never for users’ stale sign-in links', async () => {
    const of = (middleware: string): string[] => scraped.filter((s) => s.labels.middleware === middleware).map(seriesOf);
    // The scrape has what the rules read; each series then grows by one a second for 30 minutes.
    expect(of('down')).toEqual(
      expect.arrayContaining([
        'ofa_decisions_total{middleware="down",outcome="unavailable",code="OFA_PROVIDER_UNAVAILABLE"}',
        'ofa_provider_requests_total{middleware="down",endpoint="discovery",result="network"}',
      ]),
    );
    expect(of('app')).toEqual(
      expect.arrayContaining([
        'ofa_decisions_total{middleware="app",outcome="error",code="OFA_CALLBACK_CODE_REJECTED"}',
        'ofa_decisions_total{middleware="app",outcome="error",code="OFA_CALLBACK_STATE_MISSING"}',
        'ofa_provider_requests_total{middleware="app",endpoint="token",result="http_4xx"}',
      ]),
    );
    const growing = (series: readonly string[]) => series.map((name) => ({ series: name, values: '0+60x30' }));
    const page = (alertname: string, summary: string, description: string) => ({
      exp_labels: { severity: 'page', middleware: 'down' },
      exp_annotations: { summary, description },
      alertname,
    });
    const tests = {
      rule_files: [RULES],
      evaluation_interval: '1m',
      tests: [
        {
          name: 'provider of middleware down unreachable',
          interval: '1m',
          input_series: growing([...of('down'), ...of('app')]),
          alert_rule_test: [
            { eval_time: '4m', alertname: 'OidcForwardAuthUnavailable', exp_alerts: [] },
            {
              eval_time: '15m',
              ...page(
                'OidcForwardAuthUnavailable',
                'oidc-forward-auth middleware down answers 503 to 100% of requests',
                'The identity provider or the Redis session store cannot be reached. The log says which (code OFA_PROVIDER_UNAVAILABLE or OFA_STORE_UNAVAILABLE), and /readyz names the state of each middleware\'s provider and session store.',
              ),
            },
            {
              eval_time: '15m',
              ...page(
                'OidcForwardAuthProviderErrors',
                "100% of oidc-forward-auth's calls to the identity provider of down fail",
                'See ofa_provider_requests_total by endpoint and result, and the log lines of the provider calls. Sign-ins and token refreshes fail while this lasts.',
              ),
            },
          ].map(({ alertname, eval_time, ...expected }) => ({
            eval_time,
            alertname,
            exp_alerts: 'exp_alerts' in expected ? [] : [expected],
          })),
        },
        {
          name: 'stale sign-in links at a healthy middleware',
          interval: '1m',
          input_series: growing(of('app')),
          alert_rule_test: ['OidcForwardAuthUnavailable', 'OidcForwardAuthProviderErrors', 'OidcForwardAuthDiscoveryRefused', 'OidcForwardAuthInternalErrors'].map(
            (alertname) => ({ eval_time: '30m', alertname, exp_alerts: [] }),
          ),
        },
      ],
    };
    const file = join(work, 'rules.test.yml');
    writeFileSync(file, stringify(tests));
    const result = await run('promtool', ['test', 'rules', file]).catch((error: { stdout?: string; stderr?: string }) => {
      throw new Error(`promtool test rules failed:\n${error.stdout ?? ''}${error.stderr ?? ''}`);
    });
    expect(result.stdout).toContain('SUCCESS');
  });
});
