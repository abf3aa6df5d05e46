import { Metadata } from '@grpc/grpc-js';
import * as semconv from '@opentelemetry/semantic-conventions';
import { metadataGetter, metadataSetter } from '@tracewire/grpc';
import { describe, expect, it } from 'vitest';
import { hostPortAttributes, targetAttributes } from '../src/address.js';
import * as attributes from '../src/attributes.js';
import { isServerError, statusName } from '../src/status.js';

describe('attribute names match @opentelemetry/semantic-conventions', () => {
  it.each(Object.entries(attributes))('%s', (name, value) => {
    expect((semconv as Record<string, unknown>)[name]).toBe(value);
  });
});

describe('server.address and server.port from a channel target', () => {
  it.each([
    { target: 'dns:127.0.0.1:50051', address: '127.0.0.1', port: 50051 },
    { target: 'dns:localhost:50051', address: 'localhost', port: 50051 },
    { target: 'dns:///orders.internal:8443', address: 'orders.internal', port: 8443 },
    { target: 'dns://8.8.8.8/orders.internal:8443', address: 'orders.internal', port: 8443 },
    { target: 'dns:orders.internal', address: 'orders.internal', port: 443 },
    { target: 'dns:[::1]:50051', address: '::1', port: 50051 },
    {
      target: 'ipv4:10.0.0.1:50051,10.0.0.2:50051',
      address: 'ipv4:10.0.0.1:50051,10.0.0.2:50051',
      port: undefined,
    },
    { target: 'ipv4:10.0.0.1:50051', address: '10.0.0.1', port: 50051 },
    { target: 'ipv6:[2001:db8::1]:50051', address: '2001:db8::1', port: 50051 },
    { target: 'unix:/tmp/grpc.sock', address: '/tmp/grpc.sock', port: undefined },
    { target: 'unix:///tmp/grpc.sock', address: '/tmp/grpc.sock', port: undefined },
    { target: 'localhost:50051', address: 'localhost', port: 50051 },
    { target: 'dns:host:notaport', address: 'host', port: undefined },
    { target: 'dns:host:99999', address: 'host', port: undefined },
  ])('$target', ({ target, address, port }) => {
    expect(targetAttributes(target)).toEqual(
      port === undefined ? { 'server.address': address } : { 'server.address': address, 'server.port': port },
    );
  });

  it.each(['', 'unknown', 'dns:', 'dns:[::1'])('nothing for %j', (target) => {
    expect(targetAttributes(target)).toEqual({});
  });

  it('reads an authority without a default port', () => {
    expect(hostPortAttributes('localhost')).toEqual({ 'server.address': 'localhost' });
    expect(hostPortAttributes('[::1]:8080')).toEqual({ 'server.address': '::1', 'server.port': 8080 });
  });
});

describe('metadataGetter', () => {
  const metadata = new Metadata();
  metadata.set('traceparent', 'one');
  metadata.add('tracestate', 'a=1');
  metadata.add('tracestate', 'b=2');
  metadata.set('trace-bin', Buffer.from('caf\xe9', 'latin1'));

  it.each([
    { name: 'a single value is a string', key: 'traceparent', value: 'one' },
    { name: 'keys match case-insensitively', key: 'TraceParent', value: 'one' },
    { name: 'a repeated key is an array', key: 'tracestate', value: ['a=1', 'b=2'] },
    { name: 'a binary value is decoded as latin1', key: 'trace-bin', value: 'caf\xe9' },
    { name: 'a missing key is undefined', key: 'baggage', value: undefined },
  ])('$name', ({ key, value }) => {
    expect(metadataGetter.get(metadata, key)).toEqual(value);
  });

  it('lists every key', () => {
    expect(metadataGetter.keys(metadata).sort()).toEqual(['trace-bin', 'traceparent', 'tracestate']);
  });
});

describe('metadataSetter', () => {
  it('replaces an existing value', () => {
    const metadata = new Metadata();
    metadata.add('traceparent', 'old');
    metadata.add('traceparent', 'older');
    metadataSetter.set(metadata, 'traceparent', 'new');
    expect(metadata.get('traceparent')).toEqual(['new']);
  });

  it('skips a value grpc-js refuses instead of throwing', () => {
    const metadata = new Metadata();
    expect(() => metadataSetter.set(metadata, 'baggage', 'caf\xe9')).not.toThrow();
    expect(metadata.get('baggage')).toEqual([]);
  });
});

describe('status codes', () => {
  it('names every gRPC code and falls back to the number', () => {
    expect([0, 1, 4, 5, 13, 16].map(statusName)).toEqual([
      'OK',
      'CANCELLED',
      'DEADLINE_EXCEEDED',
      'NOT_FOUND',
      'INTERNAL',
      'UNAUTHENTICATED',
    ]);
    expect(statusName(42)).toBe('42');
  });

  it('treats only server faults as server errors', () => {
    const errors = Array.from({ length: 17 }, (_, code) => code).filter(isServerError);
    expect(errors.map(statusName)).toEqual([
      'UNKNOWN',
      'DEADLINE_EXCEEDED',
      'UNIMPLEMENTED',
      'INTERNAL',
      'UNAVAILABLE',
      'DATA_LOSS',
    ]);
  });
});
