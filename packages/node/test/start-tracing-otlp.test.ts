// startTracing's OTLP path end to end: real exporters posting to startOtlpReceiver on port 0.
import { ROOT_CONTEXT, SpanKind, context, propagation, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { W3CPropagator, headerGetter, headerSetter } from '@tracewire/core';
import {
  type OtlpReceiver,
  type StartTracingOptions,
  type TracingHandle,
  renderWaterfall,
  startOtlpReceiver,
  startTracing,
} from '@tracewire/node';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { spanAccounting } from '../../../test/support/span-accounting.js';

let receiver: OtlpReceiver;
let handle: TracingHandle | undefined;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
});
afterAll(async () => {
  await receiver.close();
});
afterEach(async () => {
  await handle?.shutdown();
  handle = undefined;
  trace.disable();
  context.disable();
  propagation.disable();
  vi.unstubAllEnvs();
  receiver.clear();
});

function start(options: StartTracingOptions): TracingHandle {
  handle = startTracing({
    handleSignals: false,
    ...options,
    spanProcessors: [spanAccounting(), ...(options.spanProcessors ?? [])],
  });
  return handle;
}

const tracer = () => trace.getTracer('otlp-test');

/** Ends a SERVER span with a CLIENT child and flushes; returns their ids. */
async function traceOneRequest(tracing: TracingHandle) {
  const server = tracer().startSpan('GET /cart', { kind: SpanKind.SERVER });
  const client = tracer().startSpan('GET', { kind: SpanKind.CLIENT }, trace.setSpan(ROOT_CONTEXT, server));
  client.end();
  server.end();
  await tracing.forceFlush();
  return { server: server.spanContext(), client: client.spanContext() };
}

describe('startTracing with the otlp exporter', () => {
  it('sends OTLP/protobuf to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT by default', async () => {
    vi.stubEnv('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', receiver.url);
    const { server, client } = await traceOneRequest(start({ serviceName: 'cart', serviceVersion: '1.0.0' }));
    const spans = await receiver.waitForSpans(2);
    expect(receiver.requests()).toEqual([
      { contentType: 'application/x-protobuf', contentEncoding: 'identity', spanCount: 2 },
    ]);
    const received = Object.fromEntries(spans.map((span) => [span.spanId, span]));
    expect(received[server.spanId]).toMatchObject({
      traceId: server.traceId,
      name: 'GET /cart',
      kind: SpanKind.SERVER,
      serviceName: 'cart',
      resourceAttributes: { 'service.name': 'cart', 'service.version': '1.0.0' },
    });
    expect(received[server.spanId]?.parentSpanId).toBeUndefined();
    expect(received[client.spanId]).toMatchObject({
      traceId: server.traceId,
      parentSpanId: server.spanId,
      kind: SpanKind.CLIENT,
    });
  });

  it.each([
    { name: 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', env: { OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' } },
    { name: 'OTEL_EXPORTER_OTLP_PROTOCOL', env: { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' } },
    {
      name: 'the traces-specific variable first',
      env: { OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' },
    },
  ])('sends OTLP/JSON when $name says http/json', async ({ env }) => {
    vi.stubEnv('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', receiver.url);
    for (const [key, value] of Object.entries(env)) vi.stubEnv(key, value);
    await traceOneRequest(start({ serviceName: 'cart' }));
    await receiver.waitForSpans(2);
    expect(receiver.requests().map((request) => request.contentType)).toEqual(['application/json']);
  });

  it('lets otlp.protocol and otlp.url in code win over the variables', async () => {
    vi.stubEnv('OTEL_EXPORTER_OTLP_PROTOCOL', 'http/json');
    vi.stubEnv('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'http://127.0.0.1:9/v1/traces');
    await traceOneRequest(
      start({ serviceName: 'cart', otlp: { url: receiver.url, protocol: 'http/protobuf' } }),
    );
    await receiver.waitForSpans(2);
    expect(receiver.requests().map((request) => request.contentType)).toEqual(['application/x-protobuf']);
  });

  it('appends /v1/traces to OTEL_EXPORTER_OTLP_ENDPOINT', async () => {
    vi.stubEnv('OTEL_EXPORTER_OTLP_ENDPOINT', `http://127.0.0.1:${receiver.port}`);
    await traceOneRequest(start({ serviceName: 'cart', exporter: 'otlp' }));
    expect(await receiver.waitForSpans(2)).toHaveLength(2);
  });

  it.each([
    { name: "exporter: 'none'", options: { exporter: 'none' }, env: {} },
    { name: 'OTEL_TRACES_EXPORTER=none', options: {}, env: { OTEL_TRACES_EXPORTER: 'none' } },
    { name: 'OTEL_TRACES_EXPORTER=otlp,none', options: {}, env: { OTEL_TRACES_EXPORTER: 'otlp,none' } },
  ] as const)('sends nothing with $name', async ({ options, env }) => {
    vi.stubEnv('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', receiver.url);
    for (const [key, value] of Object.entries(env)) vi.stubEnv(key, value);
    await traceOneRequest(start({ serviceName: 'cart', ...options }));
    // forceFlush waits for in-flight exports, so anything sent has arrived by now.
    expect(receiver.requests()).toEqual([]);
  });

  it('sends to the exporter in code over OTEL_TRACES_EXPORTER', async () => {
    vi.stubEnv('OTEL_TRACES_EXPORTER', 'none');
    await traceOneRequest(start({ serviceName: 'cart', exporter: 'otlp', otlp: { url: receiver.url } }));
    expect(await receiver.waitForSpans(2)).toHaveLength(2);
  });

  it('joins two services into one trace that the waterfall draws as one tree', async () => {
    // Service "web" through startTracing; service "stock" with its own provider, as another process would.
    const web = start({ serviceName: 'web', otlp: { url: receiver.url, protocol: 'http/protobuf' } });
    const stockProvider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'stock' }),
      spanProcessors: [
        spanAccounting(),
        new SimpleSpanProcessor(new OTLPTraceExporter({ url: receiver.url })),
      ],
    });
    const propagator = new W3CPropagator();

    const page = tracer().startSpan('GET /product/:id', { kind: SpanKind.SERVER });
    const pageContext = trace.setSpan(ROOT_CONTEXT, page);
    const call = tracer().startSpan('GET', { kind: SpanKind.CLIENT }, pageContext);
    const headers: Record<string, string> = {};
    propagation.inject(trace.setSpan(pageContext, call), headers, headerSetter);
    // The "stock" side: extract the caller's context from the headers and serve the request.
    const callerContext = propagator.extract(ROOT_CONTEXT, headers, headerGetter);
    const stockSpan = stockProvider
      .getTracer('stock')
      .startSpan('GET /stock/:sku', { kind: SpanKind.SERVER }, callerContext);
    stockSpan.addEvent('cache miss');
    stockSpan.end();
    call.end();
    page.end();
    await stockProvider.forceFlush();
    await web.forceFlush();

    const traceId = page.spanContext().traceId;
    await receiver.waitForSpans((spans) => spans.filter((span) => span.traceId === traceId).length === 3);
    const spans = receiver.traces().get(traceId)!;
    expect(new Set(spans.map((span) => span.serviceName))).toEqual(new Set(['web', 'stock']));
    expect(spans.find((span) => span.serviceName === 'stock')?.parentSpanId).toBe(call.spanContext().spanId);
    const rows = renderWaterfall(spans, { width: 90, color: false }).split('\n');
    expect(rows[0]).toMatch(new RegExp(`^Trace ${traceId} · .+ · 3 spans · web, stock$`));
    expect(rows.slice(2, 5).map((row) => row.slice(0, 30).trimEnd())).toEqual([
      'web     GET /product/:id',
      'web     └─ GET',
      'stock      └─ GET /stock/:sku',
    ]);
    expect(rows[2]).toMatch(/ server +\S+ (µs|ms) █+$/);
    expect(rows[5]).toMatch(/^ {16}· \+\S+ (µs|ms) cache miss$/);
    await stockProvider.shutdown();
  });
});
