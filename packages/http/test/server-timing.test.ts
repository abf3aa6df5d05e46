import { TraceFlags } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { appendServerTiming, serverTimingEntry } from '../src/server-timing.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN_ID = '00f067aa0ba902b7';

describe('serverTimingEntry', () => {
  it.each([
    ['sampled', TraceFlags.SAMPLED, '01'],
    ['not sampled', TraceFlags.NONE, '00'],
  ])('names a %s span', (_case, traceFlags, flags) => {
    expect(serverTimingEntry({ traceId: TRACE_ID, spanId: SPAN_ID, traceFlags })).toBe(
      `traceparent;desc="00-${TRACE_ID}-${SPAN_ID}-${flags}"`,
    );
  });
});

describe('appendServerTiming', () => {
  it.each([
    ['no header', undefined, 'e'],
    ['a null header', null, 'e'],
    ['an empty header', '', 'e'],
    ['a blank header', '  ', 'e'],
    ["the app's entry", 'db;dur=53', 'db;dur=53, e'],
    ["the app's entries as an array", ['db;dur=53', 'cache;desc=hit'], 'db;dur=53, cache;desc=hit, e'],
    ['a number', 7, '7, e'],
  ])('puts the entry after %s', (_case, existing, expected) => {
    expect(appendServerTiming(existing, 'e')).toBe(expected);
  });
});
