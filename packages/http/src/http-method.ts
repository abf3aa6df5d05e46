// The request methods the HTTP semantic conventions know, shared by the CLIENT and SERVER spans:
// any other method is `_OTHER` in `http.request.method` and `HTTP` in the span name, so a caller
// cannot blow up the cardinality of either.
const KNOWN_METHODS: ReadonlySet<string> = new Set([
  'CONNECT',
  'DELETE',
  'GET',
  'HEAD',
  'OPTIONS',
  'PATCH',
  'POST',
  'PUT',
  'TRACE',
]);

/** Whether the conventions know `method`, compared as given (case-sensitive). */
export function isKnownMethod(method: string): boolean {
  return KNOWN_METHODS.has(method);
}

/** The method as the span name shows it: `HTTP` for methods the conventions do not know. */
export function nameMethod(method: string | undefined): string {
  return method !== undefined && KNOWN_METHODS.has(method) ? method : 'HTTP';
}
