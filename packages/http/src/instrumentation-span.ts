import { type Context, type Span, TraceFlags } from '@opentelemetry/api';

/**
 * What @opentelemetry/instrumentation-http puts in the context of each request it traces (the
 * RPC metadata of @opentelemetry/core): its SERVER span, and a `route` it reads when the
 * response ends to name that span `{method} {route}` and set `http.route`.
 */
export interface HttpServerMetadata {
  type: 'http';
  span: Span;
  route?: string;
}

// @opentelemetry/core's key; createContextKey uses Symbol.for, so the same symbol is found here.
const RPC_METADATA_KEY = Symbol.for('OpenTelemetry SDK Context Key RPC_METADATA');

/**
 * The SERVER span OpenTelemetry's http instrumentation started for this very request, if it did.
 * A recording span, or one the sampler dropped; an ended span is a context that leaked from an
 * earlier request, and does not count.
 */
export function httpServerSpan(active: Context): HttpServerMetadata | undefined {
  const metadata = active.getValue(RPC_METADATA_KEY) as Partial<HttpServerMetadata> | undefined;
  if (metadata === undefined || metadata.type !== 'http' || !metadata.span) return undefined;
  const span = metadata.span;
  if (span.isRecording() || (span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) {
    return metadata as HttpServerMetadata;
  }
  return undefined;
}
