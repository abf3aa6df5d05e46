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

/**
 * A header value as a single string: several values (repeated headers) are joined with commas.
 * Anything but a string or an array of strings gives `undefined`, as does an array that throws
 * when read (a Proxy, a throwing getter): each item is read once.
 */
export function joinHeaderValues(value: unknown, maxLength: number): string | undefined {
  if (typeof value === 'string') return value.length <= maxLength ? value : undefined;
  if (value === null || typeof value !== 'object') return undefined;
  try {
    if (!Array.isArray(value)) return undefined;
    const count: unknown = value.length;
    // Each item takes at least its comma, so a longer list cannot fit.
    if (typeof count !== 'number' || count > maxLength + 1) return undefined;
    let joined = '';
    for (let i = 0; i < count; i++) {
      const item: unknown = value[i];
      if (typeof item !== 'string') return undefined;
      if (joined.length + item.length + (i > 0 ? 1 : 0) > maxLength) return undefined;
      joined = i > 0 ? `${joined},${item}` : item;
    }
    return joined;
  } catch {
    return undefined;
  }
}

/** The only item of a one-item array of strings, or `undefined`; never throws. */
export function singleHeaderValue(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  try {
    if (!Array.isArray(value) || value.length !== 1) return undefined;
    const item: unknown = value[0];
    return typeof item === 'string' ? item : undefined;
  } catch {
    return undefined;
  }
}
