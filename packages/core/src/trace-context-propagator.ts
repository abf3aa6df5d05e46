import {
  type Context,
  type SpanContext,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
  createContextKey,
  trace,
} from '@opentelemetry/api';
import { formatHexByte } from './chars.js';
import { ContextWithSpan } from './context-with-span.js';
import { reportOnce } from './report.js';
import { isTracingSuppressed } from './suppressed.js';
import {
  TRACE_FLAG_RANDOM,
  TRACE_FLAG_SAMPLED,
  isValidSpanId,
  isValidTraceId,
  parseTraceparent,
} from './traceparent.js';
import { deferTracestate } from './tracestate.js';

export const TRACEPARENT_HEADER = 'traceparent';
export const TRACESTATE_HEADER = 'tracestate';

/**
 * Marks, in a context, the trace id whose incoming traceparent had the random flag. OTel SDK spans
 * keep only the sampled bit, so the flag survives a local child span through this key instead.
 */
const RANDOM_TRACE_ID_KEY = createContextKey('tracewire.random-trace-id');

export interface TraceContextPropagatorOptions {
  /**
   * Longest `tracestate` to send, shortened by removing whole members (those over 128 characters
   * first). Default: no limit beyond what a valid header can hold.
   */
  maxTracestateLength?: number;
}

/**
 * W3C Trace Context (Level 2) as an OpenTelemetry `TextMapPropagator`: reads and writes
 * `traceparent` and `tracestate`, keeping the random flag of an incoming trace on every
 * outgoing header of that trace.
 */
export class TraceContextPropagator implements TextMapPropagator {
  readonly #maxTracestateLength: number;

  constructor({ maxTracestateLength = Number.POSITIVE_INFINITY }: TraceContextPropagatorOptions = {}) {
    // Checked here, once: a bad value would otherwise silently stop tracestate from being sent.
    if (typeof maxTracestateLength !== 'number' || !(maxTracestateLength >= 0)) {
      throw new TypeError('@tracewire/core: maxTracestateLength must be a number of characters, 0 or more');
    }
    this.#maxTracestateLength = maxTracestateLength;
  }

  /** Never throws: a failing setter or a hostile span context is reported once through `diag`. */
  inject(context: Context, carrier: unknown, setter: TextMapSetter): void {
    try {
      this.#inject(context, carrier, setter);
    } catch (error) {
      reportOnce('@tracewire/core: trace context could not be injected', error);
    }
  }

  #inject(context: Context, carrier: unknown, setter: TextMapSetter): void {
    const spanContext = trace.getSpanContext(context);
    if (
      !spanContext ||
      !isValidTraceId(spanContext.traceId) ||
      !isValidSpanId(spanContext.spanId) ||
      isTracingSuppressed(context)
    ) {
      return;
    }
    let flags = spanContext.traceFlags & (TRACE_FLAG_SAMPLED | TRACE_FLAG_RANDOM);
    if (context.getValue(RANDOM_TRACE_ID_KEY) === spanContext.traceId) flags |= TRACE_FLAG_RANDOM;
    setter.set(
      carrier,
      TRACEPARENT_HEADER,
      `00-${spanContext.traceId}-${spanContext.spanId}-${formatHexByte(flags)}`,
    );
    const traceState = spanContext.traceState;
    if (traceState) {
      const value =
        this.#maxTracestateLength === Number.POSITIVE_INFINITY || !('serializeWithin' in traceState)
          ? traceState.serialize()
          : (traceState as { serializeWithin(max: number): string }).serializeWithin(
              this.#maxTracestateLength,
            );
      if (value) setter.set(carrier, TRACESTATE_HEADER, value);
    }
  }

  /** Never throws: when the getter or carrier throws, the context comes back as it was. */
  extract(context: Context, carrier: unknown, getter: TextMapGetter): Context {
    try {
      return this.#extract(context, carrier, getter);
    } catch (error) {
      reportOnce('@tracewire/core: trace context could not be extracted', error);
      return context;
    }
  }

  #extract(context: Context, carrier: unknown, getter: TextMapGetter): Context {
    const traceparent = parseTraceparent(getter.get(carrier, TRACEPARENT_HEADER));
    if (!traceparent) return context;
    const tracestateHeader = getter.get(carrier, TRACESTATE_HEADER);
    // Validated on first use; an invalid header then reads as empty and is never sent on.
    const traceState = tracestateHeader === undefined ? undefined : deferTracestate(tracestateHeader);
    const traceFlags = traceparent.traceFlags & (TRACE_FLAG_SAMPLED | TRACE_FLAG_RANDOM);
    // One literal per shape: adding `traceState` afterwards would change the object's map.
    const spanContext: SpanContext = traceState
      ? { traceId: traceparent.traceId, spanId: traceparent.spanId, traceFlags, isRemote: true, traceState }
      : { traceId: traceparent.traceId, spanId: traceparent.spanId, traceFlags, isRemote: true };
    // What trace.setSpanContext gives, without copying the context's Map (the caller's span
    // over it, as incoming spans do next, replaces this one without a copy either).
    const withSpan = ContextWithSpan.of(context, trace.wrapSpanContext(spanContext));
    return traceparent.traceFlags & TRACE_FLAG_RANDOM
      ? withSpan.setValue(RANDOM_TRACE_ID_KEY, traceparent.traceId)
      : withSpan;
  }

  fields(): string[] {
    return [TRACEPARENT_HEADER, TRACESTATE_HEADER];
  }
}
