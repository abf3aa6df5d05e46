import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import {
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_MESSAGE_BODY_SIZE,
  ATTR_MESSAGING_MESSAGE_CONVERSATION_ID,
  ATTR_MESSAGING_MESSAGE_ID,
  ATTR_MESSAGING_OPERATION_NAME,
  ATTR_MESSAGING_OPERATION_TYPE,
  ATTR_MESSAGING_SYSTEM,
  ATTR_MESSAGING_SYSTEM_NAME,
  ATTR_RABBITMQ_DESTINATION_ROUTING_KEY,
  ATTR_RABBITMQ_MESSAGE_DELIVERY_TAG,
} from '@opentelemetry/semantic-conventions/incubating';
import { ATTR_NETWORK_PEER_ADDRESS, ATTR_NETWORK_PEER_PORT } from '@opentelemetry/semantic-conventions';
import { traceChannel } from '@tracewire/amqplib';
import { beforeAll, describe, expect, it } from 'vitest';
import { parentSpanId } from '../../../test/support/tracing.js';
import { type Broker, type Message, collector, useBrokerTracing } from './support/broker.js';

const { tracing, broker: currentBroker } = useBrokerTracing();
let broker: Broker;
beforeAll(() => {
  broker = currentBroker();
});

const tracer = trace.getTracer('test');
const body = Buffer.from('{"order":42}');

/** Runs `fn` inside an application span, as publishing code would be. */
function inAppSpan<T>(fn: () => T): { result: T; spanId: string; traceId: string } {
  const span = tracer.startSpan('app work');
  try {
    const result = context.with(trace.setSpan(context.active(), span), fn);
    return { result, spanId: span.spanContext().spanId, traceId: span.spanContext().traceId };
  } finally {
    span.end();
  }
}

interface Route {
  name: string;
  /** Creates the exchange and queues; returns what to publish to and the queues that receive it. */
  setup(): Promise<{ exchange: string; routingKey: string; queues: string[] }>;
  sendName(exchange: string): string;
  sendDestination(exchange: string, routingKey: string): string;
  processDestination(exchange: string, routingKey: string, queue: string): string;
}

const routes: Route[] = [
  {
    name: 'default exchange (sendToQueue)',
    async setup() {
      const queue = await broker.queue('default');
      return { exchange: '', routingKey: queue, queues: [queue] };
    },
    sendName: () => 'send amq.default',
    sendDestination: (_exchange, routingKey) => routingKey,
    processDestination: (_exchange, _routingKey, queue) => queue,
  },
  {
    name: 'direct exchange',
    async setup() {
      const exchange = await broker.exchange('direct', 'direct');
      const queue = await broker.queue('direct');
      await broker.admin.bindQueue(queue, exchange, 'orders.created');
      return { exchange, routingKey: 'orders.created', queues: [queue] };
    },
    sendName: (exchange) => `send ${exchange}`,
    sendDestination: (exchange, routingKey) => `${exchange}:${routingKey}`,
    processDestination: (exchange, routingKey, queue) => `${exchange}:${routingKey}:${queue}`,
  },
  {
    name: 'topic exchange',
    async setup() {
      const exchange = await broker.exchange('topic', 'topic');
      const queue = await broker.queue('topic');
      await broker.admin.bindQueue(queue, exchange, 'orders.*.eu');
      return { exchange, routingKey: 'orders.created.eu', queues: [queue] };
    },
    sendName: (exchange) => `send ${exchange}`,
    sendDestination: (exchange, routingKey) => `${exchange}:${routingKey}`,
    processDestination: (exchange, routingKey, queue) => `${exchange}:${routingKey}:${queue}`,
  },
  {
    name: 'fanout exchange with two queues',
    async setup() {
      const exchange = await broker.exchange('fanout', 'fanout');
      const first = await broker.queue('fanout-a');
      const second = await broker.queue('fanout-b');
      await broker.admin.bindQueue(first, exchange, '');
      await broker.admin.bindQueue(second, exchange, '');
      return { exchange, routingKey: '', queues: [first, second] };
    },
    sendName: (exchange) => `send ${exchange}`,
    sendDestination: (exchange) => exchange,
    processDestination: (exchange, _routingKey, queue) => `${exchange}:${queue}`,
  },
];

describe('one trace from publisher to consumer', () => {
  it.each(routes)('$name: PRODUCER span under the app span, CONSUMER span its child', async (route) => {
    const { exchange, routingKey, queues } = await route.setup();
    const producer = traceChannel(await broker.channel());
    const consumer = traceChannel(await broker.channel());
    const delivered = collector<Message>(queues.length);
    for (const queue of queues) {
      await consumer.consume(queue, (message) => {
        delivered.push(message!);
        consumer.ack(message!);
      });
    }

    const options = { messageId: 'm-1', correlationId: 'c-1', headers: { tenant: 'acme' } };
    const app = inAppSpan(() =>
      exchange === ''
        ? producer.sendToQueue(routingKey, body, options)
        : producer.publish(exchange, routingKey, body, options),
    );
    expect(app.result).toBe(true);
    const messages = await delivered.done;
    const spans = await tracing.waitForSpans(2 + queues.length);

    const send = spans.find((s) => s.kind === SpanKind.PRODUCER)!;
    expect(send.name).toBe(route.sendName(exchange));
    expect(send.spanContext().traceId).toBe(app.traceId);
    expect(parentSpanId(send)).toBe(app.spanId);
    expect(send.attributes).toMatchObject({
      [ATTR_MESSAGING_SYSTEM]: 'rabbitmq',
      [ATTR_MESSAGING_SYSTEM_NAME]: 'rabbitmq',
      [ATTR_MESSAGING_OPERATION_TYPE]: 'send',
      [ATTR_MESSAGING_OPERATION_NAME]: 'send',
      [ATTR_MESSAGING_DESTINATION_NAME]: route.sendDestination(exchange, routingKey),
      [ATTR_MESSAGING_MESSAGE_ID]: 'm-1',
      [ATTR_MESSAGING_MESSAGE_CONVERSATION_ID]: 'c-1',
      [ATTR_MESSAGING_MESSAGE_BODY_SIZE]: body.length,
      [ATTR_NETWORK_PEER_ADDRESS]: expect.any(String),
      [ATTR_NETWORK_PEER_PORT]: expect.any(Number),
    });
    expect(send.attributes[ATTR_RABBITMQ_DESTINATION_ROUTING_KEY]).toBe(routingKey || undefined);

    const processSpans = spans.filter((s) => s.kind === SpanKind.CONSUMER);
    expect(processSpans.map((s) => s.name).sort()).toEqual(queues.map((q) => `process ${q}`).sort());
    for (const span of processSpans) {
      const queue = span.name.slice('process '.length);
      expect(span.spanContext().traceId).toBe(app.traceId);
      expect(parentSpanId(span)).toBe(send.spanContext().spanId);
      expect(span.status.code).toBe(SpanStatusCode.UNSET);
      expect(span.attributes).toMatchObject({
        [ATTR_MESSAGING_SYSTEM]: 'rabbitmq',
        [ATTR_MESSAGING_OPERATION_TYPE]: 'process',
        [ATTR_MESSAGING_OPERATION_NAME]: 'process',
        [ATTR_MESSAGING_DESTINATION_NAME]: route.processDestination(exchange, routingKey, queue),
        [ATTR_RABBITMQ_MESSAGE_DELIVERY_TAG]: expect.any(Number),
        [ATTR_MESSAGING_MESSAGE_ID]: 'm-1',
        [ATTR_MESSAGING_MESSAGE_CONVERSATION_ID]: 'c-1',
        [ATTR_MESSAGING_MESSAGE_BODY_SIZE]: body.length,
        'tracewire.rabbitmq.settlement': 'ack',
      });
      // The conventions: a process span parented on the creation context also links to it.
      expect(span.links.map((link) => link.context.spanId)).toEqual([send.spanContext().spanId]);
    }
    expect(processSpans.map((s) => s.attributes[ATTR_RABBITMQ_MESSAGE_DELIVERY_TAG]).sort()).toEqual(
      messages.map((m) => m.fields.deliveryTag).sort(),
    );
    // The consumer sees the user's headers plus the trace context, and the body unchanged.
    for (const message of messages) {
      expect(message.content).toEqual(body);
      expect(message.properties.headers).toEqual({
        tenant: 'acme',
        traceparent: `00-${app.traceId}-${send.spanContext().spanId}-01`,
      });
    }
    expect(options).toEqual({ messageId: 'm-1', correlationId: 'c-1', headers: { tenant: 'acme' } });
  });

  it('the consumer span is active in the handler, so its work nests under it', async () => {
    const queue = await broker.queue('nesting');
    const channel = traceChannel(await broker.channel());
    const done = collector<string | undefined>(1);
    await channel.consume(queue, async (message) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      tracer.startSpan('handler work').end();
      done.push(trace.getActiveSpan()?.spanContext().spanId);
      channel.ack(message!);
    });
    channel.sendToQueue(queue, body);
    const [activeId] = await done.done;
    const spans = await tracing.waitForSpans(3);
    const process = spans.find((s) => s.kind === SpanKind.CONSUMER)!;
    const work = spans.find((s) => s.name === 'handler work')!;
    expect(activeId).toBe(process.spanContext().spanId);
    expect(parentSpanId(work)).toBe(process.spanContext().spanId);
  });

  it('a message published without trace headers starts a new root trace', async () => {
    const queue = await broker.queue('no-headers');
    const consumer = traceChannel(await broker.channel());
    const delivered = collector<Message>(1);
    await consumer.consume(queue, (message) => {
      delivered.push(message!);
      consumer.ack(message!);
    });
    inAppSpan(() => broker.admin.sendToQueue(queue, body));
    const [message] = await delivered.done;
    const [span] = await tracing.waitForSpans(2).then((s) => s.filter((x) => x.kind === SpanKind.CONSUMER));
    expect(message?.properties.headers).toEqual({});
    expect(parentSpanId(span!)).toBeUndefined();
    expect(span!.spanContext().traceId).not.toBe(
      tracing
        .spans()
        .find((s) => s.name === 'app work')!
        .spanContext().traceId,
    );
  });
});

describe('publish options and return values', () => {
  it("the user's options and headers are never mutated, even frozen; stale trace headers are not sent twice", async () => {
    const queue = await broker.queue('frozen');
    const channel = traceChannel(await broker.channel());
    // A malformed traceparent is no creation context: the message gets a fresh one, and none of
    // the stale trace headers (any spelling, tracestate, baggage) go out next to it.
    const headers = Object.freeze({
      tenant: 'acme',
      TraceParent: '00-11111111111111111111111111111111-2222222222222222-zz',
      traceparent: '00-11111111111111111111111111111111-2222222222222222-zz',
      tracestate: 'stale=1',
      baggage: 'stale=1',
    });
    const options = Object.freeze({ headers, persistent: true, contentType: 'application/json' });
    const app = inAppSpan(() => channel.sendToQueue(queue, body, options));
    expect(app.result).toBe(true);
    const [send] = await tracing.waitForSpans(2).then((s) => s.filter((x) => x.kind === SpanKind.PRODUCER));
    const got = await waitForMessage(queue);
    expect(got.properties.headers).toEqual({
      tenant: 'acme',
      traceparent: `00-${app.traceId}-${send!.spanContext().spanId}-01`,
    });
    expect(got.properties).toMatchObject({ deliveryMode: 2, contentType: 'application/json' });
    expect(Object.keys(headers)).toEqual(['tenant', 'TraceParent', 'traceparent', 'tracestate', 'baggage']);
    expect(Object.keys(options)).toEqual(['headers', 'persistent', 'contentType']);
  });

  it('re-publishing a consumed message: its own creation context goes out untouched, the send span links to it', async () => {
    const queue = await broker.queue('republish');
    const channel = traceChannel(await broker.channel());
    const consumed = {
      traceparent: '00-11111111111111111111111111111111-2222222222222222-01',
      tracestate: 'old=1',
      baggage: 'who=old',
      tenant: 'acme',
    };
    const app = inAppSpan(() => channel.sendToQueue(queue, body, { headers: consumed }));
    const [send] = await tracing.waitForSpans(2).then((s) => s.filter((x) => x.kind === SpanKind.PRODUCER));
    const got = await waitForMessage(queue);
    expect(got.properties.headers).toEqual(consumed);
    expect(parentSpanId(send!)).toBe(app.spanId);
    expect(send!.links.map((link) => link.context.spanId)).toEqual(['2222222222222222']);
  });

  it('options inherited through a prototype reach amqplib as they would untraced', async () => {
    const queue = await broker.queue('inherited');
    const channel = traceChannel(await broker.channel());
    const options = Object.create({ priority: 3, headers: { from: 'prototype' } }) as { messageId?: string };
    options.messageId = 'own';
    channel.sendToQueue(queue, body, options);
    const got = await waitForMessage(queue);
    expect(got.properties).toMatchObject({ priority: 3, messageId: 'own' });
    expect(got.properties.headers).toMatchObject({ from: 'prototype', traceparent: expect.any(String) });
  });

  it('the flow-control boolean is exactly what amqplib returns', async () => {
    const queue = await broker.queue('flow');
    const big = Buffer.alloc(64 * 1024, 1);
    const publishMany = (channel: { sendToQueue(q: string, c: Buffer): boolean }): boolean[] =>
      Array.from({ length: 6 }, () => channel.sendToQueue(queue, big));
    const bare = publishMany(await broker.channel({ highWaterMark: 2 }));
    const traced = publishMany(traceChannel(await broker.channel({ highWaterMark: 2 })));
    expect(bare).toContain(false);
    expect(traced).toEqual(bare);
  });

  it('a publish that throws marks its span ERROR and throws the same error', async () => {
    const channel = traceChannel(await broker.channel());
    const bad = { headers: 'not a table' } as unknown as object;
    let bareError: unknown;
    let tracedError: unknown;
    try {
      broker.admin.sendToQueue('anything', body, bad);
    } catch (error) {
      bareError = error;
    }
    try {
      channel.sendToQueue('anything', body, bad);
    } catch (error) {
      tracedError = error;
    }
    expect(tracedError).toBeInstanceOf(Error);
    expect((tracedError as Error).message).toBe((bareError as Error).message);
    const [span] = tracing.spans();
    expect(span?.status.code).toBe(SpanStatusCode.ERROR);
  });
});

describe('confirm channels', () => {
  it('the span ends when the broker acks, before the callback, which gets exactly (null)', async () => {
    const queue = await broker.queue('confirm');
    const channel = traceChannel(await broker.confirmChannel());
    const calls: unknown[][] = [];
    let endedBeforeCallback = false;
    const confirmed = new Promise<void>((resolve) => {
      channel.sendToQueue(queue, body, {}, (...args: unknown[]) => {
        calls.push(args);
        endedBeforeCallback = tracing.spans().some((s) => s.kind === SpanKind.PRODUCER);
        resolve();
      });
    });
    expect(tracing.spans()).toHaveLength(0);
    await confirmed;
    expect(calls).toEqual([[null]]);
    expect(endedBeforeCallback).toBe(true);
    const [span] = tracing.spans();
    expect(span?.status.code).toBe(SpanStatusCode.UNSET);
    expect(span?.name).toBe('send amq.default');
  });

  it('without a callback the span ends on confirm and waitForConfirms resolves', async () => {
    const queue = await broker.queue('confirm-wait');
    const channel = traceChannel(await broker.confirmChannel());
    expect(channel.sendToQueue(queue, body)).toBe(true);
    expect(channel.publish('', queue, body)).toBe(true);
    await channel.waitForConfirms();
    const spans = await tracing.waitForSpans(2);
    expect(spans.map((s) => s.status.code)).toEqual([SpanStatusCode.UNSET, SpanStatusCode.UNSET]);
  });

  it('a broker nack (queue full, reject-publish) marks the span ERROR; the callback gets what amqplib gives', async () => {
    const full = { arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' } };
    const run = async (traced: boolean): Promise<unknown[][]> => {
      const queue = await broker.queue('nack', full);
      const raw = await broker.confirmChannel();
      const channel = traced ? traceChannel(raw) : raw;
      const calls: unknown[][] = [];
      const record = (...args: unknown[]) => calls.push(args);
      channel.sendToQueue(queue, body, {}, record);
      channel.sendToQueue(queue, body, {}, record);
      await channel.waitForConfirms().catch(() => {});
      return calls;
    };
    const bare = await run(false);
    const traced = await run(true);
    expect(traced.map((args) => args.map((a) => (a instanceof Error ? `Error: ${a.message}` : a)))).toEqual([
      [null],
      ['Error: message nacked'],
    ]);
    expect(traced.map((args) => args.length)).toEqual(bare.map((args) => args.length));
    const spans = await tracing.waitForSpans(2);
    expect(spans.map((s) => s.status.code)).toEqual([SpanStatusCode.UNSET, SpanStatusCode.ERROR]);
    expect(spans[1]?.attributes['error.type']).toBe('nack');
  });
});

describe('the traced channel is the channel', () => {
  it('other methods, properties, events and identity pass through to the real channel', async () => {
    const raw = await broker.channel();
    const channel = traceChannel(raw);
    expect(traceChannel(raw)).toBe(channel);
    expect(traceChannel(channel)).toBe(channel);
    expect(channel).toBeInstanceOf(raw.constructor);
    expect(channel.connection).toBe(raw.connection);
    expect((channel as unknown as { ch: number }).ch).toBe((raw as unknown as { ch: number }).ch);
    expect(channel.on('drain', () => {})).toBe(channel);

    const { queue } = await channel.assertQueue('', { exclusive: true });
    expect((await broker.admin.checkQueue(queue)).queue).toBe(queue);
    const closed = new Promise<boolean>((resolve) => channel.on('close', () => resolve(true)));
    await channel.close();
    expect(await closed).toBe(true);
    expect(tracing.spans()).toHaveLength(0);
  });

  it('rejects what is not a channel, and a bad settleTimeoutMs, when called', () => {
    expect(() => traceChannel({} as never)).toThrow(TypeError);
    expect(() => traceChannel(broker.admin, { settleTimeoutMs: 0 })).toThrow(/settleTimeoutMs/);
    expect(() => traceChannel(broker.admin, { trust: 'sometimes' as never })).toThrow(TypeError);
  });
});

async function waitForMessage(queue: string): Promise<Message> {
  for (let i = 0; i < 200; i++) {
    const got = await broker.admin.get(queue, { noAck: true });
    if (got) return got;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`no message arrived in ${queue}`);
}
