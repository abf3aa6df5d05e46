// Broker launcher for the integration tests: finds or starts one Kafka and one
// RabbitMQ. See README.md beside this file for the resolution order.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dockerAvailable, startKafkaContainer, startRabbitContainer } from './docker.mjs';
import * as kafka from './kafka.mjs';
import { amqpReady, kafkaReady } from './probe.mjs';
import * as rabbitmq from './rabbitmq.mjs';
import { cacheRoot, ensureDir, log, tcpOpen, waitFor } from './util.mjs';

/**
 * What differs between the two brokers; the resolution logic below is shared.
 * `verify` must not change a foreign broker (no topic creation there).
 */
const BROKERS = {
  kafka: {
    envVar: 'KAFKA_BROKERS',
    host: kafka.HOST,
    port: kafka.PORT,
    defaultAddress: `${kafka.HOST}:${kafka.PORT}`,
    verify: (address) => kafkaReady(address),
    startContainer: startKafkaContainer,
    local: kafka,
  },
  rabbitmq: {
    envVar: 'AMQP_URL',
    host: rabbitmq.HOST,
    port: rabbitmq.PORT,
    defaultAddress: rabbitmq.URL,
    verify: (address) => amqpReady(address),
    startContainer: startRabbitContainer,
    local: rabbitmq,
  },
};

// Containers are started with testcontainers' reuse so that they survive the
// process that started them, like local processes do; `down` removes them.
const containersFile = () => join(cacheRoot(), 'containers.json');
function readContainers() {
  try {
    return JSON.parse(readFileSync(containersFile(), 'utf8'));
  } catch {
    return {};
  }
}
function recordContainer(name, info) {
  ensureDir(cacheRoot());
  writeFileSync(containersFile(), JSON.stringify({ ...readContainers(), [name]: info }, null, 2));
}

/**
 * Resolve one broker: env var, then the default local port, then Docker, then
 * a local process. Returns its address and, if this call started it, a label.
 * @param {'kafka' | 'rabbitmq'} name
 * @param {{docker?: boolean}} opts
 */
async function resolve(name, opts) {
  const b = BROKERS[name];
  const fromEnv = process.env[b.envVar]?.trim();
  if (fromEnv) {
    // Explicitly configured: use it or fail, never silently start another one.
    log(name, `using ${b.envVar}=${fromEnv}`);
    await waitFor(`${name} at ${b.envVar}=${fromEnv}`, () => b.verify(fromEnv), { timeoutMs: 30_000 });
    return { address: fromEnv };
  }
  // One we launched earlier (maybe still booting): adopt it, wait for ready.
  if (b.local.runningPid()) {
    return { address: (await b.local.startLocal()).address };
  }
  if (await tcpOpen(b.host, b.port)) {
    try {
      await waitFor(`${name} on ${b.host}:${b.port}`, () => b.verify(b.defaultAddress), {
        timeoutMs: 20_000,
      });
    } catch (e) {
      throw new Error(
        `something listens on ${b.host}:${b.port} but it does not work as ${name} (${e.message}); free the port or set ${b.envVar}`,
      );
    }
    log(name, `using the broker already listening on ${b.host}:${b.port}`);
    return { address: b.defaultAddress };
  }
  if (opts.docker !== false && (await dockerAvailable())) {
    log(name, 'Docker engine answers; starting a container with testcontainers');
    const c = await b.startContainer({ reuse: true });
    await waitFor(`${name} container`, () => b.verify(c.address), { timeoutMs: 60_000 });
    recordContainer(name, { id: c.id, address: c.address });
    return { address: c.address, started: `${name}:container` };
  }
  const r = await b.local.startLocal();
  return { address: r.address, started: r.started ? `${name}:local` : undefined };
}

/**
 * Make sure a Kafka and a RabbitMQ are reachable. Idempotent: brokers already
 * there (or launched by an earlier call) are reused, and `started` is empty.
 * @param {{docker?: boolean}} [opts] docker: false skips the testcontainers step
 * @returns {Promise<{kafkaBrokers: string, amqpUrl: string, started: string[]}>}
 */
export async function up(opts = {}) {
  // Both at once: a cold start is dominated by apt-get and Kafka's JVM boot.
  const [k, r] = await Promise.allSettled([resolve('kafka', opts), resolve('rabbitmq', opts)]);
  const failures = [k, r]
    .filter((x) => x.status === 'rejected')
    .map((x) => x.reason?.message ?? String(x.reason));
  if (failures.length) throw new Error(failures.join('\n\n'));
  const kv = /** @type {PromiseFulfilledResult<any>} */ (k).value;
  const rv = /** @type {PromiseFulfilledResult<any>} */ (r).value;
  return { kafkaBrokers: kv.address, amqpUrl: rv.address, started: [kv.started, rv.started].filter(Boolean) };
}

/**
 * Stop what this launcher started: local processes (by pid file) and the
 * containers it recorded. Never touches brokers it did not start. Idempotent.
 * @returns {Promise<string[]>} what was stopped
 */
export async function down() {
  const stopped = [];
  const [k, r] = await Promise.all([kafka.stopLocal(), rabbitmq.stopLocal()]);
  for (const name of ['kafka', 'rabbitmq']) {
    for (const inst of listInstances(name)) {
      if (await BROKERS[name].local.stopLocal(inst)) stopped.push(`${name}:${inst.name}`);
    }
  }
  if (k) stopped.push('kafka:local');
  if (r) stopped.push('rabbitmq:local');
  for (const [name, c] of Object.entries(readContainers())) {
    const res = spawnSync('docker', ['rm', '-f', c.id], { encoding: 'utf8' });
    if (res.status === 0) stopped.push(`${name}:container`);
    else log(name, `could not remove container ${c.id}: ${res.stderr?.trim() || res.error?.message}`);
  }
  rmSync(containersFile(), { force: true });
  return stopped;
}

/**
 * Where each broker would come from and whether it answers right now. Starts nothing.
 * @returns {Promise<{kafka: object, rabbitmq: object}>}
 */
export async function status() {
  const one = async (name) => {
    const b = BROKERS[name];
    const fromEnv = process.env[b.envVar]?.trim();
    const pid = b.local.runningPid();
    const container = readContainers()[name];
    const { log: logFile } = b.local.paths();
    /** @type {{source: string, address?: string, pid?: number, container?: string, log?: string}} */
    let s;
    if (fromEnv) s = { source: 'env', address: fromEnv };
    else if (pid) s = { source: 'local', address: b.defaultAddress, pid, log: logFile };
    else if (await tcpOpen(b.host, b.port)) s = { source: 'port', address: b.defaultAddress };
    else if (container) s = { source: 'container', address: container.address, container: container.id };
    else return { source: 'none', ready: false };
    const ready = await b.verify(s.address).then(
      () => true,
      () => false,
    );
    return { ...s, ready };
  };
  const [k, r] = await Promise.all([one('kafka'), one('rabbitmq')]);
  return { kafka: k, rabbitmq: r };
}

/**
 * Body for a vitest globalSetup: `export default () => setupForTests()`.
 * Sets KAFKA_BROKERS and AMQP_URL for the test workers (they are forked after
 * globalSetup, so they inherit them). Brokers are never stopped here: local
 * processes and containers this started stay up for the next run (`up` is
 * idempotent); `npm run brokers -- down` stops them. A missing broker always
 * fails the run, with CI=true as well as locally: integration tests never skip.
 */
export async function setupForTests() {
  let r;
  try {
    r = await up();
  } catch (e) {
    const where = process.env.CI === 'true' ? 'CI=true: ' : '';
    throw new Error(
      `${where}the integration tests need real Kafka and RabbitMQ brokers and never skip.\n${e.message}\n` +
        'Set KAFKA_BROKERS / AMQP_URL to existing brokers, or run `npm run brokers -- up` to see the launcher problem.',
    );
  }
  process.env.KAFKA_BROKERS = r.kafkaBrokers;
  process.env.AMQP_URL = r.amqpUrl;
  if (r.started.length) log('setup', `started ${r.started.join(', ')} (left running for reuse)`);
}

/**
 * The broker instance named by `o`: the default one (`npm run brokers -- up`'s) when no name is
 * given, else an extra local one with its own port and data dir. An extra instance's port is
 * recorded on first start, so later calls may name it alone.
 * @param {'kafka' | 'rabbitmq'} name
 * @param {{instance?: string, port?: number}} [o]
 */
function instanceOf(name, o = {}) {
  const b = BROKERS[name];
  if (!b) throw new Error(`unknown broker ${name}; expected kafka or rabbitmq`);
  if (!o.instance || o.instance === 'default') return b.local.instance();
  const port = o.port ?? readInstances()[`${name}/${o.instance}`]?.port;
  if (!port) throw new Error(`${name} instance ${o.instance} is unknown; give its port the first time`);
  return b.local.instance({ name: o.instance, port });
}

const instancesFile = () => join(cacheRoot(), 'instances.json');
function readInstances() {
  try {
    return JSON.parse(readFileSync(instancesFile(), 'utf8'));
  } catch {
    return {};
  }
}
function listInstances(name) {
  return Object.entries(readInstances())
    .filter(([key]) => key.startsWith(`${name}/`))
    .map(([key, v]) => BROKERS[name].local.instance({ name: key.slice(name.length + 1), port: v.port }));
}

/**
 * Start (or adopt) an extra local broker instance, e.g. `startInstance('kafka', {instance:
 * 'faults', port: 29092})`, for tests that stop or restart their broker: the shared default one
 * is never touched. Resolves with its address once a client works.
 * @param {'kafka' | 'rabbitmq'} name
 * @param {{instance: string, port?: number, timeoutMs?: number}} o
 * @returns {Promise<{address: string, started: boolean}>}
 */
export async function startInstance(name, o) {
  if (!o?.instance || o.instance === 'default') throw new Error('startInstance needs an instance name');
  const inst = instanceOf(name, o);
  ensureDir(cacheRoot());
  writeFileSync(
    instancesFile(),
    JSON.stringify({ ...readInstances(), [`${name}/${inst.name}`]: { port: inst.port } }, null, 2),
  );
  return BROKERS[name].local.startLocal({ instance: inst, timeoutMs: o.timeoutMs });
}

/**
 * Stop an extra instance started by `startInstance`. Idempotent.
 * @param {'kafka' | 'rabbitmq'} name
 * @param {{instance: string, hard?: boolean}} o
 */
export async function stopInstance(name, o) {
  if (!o?.instance || o.instance === 'default') throw new Error('stopInstance needs an instance name');
  return BROKERS[name].local.stopLocal(instanceOf(name, o), { hard: o.hard });
}

/**
 * Stop a broker this launcher runs as a local process and start it again on the same port and
 * data directory; resolves once a client works again. Without `instance`, the default broker
 * (`up`'s); brokers from KAFKA_BROKERS/AMQP_URL, a foreign port or a container are refused.
 * `hard`: SIGKILL instead of a clean shutdown. `downMs`: stay down this long before starting.
 * @param {'kafka' | 'rabbitmq'} name
 * @param {{instance?: string, hard?: boolean, downMs?: number, timeoutMs?: number, onDown?: () => unknown}} [o]
 * @returns {Promise<{address: string, downForMs: number}>}
 */
export async function restart(name, o = {}) {
  const b = BROKERS[name];
  const inst = instanceOf(name, o);
  if (!b.local.runningPid(inst)) {
    throw new Error(
      `${name}${o.instance ? ` instance ${o.instance}` : ''} is not a local broker this launcher started; ` +
        "restart only stops and starts the launcher's own processes",
    );
  }
  await b.local.stopLocal(inst, { hard: o.hard });
  const t0 = Date.now();
  await o.onDown?.();
  if (o.downMs) await new Promise((r) => setTimeout(r, o.downMs));
  const r = await b.local.startLocal({ instance: inst, timeoutMs: o.timeoutMs });
  return { address: r.address, downForMs: Date.now() - t0 };
}
