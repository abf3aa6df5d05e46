// The request methods the HTTP semantic conventions know, shared by the CLIENT and SERVER spans:
// any other method is `_OTHER` in `http.request.method` and `HTTP` in the span name, so a caller
// cannot blow up the cardinality of either. RFC 9110's methods, PATCH, and QUERY (semantic
// conventions v1.38). `OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS` (a comma-separated,
// case-sensitive list) replaces the whole list, as the conventions require; it is read once,
// when this module loads.
const DEFAULT_METHODS = [
  'CONNECT',
  'DELETE',
  'GET',
  'HEAD',
  'OPTIONS',
  'PATCH',
  'POST',
  'PUT',
  'QUERY',
  'TRACE',
];

/** The known methods for an `OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS` value (or none set). */
export function knownMethodsFrom(setting: string | undefined): ReadonlySet<string> {
  if (setting === undefined || setting.trim() === '') return new Set(DEFAULT_METHODS);
  const methods = setting
    .split(',')
    .map((method) => method.trim())
    .filter((method) => method !== '');
  return new Set(methods.length === 0 ? DEFAULT_METHODS : methods);
}

const KNOWN_METHODS = knownMethodsFrom(
  typeof process === 'undefined' ? undefined : process.env.OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS,
);

/** Whether the conventions know `method`, compared as given (case-sensitive). */
export function isKnownMethod(method: string): boolean {
  return KNOWN_METHODS.has(method);
}

/** The method as the span name shows it: `HTTP` for methods the conventions do not know. */
export function nameMethod(method: string | undefined): string {
  return method !== undefined && KNOWN_METHODS.has(method) ? method : 'HTTP';
}
