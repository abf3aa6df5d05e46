// With OpenTelemetry's http instrumentation also registered, a traceRequest() call still makes
// one CLIENT span: tracewire's, whose context goes out; instrumentation-http's is suppressed.
import { createRequire } from 'node:module';
import { SpanKind, context, trace } from '@opentelemetry/api';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { W3CPropagator } from '@tracewire/core';
import { traceRequest } from '@tracewire/http';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { parentSpanId, setupTracing } from '../../../test/support/tracing.js';
import { type EchoServer, startEchoServer } from './echo-server.js';

const tracing = setupTracing({ propagator: new W3CPropagator() });
const instrumentation = new HttpInstrumentation();
instrumentation.setTracerProvider(tracing.provider);
instrumentation.enable();
// instrumentation-http patches `http` when it is next required.
const http = createRequire(import.meta.url)('node:http') as typeof import('node:http');
let server: EchoServer;

beforeAll(async () => {
  server = await startEchoServer();
});
afterAll(async () => {
  await server.close();
  instrumentation.disable();
  await tracing.shutdown();
});
afterEach(() => {
  tracing.reset();
  server.received.length = 0;
});

it('traceRequest next to instrumentation-http makes one CLIENT span per call, whose context goes out', async () => {
  const get = traceRequest()(http.get);
  const parent = trace.getTracer('test').startSpan('parent');
  await context.with(trace.setSpan(context.active(), parent), async () => {
    await new Promise<void>((resolve, reject) => {
      get(`${server.url}/one`, (response) => {
        response.resume();
        response.on('end', resolve);
      }).on('error', reject);
    });
  });
  parent.end();
  const clients = tracing.spans().filter((span) => span.kind === SpanKind.CLIENT);
  expect(clients).toHaveLength(1);
  expect(parentSpanId(clients[0]!)).toBe(parent.spanContext().spanId);
  const { traceId, spanId } = clients[0]!.spanContext();
  expect(server.received[0]?.headers.traceparent).toBe(`00-${traceId}-${spanId}-01`);
});
