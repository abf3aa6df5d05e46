// The header carrier on its own: no broker needed, but it lives with the broker suites.
import { describe, expect, it } from 'vitest';
import { amqpHeaderGetter, withInjectedHeaders } from '../src/header-carrier.js';

const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('amqpHeaderGetter', () => {
  it.each([
    { name: 'string', value: TP, expected: TP },
    { name: 'Buffer', value: Buffer.from(TP), expected: TP },
    { name: 'Uint8Array', value: new TextEncoder().encode(TP), expected: TP },
    { name: 'typed longstr form', value: { '!': 'longstr', value: TP }, expected: TP },
    { name: 'number', value: 7, expected: '7' },
    { name: 'bigint', value: 7n, expected: '7' },
    { name: 'boolean', value: false, expected: 'false' },
    { name: 'array', value: [TP, Buffer.from('b')], expected: [TP, 'b'] },
    { name: 'null', value: null, expected: undefined },
    { name: 'table', value: { a: 1 }, expected: undefined },
    { name: 'array with a table', value: [TP, {}], expected: undefined },
    { name: 'array of 65', value: Array.from({ length: 65 }, () => 'x'), expected: undefined },
    { name: 'Buffer over 32 KiB', value: Buffer.alloc(32 * 1024 + 1, 0x41), expected: undefined },
    { name: 'function', value: () => TP, expected: undefined },
  ])('$name', ({ value, expected }) => {
    expect(amqpHeaderGetter.get({ traceparent: value }, 'traceparent')).toEqual(expected);
  });

  it('matches names case-insensitively, the exact name first', () => {
    expect(amqpHeaderGetter.get({ TraceParent: 'a' }, 'traceparent')).toBe('a');
    expect(amqpHeaderGetter.get({ TraceParent: 'a', traceparent: 'b' }, 'traceparent')).toBe('b');
    expect(amqpHeaderGetter.get(undefined, 'traceparent')).toBeUndefined();
    expect(amqpHeaderGetter.keys({ a: 1, b: 2 })).toEqual(['a', 'b']);
    expect(amqpHeaderGetter.keys(undefined)).toEqual([]);
  });
});

describe('withInjectedHeaders', () => {
  it("returns the user's own options when nothing was injected", () => {
    const options = { headers: { a: 1 } };
    expect(withInjectedHeaders(options, {})).toBe(options);
    expect(withInjectedHeaders(undefined, {})).toBeUndefined();
  });

  it.each([
    { name: 'headers a string', options: { headers: 'x' } },
    { name: 'headers a number', options: { headers: 1 } },
    { name: 'options a string', options: 'x' },
  ])('leaves options it cannot inject into untouched: $name', ({ options }) => {
    expect(withInjectedHeaders(options, { traceparent: TP })).toBe(options);
  });

  it('lays the injected headers over the user headers without touching them', () => {
    const headers = Object.freeze({ a: 1, TRACEPARENT: 'old', TraceState: 'old=1', baggage: 'k=v' });
    const options = Object.freeze({ headers, priority: 2 });
    const dropped = ['traceparent', 'tracestate', 'baggage'];
    const sent = withInjectedHeaders(options, { traceparent: TP }, dropped) as {
      headers: Record<string, unknown>;
    };
    const seen: Record<string, unknown> = {};
    // for-in, as amqplib's codec reads headers; undefined values are not sent.
    for (const key in sent.headers) if (sent.headers[key] !== undefined) seen[key] = sent.headers[key];
    // Every header the propagator owns comes from the new context: none of the old ones remain.
    expect(seen).toEqual({ traceparent: TP, a: 1 });
    expect((sent as unknown as { priority: number }).priority).toBe(2);
    expect(headers).toEqual({ a: 1, TRACEPARENT: 'old', TraceState: 'old=1', baggage: 'k=v' });
  });

  it('with no options or null headers, sends only the injected headers', () => {
    const sent = withInjectedHeaders(undefined, { traceparent: TP }) as { headers: Record<string, unknown> };
    expect({ ...sent.headers }).toEqual({ traceparent: TP });
    const nullHeaders = withInjectedHeaders({ headers: null }, { traceparent: TP }) as {
      headers: Record<string, unknown>;
    };
    expect({ ...nullHeaders.headers }).toEqual({ traceparent: TP });
  });
});
