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
  const seen: Array<string | undefined> = [];
  const note = (): number => seen.push(trace.getActiveSpan()?.spanContext().spanId);
  await context.with(trace.setSpan(context.active(), parent), async () => {
    await new Promise<void>((resolve, reject) => {
      get(`${server.url}/one`, (response) => {
        note();
        response.resume();
        response.on('end', () => {
          note();
          resolve();
        });
      }).on('error', reject);
    });
  });
  parent.end();
  // Sent from the CLIENT span's suppressed context (for instrumentation-http), whose socket then
  // brings it to the response: the app's callback still runs in the caller's context. (Its
  // listeners on the response run in the context instrumentation-http binds the response to.)
  expect(seen[0]).toBe(parent.spanContext().spanId);
  const clients = tracing.spans().filter((span) => span.kind === SpanKind.CLIENT);
  expect(clients).toHaveLength(1);
  expect(parentSpanId(clients[0]!)).toBe(parent.spanContext().spanId);
  const { traceId, spanId } = clients[0]!.spanContext();
  expect(server.received[0]?.headers.traceparent).toBe(`00-${traceId}-${spanId}-01`);
});
