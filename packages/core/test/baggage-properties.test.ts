import { defaultTextMapGetter, defaultTextMapSetter, propagation, ROOT_CONTEXT } from '@opentelemetry/api';
import { BaggagePropagator, decodeBaggageProperties, formatBaggage, parseBaggage } from '@tracewire/core';
import { describe, expect, it } from 'vitest';

const R = '\uFFFD';

describe('decodeBaggageProperties of a parsed member', () => {
  const cases: Array<[rule: string, header: string, wire: string, decoded: unknown]> = [
    [
      'invalid octets in a property value (issue #16)',
      'k=aa%ffcc;p=d%fff',
      'p=d%fff',
      [{ key: 'p', value: `d${R}f` }],
    ],
    [
      'key=value and bare-key properties, white space removed',
      'a=1;ttl=30 ; sensitive',
      'ttl=30;sensitive',
      [{ key: 'ttl', value: '30' }, { key: 'sensitive' }],
    ],
    ['an empty value differs from a bare key', 'a=1;p=;q', 'p=;q', [{ key: 'p', value: '' }, { key: 'q' }]],
    [
      'UTF-8 percent-decoded',
      'a=1;city=S%C3%A3o%20Paulo',
      'city=S%C3%A3o%20Paulo',
      [{ key: 'city', value: 'São Paulo' }],
    ],
    ['OWS around = inside a property', 'a=1;p = x', 'p=x', [{ key: 'p', value: 'x' }]],
    [
      'a repeated property key stays, in order',
      'a=1;p=1;p=2',
      'p=1;p=2',
      [
        { key: 'p', value: '1' },
        { key: 'p', value: '2' },
      ],
    ],
    [
      'a property with malformed % is left out of the view, forwarded as sent',
      'a=1;p=x%;q=%4',
      'p=x%;q=%4',
      [],
    ],
    ['keys are not decoded (% is a token character)', 'a=1;k%41=v', 'k%41=v', [{ key: 'k%41', value: 'v' }]],
  ];
  for (const [rule, header, wire, decoded] of cases) {
    it(rule, () => {
      const [member] = parseBaggage(header) ?? [];
      expect(member?.properties, rule).toBe(wire);
      expect(decodeBaggageProperties(member!), rule).toEqual(decoded);
      expect(decodeBaggageProperties(wire), `${rule} (as a string)`).toEqual(decoded);
    });
  }
});

describe('decodeBaggageProperties: nothing to decode gives []', () => {
  const cases: Array<[rule: string, input: unknown]> = [
    ['a member without properties', { key: 'a', value: '1' }],
    ['the empty string', ''],
    ['an invalid properties string (key not a token)', 'bad key=1'],
    ['an empty property', 'p=1;;q'],
    ['properties longer than 8192 characters', `p=${'v'.repeat(8192)}`],
    ['properties that are not a string', { key: 'a', value: '1', properties: 5 }],
    ['null', null],
    ['undefined', undefined],
    ['a number', 42],
    ['a symbol', Symbol('p')],
    ['a member whose properties getter throws', Object.defineProperty({}, 'properties', { get: throwing })],
    ['a Proxy that throws on every access', new Proxy({}, { get: throwing, has: throwing })],
  ];
  for (const [rule, input] of cases) {
    it(rule, () => {
      expect(decodeBaggageProperties(input as never), rule).toEqual([]);
    });
  }
});

describe('properties are forwarded unchanged', () => {
  it('formatBaggage(parseBaggage(header)) keeps every property as sent, undecoded', () => {
    const header = 'k=aa%ffcc;p=d%fff,b=1;ttl=30;sensitive;x=%E2%82%AC,c=2;q=x%';
    expect(formatBaggage(parseBaggage(header)!)).toBe(
      // The values are re-encoded from their decoded form (U+FFFD as its UTF-8); properties are not.
      'k=aa%EF%BF%BDcc;p=d%fff,b=1;ttl=30;sensitive;x=%E2%82%AC,c=2;q=x%',
    );
  });
  it('through BaggagePropagator: extract then inject sends the properties as received', () => {
    const propagator = new BaggagePropagator();
    const incoming = { baggage: 'k=v;p=d%fff;flag, m=1 ; ttl = 30' };
    const context = propagator.extract(ROOT_CONTEXT, incoming, defaultTextMapGetter);
    const entry = propagation.getBaggage(context)?.getEntry('k');
    expect(decodeBaggageProperties(entry!.metadata!.toString())).toEqual([
      { key: 'p', value: `d${R}f` },
      { key: 'flag' },
    ]);
    const outgoing: Record<string, string> = {};
    propagator.inject(context, outgoing, defaultTextMapSetter);
    expect(outgoing.baggage).toBe('k=v;p=d%fff;flag,m=1;ttl=30');
  });
});

function throwing(): never {
  throw new Error('hostile');
}
