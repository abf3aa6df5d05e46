import type { SpanKind } from '@opentelemetry/api';
import type { NormalisedAttributes, NormalisedValue } from './normalised-span.js';

/** OTLP's SpanKind counts from UNSPECIFIED = 0, the API's from INTERNAL = 0. */
export function fromOtlpKind(kind: number): SpanKind {
  return (kind >= 1 && kind <= 5 ? kind - 1 : 0) as SpanKind;
}

/** int64 as a number when exact, else as its decimal string. */
export function int64Value(value: bigint): NormalisedValue {
  const number = Number(value);
  return Number.isSafeInteger(number) ? number : value.toString();
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function serviceNameOf(resource: NormalisedAttributes): string | undefined {
  const name = resource['service.name'];
  return typeof name === 'string' ? name : undefined;
}
