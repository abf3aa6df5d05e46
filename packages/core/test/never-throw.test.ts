// Every exported codec, carrier and propagator of core, given values outside its types (wrong
// primitives, objects whose conversions throw, Proxies that throw on any access, arrays with
// hostile members, infinite iterables), returns its documented empty result and never throws.
import {
  type Context,
  propagation,
  ROOT_CONTEXT,
  type TextMapGetter,
  type TextMapSetter,
  TraceFlags,
  trace,
  defaultTextMapGetter,
  defaultTextMapSetter,
} from '@opentelemetry/api';
import {
  BaggagePropagator,
  decodeBaggageProperties,
  formatBaggage,
  formatTraceparent,
  headerGetter,
  headerSetter,
  isBaggageKey,
  isValidSpanId,
  isValidTraceId,
  isValidTracestateKey,
  isValidTracestateValue,
  parseBaggage,
  parseTraceparent,
  parseTracestate,
  TraceContextPropagator,
  TraceState,
  W3CPropagator,
} from '@tracewire/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const RUNS = { numRuns: 300 };

function throwing(): never {
  throw new Error('hostile');
}

/** A Proxy whose every trap throws: reading, `in`, keys, iteration, conversion. */
function throwingProxy(target: object = {}): object {
  return new Proxy(target, {
    get: throwing,
    has: throwing,
    ownKeys: throwing,
    getOwnPropertyDescriptor: throwing,
    getPrototypeOf: throwing,
    set: throwing,
    deleteProperty: throwing,
    defineProperty: throwing,
  });
}

function revokedProxy(target: object): object {
  const { proxy, revoke } = Proxy.revocable(target, {});
  revoke();
  return proxy;
}

/** Each call builds fresh hostile values, so one test cannot disarm another's. */
function hostileValues(): Array<[name: string, value: unknown]> {
  return [
    ['toString throws', { toString: throwing }],
    ['valueOf throws', { valueOf: throwing }],
    ['Symbol.toPrimitive throws', { [Symbol.toPrimitive]: throwing }],
    ['toString not callable', { toString: 'x', valueOf: 1 }],
    ['null prototype', Object.create(null)],
    ['Proxy throwing on every trap', throwingProxy()],
    ['array Proxy throwing on every trap', throwingProxy([])],
    ['revoked Proxy', revokedProxy({})],
    ['revoked array Proxy', revokedProxy([])],
    ['array with a throwing index getter', Object.defineProperty(['a=1'], 0, { get: throwing })],
    [
      'array with a throwing length',
      new Proxy(['a=1'], { get: (t, k) => (k === 'length' ? throwing() : Reflect.get(t, k)) }),
    ],
    ['array of hostile members', [{ toString: throwing }, throwingProxy(), Symbol('s'), 1n]],
    [
      'array claiming 2^32-1 members',
      new Proxy([], { get: (t, k) => (k === 'length' ? 2 ** 32 - 1 : Reflect.get(t, k)) }),
    ],
    ['sparse array of a billion', new Array(1e9)],
    [
      'object with throwing getters',
      Object.defineProperties(
        {},
        {
          traceId: { get: throwing },
          spanId: { get: throwing },
          traceFlags: { get: throwing },
          key: { get: throwing },
          value: { get: throwing },
          properties: { get: throwing },
        },
      ),
    ],
    ['iterable whose iterator throws', { [Symbol.iterator]: throwing }],
    ['iterable whose next throws', { [Symbol.iterator]: () => ({ next: throwing }) }],
    [
      'infinite iterable of invalid members',
      {
        *[Symbol.iterator]() {
          for (;;) yield { key: 'bad key', value: 'v' };
        },
      },
    ],
    ['frozen object', Object.freeze({ traceparent: 'x' })],
    ['a function', throwing],
    ['Symbol', Symbol('hostile')],
    ['BigInt', 12n],
    ['NaN', Number.NaN],
    ['boxed string', new String('a=1')],
  ];
}

/**
 * A value in a box: fast-check probes every value it generates for a clone method, which a hostile
 * Proxy would answer by throwing; the box keeps the probe away from the value under test.
 */
interface Box {
  readonly value: unknown;
}

const HOSTILE_COUNT = hostileValues().length;
const hostile: fc.Arbitrary<Box> = fc
  .nat(HOSTILE_COUNT - 1)
  .map((index) => ({ value: hostileValues()[index]![1] }));
/** Anything JS can hold, hostile objects included; may be a string or an array of strings. */
const anything: fc.Arbitrary<Box> = fc.oneof(
  hostile,
  fc
    .anything({
      withBigInt: true,
      withBoxedValues: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withNullPrototype: true,
      withObjectString: true,
      withSparseArray: true,
      withTypedArray: true,
    })
    .map((value) => ({ value })),
);
/** Values that are neither a string nor an array: no header parser may accept them. */
const notHeader: fc.Arbitrary<Box> = anything.filter(
  ({ value }) => typeof value !== 'string' && !isPlainArray(value),
);

function isPlainArray(value: unknown): boolean {
  try {
    return Array.isArray(value);
  } catch {
    return true; // a revoked Proxy: treat as "maybe an array", assert only that nothing throws
  }
}

describe('codecs: wrong-type inputs give the empty result', () => {
  it('parseTraceparent / parseTracestate / parseBaggage: undefined for anything but strings', () => {
    fc.assert(
      fc.property(notHeader, ({ value }) => {
        expect(parseTraceparent(value)).toBeUndefined();
        expect(parseTracestate(value)).toBeUndefined();
        expect(parseBaggage(value)).toBeUndefined();
      }),
      RUNS,
    );
  });
  it('the header parsers never throw, whatever they are given', () => {
    fc.assert(
      fc.property(anything, ({ value }) => {
        const traceparent = parseTraceparent(value);
        if (traceparent) expect(isValidTraceId(traceparent.traceId)).toBe(true);
        parseTracestate(value)?.serialize();
        parseBaggage(value);
      }),
      RUNS,
    );
  });
  it('header arrays are read once per item: a getter cannot swap a checked string for an object', () => {
    for (const parse of [parseBaggage, parseTracestate]) {
      let reads = 0;
      const header = Object.defineProperty([], 0, {
        get: () => (reads++ === 0 ? 'a=1' : { toString: throwing }),
        enumerable: true,
      });
      expect(parse(header)).toBeDefined();
      expect(reads).toBe(1);
    }
  });
  it('formatTraceparent: undefined for anything but valid fields', () => {
    fc.assert(
      fc.property(anything, ({ value }) => {
        expect(formatTraceparent(value as never)).toBeUndefined();
      }),
      RUNS,
    );
  });
  it('formatTraceparent: fields of the wrong type, or read through throwing getters', () => {
    const fields = fc
      .record({ traceId: anything, spanId: anything, traceFlags: anything })
      .map((r) => ({ traceId: r.traceId.value, spanId: r.spanId.value, traceFlags: r.traceFlags.value }));
    fc.assert(
      fc.property(fields, (f) => {
        expect(formatTraceparent(f as never)).toBeUndefined();
      }),
      RUNS,
    );
  });
  it('formatTraceparent reads each field once: a getter cannot swap in an invalid id after the check', () => {
    let reads = 0;
    const fields = {
      get traceId() {
        return reads++ === 0 ? '0af7651916cd43dd8448eb211c80319c' : 'not hex';
      },
      spanId: 'b7ad6b7169203331',
      traceFlags: 1,
    };
    expect(formatTraceparent(fields)).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  });
  it('formatBaggage: undefined for anything that is not an iterable of valid members', () => {
    fc.assert(
      fc.property(anything, ({ value }) => {
        expect(formatBaggage(value as never)).toBeUndefined();
      }),
      RUNS,
    );
  });
  it('formatBaggage: hostile members are left out, the valid ones still sent', () => {
    fc.assert(
      fc.property(fc.array(anything, { maxLength: 8 }), (junk) => {
        const members = [...junk.map((box) => box.value), { key: 'ok', value: '1' }];
        expect(formatBaggage(members as never)).toBe('ok=1');
      }),
      RUNS,
    );
  });
  it('formatBaggage: member fields of the wrong type', () => {
    const member = fc
      .record({ key: anything, value: anything, properties: anything })
      .map((r) => ({ key: r.key.value, value: r.value.value, properties: r.properties.value }));
    fc.assert(
      fc.property(member, (m) => {
        const header = formatBaggage([m as never]);
        if (header !== undefined) expect(parseBaggage(header)).toHaveLength(1);
      }),
      RUNS,
    );
  });
  it('decodeBaggageProperties: [] for anything but a member or properties string', () => {
    fc.assert(
      fc.property(notHeader, ({ value }) => {
        expect(decodeBaggageProperties(value as never)).toEqual([]);
      }),
      RUNS,
    );
  });
  it('the is* checks: false for anything but a string', () => {
    fc.assert(
      fc.property(notHeader, ({ value }) => {
        expect(isValidTraceId(value)).toBe(false);
        expect(isValidSpanId(value)).toBe(false);
        expect(isValidTracestateKey(value)).toBe(false);
        expect(isValidTracestateValue(value)).toBe(false);
        expect(isBaggageKey(value)).toBe(false);
      }),
      RUNS,
    );
  });
  for (const [name, value] of hostileValues()) {
    it(`every codec, given: ${name}`, () => {
      expect(parseTraceparent(value), name).toBeUndefined();
      expect(parseTracestate(value), name).toBeUndefined();
      expect(parseBaggage(value), name).toBeUndefined();
      expect(formatTraceparent(value as never), name).toBeUndefined();
      expect(formatBaggage(value as never), name).toBeUndefined();
      expect(decodeBaggageProperties(value as never), name).toEqual([]);
    });
  }
});

describe('TraceState methods: wrong-type inputs leave the list as it is', () => {
  const state = parseTracestate('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE')!;
  it('get, set, unset and serializeWithin never throw', () => {
    fc.assert(
      fc.property(notHeader, notHeader, ({ value: a }, { value: b }) => {
        expect(state.get(a as never)).toBeUndefined();
        expect(state.set(a as never, b as never)).toBe(state);
        expect(state.set('ok', b as never)).toBe(state);
        expect(state.set(a as never, 'ok')).toBe(state);
        expect(state.unset(a as never)).toBe(state);
        if (typeof a !== 'number') expect(state.serializeWithin(a as never)).toBe('');
      }),
      RUNS,
    );
  });
  it('serializeWithin: NaN gives the empty result, like any limit that is not a number', () => {
    expect(state.serializeWithin(Number.NaN)).toBe('');
    expect(state.serializeWithin(Number.POSITIVE_INFINITY)).toBe(state.serialize());
  });
  it('TraceState.empty() is empty and stays so under wrong-type set', () => {
    expect(TraceState.empty().set(Symbol('k') as never, 'v').size).toBe(0);
  });
});

describe('carriers: hostile carriers are unreadable, not fatal', () => {
  it('headerGetter.get / keys and headerSetter.set never throw', () => {
    fc.assert(
      fc.property(anything, anything, ({ value: carrier }, { value }) => {
        const got = headerGetter.get(carrier as never, 'traceparent');
        expect(got === undefined || typeof got === 'string' || Array.isArray(got)).toBe(true);
        expect(Array.isArray(headerGetter.keys(carrier as never))).toBe(true);
        headerSetter.set(carrier as never, 'traceparent', value as never);
      }),
      RUNS,
    );
  });
  it('headerSetter on a frozen record leaves it as it is', () => {
    const frozen = Object.freeze({ Traceparent: 'old' });
    headerSetter.set(frozen as never, 'traceparent', 'new');
    expect(frozen).toEqual({ Traceparent: 'old' });
  });
});

describe('propagators: hostile carriers, getters and setters never throw', () => {
  const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
  const SPAN_ID = 'b7ad6b7169203331';
  const propagators = [new TraceContextPropagator(), new BaggagePropagator(), new W3CPropagator()];
  const throwingGetter: TextMapGetter = { get: throwing, keys: throwing };
  const throwingSetter: TextMapSetter = { set: throwing };
  const getters: unknown[] = [
    headerGetter,
    defaultTextMapGetter,
    throwingGetter,
    throwingProxy(),
    null,
    undefined,
  ];
  const setters: unknown[] = [
    headerSetter,
    defaultTextMapSetter,
    throwingSetter,
    throwingProxy(),
    null,
    undefined,
  ];

  /** A context with a valid span context, a tracestate and baggage with metadata: all three to inject. */
  function fullContext(): Context {
    const withSpan = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: TRACE_ID,
      spanId: SPAN_ID,
      traceFlags: TraceFlags.SAMPLED,
      traceState: parseTracestate('a=1'),
    });
    const baggage = propagation.createBaggage({ k: { value: 'v' } });
    return propagation.setBaggage(withSpan, baggage);
  }

  it('extract returns a context for any carrier and getter', () => {
    fc.assert(
      fc.property(anything, fc.nat(getters.length - 1), ({ value: carrier }, g) => {
        for (const p of propagators) {
          expect(p.extract(ROOT_CONTEXT, carrier, getters[g] as TextMapGetter)).toBeDefined();
        }
      }),
      RUNS,
    );
  });
  it('extract with header values of any type, through headerGetter and OTel’s default getter', () => {
    fc.assert(
      fc.property(
        anything,
        anything,
        anything,
        fc.constantFrom(headerGetter, defaultTextMapGetter),
        (tp, ts, bg, getter) => {
          const carrier = { traceparent: tp.value, tracestate: ts.value, baggage: bg.value };
          for (const p of propagators) {
            const context = p.extract(ROOT_CONTEXT, carrier, getter as TextMapGetter);
            trace.getSpanContext(context)?.traceState?.serialize();
          }
        },
      ),
      RUNS,
    );
  });
  it('inject into any carrier through any setter', () => {
    const context = fullContext();
    fc.assert(
      fc.property(anything, fc.nat(setters.length - 1), ({ value: carrier }, g) => {
        for (const p of propagators) p.inject(context, carrier, setters[g] as TextMapSetter);
      }),
      RUNS,
    );
  });
  it('inject with a hostile span context, tracestate or baggage in the context', () => {
    const cases: Array<[name: string, context: Context]> = [
      [
        'traceState whose serialize throws',
        trace.setSpanContext(ROOT_CONTEXT, {
          traceId: TRACE_ID,
          spanId: SPAN_ID,
          traceFlags: 1,
          traceState: { serialize: throwing } as never,
        }),
      ],
      [
        'traceState that is a Proxy',
        trace.setSpanContext(ROOT_CONTEXT, {
          traceId: TRACE_ID,
          spanId: SPAN_ID,
          traceFlags: 1,
          traceState: throwingProxy() as never,
        }),
      ],
      ['span context that is a Proxy', trace.setSpanContext(ROOT_CONTEXT, throwingProxy() as never)],
      [
        'baggage whose getAllEntries throws',
        propagation.setBaggage(ROOT_CONTEXT, { getAllEntries: throwing } as never),
      ],
      [
        'baggage entry with throwing metadata',
        propagation.setBaggage(ROOT_CONTEXT, {
          getAllEntries: () => [
            ['bad', { value: 'x', metadata: { toString: throwing } }],
            ['ok', { value: '1' }],
          ],
        } as never),
      ],
      ['a context that is a Proxy', throwingProxy() as never],
    ];
    for (const [name, context] of cases) {
      for (const p of [...propagators, new TraceContextPropagator({ maxTracestateLength: 100 })]) {
        const carrier: Record<string, string> = {};
        expect(() => p.inject(context, carrier, headerSetter), name).not.toThrow();
      }
    }
  });
  it('a member with hostile metadata is left out, the rest of the baggage still sent', () => {
    const context = propagation.setBaggage(ROOT_CONTEXT, {
      getAllEntries: () => [
        ['bad', { value: 'x', metadata: { toString: throwing } }],
        ['ok', { value: '1' }],
      ],
    } as never);
    const carrier: Record<string, string> = {};
    new BaggagePropagator().inject(context, carrier, headerSetter);
    expect(carrier).toEqual({ baggage: 'ok=1' });
  });
  it('a getter that throws leaves the context as it was', () => {
    for (const p of propagators) expect(p.extract(ROOT_CONTEXT, {}, throwingGetter)).toBe(ROOT_CONTEXT);
  });
});
