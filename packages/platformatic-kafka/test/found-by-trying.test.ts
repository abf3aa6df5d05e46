// What an adversarial try of the packed package found (an app written from the README alone, the
// real broker, both client majors), one regression test each.
import { EventEmitter } from 'node:events';
import { SpanKind, SpanStatusCode, diag, trace } from '@opentelemetry/api';
import { messageTracer, traceHandler, traceProducer } from '@tracewire/platformatic-kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupTracing } from '../../../test/support/tracing.js';
import {
  type Client,
  type Message,
  consume,
  createTopics,
  loadClient,
  producer as newProducer,
  readN,
  unique,
} from './support.js';

const tracing = setupTracing();
let client: Client;

beforeAll(async () => {
  client = await loadClient();
});

afterAll(() => tracing.shutdown());

const message = {
  topic: 'orders',
  partition: 0,
  offset: 0n,
  key: Buffer.from('k'),
  value: Buffer.from('v'),
  headers: new Map<Buffer, Buffer>(),
  metadata: {},
} as unknown as Message;

/** Where the create spans of `topic` say their messages went, as `partition:offset`, sorted. */
function createSpanPlaces(topic: string): string[] {
  return tracing
    .spans()
    .filter((span) => span.name === `create ${topic}`)
    .map(
      (span) => `${span.attributes['messaging.destination.partition.id']}:${span.attributes['kafka.offset']}`,
    )
    .sort();
}

describe('create spans of a batch over several partitions', () => {
  it('each records the offset its message really got', async () => {
    const topic = unique('offsets');
    await createTopics(client, [topic], 2);
    tracing.reset();
    const producer = traceProducer(newProducer(client, { idempotent: true }));
    await producer.send({
      messages: ['a', 'b', 'c', 'd'].map((value, i) => ({
        topic,
        partition: i === 1 ? 1 : i === 3 ? 1 : 0,
        value: Buffer.from(value),
      })),
    });
    await producer.close();
    const recorded = new Map(
      tracing
        .spans()
        .filter((span) => span.name === `create ${topic}`)
        .map((span) => [
          `${span.attributes['messaging.destination.partition.id']}:${span.attributes['kafka.offset']}`,
          span,
        ]),
    );
    const { consumer, stream } = await consume(client, [topic]);
    const actual: string[] = [];
    await readN(stream, consumer, 4, (delivered) => {
      actual.push(`${delivered.partition}:${delivered.offset}`);
    });
    // Before the fix the offsets were counted across partitions: 0:0, 1:1, 0:2, 1:3.
    expect([...recorded.keys()].sort()).toEqual(actual.sort());
    expect(actual.sort()).toEqual(['0:0', '0:1', '1:0', '1:1']);
  });
});

describe('create spans of a batch where a message kept its own context', () => {
  it('count that message too: the ones after it record the offsets they really got', async () => {
    const topic = unique('offsets-own');
    await createTopics(client, [topic], 1);
    tracing.reset();
    const own = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const producer = traceProducer(newProducer(client, { idempotent: true }));
    await producer.send({
      messages: ['a', 'b', 'c'].map((value, i) => ({
        topic,
        partition: 0,
        value: Buffer.from(value),
        headers: i === 1 ? new Map([[Buffer.from('traceparent'), Buffer.from(own)]]) : new Map(),
      })),
    });
    await producer.close();
    const recorded = tracing
      .spans()
      .filter((span) => span.name === `create ${topic}`)
      .map((span) => span.attributes['kafka.offset'])
      .sort();
    const { consumer, stream } = await consume(client, [topic]);
    const delivered = new Map<string, number>();
    await readN(stream, consumer, 3, (message) => {
      delivered.set(message.value.toString(), Number(message.offset));
    });
    // Two create spans (the middle message kept its own context), at the offsets of 'a' and 'c'.
    expect(recorded).toEqual([delivered.get('a'), delivered.get('c')]);
    expect(recorded).toEqual([0, 2]);
  });
});

describe('create spans of a batch over two partitions where a message kept its own context', () => {
  it('count that message too, per partition', async () => {
    const topic = unique('offsets-own-2');
    await createTopics(client, [topic], 2);
    tracing.reset();
    const own = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const producer = traceProducer(newProducer(client, { idempotent: true }));
    await producer.send({
      messages: ['a', 'b', 'c', 'd'].map((value, i) => ({
        topic,
        partition: i === 3 ? 1 : 0,
        value: Buffer.from(value),
        headers: i === 1 ? new Map([[Buffer.from('traceparent'), Buffer.from(own)]]) : new Map(),
      })),
    });
    await producer.close();
    const recorded = createSpanPlaces(topic);
    const { consumer, stream } = await consume(client, [topic]);
    const delivered = new Map<string, string>();
    await readN(stream, consumer, 4, (message) => {
      delivered.set(message.value.toString(), `${message.partition}:${message.offset}`);
    });
    expect(recorded).toEqual([delivered.get('a'), delivered.get('c'), delivered.get('d')].sort());
    expect(recorded).toEqual(['0:0', '0:2', '1:0']);
  });
});

describe('a message naming a partition the topic does not have', () => {
  // The client takes the number modulo the partition count, and succeeds: the span must say where
  // the message went (from the answer), not the number the app named.
  it.each([
    ['one partition, numbers 7 and 0', 1, [7, 0]],
    ['three partitions, numbers 1 and 4 (4 mod 3 is 1)', 3, [1, 4]],
  ])('%s: the create spans record the partition and offset each message got', async (_case, count, named) => {
    const topic = unique('partition-named');
    await createTopics(client, [topic], count);
    tracing.reset();
    const producer = traceProducer(newProducer(client, { idempotent: true }));
    await producer.send({
      messages: named.map((partition, i) => ({ topic, partition, value: Buffer.from(`m${i}`) })),
    });
    await producer.close();
    const recorded = createSpanPlaces(topic);
    const { consumer, stream } = await consume(client, [topic]);
    const delivered: string[] = [];
    await readN(stream, consumer, named.length, (message) => {
      delivered.push(`${message.partition}:${message.offset}`);
    });
    expect(recorded).toEqual(delivered.sort());
    expect(new Set(delivered.map((place) => place.split(':')[0])).size).toBe(1);
  });
});

describe("the producer's own methods through the wrapper", () => {
  it('a method returning the producer (on) returns the traced one, and constructor is the class', async () => {
    const topic = unique('chain');
    await createTopics(client, [topic]);
    tracing.reset();
    const raw = newProducer(client);
    const producer = traceProducer(raw);
    expect(producer.constructor).toBe(raw.constructor);
    const chained = producer.on('client:broker:connect', () => {});
    expect(chained).toBe(producer);
    await chained.send({ messages: [{ topic, value: Buffer.from('v') }] });
    await producer.close();
    expect(tracing.spans().filter((span) => span.name === `send ${topic}`)).toHaveLength(1);
  });

  it('a Set of messages (the client takes any iterable) is traced like an array', async () => {
    const topic = unique('set');
    await createTopics(client, [topic]);
    tracing.reset();
    const producer = traceProducer(newProducer(client));
    const messages = new Set([
      { topic, value: Buffer.from('a') },
      { topic, value: Buffer.from('b') },
    ]);
    await producer.send({ messages } as unknown as Parameters<typeof producer.send>[0]);
    await producer.close();
    expect(tracing.spans().filter((span) => span.name === `create ${topic}`)).toHaveLength(2);
    const { consumer, stream } = await consume(client, [topic]);
    const carried: boolean[] = [];
    await readN(stream, consumer, 2, (delivered) => {
      carried.push([...delivered.headers.keys()].some((name) => name.toString() === 'traceparent'));
    });
    expect(carried).toEqual([true, true]);
  });

  it('a header the producer cannot serialize (a string name, Buffer serializers) fails the send as untraced', async () => {
    const topic = unique('string-name');
    await createTopics(client, [topic]);
    const send = async (traced: boolean): Promise<string> => {
      const raw = newProducer(client);
      const producer = traced ? traceProducer(raw) : raw;
      const headers = new Map([['traceparent', Buffer.from('garbage')]]) as unknown as Map<Buffer, Buffer>;
      try {
        await producer.send({ messages: [{ topic, value: Buffer.from('v'), headers }] });
        return 'sent';
      } catch (error) {
        return `rejected: ${(error as Error).constructor.name}`;
      } finally {
        await producer.close();
      }
    };
    const untraced = await send(false);
    expect(untraced).toMatch(/^rejected/);
    // Before the fix the traced send replaced the unserializable header and succeeded.
    expect(await send(true)).toBe(untraced);
  });
});

describe('handlers that return thenables', () => {
  it('traceMessage follows a thenable that resolves or rejects, as awaiting it untraced would', async () => {
    tracing.reset();
    const traceMessage = messageTracer();
    // biome-ignore lint/suspicious/noThenProperty: a thenable under test
    const resolving = { then: (resolve: (value: string) => void) => setTimeout(() => resolve('rows'), 2) };
    const rejecting = {
      // biome-ignore lint/suspicious/noThenProperty: a thenable under test
      then: (_: unknown, reject: (error: Error) => void) =>
        setTimeout(() => reject(new RangeError('query failed')), 2),
    };
    // Before the fix: undefined, and the rejection crashed the process from inside tracing.
    await expect(traceMessage(message, () => resolving)).resolves.toBe('rows');
    await expect(traceMessage(message, () => rejecting)).rejects.toThrow('query failed');
    expect(tracing.spans().map((span) => span.status.code)).toEqual([
      SpanStatusCode.UNSET,
      SpanStatusCode.ERROR,
    ]);
  });

  it("the query a thenable runs on `then` runs inside the message's span", async () => {
    tracing.reset();
    const traceMessage = messageTracer();
    let activeInQuery: string | undefined;
    const query = {
      // biome-ignore lint/suspicious/noThenProperty: a thenable under test
      then(resolve: (value: string) => void) {
        activeInQuery = trace.getActiveSpan()?.spanContext().spanId;
        resolve('rows');
      },
    };
    await traceMessage(message, () => query);
    expect(activeInQuery).toBe(tracing.spans()[0]?.spanContext().spanId);
  });

  it("traceHandler never calls a thenable's then (a lazy query the emitter ignores stays unrun)", () => {
    tracing.reset();
    let runs = 0;
    const listener = () => ({
      // biome-ignore lint/suspicious/noThenProperty: a thenable under test
      then(resolve: (value: string) => void) {
        runs++;
        resolve('rows');
      },
    });
    const stream = new EventEmitter();
    stream.on('data', traceHandler(listener));
    stream.emit('data', message);
    expect(runs).toBe(0);
    expect(tracing.spans().filter((span) => span.kind === SpanKind.CONSUMER)).toHaveLength(1);
  });

  it("traceHandler passes the listener's every argument and its this", () => {
    tracing.reset();
    const seen: unknown[] = [];
    const listener = function (this: unknown, ...args: unknown[]): number {
      seen.push(this, ...args);
      return args.length;
    };
    const emitter = { name: 'stream' };
    expect(traceHandler(listener).call(emitter, message, 'second', 3)).toBe(3);
    expect(seen).toEqual([emitter, message, 'second', 3]);
  });
});

describe('string headers on a Buffer-format producer', () => {
  it('says once, through diag, that headerFormat: string is needed for string serializers', async () => {
    const warnings: string[] = [];
    diag.setLogger(
      {
        error: () => {},
        warn: (text: string) => warnings.push(text),
        info: () => {},
        debug: () => {},
        verbose: () => {},
      },
      { logLevel: 50, suppressOverrideMessage: true },
    );
    try {
      const sent: unknown[] = [];
      const producer = traceProducer({
        send: (options: unknown) => {
          sent.push(options);
          return Promise.resolve({ offsets: [] });
        },
      });
      const send = producer.send as (options: unknown) => Promise<unknown>;
      await send({ messages: [{ topic: 't', value: 'v', headers: { app: 'x' } }] });
      await send({ messages: [{ topic: 't', value: 'v', headers: { app: 'y' } }] });
      expect(sent).toHaveLength(2);
      expect(warnings.filter((text) => text.includes("headerFormat: 'string'"))).toHaveLength(1);
    } finally {
      diag.disable();
    }
  });
});
