/**
 * The OpenTelemetry SDK behind `Tracing`, imported only when tracing is on (see tracing.ts).
 *
 * Nothing is registered globally: the tracer provider, the W3C propagator and the context that
 * links a provider call to its decision (an AsyncLocalStorage of our own) belong to this one
 * instance, so two services in one process (tests) never share spans.
 *
 * Attributes are chosen for what they must never hold: no user, no session, no URL path or
 * query of the original request (a callback's query holds the code), no cookie or header value.
 * The host is kept; provider URLs are kept without their query.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, defaultTextMapGetter, trace, type Context } from '@opentelemetry/api';
import { ExportResultCode, W3CTraceContextPropagator, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type ReadableSpan,
  type Sampler,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { Logger } from 'pino';
import type { Tracing, TracingSettings } from './tracing-types.js';

type OtlpExporterConfig = NonNullable<ConstructorParameters<typeof OTLPTraceExporter>[0]>;

const TRACER_NAME = 'oidc-forward-auth';
const MAX_LOGGED_REASON = 200;

function buildSampler(settings: TracingSettings): Sampler {
  const ratio = new TraceIdRatioBasedSampler(settings.samplerRatio);
  switch (settings.sampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio;
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio });
  }
}

/** Says once when exporting starts failing and once when it works again, instead of never (the SDK's default) or on every batch. */
function reportingFailures(exporter: SpanExporter, log: Logger): SpanExporter {
  let failing = false;
  return {
    export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
      exporter.export(spans, (result) => {
        if (result.code !== ExportResultCode.SUCCESS && !failing) {
          failing = true;
          log.warn({ reason: (result.error?.message ?? 'unknown').slice(0, MAX_LOGGED_REASON) }, 'trace export failed; spans are dropped until it works again');
        } else if (result.code === ExportResultCode.SUCCESS && failing) {
          failing = false;
          log.info('trace export works again');
        }
        done(result);
      });
    },
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
  };
}

function buildExporters(settings: TracingSettings, log: Logger): SpanExporter[] {
  return settings.exporters.map((name) => {
    if (name === 'console') return new ConsoleSpanExporter();
    const { url, headers, timeoutMillis, compression } = settings.otlp;
    const otlp = new OTLPTraceExporter({
      url,
      headers: { ...headers },
      ...(timeoutMillis === undefined ? {} : { timeoutMillis }),
      // The exporter's option is an enum of these same two strings.
      ...(compression === undefined ? {} : { compression: compression as OtlpExporterConfig['compression'] }),
    });
    return reportingFailures(otlp, log);
  });
}

export function createSdkTracing(settings: TracingSettings, log: Logger): Tracing {
  const batch = Object.fromEntries(Object.entries(settings.batch).filter(([, setting]) => setting !== undefined));
  const provider = new NodeTracerProvider({
    resource: defaultResource().merge(resourceFromAttributes({ ...settings.resourceAttributes, 'service.name': settings.serviceName })),
    sampler: buildSampler(settings),
    spanProcessors: buildExporters(settings, log).map((exporter) => new BatchSpanProcessor(exporter, batch)),
  });
  const tracer = provider.getTracer(TRACER_NAME);
  const propagator = new W3CTraceContextPropagator();
  const decisionContext = new AsyncLocalStorage<Context>();

  return {
    startDecision(middleware, request) {
      const parent = request.continueTrace ? propagator.extract(ROOT_CONTEXT, request.headers, defaultTextMapGetter) : ROOT_CONTEXT;
      const span = tracer.startSpan(
        `forward-auth ${middleware}`,
        {
          kind: SpanKind.SERVER,
          attributes: { 'ofa.middleware': middleware, 'http.request.method': request.method, 'server.address': request.host },
        },
        parent,
      );
      const context = trace.setSpan(parent, span);
      return {
        traceId: span.spanContext().traceId,
        within: (work) => decisionContext.run(context, work),
        end(outcome, status, code) {
          span.setAttribute('ofa.outcome', outcome);
          span.setAttribute('http.response.status_code', status);
          if (code !== undefined) span.setAttribute('ofa.error_code', code);
          // A 4xx is the client's answer, not our failure (the semantic conventions for a server span).
          if (status >= 500) {
            span.setAttribute('error.type', code ?? String(status));
            span.setStatus({ code: SpanStatusCode.ERROR });
          }
          span.end();
        },
      };
    },
    startProviderCall(middleware, endpoint, method, url) {
      const span = tracer.startSpan(
        `provider ${endpoint}`,
        {
          kind: SpanKind.CLIENT,
          attributes: {
            'ofa.middleware': middleware,
            'ofa.provider.endpoint': endpoint,
            'http.request.method': method,
            'url.full': url,
            'server.address': URL.canParse(url) ? new URL(url).hostname : '',
          },
        },
        decisionContext.getStore() ?? ROOT_CONTEXT,
      );
      return {
        end(result, status, attempts) {
          span.setAttribute('ofa.provider.result', result);
          span.setAttribute('ofa.provider.attempts', attempts);
          if (status !== undefined) span.setAttribute('http.response.status_code', status);
          if (result !== 'ok') {
            span.setAttribute('error.type', result);
            span.setStatus({ code: SpanStatusCode.ERROR });
          }
          span.end();
        },
      };
    },
    shutdown: () => provider.shutdown(),
  };
}
