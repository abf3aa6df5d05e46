// The carrier of outgoing HTTP: the propagator writes into a fresh lower-case record, which is
// then merged into whatever header form the caller used, as a copy (the caller's object is never
// modified) in the same form. Merging replaces every spelling of an injected name, so a user's
// own `traceparent` is replaced, never sent twice.
import type { HeaderRecord } from '@tracewire/core';

/** The header values a propagator injected, by lower-case name. */
export type Injected = Record<string, string>;

const TRACEPARENT = 'traceparent';
const TRACESTATE = 'tracestate';

/** Lower-case names the merge removes from the caller's headers. */
function replacedNames(injected: Injected): Set<string> {
  const names = new Set(Object.keys(injected));
  // A caller's tracestate belongs to the caller's traceparent, which was just replaced.
  if (names.has(TRACEPARENT)) names.add(TRACESTATE);
  return names;
}

function isReplaced(names: Set<string>, name: unknown): boolean {
  return typeof name === 'string' && names.has(name.toLowerCase());
}

/** A header record with the injected headers merged in. */
export function mergeIntoRecord<T>(
  headers: Record<string, T> | undefined | null,
  injected: Injected,
): Record<string, T | string> {
  // No headers of the caller's: the propagator's fresh record is the merge.
  if (headers === undefined || headers === null) return injected;
  const names = replacedNames(injected);
  const merged: Record<string, T | string> = {};
  if (headers) {
    for (const name of Object.keys(headers)) if (!isReplaced(names, name)) merged[name] = headers[name]!;
    // Kept so the client treats them as before (fetch rejects a symbol key; others ignore them).
    for (const key of Object.getOwnPropertySymbols(headers)) {
      if (Object.prototype.propertyIsEnumerable.call(headers, key)) {
        (merged as Record<symbol, unknown>)[key] = (headers as Record<symbol, unknown>)[key];
      }
    }
  }
  return Object.assign(merged, injected);
}

/** A flat `[name, value, name, value]` list (undici, node:http raw headers) with the injected ones. */
export function mergeIntoFlatList(headers: readonly unknown[], injected: Injected): unknown[] {
  // An odd-length list is no header list: the client rejects it, with the same message as untraced.
  if (headers.length % 2 !== 0) return headers as unknown[];
  const names = replacedNames(injected);
  const merged: unknown[] = [];
  for (let i = 0; i + 1 < headers.length; i += 2) {
    if (!isReplaced(names, headers[i])) merged.push(headers[i], headers[i + 1]);
  }
  for (const name of Object.keys(injected)) merged.push(name, injected[name]);
  return merged;
}

/** `[name, value]` pairs with the injected ones appended. */
function mergeIntoPairs(headers: Iterable<unknown>, injected: Injected): unknown[] {
  const names = replacedNames(injected);
  const merged: unknown[] = [];
  for (const pair of headers) {
    if (!Array.isArray(pair) || !isReplaced(names, pair[0])) merged.push(pair);
  }
  for (const name of Object.keys(injected)) merged.push([name, injected[name]]);
  return merged;
}

/** A fetch `HeadersInit` (a `Headers`, pairs or a record) with the injected headers, same form. */
export function mergeFetchHeaders(headers: unknown, injected: Injected): unknown {
  // null or a primitive is no HeadersInit: left as it is, fetch rejects it as it would untraced.
  if (headers === null || (headers !== undefined && typeof headers !== 'object')) return headers;
  if (headers instanceof Headers) {
    const copy = new Headers(headers);
    for (const name of replacedNames(injected)) copy.delete(name);
    for (const name of Object.keys(injected)) copy.set(name, injected[name]!);
    return copy;
  }
  if (isIterable(headers)) return mergeIntoPairs(headers, injected);
  return mergeIntoRecord(headers as Record<string, unknown> | undefined, injected);
}

/**
 * undici's `opts.headers` with the injected headers, told apart as undici does: an array is a
 * flat list, another iterable yields pairs (returned as a re-iterable that is not an array),
 * anything else is a record.
 */
export function mergeDispatchHeaders(headers: unknown, injected: Injected): unknown {
  // Neither a list nor a record: left as it is, undici rejects it as it would untraced.
  if (headers != null && typeof headers !== 'object') return headers;
  if (Array.isArray(headers)) return mergeIntoFlatList(headers, injected);
  if (isIterable(headers)) {
    const pairs = mergeIntoPairs(headers, injected);
    return { [Symbol.iterator]: () => pairs[Symbol.iterator]() };
  }
  return mergeIntoRecord(headers as Record<string, unknown> | undefined, injected);
}

/** Writes the injected headers into `headers` in place (for `injectHeaders`). */
export function writeIntoRecord(headers: HeaderRecord, injected: Injected): HeaderRecord {
  const names = replacedNames(injected);
  for (const name of Object.keys(headers)) if (isReplaced(names, name)) delete headers[name];
  return Object.assign(headers, injected);
}

/** Whether `value` is iterable (a `Headers`, a `Map`, an array of pairs, a generator). */
export function isIterable(value: unknown): value is Iterable<unknown> {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as { [Symbol.iterator]?: unknown })[Symbol.iterator] === 'function'
  );
}
