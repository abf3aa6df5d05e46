// Starts and stops the demo system: brokers (through tools/brokers), an OTLP receiver, and the five
// services as child processes; places orders through the gateway and collects each order's trace.
// Used by run.mjs (`npm run demo`) and by test/e2e/demo.test.ts. Needs the packages built.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startOtlpReceiver } from '@tracewire/node';
import { Kafka, logLevel } from 'kafkajs';
import { up } from '../../tools/brokers/index.mjs';
import { expectedSpanCount } from './expect.mjs';

/** Two orders inventory can fill, and one with an item it does not know. */
export const DEMO_ORDERS = [
  {
    label: 'apples and a pear',
    items: [
      { sku: 'apple', quantity: 2 },
      { sku: 'pear', quantity: 1 },
    ],
  },
  {
    label: 'plums, figs and an apple',
    items: [
      { sku: 'plum', quantity: 3 },
      { sku: 'fig', quantity: 6 },
      { sku: 'apple', quantity: 1 },
    ],
  },
  {
    label: 'an apple and a unicorn',
    items: [
      { sku: 'apple', quantity: 1 },
      { sku: 'unicorn', quantity: 1 },
    ],
    unknown: ['unicorn'],
  },
];

/** In start order; each prints a line containing `ready` once it can do its job. */
export const SERVICES = ['inventory', 'notifier', 'orders', 'worker', 'gateway'];

const SERVICES_DIR = new URL('./services/', import.meta.url);
const LOG_LINES = 40;
const STOP_GRACE_MS = 8_000;

/**
 * Starts everything; on any failure stops what it started and rethrows.
 * @param {import('./system.d.mts').StartOptions} [options]
 * @returns {Promise<import('./system.d.mts').DemoSystem>}
 */
export async function startSystem(options = {}) {
  const {
    log = () => {},
    readyTimeoutMs = 90_000,
    env: extraEnv = {},
    localReceiver = !externalEndpoint(),
  } = options;
  // Names of this run only: a rerun or a concurrent run never sees these messages.
  const runId = randomBytes(3).toString('hex');
  const names = {
    runId,
    topic: `orders.${runId}`,
    group: `worker.${runId}`,
    exchange: `notifications.${runId}`,
    queue: `notifier.${runId}`,
  };
  const external = localReceiver ? undefined : externalEndpoint();
  const children = new Map();
  const cleanups = [];
  const killAll = () => {
    for (const child of children.values()) if (child.running) child.process.kill('SIGKILL');
  };
  // Whatever happens to this process, no service outlives it.
  process.on('exit', killAll);

  let stopping;
  const stop = () => {
    stopping ??= (async () => {
      await Promise.all([...children.values()].map((child) => child.stop()));
      process.off('exit', killAll);
      for (const cleanup of cleanups.reverse()) {
        await cleanup().catch((error) => log('demo', `cleanup: ${error.message}`));
      }
    })();
    return stopping;
  };

  try {
    const brokers = await up();
    const receiver = localReceiver ? await startOtlpReceiver() : undefined;
    if (receiver) cleanups.push(() => receiver.close());

    const admin = new Kafka({
      clientId: 'demo-runner',
      brokers: brokers.kafkaBrokers.split(','),
      logLevel: logLevel.NOTHING,
    }).admin();
    await admin.connect();
    cleanups.push(async () => {
      await admin.deleteTopics({ topics: [names.topic], timeout: 5_000 }).catch(() => {});
      await admin.deleteGroups([names.group]).catch(() => {});
      await admin.disconnect();
    });
    // Created up front, so the worker's subscription and the first send find its partition.
    await admin.createTopics({
      topics: [{ topic: names.topic, numPartitions: 1, replicationFactor: 1 }],
      waitForLeaders: true,
    });

    const [gatewayPort, ordersPort, inventoryPort] = await Promise.all([freePort(), freePort(), freePort()]);
    const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    const env = childEnv(receiver?.url, {
      KAFKA_BROKERS: brokers.kafkaBrokers,
      AMQP_URL: brokers.amqpUrl,
      ORDERS_TOPIC: names.topic,
      KAFKA_GROUP: names.group,
      NOTIFY_EXCHANGE: names.exchange,
      NOTIFY_QUEUE: names.queue,
      INVENTORY_ADDRESS: `127.0.0.1:${inventoryPort}`,
      ORDERS_URL: `http://127.0.0.1:${ordersPort}`,
      ...extraEnv,
    });
    const ports = { gateway: gatewayPort, orders: ordersPort };
    for (const name of SERVICES) {
      const port = ports[name];
      children.set(name, startChild(name, port ? { ...env, PORT: String(port) } : env, log));
    }
    await Promise.all([...children.values()].map((child) => child.ready(readyTimeoutMs)));

    return {
      names,
      brokers: { kafkaBrokers: brokers.kafkaBrokers, amqpUrl: brokers.amqpUrl, started: brokers.started },
      receiver,
      external,
      gatewayUrl,
      placeOrder: (order) => placeOrder(gatewayUrl, order),
      waitForTrace: (traceId, order, timeoutMs) =>
        waitForTrace(receiver, children, traceId, order, timeoutMs),
      waitForLog: (service, pattern, timeoutMs) => children.get(service).waitForLine(pattern, timeoutMs),
      logs: (service) => [...children.get(service).lines],
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The collector the user points at, if any: then spans go there and nothing is checked here. */
export function externalEndpoint() {
  const value =
    process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || process.env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  return value || undefined;
}

function childEnv(receiverUrl, config) {
  const env = { ...process.env, ...config };
  // Quick exports, so a trace is complete a moment after its last span ends (default 5 s).
  env.OTEL_BSP_SCHEDULE_DELAY ??= '100';
  env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
  if (receiverUrl) {
    // Every span must arrive for the checks: nothing that would disable or sample tracing.
    env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = receiverUrl;
    for (const name of ['OTEL_SDK_DISABLED', 'OTEL_TRACES_SAMPLER', 'OTEL_TRACES_SAMPLER_ARG'])
      delete env[name];
  }
  return env;
}

/** A port free right now on 127.0.0.1. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** One service process: its recent output, readiness and exit. */
function startChild(name, env, log) {
  const file = fileURLToPath(new URL(`${name}.mjs`, SERVICES_DIR));
  const child = spawn(process.execPath, [file], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  const watchers = new Set();
  let exit;
  const state = {
    process: child,
    lines,
    get running() {
      return exit === undefined;
    },
    describeExit: () => (exit ? `${name} exited (${exit})${tail(lines)}` : undefined),
    waitForLine(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const found = lines.find((line) => pattern.test(line));
        if (found) return resolve(found);
        const timer = setTimeout(() => {
          finish();
          reject(
            new Error(`${name}: no output line matching ${pattern} within ${timeoutMs} ms${tail(lines)}`),
          );
        }, timeoutMs);
        const watcher = (line) => {
          if (line === undefined) {
            finish();
            reject(new Error(`${state.describeExit()}`));
          } else if (pattern.test(line)) {
            finish();
            resolve(line);
          }
        };
        const finish = () => {
          clearTimeout(timer);
          watchers.delete(watcher);
        };
        if (exit) return watcher(undefined);
        watchers.add(watcher);
      });
    },
    ready(timeoutMs) {
      return state.waitForLine(/\bready\b/, timeoutMs).catch((error) => {
        throw new Error(`service ${name} did not start: ${error.message}`);
      });
    },
    async stop() {
      if (exit !== undefined) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      // SIGTERM: startTracing flushes the service's last spans, then the signal ends it.
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    },
  };
  const onLine = (line) => {
    lines.push(line);
    if (lines.length > LOG_LINES) lines.shift();
    log(name, line);
    for (const watcher of [...watchers]) watcher(line);
  };
  createInterface({ input: child.stdout }).on('line', onLine);
  createInterface({ input: child.stderr }).on('line', onLine);
  child.on('error', (error) => onLine(`could not start: ${error.message}`));
  child.on('exit', (code, signal) => {
    exit = signal ? `signal ${signal}` : `code ${code}`;
    for (const watcher of [...watchers]) watcher(undefined);
  });
  return state;
}

function tail(lines) {
  return lines.length > 0 ? `; its last output:\n  ${lines.slice(-15).join('\n  ')}` : '';
}

/**
 * POSTs an order to the gateway. The gateway answers with `Server-Timing: traceparent;desc=...`,
 * which names its SERVER span: the root of the order's trace.
 */
async function placeOrder(gatewayUrl, order) {
  const response = await fetch(`${gatewayUrl}/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ items: order.items }),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  const timing = response.headers.get('server-timing') ?? '';
  const match = /traceparent;desc="?00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}/.exec(timing);
  if (!match) {
    throw new Error(
      `the gateway's response (${response.status}) has no traceparent in Server-Timing: "${timing}"`,
    );
  }
  return { status: response.status, body, traceId: match[1], rootSpanId: match[2] };
}

/** Waits until the receiver holds as many spans of the trace as the order makes. */
async function waitForTrace(receiver, children, traceId, order, timeoutMs = 30_000) {
  if (!receiver) throw new Error('no local OTLP receiver: spans go to OTEL_EXPORTER_OTLP_ENDPOINT');
  const wanted = expectedSpanCount(order);
  const ofTrace = (spans) => spans.filter((span) => span.traceId === traceId);
  try {
    return ofTrace(await receiver.waitForSpans((spans) => ofTrace(spans).length >= wanted, timeoutMs));
  } catch {
    const all = receiver.spans();
    const got = ofTrace(all);
    const ids = new Set(all.map((span) => span.spanId));
    // Where a hop lost the context, the spans after it start traces of their own.
    const otherRoots = all.filter((span) => span.traceId !== traceId && !ids.has(span.parentSpanId));
    const exits = [...children.values()].map((child) => child.describeExit()).filter(Boolean);
    throw new Error(
      [
        `trace ${traceId}: ${got.length} of ${wanted} spans arrived within ${timeoutMs} ms`,
        `  in the trace: ${counted(got) || 'none'}`,
        otherRoots.length > 0 ? `  roots of other traces: ${counted(otherRoots)}` : '',
        ...exits.map((exit) => `  ${exit}`),
      ]
        .filter(Boolean)
        .join('\n'),
    );
  }
}

/** `gateway "PUT", worker "inventory.Inventory/Reserve" x2, ...` */
function counted(spans) {
  const counts = new Map();
  for (const span of spans) {
    const label = `${span.serviceName ?? '?'} "${span.name}"`;
    counts.set(label, (counts.get(label) ?? 0) + 1);
  }
  return [...counts].map(([label, count]) => (count > 1 ? `${label} x${count}` : label)).join(', ');
}
