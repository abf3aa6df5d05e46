import type { SpanKind, SpanStatusCode } from '@opentelemetry/api';

/** An attribute value as decoded from OTLP: int64 beyond 2^53 stays a decimal string. */
export type NormalisedValue =
  | string
  | number
  | boolean
  | Uint8Array
  | null
  | NormalisedValue[]
  | { [key: string]: NormalisedValue };

export type NormalisedAttributes = Record<string, NormalisedValue>;

export interface NormalisedEvent {
  name: string;
  /** Nanoseconds since the epoch, as a decimal string (int64 does not fit a number). */
  timeUnixNano: string;
  attributes: NormalisedAttributes;
}

export interface NormalisedLink {
  traceId: string;
  spanId: string;
  traceState?: string;
  attributes: NormalisedAttributes;
}

/**
 * One span, decoded from OTLP (JSON or protobuf) or taken from an SDK `ReadableSpan`: ids as
 * lowercase hex, times as decimal nanosecond strings, `kind` and `status.code` as the API enums.
 */
export interface NormalisedSpan {
  traceId: string;
  spanId: string;
  /** Absent for a root span. */
  parentSpanId?: string;
  traceState?: string;
  name: string;
  kind: SpanKind;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  status: { code: SpanStatusCode; message?: string };
  attributes: NormalisedAttributes;
  events: NormalisedEvent[];
  links: NormalisedLink[];
  /** The resource's `service.name`. */
  serviceName?: string;
  resourceAttributes: NormalisedAttributes;
  scope?: { name: string; version?: string };
}

/** The parts of an SDK `ReadableSpan` that tracewire reads (structural, so any 2.x SDK fits). */
export interface ReadableSpanLike {
  readonly name: string;
  readonly kind: SpanKind;
  spanContext(): { traceId: string; spanId: string; traceState?: { serialize(): string } };
  readonly parentSpanContext?: { spanId: string; isRemote?: boolean };
  readonly startTime: readonly [number, number];
  readonly endTime: readonly [number, number];
  readonly status: { code: SpanStatusCode; message?: string };
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly events: readonly {
    name: string;
    time: readonly [number, number];
    attributes?: Readonly<Record<string, unknown>>;
  }[];
  readonly links?: readonly {
    context: { traceId: string; spanId: string; traceState?: { serialize(): string } };
    attributes?: Readonly<Record<string, unknown>>;
  }[];
  readonly resource?: { readonly attributes: Readonly<Record<string, unknown>> };
  readonly instrumentationScope?: { name: string; version?: string };
}

const NANOS_PER_SECOND = 1_000_000_000n;

function hrTimeToNanos([seconds, nanos]: readonly [number, number]): string {
  return (BigInt(Math.trunc(seconds)) * NANOS_PER_SECOND + BigInt(Math.trunc(nanos))).toString();
}

function normaliseValue(value: unknown): NormalisedValue {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : String(value);
  if (value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return value.map(normaliseValue);
  if (typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, normaliseValue(inner)]));
  }
  return String(value);
}

function normaliseAttributes(
  attributes: Readonly<Record<string, unknown>> | undefined,
): NormalisedAttributes {
  const result: NormalisedAttributes = {};
  if (!attributes) return result;
  for (const [key, value] of Object.entries(attributes)) {
    if (value !== undefined) result[key] = normaliseValue(value);
  }
  return result;
}

/** True for an SDK span (it has `spanContext()`), false for an already normalised one. */
export function isReadableSpanLike(span: object): span is ReadableSpanLike {
  return typeof (span as { spanContext?: unknown }).spanContext === 'function';
}

/** Converts an SDK `ReadableSpan` to the shape the OTLP receiver produces. */
export function normaliseReadableSpan(span: ReadableSpanLike): NormalisedSpan {
  const { traceId, spanId, traceState } = span.spanContext();
  const resourceAttributes = normaliseAttributes(span.resource?.attributes);
  const serviceName = resourceAttributes['service.name'];
  const normalised: NormalisedSpan = {
    traceId,
    spanId,
    name: span.name,
    kind: span.kind,
    startTimeUnixNano: hrTimeToNanos(span.startTime),
    endTimeUnixNano: hrTimeToNanos(span.endTime),
    status: span.status.message
      ? { code: span.status.code, message: span.status.message }
      : { code: span.status.code },
    attributes: normaliseAttributes(span.attributes),
    events: span.events.map((event) => ({
      name: event.name,
      timeUnixNano: hrTimeToNanos(event.time),
      attributes: normaliseAttributes(event.attributes),
    })),
    links: (span.links ?? []).map((link) => {
      const normalisedLink: NormalisedLink = {
        traceId: link.context.traceId,
        spanId: link.context.spanId,
        attributes: normaliseAttributes(link.attributes),
      };
      const linkState = link.context.traceState?.serialize();
      if (linkState) normalisedLink.traceState = linkState;
      return normalisedLink;
    }),
    resourceAttributes,
  };
  if (span.parentSpanContext?.spanId) normalised.parentSpanId = span.parentSpanContext.spanId;
  const state = traceState?.serialize();
  if (state) normalised.traceState = state;
  if (typeof serviceName === 'string') normalised.serviceName = serviceName;
  if (span.instrumentationScope) {
    normalised.scope = span.instrumentationScope.version
      ? { name: span.instrumentationScope.name, version: span.instrumentationScope.version }
      : { name: span.instrumentationScope.name };
  }
  return normalised;
}
