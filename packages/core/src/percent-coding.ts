import { hexDigitValue } from './chars.js';

// Non-fatal: each maximal invalid subpart becomes one U+FFFD, as the Baggage spec requires.
// ignoreBOM keeps a leading U+FEFF as data instead of swallowing it.
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
/** Reused for every value up to the header cap: decoding is synchronous and `decode` copies out. */
const scratch = new Uint8Array(8192);

/** Percent-encodes as UTF-8; `undefined` for a non-string or a lone surrogate. */
export function percentEncode(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    return encodeURIComponent(value);
  } catch {
    return undefined;
  }
}

/**
 * Percent-decodes an ASCII string (already checked to be `baggage-octet`s) octet by octet and
 * reads the octets as UTF-8, invalid sequences becoming U+FFFD. `undefined` when a `%` is not
 * followed by two hex digits. A string without `%` is returned as is.
 */
export function percentDecode(text: string): string | undefined {
  const first = text.indexOf('%');
  if (first < 0) return text;
  const length = text.length;
  const octets = length <= scratch.length ? scratch : new Uint8Array(length);
  let count = 0;
  for (let i = 0; i < first; i++) octets[count++] = text.charCodeAt(i);
  for (let i = first; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code !== 0x25) {
      octets[count++] = code;
      continue;
    }
    const high = hexDigitValue(text.charCodeAt(i + 1));
    const low = hexDigitValue(text.charCodeAt(i + 2));
    if (high < 0 || low < 0) return undefined;
    octets[count++] = (high << 4) | low;
    i += 2;
  }
  return decoder.decode(octets.subarray(0, count));
}
