import { kafkaHeaderGetter, kafkaHeaderSetter } from '@tracewire/kafkajs';
import type { IHeaders } from 'kafkajs';
import { describe, expect, it } from 'vitest';

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('kafkaHeaderGetter', () => {
  const cases: Array<[string, IHeaders | undefined, string, string | string[] | undefined]> = [
    ['string value', { traceparent: TRACEPARENT }, 'traceparent', TRACEPARENT],
    [
      'Buffer value (Java/Python producers, every KafkaJS consumer)',
      { traceparent: Buffer.from(TRACEPARENT) },
      'traceparent',
      TRACEPARENT,
    ],
    [
      'Uint8Array value',
      { traceparent: new TextEncoder().encode(TRACEPARENT) } as unknown as IHeaders,
      'traceparent',
      TRACEPARENT,
    ],
    ['mixed-case name', { TraceParent: Buffer.from(TRACEPARENT) }, 'traceparent', TRACEPARENT],
    [
      'repeated header (array of Buffers)',
      { tracestate: [Buffer.from('a=1'), Buffer.from('b=2')] },
      'tracestate',
      ['a=1', 'b=2'],
    ],
    ['array of strings and Buffers', { baggage: ['k=v', Buffer.from('x=y')] }, 'baggage', ['k=v', 'x=y']],
    [
      'same name in two spellings',
      { baggage: 'k=v', Baggage: Buffer.from('x=y') },
      'baggage',
      ['k=v', 'x=y'],
    ],
    ['single-element array', { traceparent: [Buffer.from(TRACEPARENT)] }, 'traceparent', TRACEPARENT],
    ['absent', { other: 'x' }, 'traceparent', undefined],
    ['undefined value', { traceparent: undefined }, 'traceparent', undefined],
    [
      'null value (a Java producer may send one)',
      { traceparent: null } as unknown as IHeaders,
      'traceparent',
      undefined,
    ],
    ['empty array', { traceparent: [] }, 'traceparent', undefined],
    ['no headers', undefined, 'traceparent', undefined],
    ['empty Buffer', { traceparent: Buffer.alloc(0) }, 'traceparent', ''],
    ['oversized Buffer is unreadable', { traceparent: Buffer.alloc(100_000, 0x61) }, 'traceparent', '\u0000'],
    ['non-ASCII bytes stay non-ASCII', { k: Buffer.from([0xff, 0x41]) }, 'k', '\u00ffA'],
    ['name lookup with upper-case key', { 'x-b3-traceid': 'abc' }, 'X-B3-TraceId', 'abc'],
  ];
  it.each(cases)('%s', (_name, headers, key, expected) => {
    expect(kafkaHeaderGetter.get(headers, key)).toEqual(expected);
  });

  it('lists the header names', () => {
    expect(kafkaHeaderGetter.keys({ a: 'x', B: Buffer.from('y') })).toEqual(['a', 'B']);
    expect(kafkaHeaderGetter.keys(undefined)).toEqual([]);
  });
});

describe('kafkaHeaderSetter', () => {
  it('writes a string and replaces other spellings of the name', () => {
    const headers: IHeaders = { TraceParent: Buffer.from('old'), other: 'kept' };
    kafkaHeaderSetter.set(headers, 'traceparent', TRACEPARENT);
    expect(headers).toEqual({ other: 'kept', traceparent: TRACEPARENT });
  });
});
