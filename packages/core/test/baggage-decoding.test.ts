// W3C Baggage: "percent-encoded octet sequences that do not match the UTF-8 encoding scheme MUST be
// replaced with the replacement code point (U+FFFD)". Decoding is octet by octet; each maximal
// invalid subpart becomes one U+FFFD (the WHATWG / Unicode "maximal subpart" practice).
import { parseBaggage } from '@tracewire/core';
import { describe, expect, it } from 'vitest';

const R = '\uFFFD';

/** The decoded value of the single member of `header`, or undefined when it was dropped. */
function decodedValue(header: string): string | undefined {
  const members = parseBaggage(header);
  expect(members === undefined || members.length === 1, header).toBe(true);
  return members?.[0]?.value;
}

describe('baggage value decoding: invalid UTF-8 becomes U+FFFD', () => {
  const cases: Array<[rule: string, header: string, expected: string]> = [
    ['invalid UTF-8 in a percent-encoded value (issue #16)', 'k=aa%ffcc', `aa${R}cc`],
    ['several invalid octets (issue #16)', 'k=aa%ffcc%fedd%fa', `aa${R}cc${R}dd${R}`],
    ['invalid octets in value and property (issue #16)', 'k=aa%ffcc;p=d%fff', `aa${R}cc`],
    ['upper-case hex, invalid octet', 'k=%FF', R],
    ['a lone continuation byte', 'k=a%80b', `a${R}b`],
    ['overlong encoding of "/" (C0 AF)', 'k=%C0%AF', `${R}${R}`],
    ['overlong three-byte NUL (E0 80 80)', 'k=%E0%80%80', `${R}${R}${R}`],
    ['UTF-8-encoded high surrogate (ED A0 80)', 'k=%ED%A0%80', `${R}${R}${R}`],
    ['UTF-8-encoded low surrogate (ED BF BF)', 'k=x%ED%BF%BFy', `x${R}${R}${R}y`],
    ['a code point past U+10FFFF (F4 90 80 80)', 'k=%F4%90%80%80', `${R}${R}${R}${R}`],
    ['truncated three-byte sequence at the end (E2 82)', 'k=%E2%82', R],
    ['truncated three-byte sequence before ASCII (E2 82 x)', 'k=%E2%82x', `${R}x`],
    ['truncated four-byte sequence (F0 9F 98)', 'k=%F0%9F%98!', `${R}!`],
    ['truncated sequence followed by a valid one', 'k=%E2%82%E2%82%AC', `${R}€`],
    ['a lead byte followed by another lead byte', 'k=%C3%C3%A9', `${R}é`],
    ['valid three-byte sequence: €', 'k=%E2%82%AC', '€'],
    ['valid four-byte sequence: 😀', 'k=%F0%9F%98%80', '😀'],
    ['valid two-byte sequence, mixed-case hex', 'k=S%c3%A3o', 'São'],
    ['the highest code point (F4 8F BF BF)', 'k=%F4%8F%BF%BF', '\u{10FFFF}'],
    ['a leading BOM is kept, not swallowed', 'k=%EF%BB%BFa', '\uFEFFa'],
    ['percent-encoded NUL', 'k=a%00b', 'a\u0000b'],
    ['an encoded percent sign is data, not an escape', 'k=%2541', '%41'],
    ['plus is not a space', 'k=a+b', 'a+b'],
  ];
  for (const [rule, header, expected] of cases) {
    it(rule, () => {
      expect(decodedValue(header), rule).toBe(expected);
    });
  }
});

describe('baggage value decoding: malformed percent syntax drops the member', () => {
  const cases: Array<[rule: string, header: string]> = [
    ['a trailing %', 'k=val%'],
    ['% with one hex digit at the end', 'k=val%4'],
    ['a non-hex digit after %', 'k=%G1'],
    ['a non-hex second digit', 'k=%1G'],
    ['% followed by %', 'k=%%41'],
    ['a truncated escape in the middle', 'k=%E0%A4%A'],
  ];
  for (const [rule, header] of cases) {
    it(rule, () => {
      expect(parseBaggage(`${header},ok=1`), rule).toEqual([{ key: 'ok', value: '1' }]);
    });
  }
});

it('decodes each member on its own: one invalid octet affects only its member', () => {
  expect(parseBaggage('a=%ff,b=%E2%82%AC,c=plain')).toEqual([
    { key: 'a', value: R },
    { key: 'b', value: '€' },
    { key: 'c', value: 'plain' },
  ]);
});

it('decodes a value of 8000 percent-encoded octets in one pass', () => {
  const header = `k=${'%E2%82%AC'.repeat(900)}${'%ff'.repeat(10)}`;
  expect(header.length).toBeLessThanOrEqual(8192);
  expect(decodedValue(header)).toBe('€'.repeat(900) + R.repeat(10));
});
