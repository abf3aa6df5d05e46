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
  // Checked here, when the adapter is made: a bad value would otherwise fail on every span, silently.
  if (tracer !== undefined && typeof (tracer as Partial<Tracer> | null)?.startSpan !== 'function') {
    throw new TypeError(`${name}: tracer must be an OpenTelemetry Tracer, got ${String(tracer)}`);
  }
  if (
    tracerProvider !== undefined &&
    typeof (tracerProvider as Partial<TracerProvider> | null)?.getTracer !== 'function'
  ) {
    throw new TypeError(
      `${name}: tracerProvider must be an OpenTelemetry TracerProvider, got ${String(tracerProvider)}`,
    );
  }
  return tracer ?? (tracerProvider ?? trace.getTracerProvider()).getTracer(name, version);
}
