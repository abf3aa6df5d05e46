import { ATTR_ERROR_TYPE, type SpanScope } from '@tracewire/core';
import { ATTR_HTTP_RESPONSE_STATUS_CODE } from './attribute-names.js';
import { isCallerAbort, requestErrorType } from './client-attributes.js';

/** Records the response status; 4xx and 5xx are errors for a client. Does not end the span. */
export function recordStatus(scope: SpanScope, status: number): void {
  // One attribute: set as such, without a record for the SDK to iterate.
  if (!scope.ended) scope.span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
  if (status >= 400) scope.failWith(String(status));
}

/**
 * Ends the span of a request that failed (network error, timeout) as ERROR; one the caller
 * cancelled on purpose just ends (not an error, semantic conventions v1.41). `cancelled` is
 * whether the caller did: by default, an abort error that is not a timeout.
 */
export function endWithError(scope: SpanScope, error: unknown, cancelled = isCallerAbort(error)): void {
  if (cancelled) {
    scope.end();
    return;
  }
  scope
    .fail(error)
    .setAttributes({ [ATTR_ERROR_TYPE]: requestErrorType(error) })
    .end();
}
