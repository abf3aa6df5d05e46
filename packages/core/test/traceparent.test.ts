import { formatTraceparent, MAX_TRACEPARENT_LENGTH, parseTraceparent } from '@tracewire/core';
import { describe, expect, it } from 'vitest';

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const SPAN_ID = 'b7ad6b7169203331';
const VALID = `00-${TRACE_ID}-${SPAN_ID}-01`;

describe('parseTraceparent: valid headers', () => {
  const cases: Array<[rule: string, header: unknown, flags: number, version?: number]> = [
    ['version 00, sampled', VALID, 0x01],
    ['version 00, not sampled', `00-${TRACE_ID}-${SPAN_ID}-00`, 0x00],
    ['random flag kept as received', `00-${TRACE_ID}-${SPAN_ID}-03`, 0x03],
    ['unknown flag bits are parsed (and dropped only when sent on)', `00-${TRACE_ID}-${SPAN_ID}-ff`, 0xff],
    ['surrounding OWS (spaces and tabs) is ignored', ` \t${VALID}\t `, 0x01],
    ['a single-element array is one header', [VALID], 0x01],
    ['higher version, exactly 55 chars', `cc-${TRACE_ID}-${SPAN_ID}-01`, 0x01, 0xcc],
    [
      'higher version with extra fields after a dash',
      `cc-${TRACE_ID}-${SPAN_ID}-01-what-the-future-holds`,
      0x01,
      0xcc,
    ],
    ['version fe is the highest valid version', `fe-${TRACE_ID}-${SPAN_ID}-01`, 0x01, 0xfe],
  ];
  for (const [rule, header, flags, version = 0] of cases) {
    it(rule, () => {
      expect(parseTraceparent(header), rule).toEqual({
        version,
        traceId: TRACE_ID,
        spanId: SPAN_ID,
        traceFlags: flags,
      });
    });
  }
});

describe('parseTraceparent: invalid headers start a new trace', () => {
  const cases: Array<[rule: string, header: unknown]> = [
    ['version ff is invalid', `ff-${TRACE_ID}-${SPAN_ID}-01`],
    ['version 00 with trailing data', `${VALID}-extra`],
    ['version 00 with one trailing char', `${VALID}0`],
    ['higher version with extra data not after a dash', `cc-${TRACE_ID}-${SPAN_ID}-01.x`],
    ['all-zero trace id', `00-${'0'.repeat(32)}-${SPAN_ID}-01`],
    ['all-zero parent id', `00-${TRACE_ID}-${'0'.repeat(16)}-01`],
    ['upper-case trace id', `00-${TRACE_ID.toUpperCase()}-${SPAN_ID}-01`],
    ['upper-case parent id', `00-${TRACE_ID}-${SPAN_ID.toUpperCase()}-01`],
    ['upper-case version', `0A-${TRACE_ID}-${SPAN_ID}-01`],
    ['upper-case flags', `00-${TRACE_ID}-${SPAN_ID}-0A`],
    ['non-hex version', `0g-${TRACE_ID}-${SPAN_ID}-01`],
    ['non-hex trace id', `00-${TRACE_ID.slice(0, 31)}g-${SPAN_ID}-01`],
    ['non-hex parent id', `00-${TRACE_ID}-${SPAN_ID.slice(0, 15)}z-01`],
    ['non-hex flags', `00-${TRACE_ID}-${SPAN_ID}-0x`],
    ['short trace id', `00-${TRACE_ID.slice(1)}-${SPAN_ID}-01`],
    ['short parent id', `00-${TRACE_ID}-${SPAN_ID.slice(1)}-01`],
    ['long trace id', `00-${TRACE_ID}0-${SPAN_ID}-01`],
    ['short flags', `00-${TRACE_ID}-${SPAN_ID}-1`],
    ['wrong delimiter', `00_${TRACE_ID}_${SPAN_ID}_01`],
    ['inner white space', `00- ${TRACE_ID}-${SPAN_ID}-01`.slice(0, 56)],
    ['too short', '00-abc'],
    ['empty string', ''],
    ['only white space', '   '],
    ['two headers (array of two)', [VALID, VALID]],
    ['two headers joined by Node', `${VALID}, ${VALID}`],
    ['empty array', []],
    ['not a string', 42],
    ['undefined', undefined],
    ['null', null],
    ['non-ASCII bytes', `00-${TRACE_ID.slice(0, 31)}é-${SPAN_ID}-01`],
    // The scan looks chars up by their low byte: these have a hex digit's ('a', '0', '1').
    ['a char whose low byte is a hex letter', `00-${TRACE_ID.slice(0, 31)}\u0161-${SPAN_ID}-01`],
    ['a char whose low byte is a hex digit', `00-${TRACE_ID}-\u0130${SPAN_ID.slice(1)}-01`],
    ['a char above U+00FF in an all-zero id', `00-${'0'.repeat(31)}\u0631-${SPAN_ID}-01`],
    ['oversized header (100 KB)', `cc-${TRACE_ID}-${SPAN_ID}-01-${'a'.repeat(100_000)}`],
    ['just over the hard cap', `cc-${TRACE_ID}-${SPAN_ID}-01-${'a'.repeat(MAX_TRACEPARENT_LENGTH)}`],
  ];
  for (const [rule, header] of cases) {
    it(rule, () => {
      expect(parseTraceparent(header), rule).toBeUndefined();
    });
  }
});

describe('parseTraceparent: ids that are zero but for one digit', () => {
  // The all-zero check runs inside the hex scan; a single non-zero digit anywhere makes an id valid.
  for (const at of [0, 15, 31]) {
    const traceId = `${'0'.repeat(at)}1${'0'.repeat(31 - at)}`;
    it(`trace id with its only non-zero digit at ${at}`, () => {
      expect(parseTraceparent(`00-${traceId}-${SPAN_ID}-01`)?.traceId).toBe(traceId);
    });
  }
  for (const at of [0, 15]) {
    const spanId = `${'0'.repeat(at)}f${'0'.repeat(15 - at)}`;
    it(`span id with its only non-zero digit at ${at}`, () => {
      expect(parseTraceparent(`00-${TRACE_ID}-${spanId}-01`)?.spanId).toBe(spanId);
      expect(formatTraceparent({ traceId: TRACE_ID, spanId, traceFlags: 1 })).toBe(
        `00-${TRACE_ID}-${spanId}-01`,
      );
    });
  }
});

describe('formatTraceparent', () => {
  it('always emits version 00', () => {
    const parsed = parseTraceparent(`cc-${TRACE_ID}-${SPAN_ID}-01-future`);
    expect(parsed && formatTraceparent(parsed)).toBe(VALID);
  });
  it('keeps the sampled and random bits and zeroes the others', () => {
    expect(formatTraceparent({ traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 0xff })).toBe(
      `00-${TRACE_ID}-${SPAN_ID}-03`,
    );
    expect(formatTraceparent({ traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 0x02 })).toBe(
      `00-${TRACE_ID}-${SPAN_ID}-02`,
    );
  });
  const invalid: Array<[rule: string, fields: unknown]> = [
    ['all-zero trace id', { traceId: '0'.repeat(32), spanId: SPAN_ID, traceFlags: 1 }],
    ['all-zero span id', { traceId: TRACE_ID, spanId: '0'.repeat(16), traceFlags: 1 }],
    ['upper-case trace id', { traceId: TRACE_ID.toUpperCase(), spanId: SPAN_ID, traceFlags: 1 }],
    ['short span id', { traceId: TRACE_ID, spanId: 'abc', traceFlags: 1 }],
    [
      'a char whose low byte is a hex digit',
      { traceId: TRACE_ID, spanId: `${SPAN_ID.slice(1)}\u0631`, traceFlags: 1 },
    ],
    ['missing fields', {}],
    ['null', null],
  ];
  for (const [rule, fields] of invalid) {
    it(`returns undefined for ${rule}`, () => {
      expect(formatTraceparent(fields as never), rule).toBeUndefined();
    });
  }
});
