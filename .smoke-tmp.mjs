const { Kafka, logLevel } = await import('kafkajs');
const amqp = await import('amqplib');
const kafka = new Kafka({ clientId: 'smoke', brokers: ['127.0.0.1:9092'], logLevel: logLevel.WARN });
const topic = 'smoke-' + Date.now();
const p = kafka.producer();
await p.connect();
await p.send({
  topic,
  messages: [
    {
      key: 'k',
      value: 'hello',
      headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
    },
  ],
});
const c = kafka.consumer({ groupId: 'g-' + topic });
await c.connect();
await c.subscribe({ topic, fromBeginning: true });
const got = await new Promise((res, rej) => {
  setTimeout(() => rej(new Error('timeout')), 30000);
  c.run({ eachMessage: async ({ message }) => res(message) });
});
console.log('kafka got', got.value.toString(), got.headers.traceparent.toString());
await c.disconnect();
await p.disconnect();
const conn = await amqp.connect('amqp://guest:guest@127.0.0.1:5672');
const ch = await conn.createChannel();
const q = (await ch.assertQueue('', { exclusive: true })).queue;
ch.sendToQueue(q, Buffer.from('hi'), { headers: { traceparent: 'x' } });
const m = await new Promise((res) => ch.consume(q, res, { noAck: true }));
console.log('amqp got', m.content.toString(), m.properties.headers.traceparent);
await conn.close();
