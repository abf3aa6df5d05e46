// traceProducer against a recording stand-in for a KafkaJS producer: what reaches `send`, what
// the caller gets back, and that nothing of the caller's is changed. test/kafka-*.test.ts do the
// same through a real broker.
import { SpanKind, SpanStatusCode, type Tracer, context, trace } from '@opentelemetry/api';
import {
  ATTR_KAFKA_MESSAGE_KEY,
  ATTR_KAFKA_MESSAGE_TOMBSTONE,
  ATTR_KAFKA_OFFSET,
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_DESTINATION_PARTITION_ID,
  ATTR_MESSAGING_MESSAGE_BODY_SIZE,
  ATTR_MESSAGING_OPERATION_NAME,
  ATTR_MESSAGING_OPERATION_TYPE,
  ATTR_MESSAGING_SYSTEM,
  ATTR_MESSAGING_SYSTEM_NAME,
} from '@opentelemetry/semantic-conventions/incubating';
import { type KafkaSender, traceProducer } from '@tracewire/kafkajs';
import type { Message, ProducerBatch, ProducerRecord, RecordMetadata } from 'kafkajs';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { parentSpanId, setupTracing } from '../../../test/support/tracing.js';

const tracing = setupTracing();
afterAll(() => tracing.shutdown());
beforeEach(() => tracing.reset());

/** Records every call and answers like KafkaJS: one RecordMetadata per topic-partition. */
function fakeProducer(answer: (argument: unknown) => Promise<RecordMetadata[]> = async () => []) {
  const calls: Array<{ method: string; argument: unknown; self: unknown }> = [];
  const events = { CONNECT: 'producer.connect' };
  const logger = { info() {} };
  const producer = {
    events,
    custom: 42,
    async connect() {},
    async disconnect() {},
    isIdempotent: () => true,
    on: () => () => {},
    logger: () => logger,
    send(record: ProducerRecord): Promise<RecordMetadata[]> {
      calls.push({ method: 'send', argument: record, self: this });
      return answer(record);
    },
    sendBatch(batch: ProducerBatch): Promise<RecordMetadata[]> {
      calls.push({ method: 'sendBatch', argument: batch, self: this });
      return answer(batch);
    },
    async transaction() {
      return {
        send: (record: ProducerRecord) => producer.send(record),
        sendBatch: (batch: ProducerBatch) => producer.sendBatch(batch),
        commit: async () => 'committed',
        abort: async () => {},
        isActive: () => true,
      };
    },
  };
  return { producer, calls, logger, events };
}

const metadata = (topicName: string, partition: number, baseOffset: string): RecordMetadata => ({
  topicName,
  partition,
  errorCode: 0,
  baseOffset,
});

describe('traceProducer send', () => {
  it('starts one PRODUCER span per message, child of the active span, with semconv attributes', async () => {
    const { producer, calls } = fakeProducer(async () => [metadata('orders', 0, '41')]);
    const traced = traceProducer(producer);
    const parent = trace.getTracer('test').startSpan('parent');
    await context.with(trace.setSpan(context.active(), parent), () =>
      traced.send({
        topic: 'orders',
        messages: [
          { key: 'k1', value: 'hello', headers: { 'x-user': 'kept' } },
          { key: Buffer.from('k2'), value: Buffer.from('bytes!') },
          { value: null },
        ],
      }),
    );
    parent.end();
    const spans = tracing.spans().filter((span) => span.name === 'send orders');
    expect(spans).toHaveLength(3);
    for (const span of spans) {
      expect(span.kind).toBe(SpanKind.PRODUCER);
      expect(span.spanContext().traceId).toBe(parent.spanContext().traceId);
      expect(parentSpanId(span)).toBe(parent.spanContext().spanId);
      expect(span.attributes).toMatchObject({
        [ATTR_MESSAGING_SYSTEM]: 'kafka',
        [ATTR_MESSAGING_SYSTEM_NAME]: 'kafka',
        [ATTR_MESSAGING_DESTINATION_NAME]: 'orders',
        [ATTR_MESSAGING_OPERATION_TYPE]: 'send',
        [ATTR_MESSAGING_OPERATION_NAME]: 'send',
        // One answer for the topic: every message went to that partition, offsets in order.
        [ATTR_MESSAGING_DESTINATION_PARTITION_ID]: '0',
      });
    }
    expect(spans.map((span) => span.attributes[ATTR_KAFKA_OFFSET])).toEqual([41, 42, 43]);
    expect(spans[0]!.attributes[ATTR_KAFKA_MESSAGE_KEY]).toBe('k1');
    expect(spans[1]!.attributes[ATTR_KAFKA_MESSAGE_KEY]).toBe('k2');
    expect(spans[2]!.attributes[ATTR_KAFKA_MESSAGE_KEY]).toBeUndefined();
    expect(spans[0]!.attributes[ATTR_MESSAGING_MESSAGE_BODY_SIZE]).toBe(5);
    expect(spans[1]!.attributes[ATTR_MESSAGING_MESSAGE_BODY_SIZE]).toBe(6);
    expect(spans[2]!.attributes[ATTR_KAFKA_MESSAGE_TOMBSTONE]).toBe(true);

    // Each message carries its own span's context, as a string, next to the user's headers.
    const sent = calls[0]!.argument as ProducerRecord;
    sent.messages.forEach((message, i) => {
      const { traceId, spanId } = spans[i]!.spanContext();
      expect(message.headers?.traceparent).toBe(`00-${traceId}-${spanId}-01`);
    });
    expect(sent.messages[0]!.headers).toMatchObject({ 'x-user': 'kept' });
  });

  it("never changes the caller's record, messages or headers", async () => {
    const { producer, calls } = fakeProducer();
    const headers = { 'x-user': 'kept' };
    const message: Message = { key: 'k', value: 'v', headers };
    const messages = [message];
    const record = Object.freeze({ topic: 'frozen', messages: Object.freeze(messages) as Message[] });
    await traceProducer(producer).send(record);
    expect(record.messages).toBe(messages);
    expect(messages).toEqual([{ key: 'k', value: 'v', headers: { 'x-user': 'kept' } }]);
    expect(message.headers).toBe(headers);
    expect(Object.keys(headers)).toEqual(['x-user']);
    const sent = calls[0]!.argument as ProducerRecord;
    expect(sent).not.toBe(record);
    expect(sent.messages[0]).not.toBe(message);
    expect(sent.messages[0]).toMatchObject({ key: 'k', value: 'v' });
  });

  it('replaces a traceparent the caller forwarded instead of sending two', async () => {
    const { producer, calls } = fakeProducer();
    await traceProducer(producer).send({
      topic: 'fwd',
      messages: [{ value: 'v', headers: { TraceParent: Buffer.from('00-stale'), other: 'x' } }],
    });
    const headers = (calls[0]!.argument as ProducerRecord).messages[0]!.headers!;
    expect(Object.keys(headers).sort()).toEqual(['other', 'traceparent']);
    expect(headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  it('records an explicit partition before sending', async () => {
    const { producer } = fakeProducer(async () => [metadata('p', 0, '7'), metadata('p', 3, '10')]);
    await traceProducer(producer).send({
      topic: 'p',
      messages: [
        { value: 'a', partition: 3 },
        { value: 'b', partition: 0 },
        { value: 'c', partition: 3 },
      ],
    });
    const spans = tracing.spans();
    expect(spans.map((span) => span.attributes[ATTR_MESSAGING_DESTINATION_PARTITION_ID])).toEqual([
      '3',
      '0',
      '3',
    ]);
    expect(spans.map((span) => span.attributes[ATTR_KAFKA_OFFSET])).toEqual([10, 7, 11]);
  });

  it('leaves offsets out when the one answer does not match a message', async () => {
    const { producer } = fakeProducer(async () => [metadata('one', 1, '9')]);
    await traceProducer(producer).sendBatch({
      topicMessages: [
        { topic: 'one', messages: [{ value: 'a' }, { value: 'b', partition: 4 }] },
        { topic: 'other', messages: [{ value: 'c' }] },
      ],
    });
    const spans = tracing.spans();
    expect(spans.map((span) => span.attributes[ATTR_MESSAGING_DESTINATION_PARTITION_ID])).toEqual([
      '1',
      '4',
      undefined,
    ]);
    expect(spans.map((span) => span.attributes[ATTR_KAFKA_OFFSET])).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
  });

  it('leaves offsets out when the partitioner spread messages over several partitions', async () => {
    const { producer } = fakeProducer(async () => [metadata('spread', 0, '1'), metadata('spread', 1, '5')]);
    await traceProducer(producer).send({ topic: 'spread', messages: [{ value: 'a' }, { value: 'b' }] });
    for (const span of tracing.spans()) {
      expect(span.attributes[ATTR_MESSAGING_DESTINATION_PARTITION_ID]).toBeUndefined();
      expect(span.attributes[ATTR_KAFKA_OFFSET]).toBeUndefined();
    }
  });

  it('returns what the producer resolves to', async () => {
    const answer = [metadata('r', 0, '0')];
    const { producer } = fakeProducer(async () => answer);
    await expect(traceProducer(producer).send({ topic: 'r', messages: [{ value: 'v' }] })).resolves.toBe(
      answer,
    );
  });

  it('rethrows a rejection unchanged and marks every message span ERROR', async () => {
    const failure = new TypeError('broker says no');
    const { producer } = fakeProducer(() => Promise.reject(failure));
    const sending = traceProducer(producer).send({
      topic: 'bad',
      messages: [{ value: 'a' }, { value: 'b' }],
    });
    await expect(sending).rejects.toBe(failure);
    const spans = tracing.spans();
    expect(spans).toHaveLength(2);
    for (const span of spans) {
      expect(span.status.code).toBe(SpanStatusCode.ERROR);
      expect(span.attributes['error.type']).toBe('TypeError');
    }
  });

  it('rethrows a synchronous throw unchanged and ends the spans', () => {
    const failure = new Error('sync');
    const producer: KafkaSender = {
      send: () => {
        throw failure;
      },
      sendBatch: async () => [],
    };
    expect(() => traceProducer(producer).send({ topic: 'sync', messages: [{ value: 'a' }] })).toThrow(
      failure,
    );
    expect(tracing.spans().map((span) => span.status.code)).toEqual([SpanStatusCode.ERROR]);
  });

  const invalid: Array<[string, unknown]> = [
    ['no messages', { topic: 't' }],
    ['messages not an array', { topic: 't', messages: 'nope' }],
    ['no topic', { messages: [{ value: 'a' }] }],
    ['empty topic', { topic: '', messages: [{ value: 'a' }] }],
    ['record is null', null],
  ];
  it.each(invalid)('passes %s to KafkaJS untouched, untraced', async (_name, record) => {
    const { producer, calls } = fakeProducer();
    await traceProducer(producer).send(record as ProducerRecord);
    expect(calls[0]!.argument).toBe(record);
    expect(tracing.spans()).toHaveLength(0);
  });

  it('keeps a message it cannot trace as it is and traces the others', async () => {
    const { producer, calls } = fakeProducer();
    const odd = { value: 'a', headers: 'not-an-object' } as unknown as Message;
    await traceProducer(producer).send({
      topic: 'odd',
      messages: [odd, null as unknown as Message, { value: 'b' }],
    });
    const sent = (calls[0]!.argument as ProducerRecord).messages;
    expect(sent[0]).toBe(odd);
    expect(sent[1]).toBeNull();
    expect(sent[2]!.headers?.traceparent).toBeDefined();
    expect(tracing.spans()).toHaveLength(1);
  });

  it('sends untraced when the tracer fails, and says why once', async () => {
    const { producer, calls } = fakeProducer();
    const tracer = {
      startSpan() {
        throw new Error('broken SDK');
      },
    } as unknown as Tracer;
    const record = { topic: 'broken', messages: [{ value: 'a' }] };
    await traceProducer(producer, { tracer }).send(record);
    expect(calls[0]!.argument).toBe(record);
  });
});

describe('traceProducer sendBatch', () => {
  it('traces every message of every topic, a repeated topic counted in order', async () => {
    const { producer, calls } = fakeProducer(async () => [metadata('a', 2, '100'), metadata('b', 0, '5')]);
    const batch: ProducerBatch = {
      topicMessages: [
        { topic: 'a', messages: [{ value: '1' }, { value: '2' }] },
        { topic: 'b', messages: [{ value: '3' }] },
        { topic: 'a', messages: [{ value: '4' }] },
      ],
    };
    await traceProducer(producer).sendBatch(batch);
    const spans = tracing.spans();
    expect(spans.map((span) => span.name)).toEqual(['send a', 'send a', 'send b', 'send a']);
    expect(spans.map((span) => span.attributes[ATTR_KAFKA_OFFSET])).toEqual([100, 101, 5, 102]);
    const sent = calls[0]!.argument as ProducerBatch;
    expect(sent.topicMessages!.flatMap((entry) => entry.messages.map((m) => m.headers?.traceparent))).toEqual(
      spans.map((span) => `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`),
    );
    expect(batch.topicMessages![0]!.messages[0]!.headers).toBeUndefined();
  });

  it('records no placement when acks=0 gives no answer', async () => {
    const { producer } = fakeProducer(async () => []);
    await traceProducer(producer).sendBatch({
      acks: 0,
      topicMessages: [{ topic: 'q', messages: [{ value: 'x' }] }],
    });
    expect(tracing.spans()[0]!.attributes[ATTR_KAFKA_OFFSET]).toBeUndefined();
  });
});

describe('traceProducer is otherwise the producer', () => {
  it('forwards every other member unchanged and calls send with the same `this`', async () => {
    const { producer, calls, logger, events } = fakeProducer();
    const traced = traceProducer(producer);
    expect(traced.connect).toBe(producer.connect);
    expect(traced.disconnect).toBe(producer.disconnect);
    expect(traced.on).toBe(producer.on);
    expect(traced.events).toBe(events);
    expect(traced.logger()).toBe(logger);
    expect(traced.isIdempotent()).toBe(true);
    expect(traced.custom).toBe(42);
    expect(traced.send).toBe(traced.send);
    await traced.send({ topic: 't', messages: [{ value: 'v' }] });
    expect(calls[0]!.self).toBe(traced);
    traced.custom = 7;
    expect(producer.custom).toBe(7);
  });

  it('traces send and sendBatch of a transaction and forwards the rest', async () => {
    const { producer, calls } = fakeProducer();
    const transaction = await traceProducer(producer).transaction();
    await transaction.send({ topic: 'tx', messages: [{ value: 'a' }] });
    await transaction.sendBatch({ topicMessages: [{ topic: 'tx', messages: [{ value: 'b' }] }] });
    await expect(transaction.commit()).resolves.toBe('committed');
    expect(tracing.spans().map((span) => span.name)).toEqual(['send tx', 'send tx']);
    expect((calls[0]!.argument as ProducerRecord).messages[0]!.headers?.traceparent).toBeDefined();
  });

  it('wraps only once: a traced producer wrapped again sends one span per message', async () => {
    const { producer, calls } = fakeProducer();
    const traced = traceProducer(producer);
    expect(traceProducer(traced)).toBe(traced);
    await traceProducer(traced).send({ topic: 'twice', messages: [{ value: 'v' }] });
    expect(tracing.spans()).toHaveLength(1);
    expect(calls).toHaveLength(1);
  });

  it('rejects a value that is not a producer at wrap time', () => {
    expect(() => traceProducer(undefined as never)).toThrow(TypeError);
  });
});
