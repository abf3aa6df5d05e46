// What every benchmark shares: the caller's trace context that incoming operations carry, and the
// constant header the floor writes on outgoing ones (written, never computed).
import { ROOT_CONTEXT, trace } from '@opentelemetry/api';

export const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
export const PARENT_ID = '00f067aa0ba902b7';
export const TRACEPARENT = `00-${TRACE_ID}-${PARENT_ID}-01`;
/** The trace of the contexts outgoing HTTP requests are sent from (transports/http-client.mjs). */
export const CALLER_TRACE_ID = '0af7651916cd43dd8448eb211c80319c';

/** The caller's span context, built once: the floor's parent, with no extraction work. */
export const REMOTE_SPAN_CONTEXT = { traceId: TRACE_ID, spanId: PARENT_ID, traceFlags: 1, isRemote: true };
export const REMOTE_CONTEXT = trace.setSpanContext(ROOT_CONTEXT, REMOTE_SPAN_CONTEXT);
export const REMOTE_LINK = { context: REMOTE_SPAN_CONTEXT };

export const VARIANTS = ['bare', 'floor', 'tracewire', 'otel'];
