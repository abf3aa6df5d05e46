// The query parameters whose values the conventions (url.md) redact by default, on CLIENT spans
// (`url.full`) and SERVER spans (`url.query`) alike: one list for both sides.
export const SECRET_QUERY_KEYS: readonly string[] = [
  'AWSAccessKeyId',
  'Signature',
  'sig',
  'X-Goog-Signature',
  'X-Amz-Signature',
  'X-Amz-Credential',
  'X-Amz-Security-Token',
];

export const REDACTED = 'REDACTED';
