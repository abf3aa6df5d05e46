// `npm run demo`: builds the packages, brings up Kafka and RabbitMQ (tools/brokers), starts an OTLP
// receiver and the five services, places three orders through the gateway, then prints each
// order's trace as a waterfall and checks it. Exits 1 with the reason when a check fails.
// With OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) set, spans go there and nothing is checked.
import { setTimeout as sleep } from 'node:timers/promises';
import { buildPackages } from './build.mjs';

const startedAt = performance.now();
const elapsed = (from = startedAt) => `${((performance.now() - from) / 1000).toFixed(1)}s`;
const say = (line = '') => console.log(line);

async function step(title, fn) {
  const from = performance.now();
  process.stdout.write(`• ${title} ... `);
  const result = await fn();
  say(`done (${elapsed(from)})`);
  return result;
}

try {
  // --skip-build: for a rerun when the packages are known to be built.
  // --worker=platformatic: the worker consumes with @platformatic/kafka instead of KafkaJS.
  if (!process.argv.includes('--skip-build')) {
    await step('building the packages (npx turbo run build)', () => buildPackages());
  }
} catch (error) {
  console.error(`\n✗ ${error.message}`);
  process.exit(1);
}
// Imported only now: they load the built @tracewire/* packages.
const [
  { renderWaterfall },
  { DEMO_ORDERS, startSystem },
  { checkTrace, describeSpan, expectedSpanCount, hops },
] = await Promise.all([import('@tracewire/node'), import('./system.mjs'), import('./expect.mjs')]).catch(
  (error) => {
    console.error(`\n✗ cannot load the built packages (npx turbo run build builds them): ${error.message}`);
    process.exit(1);
  },
);

let system;
let exiting = false;
async function finish(code, message) {
  if (exiting) return;
  exiting = true;
  if (message) console.error(`\n✗ ${message}`);
  if (system) {
    await system.stop();
    say('• stopped the services and the OTLP receiver');
    if (system.brokers.started.length > 0) {
      say(
        `• left running for next time: ${system.brokers.started.join(', ')} (npm run brokers -- down stops them)`,
      );
    }
  }
  say(`\n${code === 0 ? 'demo passed' : 'demo FAILED'} in ${elapsed()}`);
  process.exit(code);
}
for (const signal of ['SIGINT', 'SIGTERM'])
  process.once(signal, () => finish(130, `interrupted (${signal})`));

try {
  say('\n• starting brokers, OTLP receiver and services: gateway (Express) -> orders (Fastify) -> Kafka ->');
  const platformatic = process.argv.includes('--worker=platformatic');
  say(
    `  worker (${platformatic ? '@platformatic/kafka' : 'KafkaJS'}) -> inventory (gRPC) and RabbitMQ -> notifier (amqplib)`,
  );
  const from = performance.now();
  system = await startSystem({
    log: (service, line) => say(`    [${service}] ${line}`),
    env: platformatic ? { WORKER_KAFKA_CLIENT: 'platformatic' } : {},
  });
  say(
    `• all services ready (${elapsed(from)}); Kafka ${system.brokers.kafkaBrokers}, RabbitMQ ${system.brokers.amqpUrl}`,
  );
  say(`  spans go to ${system.receiver ? `the local receiver ${system.receiver.url}` : system.external}`);

  const placed = [];
  for (const order of DEMO_ORDERS) {
    const result = await system.placeOrder(order);
    say(`• POST /orders (${order.label}) -> ${result.status}, trace ${result.traceId}`);
    if (result.status !== 202)
      throw new Error(`the gateway answered ${result.status}: ${JSON.stringify(result.body)}`);
    placed.push({ order, ...result });
  }

  if (!system.receiver) {
    // Not our collector: wait until each order reached the notifier, so its trace is complete there.
    for (const { body } of placed) await system.waitForLog('notifier', new RegExp(body.id), 60_000);
    say(`\nOTEL_EXPORTER_OTLP_ENDPOINT is set: the spans went to ${system.external};`);
    say('skipping the local checks. Look the trace ids above up in your tracing backend.');
    await finish(0);
  }

  const traces = [];
  for (const entry of placed) {
    traces.push({ ...entry, spans: await system.waitForTrace(entry.traceId, entry.order, 30_000) });
  }
  // A moment for anything extra (a duplicate, a stray trace) to arrive too before checking.
  await sleep(1_000);
  const all = system.receiver.spans();
  const known = new Set(placed.map((entry) => entry.traceId));
  let failures = 0;
  for (const [index, trace] of traces.entries()) {
    const spans = all.filter((span) => span.traceId === trace.traceId);
    say(`\n── order ${index + 1}: ${trace.order.label} ── trace ${trace.traceId}\n`);
    // Wide enough for the gRPC span names when not on a terminal.
    say(renderWaterfall(spans, { width: process.stdout.columns || 130 }));
    const problems = checkTrace(spans, { ...trace, names: system.names });
    if (spans.length !== expectedSpanCount(trace.order)) {
      problems.push(`expected ${expectedSpanCount(trace.order)} spans, got ${spans.length}`);
    }
    say('');
    if (problems.length === 0) {
      say(`✓ ${spans.length} spans, one trace id, one root, no orphans, every parent as expected`);
      say(`  hops: ${hops(spans).join(', ')}`);
    } else {
      failures++;
      for (const problem of problems) say(`✗ ${problem}`);
    }
  }
  const strays = all.filter((span) => !known.has(span.traceId));
  if (strays.length > 0) {
    failures++;
    say(`\n✗ ${strays.length} spans outside the orders' traces: ${strays.map(describeSpan).join(', ')}`);
  }
  await finish(failures === 0 ? 0 : 1, failures === 0 ? undefined : `${failures} check(s) failed`);
} catch (error) {
  await finish(1, error instanceof Error ? error.message : String(error));
}
