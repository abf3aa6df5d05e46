// Readiness checks that use the same client libraries as the tests: an open
// port is not enough (Kafka accepts TCP long before its controller is up,
// RabbitMQ before its boot steps finish).

/**
 * Resolves when a Kafka client can talk to `brokers` ("host:port,...").
 * With `createTopic`, also creates a topic and waits for its leader, which
 * proves the controller and the partition machinery work (used for brokers we
 * launched; for foreign brokers we only list topics, which changes nothing).
 * @param {string} brokers
 * @param {{createTopic?: boolean}} [o]
 */
export async function kafkaReady(brokers, o = {}) {
  const { Kafka, logLevel } = await import('kafkajs');
  const kafka = new Kafka({
    clientId: 'tracewire-brokers-probe',
    brokers: brokers
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean),
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3000,
    requestTimeout: 10_000,
    retry: { retries: 0 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    if (o.createTopic) {
      const topic = '__tracewire_ready';
      await admin.createTopics({
        topics: [{ topic, numPartitions: 1, replicationFactor: 1 }],
        waitForLeaders: true,
      });
      const md = await admin.fetchTopicMetadata({ topics: [topic] });
      const p = md.topics[0]?.partitions[0];
      if (!p || p.leader < 0) throw new Error('readiness topic has no leader yet');
    } else {
      await admin.listTopics();
    }
    return true;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/**
 * Resolves when an AMQP 0-9-1 connection to `url` opens and a channel can be
 * created on it (that also proves the credentials are accepted).
 * @param {string} url
 */
export async function amqpReady(url) {
  const amqp = await import('amqplib');
  const connect = amqp.connect ?? amqp.default.connect;
  const conn = await connect(url, { timeout: 3000 });
  try {
    const ch = await conn.createChannel();
    await ch.close();
    return true;
  } finally {
    await conn.close().catch(() => {});
  }
}
