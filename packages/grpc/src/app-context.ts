import type { Link } from '@opentelemetry/api';
import { parseTraceparent } from '@tracewire/core';

/**
 * The rule for a context the application put in the call itself: when its metadata already
 * carries a `traceparent`, the interceptor leaves `traceparent`, `tracestate` and `baggage` as the
 * application set them (one context, never a mix), and the CLIENT span, still the child of the
 * active context, links to the application's context.
 */
export function appContextLink(traceparent: unknown): Link | undefined {
  const parsed = parseTraceparent(traceparent);
  if (parsed === undefined) return undefined;
  return {
    context: {
      traceId: parsed.traceId,
      spanId: parsed.spanId,
      traceFlags: parsed.traceFlags & 0x01,
      isRemote: true,
    },
  };
}

// Symbol.for: the ESM and CJS builds of this package see the same mark.
const TRACED = Symbol.for('@tracewire/grpc: call already traced');

interface MetadataOptions {
  getOptions?(): object;
  setOptions?(options: object): void;
}

/**
 * Marks the metadata a traced call goes on with, for an interceptor stacked below this one. The
 * mark is also in a copy of its options: `Metadata#clone` shares those with the clone, so an
 * interceptor between two tracewire ones that clones the metadata keeps the mark.
 */
export function markTraced<T extends object>(metadata: T): T {
  (metadata as Record<symbol, unknown>)[TRACED] = true;
  const { getOptions, setOptions } = metadata as MetadataOptions;
  if (typeof getOptions === 'function' && typeof setOptions === 'function') {
    // Object.assign then the key: a spread then a new key is slow on Node 20.
    const options = Object.assign({}, getOptions.call(metadata)) as Record<symbol, unknown>;
    options[TRACED] = true;
    setOptions.call(metadata, options);
  }
  return metadata;
}

/** Whether an interceptor above this one already traces the call. */
export function isTraced(metadata: object): boolean {
  if ((metadata as Record<symbol, unknown>)[TRACED] === true) return true;
  const { getOptions } = metadata as MetadataOptions;
  if (typeof getOptions !== 'function') return false;
  const options = getOptions.call(metadata) as Record<symbol, unknown> | undefined;
  return options?.[TRACED] === true;
}
