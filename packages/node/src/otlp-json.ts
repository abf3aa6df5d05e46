// Decodes an OTLP/JSON ExportTraceServiceRequest into normalised spans. OTLP/JSON differs from the
// plain protobuf JSON mapping: trace and span ids are hex, enums are integers (names accepted too),
// int64 values may be strings or numbers.
import type { SpanStatusCode } from '@opentelemetry/api';
import type {
  NormalisedAttributes,
  NormalisedEvent,
  NormalisedLink,
  NormalisedSpan,
  NormalisedValue,
} from './normalised-span.js';
import { fromOtlpKind, int64Value, serviceNameOf, toHex } from './otlp-values.js';

type Json = Record<string, unknown>;

const MAX_DEPTH = 32;
const KIND_NAMES = [
  'SPAN_KIND_UNSPECIFIED',
  'SPAN_KIND_INTERNAL',
  'SPAN_KIND_SERVER',
  'SPAN_KIND_CLIENT',
  'SPAN_KIND_PRODUCER',
  'SPAN_KIND_CONSUMER',
];
const STATUS_NAMES = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'];

function object(value: unknown): Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : {};
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** Hex as OTLP/JSON requires; base64 (the generic protobuf JSON mapping) accepted too. */
function id(value: unknown): string {
  const raw = text(value);
  if (/^(?:[0-9a-fA-F]{2})*$/.test(raw)) return raw.toLowerCase();
  return toHex(Buffer.from(raw, 'base64'));
}

function integer(value: unknown): bigint {
  if (typeof value === 'number' && Number.isFinite(value)) return BigInt(Math.trunc(value));
  if (typeof value === 'string' && /^-?\d+$/.test(value.trim())) return BigInt(value.trim());
  return 0n;
}

function enumValue(value: unknown, names: readonly string[]): number {
  if (typeof value === 'string' && names.includes(value)) return names.indexOf(value);
  return Number(integer(value));
}

function anyValue(raw: unknown, depth: number): NormalisedValue {
  if (depth > MAX_DEPTH) throw new Error('OTLP/JSON: attribute values nested too deeply');
  const value = object(raw);
  if ('stringValue' in value) return text(value.stringValue);
  if ('boolValue' in value) return value.boolValue === true;
  if ('intValue' in value) return int64Value(integer(value.intValue));
  if ('doubleValue' in value) return Number(value.doubleValue);
  if ('arrayValue' in value)
    return list(object(value.arrayValue).values).map((item) => anyValue(item, depth + 1));
  if ('kvlistValue' in value) return attributes(object(value.kvlistValue).values, depth + 1);
  if ('bytesValue' in value) return new Uint8Array(Buffer.from(text(value.bytesValue), 'base64'));
  return null;
}

function attributes(raw: unknown, depth = 0): NormalisedAttributes {
  const result: NormalisedAttributes = {};
  for (const item of list(raw)) {
    const entry = object(item);
    result[text(entry.key)] = anyValue(entry.value, depth + 1);
  }
  return result;
}

function event(raw: unknown): NormalisedEvent {
  const value = object(raw);
  return {
    name: text(value.name),
    timeUnixNano: integer(value.timeUnixNano).toString(),
    attributes: attributes(value.attributes),
  };
}

function link(raw: unknown): NormalisedLink {
  const value = object(raw);
  const result: NormalisedLink = {
    traceId: id(value.traceId),
    spanId: id(value.spanId),
    attributes: attributes(value.attributes),
  };
  if (text(value.traceState)) result.traceState = text(value.traceState);
  return result;
}

function span(
  raw: unknown,
  resourceAttributes: NormalisedAttributes,
  scope: NormalisedSpan['scope'],
): NormalisedSpan {
  const value = object(raw);
  const status = object(value.status);
  const code = enumValue(status.code, STATUS_NAMES) as SpanStatusCode;
  const result: NormalisedSpan = {
    traceId: id(value.traceId),
    spanId: id(value.spanId),
    name: text(value.name),
    kind: fromOtlpKind(enumValue(value.kind, KIND_NAMES)),
    startTimeUnixNano: integer(value.startTimeUnixNano).toString(),
    endTimeUnixNano: integer(value.endTimeUnixNano).toString(),
    status: text(status.message) ? { code, message: text(status.message) } : { code },
    attributes: attributes(value.attributes),
    events: list(value.events).map(event),
    links: list(value.links).map(link),
    resourceAttributes,
  };
  const parent = id(value.parentSpanId);
  if (parent) result.parentSpanId = parent;
  if (text(value.traceState)) result.traceState = text(value.traceState);
  const serviceName = serviceNameOf(resourceAttributes);
  if (serviceName !== undefined) result.serviceName = serviceName;
  if (scope) result.scope = scope;
  return result;
}

/** Spans of a parsed OTLP/JSON request body; throws when the body is not a JSON object. */
export function decodeTraceRequestJson(body: unknown): NormalisedSpan[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new Error('OTLP/JSON: the body is not an ExportTraceServiceRequest object');
  }
  const spans: NormalisedSpan[] = [];
  for (const resourceSpans of list((body as Json).resourceSpans)) {
    const resource = object(object(resourceSpans).resource);
    const resourceAttributes = attributes(resource.attributes);
    for (const scopeSpans of list(object(resourceSpans).scopeSpans)) {
      const rawScope = object(object(scopeSpans).scope);
      const scope = 'name' in rawScope || 'version' in rawScope ? scopeOf(rawScope) : undefined;
      for (const raw of list(object(scopeSpans).spans)) spans.push(span(raw, resourceAttributes, scope));
    }
  }
  return spans;
}

function scopeOf(raw: Json): NormalisedSpan['scope'] {
  const version = text(raw.version);
  return version ? { name: text(raw.name), version } : { name: text(raw.name) };
}
