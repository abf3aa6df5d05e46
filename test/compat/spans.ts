// Reading an app run: the JSON line it printed, and what its spans say about the trace.
import { SpanKind } from '@opentelemetry/api';

export interface AppSpan {
  name: string;
  kind: SpanKind;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  route?: string;
}

export interface AppRun {
  body?: unknown;
  spans: AppSpan[];
  /** Set when the app printed no result (it crashed, or its runtime refused it). */
  failure?: string;
}

export const expectedBody = { order: '7', item: '7' };

export function parseRun(stdout: string, stderr: string, code: number | null): AppRun {
  const line = stdout.split('\n').find((text) => text.startsWith('COMPAT_RESULT '));
  if (!line) {
    const why = `${stderr}\n${stdout}`.split('\n').find((text) => /error|cannot|not /i.test(text)) ?? '';
    return { spans: [], failure: `exit ${code}: ${why.trim().slice(0, 200)}` };
  }
  return JSON.parse(line.slice('COMPAT_RESULT '.length)) as AppRun;
}

/**
 * The trace a correct instrumentation gives: a root CLIENT span (the request to orders), its
 * child SERVER `GET /orders/:id`, that span's child CLIENT (orders to items), and that span's
 * child SERVER for items; all one trace. Returns what is wrong, or undefined.
 */
export function chainProblem(spans: AppSpan[], itemsServerName: string): string | undefined {
  const byId = new Map(spans.map((span) => [span.spanId, span]));
  const ordersServer = spans.find((span) => span.kind === SpanKind.SERVER && span.name === 'GET /orders/:id');
  if (!ordersServer) return `no SERVER span "GET /orders/:id" (spans: ${names(spans)})`;
  const client = ordersServer.parentSpanId ? byId.get(ordersServer.parentSpanId) : undefined;
  if (client?.kind !== SpanKind.CLIENT || client.parentSpanId)
    return 'orders SERVER span is not the child of a root CLIENT span';
  const outgoing = spans.find(
    (span) => span.kind === SpanKind.CLIENT && span.parentSpanId === ordersServer.spanId,
  );
  if (!outgoing) return 'no CLIENT span under orders SERVER span';
  const itemsServer = spans.find(
    (span) => span.kind === SpanKind.SERVER && span.parentSpanId === outgoing.spanId,
  );
  if (!itemsServer) return 'no SERVER span under the orders -> items CLIENT span';
  if (itemsServer.name !== itemsServerName)
    return `items SERVER span is "${itemsServer.name}", not "${itemsServerName}"`;
  if (new Set([client, ordersServer, outgoing, itemsServer].map((span) => span.traceId)).size !== 1) {
    return 'the four spans are not one trace';
  }
  return undefined;
}

function names(spans: AppSpan[]): string {
  return spans.map((span) => `${SpanKind[span.kind]} ${span.name}`).join(', ') || 'none';
}

/** The nearest ancestor that is not an INTERNAL span (OTel's Express middleware spans sit between). */
function nearest(span: AppSpan | undefined, byId: Map<string, AppSpan>): AppSpan | undefined {
  let parent = span?.parentSpanId ? byId.get(span.parentSpanId) : undefined;
  while (parent?.kind === SpanKind.INTERNAL)
    parent = parent.parentSpanId ? byId.get(parent.parentSpanId) : undefined;
  return parent;
}

/** OpenTelemetry's auto-instrumentation outcome, in the words of the README table. */
export function otelOutcome(run: AppRun): string {
  if (run.failure) return `app failed (${run.failure})`;
  const servers = run.spans.filter((span) => span.kind === SpanKind.SERVER);
  if (servers.length === 0) return run.spans.length === 0 ? 'nothing recorded' : 'no server spans';
  const byId = new Map(run.spans.map((span) => [span.spanId, span]));
  for (const items of servers) {
    const outgoing = nearest(items, byId);
    const orders = nearest(outgoing, byId);
    const client = nearest(orders, byId);
    if (outgoing?.kind !== SpanKind.CLIENT || orders?.kind !== SpanKind.SERVER) continue;
    if (client?.kind !== SpanKind.CLIENT || client.parentSpanId) continue;
    return orders.name === 'GET /orders/:id'
      ? 'full trace'
      : `one trace, server span named \`${orders.name}\``;
  }
  const traces = new Set(run.spans.map((span) => span.traceId)).size;
  return `trace broken (${servers.length} server spans, ${traces} trace${traces === 1 ? '' : 's'})`;
}
