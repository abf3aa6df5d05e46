// traceProducer against a recording stand-in for a KafkaJS producer: what reaches `send`, what
// the caller gets back, and that nothing of the caller's is changed. test/kafka-*.test.ts do the
// same through a real broker.
import { SpanKind, SpanStatusCode, type Tracer, context, propagation, trace } from '@opentelemetry/api';
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
import type { IHeaders, Message, ProducerBatch, ProducerRecord, RecordMetadata } from 'kafkajs';
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

const creates = () => tracing.spans().filter((span) => span.name.startsWith('create '));

describe('traceProducer send', () => {
  it('several messages: a PRODUCER create span per message, child of the active span, and one CLIENT send span linking to them', async () => {
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
    const spans = tracing.spans().filter((span) => span.name === 'create orders');
    expect(spans).toHaveLength(3);
    const [send, ...others] = tracing.spans().filter((span) => span.name === 'send orders');
    expect(others).toEqual([]);
    expect(send!.kind).toBe(SpanKind.CLIENT);
    expect(parentSpanId(send!)).toBe(parent.spanContext().spanId);
    expect(send!.attributes).toMatchObject({
      [ATTR_MESSAGING_SYSTEM]: 'kafka',
      [ATTR_MESSAGING_DESTINATION_NAME]: 'orders',
      [ATTR_MESSAGING_OPERATION_TYPE]: 'send',
      'messaging.batch.message_count': 3,
    });
    expect(send!.links.map((link) => link.context.spanId)).toEqual(
      spans.map((span) => span.spanContext().spanId),
    );
    for (const span of spans) {
      expect(span.kind).toBe(SpanKind.PRODUCER);
      expect(span.spanContext().traceId).toBe(parent.spanContext().traceId);
      expect(parentSpanId(span)).toBe(parent.spanContext().spanId);
      expect(span.attributes).toMatchObject({
        [ATTR_MESSAGING_SYSTEM]: 'kafka',
        [ATTR_MESSAGING_SYSTEM_NAME]: 'kafka',
        [ATTR_MESSAGING_DESTINATION_NAME]: 'orders',
        [ATTR_MESSAGING_OPERATION_TYPE]: 'create',
        [ATTR_MESSAGING_OPERATION_NAME]: 'create',
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

    // Each message carries its own create span's context, as a string, next to the user's headers.
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
    const spans = creates();
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
    const spans = creates();
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

  it('rethrows a rejection unchanged and marks every span of the send ERROR', async () => {
    const failure = new TypeError('broker says no');
    const { producer } = fakeProducer(() => Promise.reject(failure));
    const sending = traceProducer(producer).send({
      topic: 'bad',
      messages: [{ value: 'a' }, { value: 'b' }],
    });
    await expect(sending).rejects.toBe(failure);
    const spans = tracing.spans();
    expect(spans.map((span) => span.name)).toEqual(['create bad', 'create bad', 'send bad']);
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
    const spans = creates();
    expect(spans.map((span) => span.name)).toEqual(['create a', 'create a', 'create b', 'create a']);
    // Several topics: the send span names none.
    const send = tracing.spans().find((span) => span.name === 'send')!;
    expect(send.attributes[ATTR_MESSAGING_DESTINATION_NAME]).toBeUndefined();
    expect(send.attributes['messaging.batch.message_count']).toBe(4);
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

describe('issue #11 regressions (producer)', () => {
  const OLD_TRACE = '0af7651916cd43dd8448eb211c80319c';
  const OLD_SPAN = 'b7ad6b7169203331';
  /** Headers as a KafkaJS consumer hands them over: Buffers. */
  const consumedHeaders = (): IHeaders => ({
    traceparent: Buffer.from(`00-${OLD_TRACE}-${OLD_SPAN}-01`),
    tracestate: Buffer.from('old=1'),
    baggage: Buffer.from('who=old'),
    'x-app': Buffer.from('kept'),
  });
  const headerText = (value: unknown): string | undefined =>
    value === undefined ? undefined : Buffer.isBuffer(value) ? value.toString() : String(value);

  it("kafkajs bug 5: re-producing a consumed message's headers sends them untouched, never mixed with a new traceparent", async () => {
    const { producer, calls } = fakeProducer();
    const headers = consumedHeaders();
    const active = propagation.setBaggage(
      context.active(),
      propagation.createBaggage({ who: { value: 'new' } }),
    );
    await context.with(active, () =>
      traceProducer(producer).send({ topic: 'dlq', messages: [{ value: 'v', headers }] }),
    );
    const sent = (calls[0]!.argument as ProducerRecord).messages[0]!.headers!;
    expect(Object.fromEntries(Object.entries(sent).map(([k, v]) => [k, headerText(v)]))).toEqual({
      traceparent: `00-${OLD_TRACE}-${OLD_SPAN}-01`,
      tracestate: 'old=1',
      baggage: 'who=old',
      'x-app': 'kept',
    });
    const [span] = tracing.spans();
    expect(span!.name).toBe('send dlq');
    expect(span!.kind).toBe(SpanKind.PRODUCER);
    expect(span!.links.map((link) => link.context.spanId)).toEqual([OLD_SPAN]);
  });

  it('kafkajs bug 5: a fresh message next to a re-produced one gets a context of its own, stale tracestate dropped', async () => {
    const { producer, calls } = fakeProducer();
    await traceProducer(producer).send({
      topic: 'fwd',
      messages: [
        { value: 'fresh', headers: { tracestate: 'stale=1', baggage: 'stale=1' } },
        { value: 'forwarded', headers: consumedHeaders() },
      ],
    });
    const [fresh, forwarded] = (calls[0]!.argument as ProducerRecord).messages;
    const [create] = creates();
    expect(fresh!.headers).toEqual({
      traceparent: `00-${create!.spanContext().traceId}-${create!.spanContext().spanId}-01`,
    });
    expect(headerText(forwarded!.headers!.traceparent)).toBe(`00-${OLD_TRACE}-${OLD_SPAN}-01`);
    const send = tracing.spans().find((span) => span.name === 'send fwd')!;
    expect(send.links.map((link) => link.context.spanId)).toEqual([create!.spanContext().spanId, OLD_SPAN]);
  });

  it('kafkajs bug 7: a binary key is left out of kafka.message.key', async () => {
    const { producer } = fakeProducer();
    await traceProducer(producer).send({
      topic: 'k',
      messages: [{ key: Buffer.from([0xc3, 0x28]), value: 'v' }],
    });
    expect(tracing.spans()[0]!.attributes[ATTR_KAFKA_MESSAGE_KEY]).toBeUndefined();
  });

  it('kafkajs bug 8: sends inside an aborted transaction end ERROR transaction_aborted; a committed one ends OK', async () => {
    const { producer } = fakeProducer(async () => [metadata('tx', 0, '5')]);
    const traced = traceProducer(producer);
    const aborted = await traced.transaction();
    await aborted.send({ topic: 'tx', messages: [{ value: 'a' }] });
    // Still open: its outcome is the transaction's.
    expect(tracing.spans()).toHaveLength(0);
    await aborted.abort();
    const committed = await traced.transaction();
    await committed.send({ topic: 'tx', messages: [{ value: 'c' }] });
    await committed.commit();
    const [first, second] = tracing.spans();
    expect(first!.status.code).toBe(SpanStatusCode.ERROR);
    expect(first!.attributes).toMatchObject({
      'error.type': 'transaction_aborted',
      'tracewire.kafka.transaction': 'aborted',
      [ATTR_KAFKA_OFFSET]: 5,
    });
    expect(second!.status.code).toBe(SpanStatusCode.UNSET);
    expect(second!.attributes['tracewire.kafka.transaction']).toBe('committed');
  });

  it('kafkajs bug 8: a transaction never committed or aborted ends its spans at transactionTimeoutMs', async () => {
    const { producer } = fakeProducer();
    const transaction = await traceProducer(producer, { transactionTimeoutMs: 20 }).transaction();
    await transaction.send({ topic: 'tx', messages: [{ value: 'a' }] });
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(tracing.spans()[0]!.attributes['tracewire.kafka.transaction']).toBe('unfinished');
  });

  it('convention 10: createSpans false sends one PRODUCER send span whose context goes into every message', async () => {
    const { producer, calls } = fakeProducer();
    await traceProducer(producer, { createSpans: false }).send({
      topic: 'flat',
      messages: [{ value: 'a' }, { value: 'b' }],
    });
    const [span, ...rest] = tracing.spans();
    expect(rest).toEqual([]);
    expect(span!.kind).toBe(SpanKind.PRODUCER);
    expect(span!.attributes['messaging.batch.message_count']).toBe(2);
    const expected = `00-${span!.spanContext().traceId}-${span!.spanContext().spanId}-01`;
    expect((calls[0]!.argument as ProducerRecord).messages.map((m) => m.headers?.traceparent)).toEqual([
      expected,
      expected,
    ]);
  });

  it('convention 13: error.type names the innermost cause (the protocol error under KafkaJSNumberOfRetriesExceeded)', async () => {
    class KafkaJSProtocolError extends Error {
      type = 'UNKNOWN_TOPIC_OR_PARTITION';
    }
    class KafkaJSNumberOfRetriesExceeded extends Error {}
    const failure = new KafkaJSNumberOfRetriesExceeded('retries', {
      cause: new KafkaJSProtocolError('This server does not host this topic-partition'),
    });
    const { producer } = fakeProducer(() => Promise.reject(failure));
    await expect(traceProducer(producer).send({ topic: 'gone', messages: [{ value: 'a' }] })).rejects.toBe(
      failure,
    );
    expect(tracing.spans()[0]!.attributes['error.type']).toBe('UNKNOWN_TOPIC_OR_PARTITION');
  });

  it('rejects a bad transactionTimeoutMs or createSpans when wrapping', () => {
    const { producer } = fakeProducer();
    expect(() => traceProducer(producer, { transactionTimeoutMs: 0 })).toThrow(/transactionTimeoutMs/);
    expect(() => traceProducer(producer, { createSpans: 1 as unknown as boolean })).toThrow(/createSpans/);
  });
});
