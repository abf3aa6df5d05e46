import { describe, expect, it } from 'vitest';
import { incomingHeaders } from '../src/incoming-headers.js';

describe('incomingHeaders', () => {
  const headers = { traceparent: 'tp', 'x-b3-traceid': 'b3', 'set-cookie': ['a', 'b'] };

  it.each([
    ['a lower-case name', 'traceparent', 'tp'],
    ['a name asked in another case', 'X-B3-TraceId', 'b3'],
    ['a repeated header', 'set-cookie', ['a', 'b']],
    ['an absent header', 'tracestate', undefined],
    ['an absent header asked in another case', 'TraceState', undefined],
  ])('reads %s', (_case, name, value) => {
    expect(incomingHeaders.get(headers, name)).toEqual(value);
  });

  it('lists the header names', () => {
    expect(incomingHeaders.keys(headers)).toEqual(['traceparent', 'x-b3-traceid', 'set-cookie']);
  });
});
