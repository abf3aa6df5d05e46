// Property tests: every parser, on any input, never throws and gives a valid result or undefined;
// format(parse(x)) round-trips for valid x.
import fc from 'fast-check';
import {
  decodeBaggageProperties,
  formatBaggage,
  formatTraceparent,
  headerGetter,
  isValidTracestateKey,
  isValidTracestateValue,
  parseBaggage,
  parseTraceparent,
  parseTracestate,
  TraceContextPropagator,
  BaggagePropagator,
} from '@tracewire/core';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';

const anyHeader = fc.oneof(
  fc.string({ maxLength: 600 }),
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.array(fc.string({ maxLength: 80 }), { maxLength: 5 }),
  fc.anything(),
);
const hex = (length: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: length, maxLength: length });
const traceparent = fc
  .record({ traceId: hex(32), spanId: hex(16), traceFlags: fc.integer({ min: 0, max: 255 }) })
  .filter((f) => /[^0]/.test(f.traceId) && /[^0]/.test(f.spanId));
const lcalnum = 'abcdefghijklmnopqrstuvwxyz0123456789';
const tsKey = fc
  .tuple(
    fc.constantFrom(...lcalnum),
    fc.string({ unit: fc.constantFrom(...`${lcalnum}_-*/@`), maxLength: 20 }),
  )
  .map(([first, rest]) => first + rest);
const tsValue = fc
  .string({
    unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
    minLength: 1,
    maxLength: 40,
  })
  .map((v) => v.replace(/[,=]/g, 'x'))
  .filter((v) => !v.endsWith(' ') && !v.startsWith(' '));

const RUNS = { numRuns: 500 };

/** No lone surrogates (they cannot be encoded as UTF-8, so formatBaggage leaves them out). */
function isWellFormed(value: string): boolean {
  try {
    encodeURIComponent(value);
    return true;
  } catch {
    return false;
  }
}

describe('traceparent', () => {
  it('never throws; the result is valid or undefined', () => {
    fc.assert(
      fc.property(anyHeader, (header) => {
        const parsed = parseTraceparent(header);
        if (parsed) expect(formatTraceparent(parsed)).toBeDefined();
      }),
      RUNS,
    );
  });
  it('format(parse(x)) round-trips for valid version-00 headers', () => {
    fc.assert(
      fc.property(traceparent, (fields) => {
        const header = formatTraceparent(fields)!;
        expect(formatTraceparent(parseTraceparent(header)!)).toBe(header);
      }),
      RUNS,
    );
  });
  it('a header value whose toString is not callable is ignored, not thrown', () => {
    const hostile = { traceparent: { toString: 'x' }, tracestate: { valueOf: 1 } } as never;
    expect(() => new TraceContextPropagator().extract(ROOT_CONTEXT, hostile, headerGetter)).not.toThrow();
  });
});

describe('tracestate', () => {
  it('never throws; every parsed member is valid', () => {
    fc.assert(
      fc.property(anyHeader, (header) => {
        const parsed = parseTracestate(header);
        if (!parsed) return;
        expect(parsed.size).toBeGreaterThan(0);
        expect(parsed.size).toBeLessThanOrEqual(32);
        for (const [key, value] of parsed.entries()) {
          expect(isValidTracestateKey(key) && isValidTracestateValue(value)).toBe(true);
        }
      }),
      RUNS,
    );
  });
  it('serialize(parse(x)) round-trips for valid headers', () => {
    const header = fc
      .uniqueArray(fc.tuple(tsKey, tsValue), { minLength: 1, maxLength: 32, selector: ([k]) => k })
      .map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join(','));
    fc.assert(
      fc.property(header, (h) => {
        expect(parseTracestate(h)?.serialize()).toBe(h);
      }),
      RUNS,
    );
  });
  it('a header value whose toString is not callable is ignored, not thrown', () => {
    const hostile = { traceparent: { toString: 'x' }, tracestate: { valueOf: 1 } } as never;
    expect(() => new TraceContextPropagator().extract(ROOT_CONTEXT, hostile, headerGetter)).not.toThrow();
  });
});

describe('baggage', () => {
  it('never throws; the result is a non-empty member list or undefined', () => {
    fc.assert(
      fc.property(anyHeader, (header) => {
        const parsed = parseBaggage(header);
        if (parsed) expect(parsed.length).toBeGreaterThan(0);
      }),
      RUNS,
    );
  });
  it('parse(format(members)) round-trips any string value, percent-encoded', () => {
    const key = fc.string({
      unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABC0123456789-_.~!#$&'),
      minLength: 1,
      maxLength: 12,
    });
    const members = fc.uniqueArray(fc.record({ key, value: fc.string({ maxLength: 30 }) }), {
      minLength: 1,
      maxLength: 20,
      selector: (m) => m.key,
    });
    fc.assert(
      fc.property(members, (list) => {
        const valid = list.filter((m) => isWellFormed(m.value));
        const header = formatBaggage(valid);
        expect(header === undefined ? undefined : parseBaggage(header)).toEqual(
          valid.length ? valid : undefined,
        );
      }),
      RUNS,
    );
  });
  it('a header value whose toString is not callable is ignored, not thrown', () => {
    const hostile = { traceparent: { toString: 'x' }, tracestate: { valueOf: 1 } } as never;
    expect(() => new TraceContextPropagator().extract(ROOT_CONTEXT, hostile, headerGetter)).not.toThrow();
  });
  it('percent-decoding any octets agrees with Node’s UTF-8 decoder (U+FFFD per maximal subpart)', () => {
    // Each octet goes out as %XX in random case, or as itself when it is a plain baggage-octet.
    const octet = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.boolean(), fc.boolean());
    fc.assert(
      fc.property(fc.array(octet, { maxLength: 60 }), (octets) => {
        const value = octets
          .map(([byte, upper, raw]) =>
            raw && isPlainOctet(byte) ? String.fromCharCode(byte) : `%${hexCase(byte, upper)}`,
          )
          .join('');
        const expected = Buffer.from(octets.map(([byte]) => byte)).toString('utf8');
        expect(parseBaggage(`k=${value}`)).toEqual([{ key: 'k', value: expected }]);
        expect(decodeBaggageProperties(`p=${value}`)).toEqual([{ key: 'p', value: expected }]);
      }),
      RUNS,
    );
  });
  it('parse(format(parse(x))) equals parse(x): decoded values, U+FFFD included, re-encode exactly', () => {
    const header = fc.string({ unit: fc.constantFrom(...'ab=;, %fF08ec2'), maxLength: 200 });
    fc.assert(
      fc.property(header, (h) => {
        const parsed = parseBaggage(h);
        if (!parsed) return;
        expect(parseBaggage(formatBaggage(parsed))).toEqual(parsed);
        for (const member of parsed) {
          expect(
            decodeBaggageProperties(member).every((p) => p.value === undefined || isWellFormed(p.value)),
          ).toBe(true);
        }
      }),
      RUNS,
    );
  });
});

/** A baggage-octet other than `%`: printable ASCII but space, double quote, comma, semicolon, backslash. */
function isPlainOctet(byte: number): boolean {
  return byte > 0x20 && byte < 0x7f && !'",;\\%'.includes(String.fromCharCode(byte));
}

function hexCase(byte: number, upper: boolean): string {
  const hex = byte.toString(16).padStart(2, '0');
  return upper ? hex.toUpperCase() : hex;
}

describe('propagators', () => {
  it('extract never throws on arbitrary carriers', () => {
    const propagators = [new TraceContextPropagator(), new BaggagePropagator()];
    fc.assert(
      fc.property(anyHeader, anyHeader, anyHeader, (tp, ts, bg) => {
        const carrier = { traceparent: tp, tracestate: ts, baggage: bg } as never;
        for (const p of propagators)
          expect(() => p.extract(ROOT_CONTEXT, carrier, headerGetter)).not.toThrow();
      }),
      RUNS,
    );
  });
  it('a header value whose toString is not callable is ignored, not thrown', () => {
    const hostile = { traceparent: { toString: 'x' }, tracestate: { valueOf: 1 } } as never;
    expect(() => new TraceContextPropagator().extract(ROOT_CONTEXT, hostile, headerGetter)).not.toThrow();
  });
});
