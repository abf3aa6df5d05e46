import { type Context, createContextKey } from '@opentelemetry/api';

/** The key @opentelemetry/core's `suppressTracing` sets (context keys are `Symbol.for`). */
const SUPPRESS_TRACING_KEY = createContextKey('OpenTelemetry SDK Context Key SUPPRESS_TRACING');

/**
 * Whether `suppressTracing` marked this context (an exporter's own requests, or a request another
 * layer already traces): the propagators then inject nothing, as OpenTelemetry's do.
 */
export function isTracingSuppressed(context: Context): boolean {
  return context.getValue(SUPPRESS_TRACING_KEY) === true;
}

/**
 * `context` with tracing suppressed, as @opentelemetry/core's `suppressTracing` marks it: the SDK
 * tracer makes no span there, and OpenTelemetry's propagators and tracewire's inject nothing.
 */
export function suppressTracing(context: Context): Context {
  return context.setValue(SUPPRESS_TRACING_KEY, true);
}
