/**
 * Tracing through the service against a real provider, exported with the real OTLP/HTTP exporter
 * to a receiver in the test; and off, with nothing loaded, when the environment does not ask.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTelemetry, type Telemetry } from '../../src/observability/telemetry.js';
import { readTracingSettings, startTracing } from '../../src/observability/tracing.js';
import { createCookieJar } from '../support/cookie-jar.js';
import { forwardAuth, NAVIGATION_HEADERS } from '../support/forward-auth-client.js';
import { createTestLogger } from '../support/log.js';
import { completeLogin, startTestProvider, TEST_APP_ORIGIN, type DevProvider } from '../support/op.js';
import { startService, type TestService } from '../support/service.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './otlp-receiver.js';

const APP = TEST_APP_ORIGIN;
const NAME = 'app';
const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;

describe('tracing, with an OTLP endpoint in the environment', () => {
  let op: DevProvider;
  let receiver: OtlpReceiver;
  let telemetry: Telemetry;
  let service: TestService;
  /** The trace the proxy started, continued by the callback's decision. */
  const incomingTraceId = randomBytes(16).toString('hex');
  const incomingSpanId = randomBytes(8).toString('hex');
  let callbackUrl = '';
  let decision: ReceivedSpan;

  beforeAll(async () => {
    op = await startTestProvider();
    receiver = await startOtlpReceiver();
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_SERVICE_NAME: 'ofa-under-test' };
    const logger = createTestLogger('info');
    telemetry = createTelemetry({ tracing: await startTracing(env, logger.log) });
    expect(telemetry.tracing).toBeDefined();
    service = await startService({ telemetry, middlewares: [{ name: NAME, issuer: op.issuer, usernameClaim: 'preferred_username' }] });

    const jar = createCookieJar();
    const start = await forwardAuth(service.authAddress(), { url: `${APP}/private?x=1`, headers: NAVIGATION_HEADERS }, jar);
    expect(start.status).toBe(302);
    callbackUrl = await completeLogin(start.location ?? '', { user: 'alice' });
    const traceparent = `00-${incomingTraceId}-${incomingSpanId}-01`;
    const callback = await forwardAuth(service.authAddress(), { url: callbackUrl, headers: { ...NAVIGATION_HEADERS, traceparent } }, jar);
    expect(callback.status).toBe(302);
    // Stopping the service first, then telemetry: what is buffered is exported on shutdown.
    await service.stop();
    await telemetry.shutdown();
    const found = receiver.spans.find((span) => span.name === `forward-auth ${NAME}` && span.traceId === incomingTraceId);
    if (found === undefined) throw new Error(`no decision span in trace ${incomingTraceId}; got ${receiver.spans.map((s) => s.name).join(', ')}`);
    decision = found;
  });
  afterAll(async () => {
    await receiver?.stop();
    await op?.stop();
  });

  it('exports one server span per decision, continuing the proxy’s traceparent', () => {
    expect(decision.kind).toBe(SPAN_KIND_SERVER);
    expect(decision.parentSpanId).toBe(incomingSpanId);
    expect(decision.attributes).toMatchObject({
      'ofa.middleware': NAME,
      'ofa.outcome': 'callback',
      'http.response.status_code': 302,
      'http.request.method': 'GET',
      'server.address': new URL(APP).host,
    });
    expect(decision.resource['service.name']).toBe('ofa-under-test');
    const decisions = receiver.spans.filter((span) => span.name === `forward-auth ${NAME}`);
    expect(decisions).toHaveLength(2);
    // The login's start came without a traceparent: a trace of its own.
    const first = decisions.find((span) => span !== decision);
    expect(first?.traceId).not.toBe(incomingTraceId);
    expect(first?.parentSpanId).toBe('');
    expect(first?.attributes['ofa.outcome']).toBe('login_started');
  });

  it('exports a client span for each provider call the decision made, as its children', () => {
    const children = receiver.spans.filter((span) => span.parentSpanId === decision.spanId);
    const token = children.find((span) => span.name === 'provider token');
    expect(token?.traceId).toBe(incomingTraceId);
    expect(token?.kind).toBe(SPAN_KIND_CLIENT);
    expect(token?.attributes).toMatchObject({
      'ofa.middleware': NAME,
      'ofa.provider.endpoint': 'token',
      'ofa.provider.result': 'ok',
      'ofa.provider.attempts': 1,
      'http.request.method': 'POST',
      'http.response.status_code': 200,
      'server.address': '127.0.0.1',
    });
    expect(children.some((span) => span.name === 'provider jwks' && span.kind === SPAN_KIND_CLIENT)).toBe(true);
    // Discovery ran at start, in no request: a trace of its own.
    const discovery = receiver.spans.find((span) => span.name === 'provider discovery');
    expect(discovery?.parentSpanId).toBe('');
  });

  it('puts the decision’s trace id in the access log line, and only there', () => {
    const lines = service.logger.records.filter((record) => record.msg === 'forward-auth');
    expect(lines).toHaveLength(2);
    const callbackLine = lines.find((record) => record.decision === 'redirect' && record.path === '/callback');
    expect(callbackLine?.trace_id).toBe(incomingTraceId);
    expect(lines.every((record) => typeof record.trace_id === 'string' && /^[0-9a-f]{32}$/.test(record.trace_id))).toBe(true);
  });

  it('never puts a path, a query, a code, a cookie or a user into a span', () => {
    const code = new URL(callbackUrl).searchParams.get('code') ?? '';
    const state = new URL(callbackUrl).searchParams.get('state') ?? '';
    expect(code.length).toBeGreaterThan(10);
    const exported = JSON.stringify(receiver.spans.map((span) => [span.name, span.attributes]));
    for (const secretish of [code, state, '/callback', '/private', 'x=1', 'alice', '?']) {
      expect(exported).not.toContain(secretish);
    }
    // Provider URLs are kept, without their query.
    const urls = receiver.spans.map((span) => span.attributes['url.full']).filter((url) => url !== undefined);
    expect(urls.length).toBeGreaterThan(0);
    for (const url of urls) expect(new URL(String(url)).search).toBe('');
  });
});

describe('tracing off', () => {
  let receiver: OtlpReceiver;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
  });
  afterAll(async () => {
    await receiver?.stop();
  });

  it('stays off without OTEL variables, with OTEL_TRACES_EXPORTER=none, and with OTEL_SDK_DISABLED=true', async () => {
    const logger = createTestLogger('debug');
    expect(await startTracing({}, logger.log)).toBeUndefined();
    expect(await startTracing({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint }, logger.log)).toBeUndefined();
    expect(await startTracing({ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint }, logger.log)).toBeUndefined();
    expect(logger.records.some((record) => record.msg === 'tracing is on')).toBe(false);
  });

  it('makes no span and logs no trace id when off', async () => {
    const op = await startTestProvider();
    const telemetry = createTelemetry({ tracing: await startTracing({ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint }, createTestLogger().log) });
    const service = await startService({ telemetry, middlewares: [{ name: NAME, issuer: op.issuer }] });
    try {
      const start = await forwardAuth(service.authAddress(), { url: `${APP}/`, headers: NAVIGATION_HEADERS }, createCookieJar());
      expect(start.status).toBe(302);
    } finally {
      await service.stop();
      await telemetry.shutdown();
      await op.stop();
    }
    expect(receiver.requests).toBe(0);
    const line = service.logger.records.find((record) => record.msg === 'forward-auth');
    expect(line).toBeDefined();
    expect(line && 'trace_id' in line).toBe(false);
  });
});

describe('the OpenTelemetry SDK is loaded only when tracing is on', () => {
  let dir: string;
  let receiver: OtlpReceiver;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ofa-modules-'));
    receiver = await startOtlpReceiver();
  });
  afterAll(async () => {
    await receiver?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  /** Runs fixtures/one-decision.ts in a new process; which modules it resolved, and what it printed. */
  async function runOneDecision(name: string, otel: Record<string, string>): Promise<{ modules: string[]; result: { status: number; traced: boolean } }> {
    const record = join(dir, `${name}.txt`);
    const env: NodeJS.ProcessEnv = { RECORD_MODULE_LOADS: record, ...otel };
    // Nothing of the parent's telemetry settings leaks into the child.
    for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('OTEL_')) env[key] ??= value;
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--import', join(import.meta.dirname, 'fixtures/record-module-loads.mjs'), join(import.meta.dirname, 'fixtures/one-decision.ts')],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code, output).toBe(0);
    const last = output.trim().split('\n').at(-1) ?? '';
    const modules = (await readFile(record, 'utf8')).split('\n').filter((line) => line !== '');
    return { modules, result: JSON.parse(last) as { status: number; traced: boolean } };
  }

  const isTelemetrySdk = (url: string): boolean => url.includes('/@opentelemetry/') || url.includes('tracing-sdk');

  it('an untraced service resolves no OpenTelemetry module and exports nothing', async () => {
    const { modules, result } = await runOneDecision('untraced', {});
    expect(result).toEqual({ status: 401, traced: false });
    // The record works: the service's own modules are in it.
    expect(modules.some((url) => url.endsWith('/src/server/app.ts'))).toBe(true);
    expect(modules.filter(isTelemetrySdk)).toEqual([]);
    expect(receiver.requests).toBe(0);
  });

  it('a traced one loads the SDK and exports its decision', async () => {
    const { modules, result } = await runOneDecision('traced', { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint });
    expect(result).toEqual({ status: 401, traced: true });
    expect(modules.some((url) => url.includes('/@opentelemetry/sdk-trace-node/'))).toBe(true);
    expect(receiver.spans.some((span) => span.name === 'forward-auth app' && span.attributes['ofa.outcome'] === 'unauthorized')).toBe(true);
  });
});

describe('reading the OTEL_* settings', () => {
  it('turns on with an endpoint or a named exporter, and off with none or OTEL_SDK_DISABLED', () => {
    expect(readTracingSettings({}).settings).toBeUndefined();
    expect(readTracingSettings({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/custom' }).settings?.otlp.url).toBe('http://collector:4318/custom');
    expect(readTracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).settings?.otlp.url).toBe('http://collector:4318/v1/traces');
    expect(readTracingSettings({ OTEL_TRACES_EXPORTER: 'otlp' }).settings?.otlp.url).toBe('http://localhost:4318/v1/traces');
    expect(readTracingSettings({ OTEL_TRACES_EXPORTER: 'console' }).settings?.exporters).toEqual(['console']);
    expect(readTracingSettings({ OTEL_TRACES_EXPORTER: 'otlp,none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }).settings).toBeUndefined();
    expect(readTracingSettings({ OTEL_SDK_DISABLED: 'TRUE', OTEL_TRACES_EXPORTER: 'otlp' }).settings).toBeUndefined();
    expect(readTracingSettings({ OTEL_SDK_DISABLED: 'false', OTEL_TRACES_EXPORTER: 'otlp' }).settings).toBeDefined();
  });

  it('reads the service name, headers, sampler and batch settings', () => {
    const { settings, warnings } = readTracingSettings({
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attributes,deployment.environment=prod',
      OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20abc,x-a=1',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-a=2',
      OTEL_EXPORTER_OTLP_TIMEOUT: '2500',
      OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    });
    expect(warnings).toEqual([]);
    expect(settings?.serviceName).toBe('from-attributes');
    expect(settings?.resourceAttributes['deployment.environment']).toBe('prod');
    expect(settings?.otlp.headers).toEqual({ authorization: 'Bearer abc', 'x-a': '2' });
    expect(settings?.otlp.timeoutMillis).toBe(2500);
    expect(settings?.otlp.compression).toBe('gzip');
    expect(settings?.sampler).toBe('parentbased_traceidratio');
    expect(settings?.samplerRatio).toBe(0.25);
    expect(settings?.batch.scheduledDelayMillis).toBe(100);
    expect(readTracingSettings({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_SERVICE_NAME: 'named', OTEL_RESOURCE_ATTRIBUTES: 'service.name=x' }).settings?.serviceName).toBe('named');
    expect(readTracingSettings({ OTEL_TRACES_EXPORTER: 'otlp' }).settings?.serviceName).toBe('oidc-forward-auth');
  });

  it('warns about what it cannot honour without repeating a header’s value', () => {
    const { settings, warnings } = readTracingSettings({
      OTEL_TRACES_EXPORTER: 'otlp,zipkin',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_EXPORTER_OTLP_HEADERS: 'api-key-without-equals-sign-s3cr3t',
      OTEL_TRACES_SAMPLER: 'sometimes',
    });
    expect(settings?.exporters).toEqual(['otlp']);
    expect(settings?.sampler).toBe('parentbased_always_on');
    expect(warnings.some((w) => w.includes('zipkin'))).toBe(true);
    expect(warnings.some((w) => w.includes('grpc') && w.includes('http/json'))).toBe(true);
    expect(warnings.some((w) => w.includes('OTEL_EXPORTER_OTLP_HEADERS'))).toBe(true);
    expect(warnings.join('\n')).not.toContain('s3cr3t');
    expect(readTracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' }).settings).toBeUndefined();
  });
});
