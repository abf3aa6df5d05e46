import { type Tracer, type TracerProvider, trace } from '@opentelemetry/api';

export interface TracerOptions {
  /** The tracer to use; takes precedence over `tracerProvider`. */
  tracer?: Tracer;
  /** Where to get a tracer from; default: the global tracer provider. */
  tracerProvider?: TracerProvider;
}

/**
 * The adapter's tracer, resolved once when its factory runs. The global provider is a proxy, so
 * an SDK registered later is still used.
 */
export function resolveTracer(
  { tracer, tracerProvider }: TracerOptions,
  name: string,
  version: string,
): Tracer {
  return tracer ?? (tracerProvider ?? trace.getTracerProvider()).getTracer(name, version);
}
