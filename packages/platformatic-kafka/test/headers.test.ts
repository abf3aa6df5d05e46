// The carrier on its own: every header shape the client hands around, names in any case and as
// bytes, repeated headers, unusable values; the setter in both formats.
import { kafkaHeaderGetter, kafkaHeaderSetter, removeKafkaHeader } from '@tracewire/platformatic-kafka';
import { describe, expect, it } from 'vitest';

const TP = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');

describe('kafkaHeaderGetter', () => {
  const cases: Array<{ name: string; carrier: unknown; expected: string | string[] | undefined }> = [
    { name: 'Map of Buffers', carrier: new Map([[bytes('traceparent'), bytes(TP)]]), expected: TP },
    { name: 'Map of strings', carrier: new Map([['traceparent', TP]]), expected: TP },
    { name: 'upper-case byte name', carrier: new Map([[bytes('TRACEPARENT'), bytes(TP)]]), expected: TP },
    { name: 'mixed-case string name', carrier: new Map([['TraceParent', TP]]), expected: TP },
    {
      name: 'entries array with a repeat',
      carrier: [
        [bytes('traceparent'), bytes(TP)],
        [bytes('traceparent'), bytes('x')],
      ],
      expected: [TP, 'x'],
    },
    {
      name: 'two Buffer keys of one name in a Map',
      carrier: new Map([
        [bytes('traceparent'), bytes(TP)],
        [bytes('traceparent'), bytes('y')],
      ]),
      expected: [TP, 'y'],
    },
    { name: 'plain record', carrier: { traceparent: TP }, expected: TP },
    {
      name: 'Uint8Array value',
      carrier: new Map([['traceparent', new Uint8Array(bytes(TP))]]),
      expected: TP,
    },
    {
      name: 'oversized value reads as unusable',
      carrier: new Map([['traceparent', Buffer.alloc(100 * 1024, 0x61)]]),
      expected: '\u0000',
    },
    {
      name: 'object value ignored',
      carrier: new Map([['traceparent', { toString: () => TP }]]),
      expected: undefined,
    },
    { name: 'null value ignored', carrier: new Map([['traceparent', null]]), expected: undefined },
    { name: 'longer name does not match', carrier: new Map([['traceparentx', TP]]), expected: undefined },
    { name: 'no headers', carrier: undefined, expected: undefined },
    { name: 'not an object', carrier: 'traceparent', expected: undefined },
  ];
  for (const { name, carrier, expected } of cases) {
    it(name, () => {
      expect(kafkaHeaderGetter.get(carrier as Map<unknown, unknown>, 'traceparent'), name).toEqual(expected);
    });
  }

  it('lists names decoded', () => {
    expect(
      kafkaHeaderGetter.keys(
        new Map<unknown, unknown>([
          [bytes('a'), bytes('1')],
          ['b', '2'],
        ]),
      ),
    ).toEqual(['a', 'b']);
  });
});

describe('kafkaHeaderSetter', () => {
  it("'buffer' writes Buffers into a Map and replaces another spelling", () => {
    const carrier = new Map<unknown, unknown>([
      [bytes('TraceParent'), bytes('old')],
      ['tenant', 'acme'],
    ]);
    kafkaHeaderSetter('buffer').set(carrier, 'traceparent', TP);
    expect([...carrier].map(([k, v]) => [String(k), Buffer.isBuffer(v) ? `buf:${v}` : v])).toEqual([
      ['tenant', 'acme'],
      ['traceparent', `buf:${TP}`],
    ]);
  });

  it("'string' writes strings; a record keeps string names", () => {
    const map = new Map<unknown, unknown>();
    kafkaHeaderSetter('string').set(map, 'traceparent', TP);
    expect([...map]).toEqual([['traceparent', TP]]);
    const record: Record<string, unknown> = { TRACEPARENT: 'old' };
    kafkaHeaderSetter('string').set(record, 'traceparent', TP);
    expect(record).toEqual({ traceparent: TP });
  });

  it('removeKafkaHeader deletes every spelling', () => {
    const carrier = new Map<unknown, unknown>([
      [bytes('Baggage'), bytes('a=1')],
      ['baggage', 'b=2'],
      ['keep', '1'],
    ]);
    removeKafkaHeader(carrier, 'baggage');
    expect([...carrier.keys()]).toEqual(['keep']);
  });
});
