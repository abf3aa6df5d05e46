// Character-class checks by char code: parsing untrusted headers never uses a regex,
// so it is linear and cannot backtrack.

/** `0-9a-f` only: the spec forbids upper-case hex in traceparent. */
export function isLowerHexCode(code: number): boolean {
  return (code >= 0x30 && code <= 0x39) || (code >= 0x61 && code <= 0x66);
}

export function isLowerAlphaCode(code: number): boolean {
  return code >= 0x61 && code <= 0x7a;
}

export function isDigitCode(code: number): boolean {
  return code >= 0x30 && code <= 0x39;
}

/** Optional white space as defined by RFC 7230: space or horizontal tab. */
export function isOwsCode(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/** Index of the first non-OWS character at or after `from` (at most `to`). */
export function skipOws(text: string, from: number, to: number): number {
  let i = from;
  while (i < to && isOwsCode(text.charCodeAt(i))) i++;
  return i;
}

/** Index just past the last non-OWS character before `to` (at least `from`). */
export function trimOwsEnd(text: string, from: number, to: number): number {
  let i = to;
  while (i > from && isOwsCode(text.charCodeAt(i - 1))) i--;
  return i;
}

/** Two lower-case hex digits, or -1. */
export function parseHexByte(text: string, at: number): number {
  const hi = text.charCodeAt(at);
  const lo = text.charCodeAt(at + 1);
  if (!isLowerHexCode(hi) || !isLowerHexCode(lo)) return -1;
  return (hexValue(hi) << 4) | hexValue(lo);
}

function hexValue(code: number): number {
  return code <= 0x39 ? code - 0x30 : code - 0x57;
}

/** The value of a hex digit of either case (percent-encoding allows both), or -1. */
export function hexDigitValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x57 : -1;
}

const HEX_BYTES: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function formatHexByte(value: number): string {
  return HEX_BYTES[value & 0xff]!;
}

/** A header value as a single string: several values (repeated headers) are joined with commas. */
export function joinHeaderValues(value: unknown, maxLength: number): string | undefined {
  if (typeof value === 'string') return value.length <= maxLength ? value : undefined;
  if (!Array.isArray(value)) return undefined;
  let total = 0;
  for (const item of value) {
    if (typeof item !== 'string') return undefined;
    total += item.length + 1;
    if (total > maxLength + 1) return undefined;
  }
  return value.join(',');
}
