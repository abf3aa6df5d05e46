// Decodes an OTLP ExportTraceServiceRequest (protobuf) into normalised spans. Field numbers follow
// opentelemetry-proto: collector/trace/v1/trace_service.proto, trace/v1/trace.proto,
// common/v1/common.proto, resource/v1/resource.proto. Unknown fields are skipped by wire type.
import type { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type {
  NormalisedAttributes,
  NormalisedEvent,
  NormalisedLink,
  NormalisedSpan,
  NormalisedValue,
} from './normalised-span.js';
import { ProtoReader, WIRE_I64, WIRE_LEN, WIRE_VARINT } from './protobuf-reader.js';
import { fromOtlpKind, int64Value, serviceNameOf, toHex } from './otlp-values.js';

const MAX_DEPTH = 32;

type Scope = NormalisedSpan['scope'];

/** Reads every field of a message, handing each known one to `read`; others are skipped. */
function fields(reader: ProtoReader, read: (field: number, wire: number) => boolean): void {
  while (!reader.done) {
    const { field, wire } = reader.tag();
    if (!read(field, wire)) reader.skip(wire);
  }
}

function anyValue(reader: ProtoReader, depth: number): NormalisedValue {
  if (depth > MAX_DEPTH) throw new Error('protobuf: attribute values nested too deeply');
  let value: NormalisedValue = null;
  fields(reader, (field, wire) => {
    if (field === 1 && wire === WIRE_LEN) value = reader.string();
    else if (field === 2 && wire === WIRE_VARINT) value = reader.varint() !== 0n;
    else if (field === 3 && wire === WIRE_VARINT) value = int64Value(reader.int64());
    else if (field === 4 && wire === WIRE_I64) value = reader.double();
    else if (field === 5 && wire === WIRE_LEN) value = arrayValue(reader.message(), depth + 1);
    else if (field === 6 && wire === WIRE_LEN) value = keyValues(reader.message(), depth + 1);
    else if (field === 7 && wire === WIRE_LEN) value = new Uint8Array(reader.bytes());
    else return false;
    return true;
  });
  return value;
}

function arrayValue(reader: ProtoReader, depth: number): NormalisedValue[] {
  const values: NormalisedValue[] = [];
  fields(reader, (field, wire) => {
    if (field !== 1 || wire !== WIRE_LEN) return false;
    values.push(anyValue(reader.message(), depth));
    return true;
  });
  return values;
}

/** A KeyValueList: repeated KeyValue values = 1. */
function keyValues(reader: ProtoReader, depth: number): NormalisedAttributes {
  const result: NormalisedAttributes = {};
  fields(reader, (field, wire) => {
    if (field !== 1 || wire !== WIRE_LEN) return false;
    keyValue(reader.message(), result, depth);
    return true;
  });
  return result;
}

/** KeyValue { string key = 1; AnyValue value = 2; } added to `into`. */
function keyValue(reader: ProtoReader, into: NormalisedAttributes, depth: number): void {
  let key = '';
  let value: NormalisedValue = null;
  fields(reader, (field, wire) => {
    if (field === 1 && wire === WIRE_LEN) key = reader.string();
    else if (field === 2 && wire === WIRE_LEN) value = anyValue(reader.message(), depth + 1);
    else return false;
    return true;
  });
  into[key] = value;
}

/** Reads a `repeated KeyValue` field occurrence into `into`. */
function attribute(reader: ProtoReader, into: NormalisedAttributes): void {
  keyValue(reader.message(), into, 0);
}

function event(reader: ProtoReader): NormalisedEvent {
  const result: NormalisedEvent = { name: '', timeUnixNano: '0', attributes: {} };
  fields(reader, (field, wire) => {
    if (field === 1 && wire === WIRE_I64) result.timeUnixNano = reader.fixed64().toString();
    else if (field === 2 && wire === WIRE_LEN) result.name = reader.string();
    else if (field === 3 && wire === WIRE_LEN) attribute(reader, result.attributes);
    else return false;
    return true;
  });
  return result;
}

function link(reader: ProtoReader): NormalisedLink {
  const result: NormalisedLink = { traceId: '', spanId: '', attributes: {} };
  fields(reader, (field, wire) => {
    if (wire !== WIRE_LEN) return false;
    if (field === 1) result.traceId = toHex(reader.bytes());
    else if (field === 2) result.spanId = toHex(reader.bytes());
    else if (field === 3) result.traceState = reader.string() || undefined;
    else if (field === 4) attribute(reader, result.attributes);
    else return false;
    return true;
  });
  if (result.traceState === undefined) delete result.traceState;
  return result;
}

function status(reader: ProtoReader): NormalisedSpan['status'] {
  let code = 0;
  let message = '';
  fields(reader, (field, wire) => {
    if (field === 2 && wire === WIRE_LEN) message = reader.string();
    else if (field === 3 && wire === WIRE_VARINT) code = reader.uint();
    else return false;
    return true;
  });
  return message ? { code: code as SpanStatusCode, message } : { code: code as SpanStatusCode };
}

function span(reader: ProtoReader, scope: Scope): NormalisedSpan {
  const result: NormalisedSpan = {
    traceId: '',
    spanId: '',
    name: '',
    kind: 0 as SpanKind,
    startTimeUnixNano: '0',
    endTimeUnixNano: '0',
    status: { code: 0 as SpanStatusCode },
    attributes: {},
    events: [],
    links: [],
    resourceAttributes: {},
  };
  let parent = '';
  let traceState = '';
  fields(reader, (field, wire) => {
    if (wire === WIRE_LEN) {
      if (field === 1) result.traceId = toHex(reader.bytes());
      else if (field === 2) result.spanId = toHex(reader.bytes());
      else if (field === 3) traceState = reader.string();
      else if (field === 4) parent = toHex(reader.bytes());
      else if (field === 5) result.name = reader.string();
      else if (field === 9) attribute(reader, result.attributes);
      else if (field === 11) result.events.push(event(reader.message()));
      else if (field === 13) result.links.push(link(reader.message()));
      else if (field === 15) result.status = status(reader.message());
      else return false;
    } else if (field === 6 && wire === WIRE_VARINT) result.kind = fromOtlpKind(reader.uint());
    else if (field === 7 && wire === WIRE_I64) result.startTimeUnixNano = reader.fixed64().toString();
    else if (field === 8 && wire === WIRE_I64) result.endTimeUnixNano = reader.fixed64().toString();
    else return false;
    return true;
  });
  if (parent) result.parentSpanId = parent;
  if (traceState) result.traceState = traceState;
  if (scope) result.scope = scope;
  return result;
}

function scope(reader: ProtoReader): Scope {
  let name = '';
  let version = '';
  fields(reader, (field, wire) => {
    if (field === 1 && wire === WIRE_LEN) name = reader.string();
    else if (field === 2 && wire === WIRE_LEN) version = reader.string();
    else return false;
    return true;
  });
  return version ? { name, version } : { name };
}

function scopeSpans(reader: ProtoReader, into: NormalisedSpan[]): void {
  // The scope may follow its spans on the wire, so spans are read after it is known.
  let found: Scope;
  const spans: ProtoReader[] = [];
  fields(reader, (field, wire) => {
    if (field === 1 && wire === WIRE_LEN) found = scope(reader.message());
    else if (field === 2 && wire === WIRE_LEN) spans.push(reader.message());
    else return false;
    return true;
  });
  for (const spanReader of spans) into.push(span(spanReader, found));
}

function resourceSpans(reader: ProtoReader, into: NormalisedSpan[]): void {
  const resourceAttributes: NormalisedAttributes = {};
  const spans: NormalisedSpan[] = [];
  fields(reader, (field, wire) => {
    if (field === 1 && wire === WIRE_LEN) {
      // Resource { repeated KeyValue attributes = 1; }
      const resource = reader.message();
      fields(resource, (inner, innerWire) => {
        if (inner !== 1 || innerWire !== WIRE_LEN) return false;
        attribute(resource, resourceAttributes);
        return true;
      });
    } else if (field === 2 && wire === WIRE_LEN) scopeSpans(reader.message(), spans);
    else return false;
    return true;
  });
  const serviceName = serviceNameOf(resourceAttributes);
  for (const decoded of spans) {
    decoded.resourceAttributes = resourceAttributes;
    if (serviceName !== undefined) decoded.serviceName = serviceName;
    into.push(decoded);
  }
}

/** ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; } */
export function decodeTraceRequestProtobuf(body: Uint8Array): NormalisedSpan[] {
  const reader = new ProtoReader(body);
  const spans: NormalisedSpan[] = [];
  fields(reader, (field, wire) => {
    if (field !== 1 || wire !== WIRE_LEN) return false;
    resourceSpans(reader.message(), spans);
    return true;
  });
  return spans;
}
