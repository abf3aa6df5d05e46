import { type Context, createContextKey } from '@opentelemetry/api';
import type { AdapterIdentity, TracingOptions } from '@tracewire/core';
import { VERSION } from './version.js';

/** Options of every outgoing HTTP wrapper. */
export interface HttpClientOptions extends TracingOptions {
  /** `false` makes the wrapper pass every request straight through, untraced. Default `true`. */
  enabled?: boolean;
}

export const IDENTITY: AdapterIdentity = { packageName: '@tracewire/http', version: VERSION };

/**
 * Set in the context a traced request is sent from. `traceFetch` sends through undici, whose
 * global dispatcher may carry `traceInterceptor` too: the inner layer sees the key and passes the
 * request through, so one request gets one CLIENT span. `createContextKey` uses `Symbol.for`, so
 * the ESM and CJS builds share the key.
 */
const TRACED_KEY = createContextKey('@tracewire/http: request already traced');

export function markTraced(parent: Context): Context {
  return parent.setValue(TRACED_KEY, true);
}

export function isTraced(active: Context): boolean {
  return active.getValue(TRACED_KEY) === true;
}
