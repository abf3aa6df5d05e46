import { formatBaggage, parseBaggage } from '@tracewire/core';
import { describe, expect, it } from 'vitest';

describe('parseBaggage', () => {
  const cases: Array<[rule: string, header: unknown, expected: unknown]> = [
    ['one member', 'userId=alice', [{ key: 'userId', value: 'alice' }]],
    [
      'OWS around members and =',
      ' a = 1 ,\tb=2 ',
      [
        { key: 'a', value: '1' },
        { key: 'b', value: '2' },
      ],
    ],
    ['percent-decoding as UTF-8', 'city=S%C3%A3o%20Paulo', [{ key: 'city', value: 'São Paulo' }]],
    ['empty value', 'flag=', [{ key: 'flag', value: '' }]],
    [
      'properties are kept',
      'a=1;ttl=30 ; sensitive',
      [{ key: 'a', value: '1', properties: 'ttl=30;sensitive' }],
    ],
    [
      'several headers combine',
      ['a=1', 'b=2'],
      [
        { key: 'a', value: '1' },
        { key: 'b', value: '2' },
      ],
    ],
    [
      'malformed members are skipped',
      'a=1,no-equals,b=x y,c=3',
      [
        { key: 'a', value: '1' },
        { key: 'c', value: '3' },
      ],
    ],
    ['invalid percent-encoding skips the member', 'a=%E0%A4%A,b=2', [{ key: 'b', value: '2' }]],
    ['key must be a token', 'a b=1,c=2', [{ key: 'c', value: '2' }]],
    ['invalid property skips the member', 'a=1;=x,b=2', [{ key: 'b', value: '2' }]],
  ];
  for (const [rule, header, expected] of cases) {
    it(rule, () => {
      expect(parseBaggage(header), rule).toEqual(expected);
    });
  }

  it('propagates at least 64 members and 8192 bytes', () => {
    const many = Array.from({ length: 64 }, (_, i) => `key${i}=${'v'.repeat(110)}`).join(',');
    expect(many.length).toBeLessThanOrEqual(8192);
    expect(parseBaggage(many)).toHaveLength(64);
    expect(formatBaggage(parseBaggage(many)!)).toBe(many);
  });
  it('keeps at most 180 members', () => {
    const header = Array.from({ length: 200 }, (_, i) => `k${i}=1`).join(',');
    expect(parseBaggage(header)).toHaveLength(180);
  });
  const invalid: Array<[rule: string, header: unknown]> = [
    ['oversized header (over 8192)', `a=${'v'.repeat(8192)}`],
    ['100 KB header', `a=1,${'b=2,'.repeat(25_000)}`],
    ['nothing valid', 'no-equals, ,'],
    ['not a string', {}],
  ];
  for (const [rule, header] of invalid) {
    it(`is undefined: ${rule}`, () => {
      expect(parseBaggage(header), rule).toBeUndefined();
    });
  }
});

describe('formatBaggage', () => {
  it('percent-encodes values so they round-trip', () => {
    const members = [
      { key: 'a', value: 'x,y;z =%"\\' },
      { key: 'b', value: '日本' },
    ];
    const header = formatBaggage(members)!;
    expect(header).toBe('a=x%2Cy%3Bz%20%3D%25%22%5C,b=%E6%97%A5%E6%9C%AC');
    expect(parseBaggage(header)).toEqual(members);
  });
  it('keeps valid properties', () => {
    expect(formatBaggage([{ key: 'a', value: '1', properties: 'ttl=30;secret' }])).toBe('a=1;ttl=30;secret');
  });
  it('leaves out invalid keys, lone surrogates and members past 8192 bytes', () => {
    expect(formatBaggage([{ key: 'bad key', value: '1' }])).toBeUndefined();
    expect(
      formatBaggage([
        { key: 'a', value: '\ud800' },
        { key: 'b', value: '2' },
      ]),
    ).toBe('b=2');
    expect(
      formatBaggage([
        { key: 'a', value: 'v'.repeat(9000) },
        { key: 'b', value: '2' },
      ]),
    ).toBe('b=2');
  });
});
