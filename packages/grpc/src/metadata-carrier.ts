import type { Metadata, MetadataValue } from '@grpc/grpc-js';
import type { TextMapGetter, TextMapSetter } from '@opentelemetry/api';
import { reportOnce } from '@tracewire/core';

/**
 * Reads grpc-js `Metadata`. A key sent more than once comes back as an array (so two
 * `traceparent` values are invalid, as the spec says, and several `tracestate` values combine);
 * binary (`-bin`) values are decoded as latin1 so they can never throw.
 */
export const metadataGetter: TextMapGetter<Metadata> = {
  keys(metadata: Metadata): string[] {
    try {
      return Object.keys(metadata.toJSON());
    } catch {
      return [];
    }
  },
  get(metadata: Metadata, key: string): string | string[] | undefined {
    let values: MetadataValue[];
    try {
      values = metadata.get(key);
    } catch {
      return undefined;
    }
    if (values.length === 0) return undefined;
    if (values.length === 1) return asText(values[0]);
    return values.map(asText);
  },
};

/**
 * Writes into grpc-js `Metadata`, replacing any value already there. grpc-js refuses non-ASCII
 * values; such a header is skipped and reported once, the call goes on.
 */
export const metadataSetter: TextMapSetter<Metadata> = {
  set(metadata: Metadata, key: string, value: string): void {
    try {
      metadata.set(key, value);
    } catch (error) {
      reportOnce(`@tracewire/grpc: grpc-js refused the ${key} metadata; it was not sent`, error);
    }
  },
};

function asText(value: MetadataValue | undefined): string {
  return typeof value === 'string' ? value : Buffer.isBuffer(value) ? value.toString('latin1') : '';
}
