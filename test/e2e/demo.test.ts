// The demo system end to end: five services as separate processes (Express, Fastify, KafkaJS,
// grpc-js, amqplib), real Kafka and RabbitMQ, spans exported over OTLP/HTTP to a local receiver.
// Asserts the exact tree of an order's trace, hop by hop. The services run the built packages.
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { NormalisedSpan } from '@tracewire/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPackages } from '../../examples/demo/build.mjs';
import {
  DEMO_ORDERS,
  type DemoOrder,
  type DemoSystem,
  type PlacedOrder,
  startSystem,
} from '../../examples/demo/system.mjs';

const RESERVE = 'inventory.Inventory/Reserve';
const SERVICES = ['gateway', 'orders', 'worker', 'inventory', 'notifier'];

function orderNamed(label: string): DemoOrder {
  const order = DEMO_ORDERS.find((candidate) => candidate.label === label);
  if (!order) throw new Error(`no demo order "${label}"`);
  return order;
}

/** The spans of `service` with this kind and name. */
function spansOf(spans: NormalisedSpan[], service: string, kind: SpanKind, name: string): NormalisedSpan[] {
  return spans.filter((span) => span.serviceName === service && span.kind === kind && span.name === name);
}

/** The single span of `service` with this kind and name. */
function only(spans: NormalisedSpan[], service: string, kind: SpanKind, name: string): NormalisedSpan {
  const found = spansOf(spans, service, kind, name);
  expect(found, `${service} ${SpanKind[kind]} "${name}"`).toHaveLength(1);
  return found[0]!;
}

function childrenOf(spans: NormalisedSpan[], parent: NormalisedSpan): NormalisedSpan[] {
  return spans.filter((span) => span.parentSpanId === parent.spanId);
}

function expectOneRootNoOrphans(spans: NormalisedSpan[], placed: PlacedOrder): void {
  const ids = new Set(spans.map((span) => span.spanId));
  expect(ids.size, 'span ids are unique').toBe(spans.length);
  expect(new Set(spans.map((span) => span.traceId))).toEqual(new Set([placed.traceId]));
  const roots = spans.filter((span) => span.parentSpanId === undefined);
  expect(roots.map((span) => span.spanId)).toEqual([placed.rootSpanId]);
  const orphans = spans.filter((span) => span.parentSpanId !== undefined && !ids.has(span.parentSpanId));
  expect(orphans.map((span) => span.name)).toEqual([]);
  expect(new Set(spans.map((span) => span.serviceName))).toEqual(new Set(SERVICES));
}

describe('demo system: an order across five processes, Kafka, gRPC and RabbitMQ', () => {
  let system: DemoSystem | undefined;
  const placed: PlacedOrder[] = [];

  const running = (): DemoSystem => {
    if (!system) throw new Error('the demo system did not start');
    return system;
  };
  const place = async (order: DemoOrder): Promise<PlacedOrder> => {
    const result = await running().placeOrder(order);
    placed.push(result);
    return result;
  };

  beforeAll(async () => {
    buildPackages();
    system = await startSystem({ localReceiver: true });
  }, 300_000);

  afterAll(async () => {
    await system?.stop();
  }, 30_000);

  it('an order with an unknown item: one trace, every parent across every hop, the error marked where it happened', async () => {
    const order = orderNamed('an apple and a unicorn');
    const { names } = running();
    const result = await place(order);
    expect(result.status).toBe(202);
    const spans = await running().waitForTrace(result.traceId, order, 60_000);
    expect(spans).toHaveLength(11);
    expectOneRootNoOrphans(spans, result);

    // HTTP: gateway SERVER -> fetch CLIENT -> orders SERVER.
    const gateway = only(spans, 'gateway', SpanKind.SERVER, 'POST /orders');
    expect(gateway.spanId).toBe(result.rootSpanId);
    expect(gateway.parentSpanId).toBeUndefined();
    expect(gateway.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': '/orders',
      'http.response.status_code': 202,
    });
    const fetchCall = only(spans, 'gateway', SpanKind.CLIENT, 'PUT');
    expect(fetchCall.parentSpanId).toBe(gateway.spanId);
    expect(fetchCall.attributes['url.full']).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/orders\/[0-9a-f-]{36}$/);
    expect(fetchCall.attributes['http.response.status_code']).toBe(202);
    const accept = only(spans, 'orders', SpanKind.SERVER, 'PUT /orders/:id');
    expect(accept.parentSpanId).toBe(fetchCall.spanId);
    expect(accept.attributes).toMatchObject({
      'http.route': '/orders/:id',
      'http.response.status_code': 202,
    });

    // Kafka: orders PRODUCER -> worker CONSUMER.
    const send = only(spans, 'orders', SpanKind.PRODUCER, `send ${names.topic}`);
    expect(send.parentSpanId).toBe(accept.spanId);
    expect(send.attributes).toMatchObject({
      'messaging.system': 'kafka',
      'messaging.destination.name': names.topic,
      'messaging.operation.type': 'send',
    });
    const consume = only(spans, 'worker', SpanKind.CONSUMER, `process ${names.topic}`);
    expect(consume.parentSpanId).toBe(send.spanId);
    expect(consume.attributes).toMatchObject({
      'messaging.system': 'kafka',
      'messaging.destination.name': names.topic,
      'messaging.operation.type': 'process',
      'messaging.consumer.group.name': names.group,
    });
    // The worker handled the failure (no retry) and marked its span itself.
    expect(consume.status).toEqual({ code: SpanStatusCode.ERROR, message: 'unknown item unicorn' });

    // gRPC fan-out: one CLIENT span per item under the CONSUMER span, each the parent of one
    // inventory SERVER span. NOT_FOUND is an error on the client only.
    const clients = spansOf(spans, 'worker', SpanKind.CLIENT, RESERVE);
    expect(clients).toHaveLength(2);
    const failed = clients.filter((span) => span.attributes['rpc.status_code'] === 'NOT_FOUND');
    const reserved = clients.filter((span) => span.attributes['rpc.status_code'] === 'OK');
    expect(clients.map((span) => span.attributes['rpc.status_code']).sort()).toEqual(['NOT_FOUND', 'OK']);
    for (const client of clients) {
      expect(client.parentSpanId).toBe(consume.spanId);
      expect(client.attributes).toMatchObject({ 'rpc.system.name': 'grpc', 'rpc.method': RESERVE });
      const servers = childrenOf(spans, client);
      expect(servers.map((span) => [span.serviceName, span.kind, span.name])).toEqual([
        ['inventory', SpanKind.SERVER, RESERVE],
      ]);
      const server = servers[0]!;
      expect(server.attributes['rpc.status_code']).toBe(client.attributes['rpc.status_code']);
      expect(server.status.code).toBe(SpanStatusCode.UNSET);
    }
    expect(failed[0]!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'unknown item unicorn' });
    expect(failed[0]!.attributes['error.type']).toBe('NOT_FOUND');
    expect(reserved[0]!.status.code).toBe(SpanStatusCode.UNSET);

    // RabbitMQ: worker PRODUCER -> notifier CONSUMER, the rejection routed by key.
    const publish = only(spans, 'worker', SpanKind.PRODUCER, `send ${names.exchange}`);
    expect(publish.parentSpanId).toBe(consume.spanId);
    expect(publish.attributes).toMatchObject({
      'messaging.system': 'rabbitmq',
      'rabbitmq.destination.routing_key': 'order.rejected',
    });
    const notify = only(spans, 'notifier', SpanKind.CONSUMER, `process ${names.queue}`);
    expect(notify.parentSpanId).toBe(publish.spanId);
    expect(notify.attributes).toMatchObject({
      'messaging.system': 'rabbitmq',
      'messaging.operation.type': 'process',
      'rabbitmq.destination.routing_key': 'order.rejected',
      'tracewire.rabbitmq.settlement': 'ack',
    });
    expect(
      childrenOf(spans, consume)
        .map((span) => span.spanId)
        .sort(),
    ).toEqual([...clients, publish].map((span) => span.spanId).sort());

    // Only the two spans that failed are ERROR.
    const errors = spans.filter((span) => span.status.code === SpanStatusCode.ERROR);
    expect(errors.map((span) => span.spanId).sort()).toEqual([consume.spanId, failed[0]!.spanId].sort());
  });

  it('an order inventory can fill: three reservations in parallel, nothing marked ERROR', async () => {
    const order = orderNamed('plums, figs and an apple');
    const { names } = running();
    const result = await place(order);
    expect(result.status).toBe(202);
    const spans = await running().waitForTrace(result.traceId, order, 60_000);
    expect(spans).toHaveLength(13);
    expectOneRootNoOrphans(spans, result);

    const consume = only(spans, 'worker', SpanKind.CONSUMER, `process ${names.topic}`);
    const send = only(spans, 'orders', SpanKind.PRODUCER, `send ${names.topic}`);
    expect(consume.parentSpanId).toBe(send.spanId);
    const clients = spansOf(spans, 'worker', SpanKind.CLIENT, RESERVE);
    expect(clients).toHaveLength(3);
    for (const client of clients) {
      expect(client.parentSpanId).toBe(consume.spanId);
      expect(client.attributes['rpc.status_code']).toBe('OK');
      expect(childrenOf(spans, client).map((span) => `${span.serviceName} ${span.name}`)).toEqual([
        `inventory ${RESERVE}`,
      ]);
    }
    // In parallel: every call started before any of them ended.
    for (const a of clients) {
      for (const b of clients) expect(BigInt(a.startTimeUnixNano) < BigInt(b.endTimeUnixNano)).toBe(true);
    }

    const publish = only(spans, 'worker', SpanKind.PRODUCER, `send ${names.exchange}`);
    expect(publish.attributes['rabbitmq.destination.routing_key']).toBe('order.confirmed');
    expect(only(spans, 'notifier', SpanKind.CONSUMER, `process ${names.queue}`).parentSpanId).toBe(
      publish.spanId,
    );
    expect(
      spans.filter((span) => span.status.code === SpanStatusCode.ERROR).map((span) => span.name),
    ).toEqual([]);
  });

  it('every span the services exported belongs to one of the orders placed', () => {
    const receiver = running().receiver;
    expect(receiver).toBeDefined();
    const traces = new Set(placed.map((entry) => entry.traceId));
    expect(placed).toHaveLength(2);
    const strays = receiver!.spans().filter((span) => !traces.has(span.traceId));
    expect(strays.map((span) => `${span.serviceName} ${span.name}`)).toEqual([]);
  });
});
