// What one order's trace must look like, and the checks `npm run demo` runs on it.
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';

export const RESERVE = 'inventory.Inventory/Reserve';

const KIND_NAMES = ['INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
const TRANSPORTS = { 'PUT /orders/:id': 'HTTP', [RESERVE]: 'gRPC' };

/** gateway SERVER, fetch CLIENT, orders SERVER, Kafka PRODUCER + CONSUMER, 2 per item, RabbitMQ 2. */
export function expectedSpanCount(order) {
  return 7 + 2 * order.items.length;
}

function node(service, kind, name, status, attributes, children = []) {
  return { service, kind, name, status, attributes, children };
}

/**
 * The tree of spans an order makes: `{service, kind, name, status, attributes, children}`.
 * `attributes` lists only the values checked; spans may carry more.
 */
export function expectedTree(order, names) {
  const unknown = new Set(order.unknown ?? []);
  const rejected = order.items.some((item) => unknown.has(item.sku));
  const ERROR = SpanStatusCode.ERROR;
  const UNSET = SpanStatusCode.UNSET;
  const reserves = order.items.map((item) => {
    const code = unknown.has(item.sku) ? 'NOT_FOUND' : 'OK';
    // NOT_FOUND is an error for the client; the server did its job, so its span is not.
    return node(
      'worker',
      SpanKind.CLIENT,
      RESERVE,
      code === 'OK' ? UNSET : ERROR,
      { 'rpc.status_code': code },
      [node('inventory', SpanKind.SERVER, RESERVE, UNSET, { 'rpc.status_code': code })],
    );
  });
  const notify = node('worker', SpanKind.PRODUCER, `send ${names.exchange}`, UNSET, {}, [
    node('notifier', SpanKind.CONSUMER, `process ${names.queue}`, UNSET, {}),
  ]);
  const consume = node(
    'worker',
    SpanKind.CONSUMER,
    `process ${names.topic}`,
    rejected ? ERROR : UNSET,
    { 'messaging.destination.name': names.topic },
    [...reserves, notify],
  );
  return node('gateway', SpanKind.SERVER, 'POST /orders', UNSET, { 'http.response.status_code': 202 }, [
    node('gateway', SpanKind.CLIENT, 'PUT', UNSET, { 'http.response.status_code': 202 }, [
      node('orders', SpanKind.SERVER, 'PUT /orders/:id', UNSET, { 'http.route': '/orders/:id' }, [
        node('orders', SpanKind.PRODUCER, `send ${names.topic}`, UNSET, {}, [consume]),
      ]),
    ]),
  ]);
}

export function describeSpan(span) {
  const status = span.status?.code === SpanStatusCode.ERROR ? ' ERROR' : '';
  return `${span.serviceName ?? '?'} ${KIND_NAMES[span.kind] ?? span.kind} "${span.name}"${status}`;
}

function describeNode(expected) {
  const status = expected.status === SpanStatusCode.ERROR ? ' ERROR' : '';
  return `${expected.service} ${KIND_NAMES[expected.kind]} "${expected.name}"${status}`;
}

const matches = (span, expected) =>
  span.serviceName === expected.service &&
  span.kind === expected.kind &&
  span.name === expected.name &&
  (span.status?.code ?? SpanStatusCode.UNSET) === expected.status;

/**
 * Problems with one order's trace, as sentences; none when it is right: one trace id, exactly one
 * root (the gateway's span named in Server-Timing), no orphans, and the expected tree, each
 * span's children matched by service, kind, name and status, with the listed attribute values.
 */
export function checkTrace(spans, { traceId, rootSpanId, order, names }) {
  const problems = [];
  const ids = new Set(spans.map((span) => span.spanId));
  const traceIds = new Set(spans.map((span) => span.traceId));
  if (traceIds.size !== 1 || !traceIds.has(traceId)) {
    problems.push(`expected one trace id ${traceId}, got ${[...traceIds].join(', ')}`);
  }
  const roots = spans.filter((span) => !span.parentSpanId);
  if (roots.length !== 1) {
    problems.push(
      `expected exactly one root span, got ${roots.length}: ${roots.map(describeSpan).join(', ')}`,
    );
  }
  for (const span of spans) {
    if (span.parentSpanId && !ids.has(span.parentSpanId)) {
      problems.push(
        `orphan: ${describeSpan(span)} has parent ${span.parentSpanId}, which is not in the trace`,
      );
    }
  }
  const root = roots.find((span) => span.spanId === rootSpanId);
  if (!root) {
    problems.push(`the root span is not the gateway span ${rootSpanId} named in Server-Timing`);
    return problems;
  }
  const children = new Map();
  for (const span of spans) {
    const siblings = children.get(span.parentSpanId) ?? [];
    siblings.push(span);
    children.set(span.parentSpanId, siblings);
  }
  const visit = (span, expected, path) => {
    if (!matches(span, expected)) {
      problems.push(`${path}: expected ${describeNode(expected)}, got ${describeSpan(span)}`);
      return;
    }
    for (const [key, value] of Object.entries(expected.attributes)) {
      if (span.attributes[key] !== value) {
        problems.push(
          `${path}: ${key} is ${JSON.stringify(span.attributes[key])}, expected ${JSON.stringify(value)}`,
        );
      }
    }
    const remaining = [...(children.get(span.spanId) ?? [])];
    for (const child of expected.children) {
      const index = remaining.findIndex((candidate) => matches(candidate, child));
      if (index === -1) problems.push(`${path}: no child ${describeNode(child)}`);
      else visit(remaining.splice(index, 1)[0], child, `${path} > ${child.name}`);
    }
    for (const extra of remaining) problems.push(`${path}: unexpected child ${describeSpan(extra)}`);
  };
  visit(root, expectedTree(order, names), root.name);
  return problems;
}

/** The hops between services in a trace, counted: `gateway -> orders (HTTP)`, ... */
export function hops(spans) {
  const byId = new Map(spans.map((span) => [span.spanId, span]));
  const counts = new Map();
  const byStart = (a, b) => (BigInt(a.startTimeUnixNano) < BigInt(b.startTimeUnixNano) ? -1 : 1);
  for (const span of [...spans].sort(byStart)) {
    const parent = byId.get(span.parentSpanId);
    if (!parent || parent.serviceName === span.serviceName) continue;
    const system = span.attributes['messaging.system'];
    const transport =
      TRANSPORTS[span.name] ?? (system === 'rabbitmq' ? 'RabbitMQ' : system === 'kafka' ? 'Kafka' : '?');
    const hop = `${parent.serviceName} -> ${span.serviceName} (${transport})`;
    counts.set(hop, (counts.get(hop) ?? 0) + 1);
  }
  return [...counts].map(([hop, count]) => (count > 1 ? `${hop} x${count}` : hop));
}
