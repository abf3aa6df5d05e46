// The query parameters whose values the conventions (url.md) redact by default, on CLIENT spans
// (`url.full`) and SERVER spans (`url.query`) alike: one list and one redaction for both sides.
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

/**
 * `query` (without its `?`) with the value of every secret key replaced by `REDACTED`, each one
 * (a key may repeat); everything else stays exactly as it was written, so `url.full` and
 * `url.query` show the request as it went out. A name is compared percent-decoded (`s%69g` is
 * `sig` to the server that reads it). Returns `query` itself when nothing is redacted.
 */
export function redactQuery(query: string): string {
  if (!mayHoldSecret(query)) return query;
  const pairs = query.split('&');
  let changed = false;
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i]!;
    const equals = pair.indexOf('=');
    if (equals === -1) continue;
    const name = pair.slice(0, equals);
    if (!SECRET_QUERY_KEYS.includes(decodedName(name))) continue;
    pairs[i] = `${name}=${REDACTED}`;
    changed = true;
  }
  return changed ? pairs.join('&') : query;
}

function mayHoldSecret(query: string): boolean {
  if (query.includes('%')) return true;
  for (const key of SECRET_QUERY_KEYS) if (query.includes(key)) return true;
  return false;
}

// Only ASCII can match a key: each %XX is decoded to one char, and a byte of a multi-byte UTF-8
// sequence becomes a non-ASCII char that matches nothing, as its proper decoding would.
const PERCENT_BYTE = /%([0-9A-Fa-f]{2})/g;

function decodedName(name: string): string {
  if (!name.includes('%')) return name;
  return name.replace(PERCENT_BYTE, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}
