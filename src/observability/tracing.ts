/**
 * OpenTelemetry tracing, off unless the standard OTEL_* environment variables ask for it. This
 * module reads the settings and loads the SDK (tracing-sdk.ts) with a dynamic import only when
 * they do: an untraced service never loads it, and its hot path checks `telemetry.tracing`
 * rather than calling a no-op tracer.
 */
import type { Logger } from 'pino';
import type { TracesExporterName, TracesSamplerName, Tracing, TracingSettings } from './tracing-types.js';

export type { Tracing } from './tracing-types.js';

export type Environment = Readonly<Record<string, string | undefined>>;

export const DEFAULT_SERVICE_NAME = 'oidc-forward-auth';
/** The OTLP/HTTP default of the specification. */
const DEFAULT_OTLP_TRACES_URL = 'http://localhost:4318/v1/traces';
const SAMPLERS: readonly TracesSamplerName[] = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
];

function value(env: Environment, name: string): string | undefined {
  const raw = env[name]?.trim();
  return raw === undefined || raw === '' ? undefined : raw;
}

/** `key=value,key2=value2`, percent-decoded (W3C Baggage style, as OTEL_RESOURCE_ATTRIBUTES and *_HEADERS use). */
function parseKeyValueList(raw: string | undefined, variable: string, warnings: string[]): Record<string, string> {
  const pairs: Record<string, string> = {};
  if (raw === undefined) return pairs;
  for (const item of raw.split(',')) {
    if (item.trim() === '') continue;
    const at = item.indexOf('=');
    try {
      if (at <= 0) throw new Error('no key');
      pairs[decodeURIComponent(item.slice(0, at).trim())] = decodeURIComponent(item.slice(at + 1).trim());
    } catch {
      // Never the item itself: headers carry API keys.
      warnings.push(`${variable}: an entry is not key=value and is ignored`);
    }
  }
  return pairs;
}

function positiveInteger(env: Environment, name: string, warnings: string[]): number | undefined {
  const raw = value(env, name);
  if (raw === undefined) return undefined;
  const parsed = Number(raw);
  if (Number.isInteger(parsed) && parsed > 0) return parsed;
  warnings.push(`${name} must be a positive whole number (got "${raw}"); ignored`);
  return undefined;
}

function tracesUrl(env: Environment, warnings: string[]): string | undefined {
  const specific = value(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const general = value(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  // The signal-specific endpoint is used as given; the general one gets the signal's path appended.
  const url = specific ?? (general === undefined ? DEFAULT_OTLP_TRACES_URL : `${general.replace(/\/+$/, '')}/v1/traces`);
  if (URL.canParse(url) && ['http:', 'https:'].includes(new URL(url).protocol)) return url;
  warnings.push(`${specific === undefined ? 'OTEL_EXPORTER_OTLP_ENDPOINT' : 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'} is not an http(s) URL; tracing stays off`);
  return undefined;
}

/**
 * Whether and how to trace, from the standard variables: on when OTEL_TRACES_EXPORTER names an
 * exporter (otlp, console), or, when it is unset, when an OTLP endpoint is configured. `none`
 * and OTEL_SDK_DISABLED=true keep it off. Problems are returned as warnings, never with a value
 * that may be secret.
 */
export function readTracingSettings(env: Environment): { readonly settings: TracingSettings | undefined; readonly warnings: string[] } {
  const warnings: string[] = [];
  const off = { settings: undefined, warnings };
  if (value(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return off;

  const named = value(env, 'OTEL_TRACES_EXPORTER');
  let exporters: TracesExporterName[];
  if (named === undefined) {
    const endpointSet = value(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') !== undefined || value(env, 'OTEL_EXPORTER_OTLP_ENDPOINT') !== undefined;
    if (!endpointSet) return off;
    exporters = ['otlp'];
  } else {
    const names = named.split(',').map((name) => name.trim().toLowerCase()).filter((name) => name !== '');
    if (names.includes('none')) return off;
    exporters = [];
    for (const name of names) {
      if (name === 'otlp' || name === 'console') {
        if (!exporters.includes(name)) exporters.push(name);
      } else {
        warnings.push(`OTEL_TRACES_EXPORTER: "${name}" is not an exporter this service has (otlp, console, none); ignored`);
      }
    }
    if (exporters.length === 0) return off;
  }

  const protocol = value(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ?? value(env, 'OTEL_EXPORTER_OTLP_PROTOCOL');
  if (exporters.includes('otlp') && protocol !== undefined && protocol !== 'http/json') {
    warnings.push(`OTLP protocol "${protocol}" is not bundled: traces are sent as OTLP/HTTP with JSON (http/json)`);
  }
  const url = exporters.includes('otlp') ? tracesUrl(env, warnings) : DEFAULT_OTLP_TRACES_URL;
  if (url === undefined) return off;

  const compressionRaw = (value(env, 'OTEL_EXPORTER_OTLP_TRACES_COMPRESSION') ?? value(env, 'OTEL_EXPORTER_OTLP_COMPRESSION'))?.toLowerCase();
  let compression: 'gzip' | 'none' | undefined;
  if (compressionRaw === 'gzip' || compressionRaw === 'none') compression = compressionRaw;
  else if (compressionRaw !== undefined) warnings.push(`OTLP compression "${compressionRaw}" is not gzip or none; ignored`);

  const resourceAttributes = parseKeyValueList(value(env, 'OTEL_RESOURCE_ATTRIBUTES'), 'OTEL_RESOURCE_ATTRIBUTES', warnings);
  const serviceName = value(env, 'OTEL_SERVICE_NAME') ?? resourceAttributes['service.name'] ?? DEFAULT_SERVICE_NAME;

  const samplerRaw = value(env, 'OTEL_TRACES_SAMPLER')?.toLowerCase() ?? 'parentbased_always_on';
  let sampler = SAMPLERS.find((name) => name === samplerRaw);
  if (sampler === undefined) {
    warnings.push(`OTEL_TRACES_SAMPLER "${samplerRaw}" is not one of ${SAMPLERS.join(', ')}; using parentbased_always_on`);
    sampler = 'parentbased_always_on';
  }
  let samplerRatio = 1;
  const ratioRaw = value(env, 'OTEL_TRACES_SAMPLER_ARG');
  if (ratioRaw !== undefined && sampler.endsWith('traceidratio')) {
    const ratio = Number(ratioRaw);
    if (Number.isFinite(ratio) && ratio >= 0 && ratio <= 1) samplerRatio = ratio;
    else warnings.push(`OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1 (got "${ratioRaw}"); using 1`);
  }

  return {
    settings: {
      exporters,
      serviceName,
      resourceAttributes,
      otlp: {
        url,
        headers: {
          ...parseKeyValueList(value(env, 'OTEL_EXPORTER_OTLP_HEADERS'), 'OTEL_EXPORTER_OTLP_HEADERS', warnings),
          ...parseKeyValueList(value(env, 'OTEL_EXPORTER_OTLP_TRACES_HEADERS'), 'OTEL_EXPORTER_OTLP_TRACES_HEADERS', warnings),
        },
        timeoutMillis:
          positiveInteger(env, 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT', warnings) ?? positiveInteger(env, 'OTEL_EXPORTER_OTLP_TIMEOUT', warnings),
        compression,
      },
      sampler,
      samplerRatio,
      batch: {
        scheduledDelayMillis: positiveInteger(env, 'OTEL_BSP_SCHEDULE_DELAY', warnings),
        exportTimeoutMillis: positiveInteger(env, 'OTEL_BSP_EXPORT_TIMEOUT', warnings),
        maxQueueSize: positiveInteger(env, 'OTEL_BSP_MAX_QUEUE_SIZE', warnings),
        maxExportBatchSize: positiveInteger(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', warnings),
      },
    },
    warnings,
  };
}

/**
 * Tracing as `env` configures it, or undefined when it is off. Only then is the OpenTelemetry
 * SDK imported. Pass the result to createTelemetry.
 */
export async function startTracing(env: Environment, log: Logger): Promise<Tracing | undefined> {
  const { settings, warnings } = readTracingSettings(env);
  for (const warning of warnings) log.warn(warning);
  if (settings === undefined) return undefined;
  const { createSdkTracing } = await import('./tracing-sdk.js');
  const tracing = createSdkTracing(settings, log);
  log.info(
    { exporters: settings.exporters, serviceName: settings.serviceName, ...(settings.exporters.includes('otlp') ? { endpoint: safeEndpoint(settings.otlp.url) } : {}) },
    'tracing is on',
  );
  return tracing;
}

/** The endpoint as it may be logged: no credentials, no query. */
function safeEndpoint(url: string): string {
  const parsed = new URL(url);
  return `${parsed.origin}${parsed.pathname}`;
}
