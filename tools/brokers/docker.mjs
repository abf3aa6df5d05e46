// Step 3 of the resolution order: testcontainers, but only when a Docker
// engine actually answers. The check is a single GET /_ping so that machines
// without Docker (a CLI but no daemon is common) fall through quickly.
import { request } from 'node:http';
import { existsSync } from 'node:fs';

// Images close to what the local launcher runs (Kafka 4.x in KRaft mode).
// cp-kafka >= 8 is Kafka 4.x; @testcontainers/kafka turns on KRaft for it.
const KAFKA_IMAGE = process.env.TRACEWIRE_KAFKA_IMAGE || 'confluentinc/cp-kafka:8.0.0';
const RABBITMQ_IMAGE = process.env.TRACEWIRE_RABBITMQ_IMAGE || 'rabbitmq:3.13-alpine';

/** True when a Docker engine answers GET /_ping within a second. */
export async function dockerAvailable() {
  if (process.env.TRACEWIRE_BROKERS_DOCKER === '0') return false;
  const host = process.env.DOCKER_HOST;
  /** @type {import('node:http').RequestOptions} */
  let target;
  if (!host || host.startsWith('unix://')) {
    const socketPath = host ? host.slice('unix://'.length) : '/var/run/docker.sock';
    if (!existsSync(socketPath)) return false;
    target = { socketPath };
  } else if (host.startsWith('tcp://')) {
    // TLS engines need client certificates we do not handle here; let
    // testcontainers (which does) find out whether it works.
    if (process.env.DOCKER_TLS_VERIFY) return true;
    const u = new URL(host.replace(/^tcp:/, 'http:'));
    target = { host: u.hostname, port: Number(u.port || 2375) };
  } else {
    return false;
  }
  return new Promise((resolve) => {
    const req = request({ ...target, path: '/_ping', method: 'GET', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(false));
    req.end();
  });
}

/**
 * `reuse`: containers outlive this process (needed by the CLI, whose process
 * exits right after `up`); otherwise testcontainers' reaper removes them when
 * the test run ends.
 * @param {{reuse?: boolean}} o
 * @returns {Promise<{address: string, id: string, stop: () => Promise<void>}>}
 */
export async function startKafkaContainer(o = {}) {
  const { KafkaContainer } = await import('@testcontainers/kafka');
  let c = new KafkaContainer(KAFKA_IMAGE);
  if (o.reuse) c = c.withReuse();
  const started = await c.start();
  return {
    // 9093 is the module's PLAINTEXT listener advertised to the host.
    address: `${started.getHost()}:${started.getMappedPort(9093)}`,
    id: started.getId(),
    stop: async () => void (await started.stop()),
  };
}

/** @param {{reuse?: boolean}} o */
export async function startRabbitContainer(o = {}) {
  const { RabbitMQContainer } = await import('@testcontainers/rabbitmq');
  let c = new RabbitMQContainer(RABBITMQ_IMAGE);
  if (o.reuse) c = c.withReuse();
  const started = await c.start();
  return {
    // guest/guest is the module's default user; spell it out for clients.
    address: `amqp://guest:guest@${started.getHost()}:${started.getMappedPort(5672)}`,
    id: started.getId(),
    stop: async () => void (await started.stop()),
  };
}
