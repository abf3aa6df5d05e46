// The registry of running handlers' spans, without a broker: settlement walks only what it covers.
import { SpanKind } from '@opentelemetry/api';
import { type HeaderRecord, createIncomingSpans, headerGetter } from '@tracewire/core';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { setupTracing } from '../../../test/support/tracing.js';
import { OpenSpans } from '../src/open-spans.js';

const tracing = setupTracing();
afterAll(() => tracing.shutdown());
beforeEach(() => tracing.reset());

const incoming = createIncomingSpans<HeaderRecord, HeaderRecord>(
  {},
  { packageName: '@tracewire/test', version: '0.0.0' },
  SpanKind.CONSUMER,
  headerGetter,
);
const SETTLEMENT = 'tracewire.rabbitmq.settlement';

describe('OpenSpans', () => {
  it('a bulk settlement with a huge or foreign delivery tag returns at once and settles only what is open', () => {
    const open = new OpenSpans(60_000);
    const scopes = [1, 2, 3].map((tag) => {
      const scope = incoming.start({}, {}, 'process q');
      open.add(tag, scope, false);
      return scope;
    });
    open.settle(Number.MAX_SAFE_INTEGER, true, 'ack');
    open.settle(2, true, 'nack', false);
    for (const scope of scopes) scope.end();
    expect(tracing.spans().map((span) => span.attributes[SETTLEMENT])).toEqual(['ack', 'ack', 'ack']);
  });

  it('each message is settled once: a later bulk ack does not overwrite an earlier nack', () => {
    const open = new OpenSpans(60_000);
    const scopes = [1, 2].map((tag) => {
      const scope = incoming.start({}, {}, 'process q');
      open.add(tag, scope, false);
      return scope;
    });
    open.settle(1, false, 'nack', true);
    open.settle(2, true, 'ack');
    for (const scope of scopes) scope.end();
    expect(tracing.spans().map((span) => span.attributes[SETTLEMENT])).toEqual(['nack', 'ack']);
  });

  it('close ends every open span once; noAck spans are not marked ERROR', () => {
    const open = new OpenSpans(60_000);
    open.add(1, incoming.start({}, {}, 'process q'), false);
    open.add(2, incoming.start({}, {}, 'process q'), true);
    open.close({ settlement: 'channel_closed', type: 'NOT_FOUND', message: 'gone' });
    open.close({ settlement: 'channel_closed', type: 'NOT_FOUND', message: 'gone' });
    expect(
      tracing.spans().map((span) => [span.attributes[SETTLEMENT], span.attributes['error.type']]),
    ).toEqual([
      ['channel_closed', 'NOT_FOUND'],
      ['channel_closed', undefined],
    ]);
    expect(open.size).toBe(0);
  });
});
