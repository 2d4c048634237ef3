/**
 * What tracing offers the rest of the service, and the settings it starts from: shared by
 * tracing.ts (which reads the settings) and tracing-sdk.ts (which implements them), so that
 * neither imports the other's types.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { ErrorCode } from '../errors.js';
import type { ProviderCallResult, ProviderEndpoint } from './observers.js';

/** The span of one forward-auth decision. */
export interface DecisionSpan {
  /** 32 hex digits, for the access log line. */
  readonly traceId: string;
  /** Runs `work` with this span as the parent of the provider calls it makes. */
  within<T>(work: () => Promise<T>): Promise<T>;
  end(outcome: string, status: number, code: ErrorCode | undefined): void;
}

export interface ProviderCallSpan {
  end(result: ProviderCallResult, status: number | undefined, attempts: number): void;
}

export interface DecisionRequest {
  readonly method: string;
  /** The original request's host (never its path or query: a callback's query holds a code). */
  readonly host: string;
  readonly headers: IncomingHttpHeaders;
  /** The request came from a trusted proxy: its `traceparent` is continued; otherwise a new trace starts. */
  readonly continueTrace: boolean;
}

export interface Tracing {
  startDecision(middleware: string, request: DecisionRequest): DecisionSpan;
  /** A child of the decision span the call is made within, or a new trace (background discovery). */
  startProviderCall(middleware: string, endpoint: ProviderEndpoint, method: string, url: string): ProviderCallSpan;
  /** Exports what is buffered and stops; no span is exported afterwards. */
  shutdown(): Promise<void>;
}

export type TracesExporterName = 'otlp' | 'console';

export type TracesSamplerName =
  | 'always_on'
  | 'always_off'
  | 'traceidratio'
  | 'parentbased_always_on'
  | 'parentbased_always_off'
  | 'parentbased_traceidratio';

/** What the environment asks for, already checked. */
export interface TracingSettings {
  readonly exporters: readonly TracesExporterName[];
  readonly serviceName: string;
  readonly resourceAttributes: Readonly<Record<string, string>>;
  readonly otlp: {
    readonly url: string;
    readonly headers: Readonly<Record<string, string>>;
    readonly timeoutMillis: number | undefined;
    readonly compression: 'gzip' | 'none' | undefined;
  };
  readonly sampler: TracesSamplerName;
  /** For the ratio samplers, 0…1. */
  readonly samplerRatio: number;
  readonly batch: {
    readonly scheduledDelayMillis: number | undefined;
    readonly exportTimeoutMillis: number | undefined;
    readonly maxQueueSize: number | undefined;
    readonly maxExportBatchSize: number | undefined;
  };
}
