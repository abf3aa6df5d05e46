// The soak's workloads, each through traced adapters on both sides: HTTP (Express and Fastify
// servers, traceFetch client), Kafka (traceProducer, traceEachMessage), RabbitMQ (traced confirm
// channel, traced consumer acking each message) and gRPC (client and server interceptors, all
// four call types). Each is started once and then run any number of times, so the heap can be
// compared after a warm-up run and after the long run with the same objects alive.
import { fileURLToPath } from 'node:url';
import {
  type Client,
  Server,
  ServerCredentials,
  type ServerDuplexStream,
  type ServerReadableStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceClientConstructor,
  credentials,
  loadPackageDefinition,
  type sendUnaryData,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { traceChannel } from '@tracewire/amqplib';
import { traceContext as expressTrace } from '@tracewire/express';
import fastifyTrace from '@tracewire/fastify';
import { clientInterceptor, serverInterceptor } from '@tracewire/grpc';
import { traceFetch } from '@tracewire/http';
import { traceEachMessage, traceProducer } from '@tracewire/kafkajs';
import amqp from 'amqplib';
import express from 'express';
import Fastify from 'fastify';
import { Kafka, logLevel } from 'kafkajs';

export interface Workload {
  name: string;
  /** Spans one operation makes (both sides), for checking the exporter's count. */
  spansPer(count: number): number;
  run(count: number): Promise<void>;
  close(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `task(i)` for i in [0, count) with at most `concurrency` in flight. */
async function pool(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

async function waitUntil(what: string, done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`soak: timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Express or Fastify on port 0 with tracewire, and a traceFetch client: CLIENT + SERVER per request. */
export async function httpWorkload(framework: 'express' | 'fastify'): Promise<Workload> {
  let base: string;
  let close: () => Promise<void>;
  if (framework === 'express') {
    const app = express();
    app.use(expressTrace());
    app.get('/items/:id', (req, res) => {
      res.json({ id: req.params.id });
    });
    const server = await new Promise<import('node:http').Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}`;
    close = () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
  } else {
    const app = Fastify();
    await app.register(fastifyTrace);
    app.get('/items/:id', async (req) => ({ id: (req.params as { id: string }).id }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address() as import('node:net').AddressInfo;
    base = `http://127.0.0.1:${address.port}`;
    close = () => app.close();
  }
  const fetch = traceFetch();
  return {
    name: `HTTP ${framework === 'express' ? 'Express' : 'Fastify'} + traceFetch`,
    spansPer: (count) => 2 * count,
    async run(count) {
      await pool(count, 16, async (i) => {
        const response = await fetch(`${base}/items/${i}`);
        await response.arrayBuffer();
        if (response.status !== 200) throw new Error(`soak: HTTP ${response.status}`);
      });
    },
    close,
  };
}

/**
 * KafkaJS: batches of BATCH messages through traceProducer (a PRODUCER create span per message
 * and a CLIENT send span per batch) and a traceEachMessage consumer (a process span per message).
 */
export async function kafkaWorkload(brokers: string[]): Promise<Workload> {
  const BATCH = 200;
  const id = `${Date.now().toString(36)}-${Math.random().toString(16).slice(2, 8)}`;
  const topic = `tw-soak-${id}`;
  const kafka = new Kafka({ clientId: 'tw-soak', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
  await admin.disconnect();
  let consumed = 0;
  const consumer = kafka.consumer({ groupId: `tw-soak-${id}`, maxWaitTimeInMs: 50 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await consumer.run({
    partitionsConsumedConcurrently: 3,
    eachMessage: traceEachMessage(
      async () => {
        consumed++;
      },
      { groupId: `tw-soak-${id}` },
    ),
  });
  await joined;
  const producer = traceProducer(kafka.producer());
  await producer.connect();
  let sent = 0;
  return {
    name: 'Kafka traceProducer + traceEachMessage',
    // Per send of several messages: a create span per message and one send span (#11); a send of
    // one message is a single send span. Plus a process span per message.
    spansPer: (count) => {
      let spans = count;
      for (let left = count; left > 0; left -= BATCH) {
        const size = Math.min(BATCH, left);
        spans += size === 1 ? 1 : size + 1;
      }
      return spans;
    },
    async run(count) {
      const target = consumed + count;
      const batches = Math.ceil(count / BATCH);
      await pool(batches, 4, async (b) => {
        const size = Math.min(BATCH, count - b * BATCH);
        const messages = Array.from({ length: size }, () => ({ value: `m-${sent++}` }));
        await producer.send({ topic, messages });
      });
      await waitUntil('Kafka messages consumed', () => consumed >= target, 600_000);
    },
    async close() {
      await producer.disconnect();
      await consumer.disconnect();
      const cleanup = kafka.admin();
      await cleanup.connect();
      await cleanup.deleteTopics({ topics: [topic] }).catch(() => {});
      await cleanup.disconnect();
    },
  };
}

/** amqplib: a traced confirm channel publishing, a traced channel consuming and acking each message. */
export async function rabbitWorkload(url: string): Promise<Workload> {
  const WINDOW = 500;
  const connection = await amqp.connect(url);
  const setup = await connection.createChannel();
  const queue = `tw-soak-${Date.now().toString(36)}-${Math.random().toString(16).slice(2, 8)}`;
  await setup.assertQueue(queue, { durable: false, autoDelete: false });
  const publisher = traceChannel(await connection.createConfirmChannel());
  const consumer = traceChannel(await connection.createChannel());
  await consumer.prefetch(1_000);
  let consumed = 0;
  await consumer.consume(queue, (msg) => {
    if (!msg) return;
    consumed++;
    consumer.ack(msg);
  });
  return {
    name: 'RabbitMQ confirm publish + consume/ack',
    spansPer: (count) => 2 * count,
    async run(count) {
      const target = consumed + count;
      for (let done = 0; done < count; done += WINDOW) {
        const size = Math.min(WINDOW, count - done);
        for (let i = 0; i < size; i++) publisher.sendToQueue(queue, Buffer.from(`m-${done + i}`));
        await publisher.waitForConfirms();
      }
      await waitUntil('RabbitMQ messages consumed', () => consumed >= target, 600_000);
    },
    async close() {
      await setup.deleteQueue(queue).catch(() => {});
      await connection.close();
    },
  };
}

type Callback<T> = (error: Error | null, reply?: T) => void;
interface Reply {
  text: string;
}
type EchoClient = Client & {
  Unary(request: Reply, callback: Callback<Reply>): unknown;
  ServerStream(request: Reply): NodeJS.EventEmitter;
  ClientStream(callback: Callback<Reply>): { write(m: Reply): boolean; end(): void };
  Bidi(): NodeJS.EventEmitter & { write(m: Reply): boolean; end(): void };
};

function streamDone(stream: NodeJS.EventEmitter): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.on('data', () => {});
    stream.on('error', reject);
    stream.on('end', () => resolve());
  });
}

/** grpc-js with tracewire interceptors on both sides: `count` calls of EACH of the four types. */
export async function grpcWorkload(): Promise<Workload> {
  const protoPath = fileURLToPath(new URL('../../packages/grpc/test/fixtures/echo.proto', import.meta.url));
  const proto = loadPackageDefinition(
    loadSync(protoPath, { keepCase: false, defaults: true }),
  ) as unknown as {
    tracewire: { test: { Echo: ServiceClientConstructor } };
  };
  const { Echo } = proto.tracewire.test;
  const server = new Server({ interceptors: [serverInterceptor()] });
  server.addService(Echo.service, {
    Unary(call: ServerUnaryCall<Reply, Reply>, callback: sendUnaryData<Reply>) {
      callback(null, { text: call.request.text });
    },
    ServerStream(call: ServerWritableStream<Reply, Reply>) {
      call.write({ text: `${call.request.text}-1` });
      call.write({ text: `${call.request.text}-2` });
      call.end();
    },
    ClientStream(call: ServerReadableStream<Reply, Reply>, callback: sendUnaryData<Reply>) {
      const texts: string[] = [];
      call.on('data', (m: Reply) => texts.push(m.text));
      call.on('end', () => callback(null, { text: texts.join('+') }));
    },
    Bidi(call: ServerDuplexStream<Reply, Reply>) {
      call.on('data', (m: Reply) => call.write(m));
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  const client = new Echo(`127.0.0.1:${port}`, credentials.createInsecure(), {
    interceptors: [clientInterceptor()],
  }) as unknown as EchoClient;
  const calls: ((i: number) => Promise<void>)[] = [
    (i) =>
      new Promise((resolve, reject) =>
        client.Unary({ text: `u-${i}` }, (error) => (error ? reject(error) : resolve())),
      ),
    (i) => streamDone(client.ServerStream({ text: `s-${i}` })),
    (i) =>
      new Promise((resolve, reject) => {
        const stream = client.ClientStream((error) => (error ? reject(error) : resolve()));
        stream.write({ text: `c-${i}-1` });
        stream.write({ text: `c-${i}-2` });
        stream.end();
      }),
    (i) => {
      const stream = client.Bidi();
      const done = streamDone(stream);
      stream.write({ text: `b-${i}-1` });
      stream.write({ text: `b-${i}-2` });
      stream.end();
      return done;
    },
  ];
  return {
    name: 'gRPC unary + server/client/bidi streams',
    // `count` calls of each of the four types, a CLIENT and a SERVER span each.
    spansPer: (count) => 2 * 4 * count,
    async run(count) {
      for (const call of calls) await pool(count, 32, call);
    },
    async close() {
      client.close();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    },
  };
}
