import { type SpanContext, TraceFlags, isSpanContextValid } from '@opentelemetry/api';

/**
 * The `Server-Timing` entry naming the server span, in the form browser RUM agents read:
 * `traceparent;desc="00-<trace-id>-<span-id>-<flags>"`. None without a span of the server's own:
 * with no SDK registered, the span is the caller's context (remote) or the invalid all-zero one.
 */
export function serverTimingEntry(spanContext: SpanContext): string | undefined {
  if (spanContext.isRemote === true || !isSpanContextValid(spanContext)) return undefined;
  const flags = spanContext.traceFlags & TraceFlags.SAMPLED ? '01' : '00';
  return `traceparent;desc="00-${spanContext.traceId}-${spanContext.spanId}-${flags}"`;
}

/**
 * The `Server-Timing` value with `entry` after what the application set (`existing`, as a header
 * getter returns it), so the app's entries are neither overwritten nor overwrite it.
 */
export function appendServerTiming(existing: unknown, entry: string): string {
  if (existing === undefined || existing === null || existing === '') return entry;
  const text = Array.isArray(existing) ? existing.join(', ') : String(existing);
  return text.trim() === '' ? entry : `${text}, ${entry}`;
}
