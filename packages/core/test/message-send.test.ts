import { SpanKind, SpanStatusCode, context, propagation, trace } from '@opentelemetry/api';
import {
  type HeaderRecord,
  type OutgoingMessage,
  W3CPropagator,
  createMessageSendSpans,
  headerGetter,
  headerSetter,
} from '@tracewire/core';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { parentSpanId, setupTracing } from '../../../test/support/tracing.js';

const tracing = setupTracing();
afterAll(() => tracing.shutdown());
beforeEach(() => tracing.reset());

const identity = { packageName: '@tracewire/test', version: '0.0.0' };
const OLD_TRACE = '0af7651916cd43dd8448eb211c80319c';
const OLD_SPAN = 'b7ad6b7169203331';
const call = { destination: 'orders', attributes: { 'messaging.system': 'test' } };
const message = (carrier: HeaderRecord = {}): OutgoingMessage<HeaderRecord> => ({
  carrier,
  destination: 'orders',
  attributes: { 'test.key': 'k' },
});
const carrierAccess = {
  getter: headerGetter,
  setter: headerSetter,
  remove: (carrier: HeaderRecord, key: string) => {
    delete carrier[key];
  },
};
const spansWith = (createSpans?: boolean) =>
  createMessageSendSpans<HeaderRecord>({ createSpans }, identity, carrierAccess);
const traceIdOf = (carrier: HeaderRecord): string | undefined => String(carrier.traceparent).split('-')[1];
const spanIdOf = (carrier: HeaderRecord): string | undefined => String(carrier.traceparent).split('-')[2];
const byName = (name: string) => tracing.spans().filter((span) => span.name === name);

describe('message sends: one shape per case', () => {
  it('single message: one PRODUCER send span, injected into the message, with its attributes', () => {
    const carrier: HeaderRecord = {};
    const send = spansWith().start(call, [message(carrier)]);
    send.succeed();
    const [span, ...rest] = tracing.spans();
    expect(rest).toEqual([]);
    expect(span?.name).toBe('send orders');
    expect(span?.kind).toBe(SpanKind.PRODUCER);
    expect(span?.attributes).toMatchObject({
      'messaging.system': 'test',
      'test.key': 'k',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'send',
    });
    expect(spanIdOf(carrier)).toBe(span?.spanContext().spanId);
    expect(send.messageScope(0)).toBe(send.send);
  });

  it('several messages: a PRODUCER create span per message, injected into it, and a CLIENT send span linking to them', () => {
    const carriers: HeaderRecord[] = [{}, {}, {}];
    const parent = tracing.provider.getTracer('t').startSpan('parent');
    const send = context.with(trace.setSpan(context.active(), parent), () =>
      spansWith().start(call, carriers.map(message)),
    );
    send.succeed();
    parent.end();
    const creates = byName('create orders');
    const [sendSpan] = byName('send orders');
    expect(creates).toHaveLength(3);
    for (const [i, create] of creates.entries()) {
      expect(create.kind).toBe(SpanKind.PRODUCER);
      expect(create.attributes).toMatchObject({ 'test.key': 'k', 'messaging.operation.type': 'create' });
      expect(parentSpanId(create)).toBe(parent.spanContext().spanId);
      expect(spanIdOf(carriers[i]!)).toBe(create.spanContext().spanId);
    }
    expect(sendSpan?.kind).toBe(SpanKind.CLIENT);
    expect(parentSpanId(sendSpan!)).toBe(parent.spanContext().spanId);
    expect(sendSpan?.attributes).toMatchObject({
      'messaging.batch.message_count': 3,
      'messaging.operation.type': 'send',
    });
    expect(sendSpan?.attributes['test.key']).toBeUndefined();
    expect(sendSpan?.links.map((link) => link.context.spanId)).toEqual(
      creates.map((create) => create.spanContext().spanId),
    );
  });

  it('createSpans false: one PRODUCER send span injected into every message', () => {
    const carriers: HeaderRecord[] = [{}, {}];
    const send = spansWith(false).start(call, carriers.map(message));
    send.succeed();
    const [span, ...rest] = tracing.spans();
    expect(rest).toEqual([]);
    expect(span?.kind).toBe(SpanKind.PRODUCER);
    expect(span?.attributes['messaging.batch.message_count']).toBe(2);
    expect(carriers.map(spanIdOf)).toEqual([span?.spanContext().spanId, span?.spanContext().spanId]);
    expect(send.messageScope(0)).toBeUndefined();
  });

  it('records per-message attributes only where a span shows them: not for several messages under createSpans false', () => {
    expect([1, 2, 100].map((count) => spansWith().recordsMessageAttributes(count))).toEqual([
      true,
      true,
      true,
    ]);
    expect([1, 2, 100].map((count) => spansWith(false).recordsMessageAttributes(count))).toEqual([
      true,
      false,
      false,
    ]);
    // Where it says false, the call's span indeed carries none of the messages' attributes.
    const send = spansWith(false).start(call, [message(), message()]);
    send.succeed();
    expect(tracing.spans()[0]?.attributes['test.key']).toBeUndefined();
  });

  it('createSpans false: each message gets what a per-message inject writes (baggage too), stale fields replaced', () => {
    const active = propagation.setBaggage(
      context.active(),
      propagation.createBaggage({ tenant: { value: 'acme' } }),
    );
    const carriers: HeaderRecord[] = [{ baggage: 'stale=1', other: 'kept' }, {}, { tracestate: 'stale=2' }];
    const send = spansWith(false).start(call, carriers.map(message), active);
    const expected: HeaderRecord = {};
    new W3CPropagator().inject(send.send.context, expected, headerSetter);
    send.succeed();
    expect(expected.traceparent).toBeDefined();
    expect(expected.baggage).toBe('tenant=acme');
    expect(carriers).toEqual([{ ...expected, other: 'kept' }, expected, expected]);
  });

  it('createSpans must be a boolean', () => {
    expect(() => spansWith('no' as unknown as boolean)).toThrow(TypeError);
  });
});

describe('a message that already carries a creation context is never modified', () => {
  const forwarded = (): HeaderRecord => ({
    traceparent: `00-${OLD_TRACE}-${OLD_SPAN}-01`,
    tracestate: 'old=1',
    baggage: 'who=old',
  });

  for (const createSpans of [true, false]) {
    it(`re-produced single message (createSpans ${createSpans}): headers untouched, the send span links to its context`, () => {
      const carrier = forwarded();
      const before = { ...carrier };
      const active = propagation.setBaggage(
        context.active(),
        propagation.createBaggage({ who: { value: 'new' } }),
      );
      const send = context.with(active, () => spansWith(createSpans).start(call, [message(carrier)]));
      send.succeed();
      const [span] = tracing.spans();
      expect(carrier).toEqual(before);
      expect(span?.kind).toBe(SpanKind.PRODUCER);
      expect(span?.links.map((link) => link.context.spanId)).toEqual([OLD_SPAN]);
      expect(send.preserved(0)).toBe(true);
      expect(send.messageScope(0)).toBeUndefined();
    });

    it(`a batch mixing fresh and re-produced messages (createSpans ${createSpans}): each message's headers come from one context`, () => {
      const fresh: HeaderRecord = { tracestate: 'stale=1' };
      const old = forwarded();
      const before = { ...old };
      const send = spansWith(createSpans).start(call, [message(fresh), message(old)]);
      send.succeed();
      expect(old).toEqual(before);
      expect(traceIdOf(fresh)).not.toBe(OLD_TRACE);
      expect(fresh.tracestate).toBeUndefined();
      const [sendSpan] = byName('send orders');
      expect(sendSpan?.links.map((link) => link.context.spanId)).toContain(OLD_SPAN);
      expect(byName('create orders')).toHaveLength(createSpans ? 1 : 0);
    });
  }

  it('a malformed traceparent is not a creation context: the message is traced as new, its stale tracestate and baggage dropped', () => {
    const carrier: HeaderRecord = { traceparent: '00-zz-yy-01', tracestate: 'old=1', baggage: 'who=old' };
    spansWith()
      .start(call, [message(carrier)])
      .succeed();
    const [span] = tracing.spans();
    expect(spanIdOf(carrier)).toBe(span?.spanContext().spanId);
    expect(carrier.tracestate).toBeUndefined();
    expect(carrier.baggage).toBeUndefined();
  });
});

describe('message sends end exactly once with the outcome', () => {
  it('an error ends every span ERROR with error.type naming the innermost cause', () => {
    class Wrapper extends Error {}
    class Root extends Error {}
    const send = spansWith().start(call, [message(), message()]);
    send.fail(new Wrapper('retries exceeded', { cause: new Root('no such topic') }));
    send.succeed();
    send.fail(new Error('again'));
    const spans = tracing.spans();
    expect(spans).toHaveLength(3);
    for (const span of spans) {
      expect(span.status.code).toBe(SpanStatusCode.ERROR);
      expect(span.attributes['error.type']).toBe('Root');
    }
    expect(byName('send orders')[0]?.events.map((event) => event.name)).toEqual(['exception']);
  });

  it('failWith sets the given error.type on every span', () => {
    const send = spansWith().start(call, [message(), message()]);
    send.failWith('NO_ROUTE', 'unroutable');
    expect(tracing.spans().map((span) => span.attributes['error.type'])).toEqual([
      'NO_ROUTE',
      'NO_ROUTE',
      'NO_ROUTE',
    ]);
  });

  it('a custom describeError names error.type', () => {
    const spans = createMessageSendSpans<HeaderRecord>({}, identity, carrierAccess, () => 'CODE');
    spans.start(call, [message()]).fail(new Error('x'));
    expect(tracing.spans()[0]?.attributes['error.type']).toBe('CODE');
  });
});
