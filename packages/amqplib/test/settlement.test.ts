import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { traceChannel } from '@tracewire/amqplib';
import { beforeAll, describe, expect, it } from 'vitest';
import { parentSpanId } from '../../../test/support/tracing.js';
import { type Broker, type Message, collector, sleep, useBrokerTracing } from './support/broker.js';

const { tracing, broker: currentBroker } = useBrokerTracing();
let broker: Broker;
beforeAll(() => {
  broker = currentBroker();
});

const tracer = trace.getTracer('test');
const SETTLEMENT = 'tracewire.rabbitmq.settlement';
const REQUEUE = 'tracewire.rabbitmq.requeue';

const processSpans = (): ReadableSpan[] =>
  tracing.spans().filter((s) => s.kind === SpanKind.CONSUMER && s.name.startsWith('process '));
const producerSpan = (): ReadableSpan => tracing.spans().find((s) => s.kind === SpanKind.PRODUCER)!;
const byName = (name: string): ReadableSpan[] => tracing.spans().filter((s) => s.name === name);

async function waitForProcessSpans(count: number): Promise<ReadableSpan[]> {
  for (let i = 0; i < 500 && processSpans().length < count; i++) await sleep(10);
  expect(processSpans()).toHaveLength(count);
  return processSpans();
}

/** Publishes `count` messages through a traced channel inside an app span. */
async function publish(queue: string, count = 1): Promise<void> {
  const channel = traceChannel(await broker.channel());
  const span = tracer.startSpan('app');
  context.with(trace.setSpan(context.active(), span), () => {
    for (let i = 0; i < count; i++) channel.sendToQueue(queue, Buffer.from(`message ${i}`));
  });
  span.end();
}

describe('a process span covers the handler, not the wait for an ack', () => {
  it('a synchronous handler that acks later: the span ends when the handler returns', async () => {
    const queue = await broker.queue('sync-later');
    const channel = traceChannel(await broker.channel());
    const delivered = collector<Message>(1);
    await channel.consume(queue, (message) => {
      delivered.push(message!);
    });
    await publish(queue);
    const [message] = await delivered.done;
    const [span] = await waitForProcessSpans(1);
    // Settled after the handler: nothing to record on a span that has ended (settleSpans records it).
    channel.ack(message!);
    await sleep(20);
    expect(span!.attributes[SETTLEMENT]).toBeUndefined();
    expect(span!.status.code).toBe(SpanStatusCode.UNSET);
    expect(await broker.messageCount(queue)).toBe(0);
  });

  it('an async handler: the span ends when its promise settles, recording an ack made inside it', async () => {
    const queue = await broker.queue('async');
    const channel = traceChannel(await broker.channel());
    const finished = collector<number>(1);
    await channel.consume(queue, async (message) => {
      await sleep(30);
      channel.ack(message!);
      tracer.startSpan('inside').end();
      finished.push(processSpans().length);
    });
    await publish(queue);
    expect(await finished.done).toEqual([0]);
    const [span] = await waitForProcessSpans(1);
    expect(span!.attributes[SETTLEMENT]).toBe('ack');
    expect(parentSpanId(byName('inside')[0]!)).toBe(span!.spanContext().spanId);
  });

  it('held messages acked in bulk long after their handlers: the spans do not wait for it', async () => {
    const queue = await broker.queue('bulk-later');
    const channel = traceChannel(await broker.channel());
    const delivered = collector<Message>(3);
    await channel.consume(queue, (message) => delivered.push(message!));
    await publish(queue, 3);
    const messages = await delivered.done;
    await waitForProcessSpans(3);
    await sleep(50);
    channel.ack(messages[2]!, true);
    for (const span of processSpans()) {
      // Each covers its handler (microseconds), not the 50 ms wait for the bulk ack.
      const [seconds, nanos] = span.duration;
      expect(seconds * 1e3 + nanos / 1e6).toBeLessThan(50);
    }
    await sleep(20);
    expect(await broker.messageCount(queue)).toBe(0);
  });
});

describe('settlement recorded on the open process span', () => {
  it.each([
    { how: 'nack', settle: (ch: SettleChannel, m: Message) => ch.nack(m, false, true) },
    { how: 'reject', settle: (ch: SettleChannel, m: Message) => ch.reject(m, true) },
    { how: 'nack', settle: (ch: SettleChannel, m: Message) => ch.nack(m) },
  ])(
    '$how with requeue, then ack: two spans, both children of the producer; a deliberate $how is not an ERROR',
    async ({ how, settle }) => {
      const queue = await broker.queue('requeue');
      const channel = traceChannel(await broker.channel());
      const seen = collector<boolean>(2);
      await channel.consume(queue, (message) => {
        seen.push(message!.fields.redelivered);
        if (message!.fields.redelivered) channel.ack(message!);
        else settle(channel, message!);
      });
      await publish(queue);
      expect(await seen.done).toEqual([false, true]);
      const [first, second] = await waitForProcessSpans(2);
      const producer = producerSpan();
      for (const span of [first!, second!]) {
        expect(span.spanContext().traceId).toBe(producer.spanContext().traceId);
        expect(parentSpanId(span)).toBe(producer.spanContext().spanId);
      }
      expect(first!.status.code).toBe(SpanStatusCode.UNSET);
      expect(first!.attributes).toMatchObject({ [SETTLEMENT]: how, [REQUEUE]: true });
      expect(first!.attributes['error.type']).toBeUndefined();
      expect(second!.attributes[SETTLEMENT]).toBe('ack');
      expect(await broker.messageCount(queue)).toBe(0);
    },
  );

  it('nack without requeue records requeue=false', async () => {
    const queue = await broker.queue('nack-drop');
    const channel = traceChannel(await broker.channel());
    await channel.consume(queue, (message) => channel.nack(message!, false, false));
    await publish(queue);
    const [span] = await waitForProcessSpans(1);
    expect(span!.attributes).toMatchObject({ [SETTLEMENT]: 'nack', [REQUEUE]: false });
  });

  it('an async handler that settles before its first await keeps that settlement through a later bulk ack', async () => {
    const queue = await broker.queue('settled-inside');
    const channel = traceChannel(await broker.channel());
    const delivered = collector<Message>(2);
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    await channel.consume(queue, async (message) => {
      // The first message is rejected (dropped) synchronously, inside the handler's span.
      if (delivered.values.length === 0) channel.reject(message!, false);
      delivered.push(message!);
      await held;
    });
    await publish(queue, 2);
    const [, second] = await delivered.done;
    // Both handlers still run; a bulk ack up to the second covers the first one's tag too.
    channel.ack(second!, true);
    release();
    const spans = await waitForProcessSpans(2);
    expect(spans.map((span) => span.attributes[SETTLEMENT])).toEqual(['reject', 'ack']);
    expect(spans[0]!.attributes[REQUEUE]).toBe(false);
    expect(await broker.messageCount(queue)).toBe(0);
  });

  it('ack with allUpTo records the settlement on every earlier open span, and only those', async () => {
    const queue = await broker.queue('all-up-to');
    const channel = traceChannel(await broker.channel());
    const delivered = collector<Message>(4);
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    await channel.consume(queue, (message) => {
      delivered.push(message!);
      return released;
    });
    await publish(queue, 4);
    const messages = await delivered.done;
    channel.ack(messages[2]!, true);
    channel.nack(messages[3]!, true, false);
    release();
    const spans = await waitForProcessSpans(4);
    const byTag = new Map(
      spans.map((s) => [s.attributes['rabbitmq.message.delivery_tag'], s.attributes[SETTLEMENT]]),
    );
    expect([1, 2, 3, 4].map((tag) => byTag.get(tag))).toEqual(['ack', 'ack', 'ack', 'nack']);
    expect(await broker.messageCount(queue)).toBe(0);
  });

  it.each([
    { how: 'ackAll', settle: (ch: SettleChannel) => ch.ackAll(), settlement: 'ack' },
    { how: 'nackAll', settle: (ch: SettleChannel) => ch.nackAll(false), settlement: 'nack' },
  ])('$how records the settlement on every open span', async ({ settle, settlement }) => {
    const queue = await broker.queue('all');
    const channel = traceChannel(await broker.channel());
    const delivered = collector<Message>(3);
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    await channel.consume(queue, (message) => {
      delivered.push(message!);
      return released;
    });
    await publish(queue, 3);
    await delivered.done;
    expect(processSpans()).toHaveLength(0);
    settle(channel);
    release();
    const spans = await waitForProcessSpans(3);
    expect(spans.map((s) => [s.status.code, s.attributes[SETTLEMENT]])).toEqual(
      Array.from({ length: 3 }, () => [SpanStatusCode.UNSET, settlement]),
    );
  });
});

describe('settleSpans: true', () => {
  it('each settlement is a CLIENT settle span linked to the creation context, child of the active context', async () => {
    const queue = await broker.queue('settle-spans');
    const channel = traceChannel(await broker.channel(), { settleSpans: true });
    const delivered = collector<Message>(2);
    await channel.consume(queue, (message) => {
      delivered.push(message!);
    });
    await publish(queue, 2);
    const [first, second] = await delivered.done;
    await waitForProcessSpans(2);
    channel.ack(first!);
    channel.nack(second!, false, false);
    channel.ackAll();
    const ack = byName(`ack ${queue}`)[0]!;
    const nack = byName(`nack ${queue}`)[0]!;
    const all = byName('ack')[0]!;
    const producers = tracing.spans().filter((s) => s.kind === SpanKind.PRODUCER);
    for (const span of [ack, nack, all]) {
      expect(span.kind).toBe(SpanKind.CLIENT);
      expect(span.attributes['messaging.operation.type']).toBe('settle');
      expect(span.status.code).toBe(SpanStatusCode.UNSET);
    }
    expect(ack.attributes).toMatchObject({
      'messaging.operation.name': 'ack',
      'messaging.destination.name': queue,
    });
    expect(nack.attributes).toMatchObject({ 'messaging.operation.name': 'nack', [REQUEUE]: false });
    expect(ack.links.map((l) => l.context.spanId)).toEqual([producers[0]!.spanContext().spanId]);
    expect(nack.links.map((l) => l.context.spanId)).toEqual([producers[1]!.spanContext().spanId]);
    expect(all.attributes['tracewire.rabbitmq.all_up_to']).toBe(true);
  });

  it('settleSpans must be a boolean', async () => {
    expect(() => traceChannel(broker.admin, { settleSpans: 'yes' as unknown as boolean })).toThrow(
      /settleSpans/,
    );
  });
});

describe('spans that would otherwise wait forever', () => {
  it('a handler that throws: the span ends ERROR at once and amqplib gets the same error', async () => {
    const queue = await broker.queue('throws');
    const channel = traceChannel(await broker.channel());
    const failure = new RangeError('bad order');
    const reported = collector<unknown>(1);
    channel.on('handler-error', (error: unknown) => reported.push(error));
    const delivered = collector<Message>(1);
    await channel.consume(queue, (message) => {
      delivered.push(message!);
      throw failure;
    });
    await publish(queue);
    expect(await reported.done).toEqual([failure]);
    const [message] = await delivered.done;
    const [span] = await waitForProcessSpans(1);
    expect(span!.status.code).toBe(SpanStatusCode.ERROR);
    expect(span!.attributes['error.type']).toBe('RangeError');
    expect(span!.events.map((e) => e.name)).toEqual(['exception']);
    channel.ack(message!);
  });

  it('the settle timeout ends the span of a handler that never settles; a late ack changes nothing', async () => {
    const queue = await broker.queue('timeout');
    const channel = traceChannel(await broker.channel(), { settleTimeoutMs: 50 });
    const delivered = collector<Message>(1);
    await channel.consume(queue, (message) => {
      delivered.push(message!);
      return new Promise(() => {});
    });
    await publish(queue);
    const [message] = await delivered.done;
    const [span] = await waitForProcessSpans(1);
    expect(span!.attributes[SETTLEMENT]).toBe('timeout');
    expect(span!.status.code).toBe(SpanStatusCode.UNSET);
    channel.ack(message!);
    await sleep(50);
    expect(processSpans()).toHaveLength(1);
    expect(await broker.messageCount(queue)).toBe(0);
  });

  it('closing the channel while handlers still run ends their spans ERROR channel_closed; the messages go back', async () => {
    const queue = await broker.queue('close');
    const channel = traceChannel(await broker.channel());
    const delivered = collector<Message>(2);
    await channel.consume(queue, (message) => {
      delivered.push(message!);
      return new Promise(() => {});
    });
    await publish(queue, 2);
    await delivered.done;
    await channel.close();
    const spans = await waitForProcessSpans(2);
    expect(spans.map((s) => [s.attributes[SETTLEMENT], s.attributes['error.type']])).toEqual([
      ['channel_closed', 'channel_closed'],
      ['channel_closed', 'channel_closed'],
    ]);
    expect(await broker.messageCount(queue)).toBe(2);
  });

  it('recover records itself on the open spans; the redeliveries get spans of their own', async () => {
    const queue = await broker.queue('recover');
    const channel = traceChannel(await broker.channel());
    const delivered = collector<Message>(2);
    await channel.consume(queue, (message) => {
      delivered.push(message!);
      if (message!.fields.redelivered) {
        channel.ack(message!);
        return undefined;
      }
      return sleep(100);
    });
    await publish(queue);
    await sleep(20);
    await channel.recover();
    await delivered.done;
    const spans = await waitForProcessSpans(2);
    expect(spans.map((s) => s.attributes[SETTLEMENT]).sort()).toEqual(['ack', 'recover']);
  });

  it('a consumer cancelled by the server gets null, untouched, and no span', async () => {
    const queue = await broker.queue('cancelled');
    const channel = traceChannel(await broker.channel());
    const received = collector<unknown>(1);
    await channel.consume(queue, (message) => received.push(message));
    await broker.admin.deleteQueue(queue);
    expect(await received.done).toEqual([null]);
    expect(tracing.spans()).toHaveLength(0);
  });
});

describe('get', () => {
  it('a got message: a CLIENT receive span covering the call, linked to the creation context; processing and settlement are the app’s', async () => {
    const queue = await broker.queue('get');
    await publish(queue, 2);
    await sleep(20);
    const channel = traceChannel(await broker.channel());
    const app = tracer.startSpan('poll');
    const message = await context.with(trace.setSpan(context.active(), app), () => channel.get(queue));
    app.end();
    expect(message).not.toBe(false);
    const [span] = byName(`receive ${queue}`);
    expect(span!.kind).toBe(SpanKind.CLIENT);
    expect(parentSpanId(span!)).toBe(app.spanContext().spanId);
    expect(span!.attributes).toMatchObject({
      'messaging.operation.type': 'receive',
      'messaging.operation.name': 'receive',
      'messaging.destination.name': queue,
      'rabbitmq.message.delivery_tag': (message as Message).fields.deliveryTag,
    });
    expect(span!.links.map((l) => l.context.spanId)).toEqual([producerSpan().spanContext().spanId]);
    channel.ack(message as Message);

    const noAck = (await channel.get(queue, { noAck: true })) as Message;
    expect(noAck.content.toString()).toBe('message 1');
    expect(await channel.get(queue)).toBe(false);
    const receives = byName(`receive ${queue}`);
    expect(receives).toHaveLength(3);
    // An empty queue: the span of the call, with no message and no link.
    expect(receives[2]!.links).toEqual([]);
    expect(receives[2]!.attributes['rabbitmq.message.delivery_tag']).toBeUndefined();
  });
});

type SettleChannel = {
  ack(message: Message, allUpTo?: boolean): void;
  nack(message: Message, allUpTo?: boolean, requeue?: boolean): void;
  reject(message: Message, requeue?: boolean): void;
  ackAll(): void;
  nackAll(requeue?: boolean): void;
};
