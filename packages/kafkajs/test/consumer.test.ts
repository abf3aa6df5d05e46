// traceEachMessage and traceEachBatch with payloads built by hand, shaped as KafkaJS builds them
// (header values are Buffers). test/kafka-*.test.ts run the same wrappers behind a real consumer.
import {
  SpanKind,
  SpanStatusCode,
  type TextMapPropagator,
  context,
  createContextKey,
  propagation,
  trace,
} from '@opentelemetry/api';
import { W3CPropagator } from '@tracewire/core';
import {
  ATTR_KAFKA_MESSAGE_KEY,
  ATTR_KAFKA_OFFSET,
  ATTR_MESSAGING_BATCH_MESSAGE_COUNT,
  ATTR_MESSAGING_CONSUMER_GROUP_NAME,
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_DESTINATION_PARTITION_ID,
  ATTR_MESSAGING_MESSAGE_BODY_SIZE,
  ATTR_MESSAGING_OPERATION_NAME,
  ATTR_MESSAGING_OPERATION_TYPE,
  ATTR_MESSAGING_SYSTEM,
  ATTR_MESSAGING_SYSTEM_NAME,
} from '@opentelemetry/semantic-conventions/incubating';
import {
  type ConsumedMessage,
  type ConsumerTracingOptions,
  type TracedEachBatchPayload,
  traceEachBatch,
  traceEachMessage,
} from '@tracewire/kafkajs';
import type { EachBatchPayload, EachMessagePayload, IHeaders, KafkaMessage } from 'kafkajs';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { parentSpanId, setupTracing } from '../../../test/support/tracing.js';

const tracing = setupTracing();
afterAll(() => tracing.shutdown());
beforeEach(() => tracing.reset());

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
const traceparent = (spanId = PARENT_ID, traceId = TRACE_ID): string => `00-${traceId}-${spanId}-01`;

function kafkaMessage(offset: string, headers: Record<string, string> = {}, key = 'key-1'): KafkaMessage {
  const encoded: IHeaders = {};
  for (const [name, value] of Object.entries(headers)) encoded[name] = Buffer.from(value);
  return {
    key: Buffer.from(key),
    value: Buffer.from('payload'),
    timestamp: '0',
    attributes: 0,
    offset,
    headers: encoded,
  };
}

function messagePayload(message: KafkaMessage): EachMessagePayload {
  return { topic: 'orders', partition: 2, message, heartbeat: async () => {}, pause: () => () => {} };
}

function batchPayload(messages: KafkaMessage[]): EachBatchPayload {
  return {
    batch: {
      topic: 'orders',
      partition: 1,
      highWatermark: '100',
      messages,
      isEmpty: () => messages.length === 0,
      firstOffset: () => messages[0]?.offset ?? null,
      lastOffset: () => messages.at(-1)?.offset ?? '-1',
      offsetLag: () => '0',
      offsetLagLow: () => '0',
    },
    resolveOffset: () => {},
    heartbeat: async () => {},
    pause: () => () => {},
    commitOffsetsIfNecessary: async () => {},
    uncommittedOffsets: () => ({ topics: [] }),
    isRunning: () => true,
    isStale: () => false,
  };
}

describe('traceEachMessage', () => {
  it("runs the handler in a CONSUMER span, child of the producer's context, its baggage active", async () => {
    const payload = messagePayload(
      kafkaMessage('17', { traceparent: traceparent(), baggage: 'tenant=acme' }),
    );
    let seen: { payload: unknown; self: unknown; spanId?: string; tenant?: string } | undefined;
    const runner = { name: 'runner' };
    const handler = traceEachMessage(
      async function handler(this: unknown, received) {
        seen = {
          payload: received,
          self: this,
          spanId: trace.getActiveSpan()?.spanContext().spanId,
          tenant: propagation.getBaggage(context.active())?.getEntry('tenant')?.value,
        };
      },
      { groupId: 'billing' },
    );
    await handler.call(runner, payload);
    const [span] = tracing.spans();
    expect(span!.name).toBe('process orders');
    expect(span!.kind).toBe(SpanKind.CONSUMER);
    expect(span!.spanContext().traceId).toBe(TRACE_ID);
    expect(parentSpanId(span!)).toBe(PARENT_ID);
    expect(seen).toEqual({ payload, self: runner, spanId: span!.spanContext().spanId, tenant: 'acme' });
    expect(span!.attributes).toEqual({
      [ATTR_MESSAGING_SYSTEM]: 'kafka',
      [ATTR_MESSAGING_SYSTEM_NAME]: 'kafka',
      [ATTR_MESSAGING_OPERATION_TYPE]: 'process',
      [ATTR_MESSAGING_OPERATION_NAME]: 'process',
      [ATTR_MESSAGING_CONSUMER_GROUP_NAME]: 'billing',
      [ATTR_MESSAGING_DESTINATION_NAME]: 'orders',
      [ATTR_MESSAGING_DESTINATION_PARTITION_ID]: '2',
      [ATTR_KAFKA_OFFSET]: 17,
      [ATTR_KAFKA_MESSAGE_KEY]: 'key-1',
      [ATTR_MESSAGING_MESSAGE_BODY_SIZE]: 7,
    });
  });

  const roots: Array<[string, Record<string, string>]> = [
    ['no headers', {}],
    ['garbage traceparent', { traceparent: 'not-a-traceparent' }],
    ['all-zero trace id', { traceparent: traceparent(PARENT_ID, '0'.repeat(32)) }],
    ['upper-case hex', { traceparent: traceparent().toUpperCase() }],
    ['version ff', { traceparent: `ff${traceparent().slice(2)}` }],
  ];
  it.each(roots)('starts a new trace for %s', async (_name, headers) => {
    let calls = 0;
    await traceEachMessage(async () => {
      calls++;
    })(messagePayload(kafkaMessage('1', headers)));
    const [span] = tracing.spans();
    expect(calls).toBe(1);
    expect(parentSpanId(span!)).toBeUndefined();
    expect(span!.spanContext().traceId).not.toBe(TRACE_ID);
    expect(span!.links).toEqual([]);
  });

  it('rethrows the handler error unchanged and marks the span ERROR', async () => {
    const failure = new RangeError('bad order');
    const handler = traceEachMessage(async () => {
      throw failure;
    });
    await expect(handler(messagePayload(kafkaMessage('3')))).rejects.toBe(failure);
    const [span] = tracing.spans();
    expect(span!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'bad order' });
    expect(span!.attributes['error.type']).toBe('RangeError');
    expect(span!.events.map((event) => event.name)).toEqual(['exception']);
  });

  it('does not start a span from a context that leaked into the consumer loop', async () => {
    const leaked = trace.getTracer('test').startSpan('leaked');
    await context.with(trace.setSpan(context.active(), leaked), () =>
      traceEachMessage(async () => {})(messagePayload(kafkaMessage('4'))),
    );
    leaked.end();
    const span = tracing.spans().find((s) => s.name === 'process orders')!;
    expect(parentSpanId(span)).toBeUndefined();
  });

  const trustCases: Array<[string, ConsumerTracingOptions['trust'], 'child' | 'linked' | 'alone']> = [
    ['continue', 'continue', 'child'],
    ['restart', 'restart', 'linked'],
    ['ignore', 'ignore', 'alone'],
    ['a function choosing restart', () => 'restart', 'linked'],
    [
      'a function that throws (falls back to restart)',
      () => {
        throw new Error('no');
      },
      'linked',
    ],
  ];
  it.each(trustCases)('trust %s', async (_name, trust, outcome) => {
    let tenant: string | undefined;
    const payload = messagePayload(kafkaMessage('5', { traceparent: traceparent(), baggage: 'tenant=acme' }));
    await traceEachMessage(
      async () => {
        tenant = propagation.getBaggage(context.active())?.getEntry('tenant')?.value;
      },
      { trust },
    )(payload);
    const [span] = tracing.spans();
    expect(span!.spanContext().traceId === TRACE_ID).toBe(outcome === 'child');
    expect(tenant).toBe(outcome === 'child' ? 'acme' : undefined);
    // A continued span links to its creation context too (the conventions' SHOULD); restart links to it instead.
    expect(span!.links.map((link) => link.context.spanId)).toEqual(
      outcome === 'linked' || outcome === 'child' ? [PARENT_ID] : [],
    );
  });

  it('hands the trust function the payload', async () => {
    const received: ConsumedMessage[] = [];
    const payload = messagePayload(kafkaMessage('6'));
    await traceEachMessage(async () => {}, {
      trust: (consumed) => {
        received.push(consumed);
        return 'continue';
      },
    })(payload);
    expect(received).toEqual([payload]);
    expect(received[0]).toBe(payload);
  });

  const badOptions: Array<[string, unknown, unknown]> = [
    ['handler not a function', 'nope', {}],
    ['trust not a mode', async () => {}, { trust: 'sometimes' }],
    ['groupId not a string', async () => {}, { groupId: 42 }],
  ];
  it.each(badOptions)('throws a TypeError at wrap time for %s', (_name, handler, options) => {
    expect(() => traceEachMessage(handler as never, options as ConsumerTracingOptions)).toThrow(TypeError);
    expect(() => traceEachBatch(handler as never, options as ConsumerTracingOptions)).toThrow(TypeError);
  });
});

describe('traceEachBatch', () => {
  it('links the batch span to every message, parents each traceMessage span on its producer, and a message without context on the batch span', async () => {
    const producers = ['1111111111111111', '2222222222222222', '3333333333333333'];
    const messages = producers.map((spanId, i) =>
      kafkaMessage(String(10 + i), { traceparent: traceparent(spanId), baggage: `n=${i}` }),
    );
    messages.push(kafkaMessage('13')); // no context: not linked; its span is the batch span's child
    const payload = batchPayload(messages);
    let received: TracedEachBatchPayload | undefined;
    const inside: Array<{ spanId?: string; n?: string; result: string }> = [];
    let batchSpanId: string | undefined;
    await traceEachBatch(
      async (traced) => {
        received = traced;
        batchSpanId = trace.getActiveSpan()?.spanContext().spanId;
        for (const message of traced.batch.messages) {
          const result = await traced.traceMessage(message, async () => {
            await new Promise((resolve) => setImmediate(resolve));
            return `done ${message.offset}`;
          });
          inside.push({ result, ...traced.traceMessage(message, () => activeInfo()) });
        }
      },
      { groupId: 'g' },
    )(payload);

    const spans = tracing.spans();
    const batchSpan = spans.find(
      (span) => span.attributes[ATTR_MESSAGING_BATCH_MESSAGE_COUNT] !== undefined,
    )!;
    expect(batchSpan.name).toBe('process orders');
    expect(batchSpan.kind).toBe(SpanKind.CONSUMER);
    expect(batchSpan.spanContext().spanId).toBe(batchSpanId);
    expect(parentSpanId(batchSpan)).toBeUndefined();
    expect(batchSpan.attributes).toMatchObject({
      [ATTR_MESSAGING_BATCH_MESSAGE_COUNT]: 4,
      [ATTR_MESSAGING_DESTINATION_NAME]: 'orders',
      [ATTR_MESSAGING_DESTINATION_PARTITION_ID]: '1',
      [ATTR_MESSAGING_CONSUMER_GROUP_NAME]: 'g',
      [ATTR_MESSAGING_OPERATION_TYPE]: 'process',
    });
    expect(batchSpan.links.map((link) => link.context.spanId)).toEqual(producers);

    // Two traced runs per message: the awaited one and the synchronous one.
    const messageSpans = spans.filter((span) => span !== batchSpan);
    expect(messageSpans).toHaveLength(8);
    for (const span of messageSpans) {
      const offset = span.attributes[ATTR_KAFKA_OFFSET] as number;
      const producer = producers[offset - 10];
      expect(parentSpanId(span)).toBe(producer ?? batchSpanId);
      // One trace per message context, and the batch's own trace for the message without one.
      expect(span.spanContext().traceId).toBe(producer ? TRACE_ID : batchSpan.spanContext().traceId);
      expect(span.links.map((link) => link.context.spanId)).toEqual(
        producer ? [producer, batchSpanId] : [batchSpanId],
      );
      expect(span.attributes[ATTR_MESSAGING_DESTINATION_PARTITION_ID]).toBe('1');
    }
    expect(inside.map(({ result }) => result)).toEqual(['done 10', 'done 11', 'done 12', 'done 13']);
    expect(inside.map(({ n }) => n)).toEqual(['0', '1', '2', undefined]);

    // Every KafkaJS member reaches the handler as it was.
    for (const key of Object.keys(payload) as Array<keyof EachBatchPayload>) {
      expect(received![key]).toBe(payload[key]);
    }
  });

  it('rethrows errors of traceMessage and of the handler unchanged', async () => {
    const failure = new Error('poison');
    const payload = batchPayload([kafkaMessage('1', { traceparent: traceparent() })]);
    const handler = traceEachBatch(async ({ batch, traceMessage }) => {
      await traceMessage(batch.messages[0]!, async () => {
        throw failure;
      });
    });
    await expect(handler(payload)).rejects.toBe(failure);
    const spans = tracing.spans();
    expect(spans).toHaveLength(2);
    for (const span of spans) expect(span.status.code).toBe(SpanStatusCode.ERROR);
  });

  it("traceMessage returns fn's own promise, and a rejection the app handled on it stays handled", async () => {
    const payload = batchPayload([kafkaMessage('1', { traceparent: traceparent() })]);
    const job = Object.assign(Promise.resolve('ok'), { child: 'the child process' });
    const failure = new Error('bill failed');
    const work = Promise.reject(failure);
    work.catch(() => undefined);
    const returned: unknown[] = [];
    await traceEachBatch(async ({ batch, traceMessage }) => {
      returned.push(traceMessage(batch.messages[0]!, () => job));
      await job;
      // The returned value ignored, the app's own promise handled: no unhandled rejection.
      returned.push(traceMessage(batch.messages[0]!, () => work));
    })(payload);
    expect(returned).toEqual([job, work]);
    expect(returned[0]).toBe(job);
    expect(returned[1]).toBe(work);
    await new Promise((resolve) => setImmediate(resolve));
    const statuses = tracing.spans().map((span) => span.status.code);
    expect(statuses.filter((code) => code === SpanStatusCode.ERROR)).toHaveLength(1);
    expect(statuses).toHaveLength(3);
  });

  it('honours trust ignore for the batch links', async () => {
    await traceEachBatch(async () => {}, { trust: 'ignore' })(
      batchPayload([kafkaMessage('1', { traceparent: traceparent() })]),
    );
    expect(tracing.spans()[0]!.links).toEqual([]);
  });

  it('reads each message once for its link and its span; a message out of order or under another context is read again', async () => {
    const reads: string[] = [];
    const w3c = new W3CPropagator();
    const counting: TextMapPropagator = {
      inject: (ctx, carrier, setter) => w3c.inject(ctx, carrier, setter),
      extract(ctx, carrier, getter) {
        reads.push(String(getter.get(carrier, 'traceparent')).slice(36, 52));
        return w3c.extract(ctx, carrier, getter);
      },
      fields: () => w3c.fields(),
    };
    const producers = ['1111111111111111', '2222222222222222', '3333333333333333'];
    const messages = producers.map((spanId, i) =>
      kafkaMessage(String(i), { traceparent: traceparent(spanId) }),
    );
    const KEY = createContextKey('app key');
    const seen: unknown[] = [];
    await traceEachBatch(
      async ({ traceMessage }) => {
        await traceMessage(messages[0]!, async () => {});
        // Out of order: read again.
        traceMessage(messages[2]!, () => {});
        // In order again, but under a context of the app's: read again, under that context.
        context.with(context.active().setValue(KEY, 'app'), () =>
          traceMessage(messages[1]!, () => seen.push(context.active().getValue(KEY))),
        );
      },
      { propagator: counting },
    )(batchPayload(messages));
    // Three reads for the batch links, then only the two messages whose reading could not be kept.
    expect(reads).toEqual([...producers, producers[2], producers[1]]);
    expect(seen).toEqual(['app']);
    const spans = tracing.spans();
    const batchSpan = spans.find(
      (span) => span.attributes[ATTR_MESSAGING_BATCH_MESSAGE_COUNT] !== undefined,
    )!;
    for (const span of spans.filter((candidate) => candidate !== batchSpan)) {
      const producer = producers[span.attributes[ATTR_KAFKA_OFFSET] as number];
      expect(parentSpanId(span)).toBe(producer);
      expect(span.links.map((link) => link.context.spanId)).toEqual([
        producer,
        batchSpan.spanContext().spanId,
      ]);
    }
    expect(spans).toHaveLength(4);
  });

  it('calls the handler without a span for an empty batch', async () => {
    let called = 0;
    await traceEachBatch(async ({ traceMessage }) => {
      called++;
      expect(traceMessage(kafkaMessage('0'), () => 'ran')).toBe('ran');
    })(batchPayload([]));
    expect(called).toBe(1);
    expect(
      tracing.spans().filter((span) => span.attributes[ATTR_MESSAGING_BATCH_MESSAGE_COUNT] !== undefined),
    ).toEqual([]);
  });
});

function activeInfo(): { spanId?: string; n?: string } {
  return {
    spanId: trace.getActiveSpan()?.spanContext().spanId,
    n: propagation.getBaggage(context.active())?.getEntry('n')?.value,
  };
}

describe('issue #11 regressions (consumer)', () => {
  it('kafkajs bug 6: an untraced batch stays one trace: messages without context are children of the batch span', async () => {
    const messages = [kafkaMessage('1'), kafkaMessage('2'), kafkaMessage('3')];
    let batchTrace: string | undefined;
    await traceEachBatch(async (traced) => {
      batchTrace = trace.getActiveSpan()?.spanContext().traceId;
      for (const message of traced.batch.messages) {
        traced.traceMessage(message, () => trace.getTracer('app').startSpan('downstream').end());
      }
    })(batchPayload(messages));
    const traces = new Set(tracing.spans().map((span) => span.spanContext().traceId));
    expect([...traces]).toEqual([batchTrace]);
    expect(tracing.spans()).toHaveLength(7);
  });

  it('kafkajs bug 7: a binary key is not recorded as mojibake; a UTF-8 key is', async () => {
    const binary = { ...kafkaMessage('1'), key: Buffer.from([0xff, 0xfe, 0x00, 0x81]) };
    const text = { ...kafkaMessage('2'), key: Buffer.from('ключ-1', 'utf8') };
    const handler = traceEachMessage(async () => {});
    await handler(messagePayload(binary));
    await handler(messagePayload(text));
    const [first, second] = tracing.spans();
    expect(first!.attributes[ATTR_KAFKA_MESSAGE_KEY]).toBeUndefined();
    expect(second!.attributes[ATTR_KAFKA_MESSAGE_KEY]).toBe('ключ-1');
  });

  it('convention 9: a process span parented on the creation context also links to it', async () => {
    await traceEachMessage(async () => {})(messagePayload(kafkaMessage('1', { traceparent: traceparent() })));
    const [span] = tracing.spans();
    expect(parentSpanId(span!)).toBe(PARENT_ID);
    expect(span!.links.map((link) => link.context.spanId)).toEqual([PARENT_ID]);
  });
});
