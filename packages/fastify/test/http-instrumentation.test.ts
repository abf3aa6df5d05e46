// With OpenTelemetry's http instrumentation also registered, each request still has one SERVER
// span: instrumentation-http's, which the plugin enriches (route name, http.route, errors).
import { createRequire } from 'node:module';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { ATTR_ERROR_TYPE, ATTR_HTTP_ROUTE } from '@opentelemetry/semantic-conventions';
import { W3CPropagator } from '@tracewire/core';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { CALLER_SPAN_ID, CALLER_TRACEPARENT, CALLER_TRACE_ID } from '../../../test/support/http-server.js';
import { parentSpanId, setupTracing } from '../../../test/support/tracing.js';
import { type Started, start } from './app.js';

// instrumentation-http extracts with the global propagator, so the test registers one.
const tracing = setupTracing({ propagator: new W3CPropagator() });
const instrumentation = new HttpInstrumentation();
instrumentation.setTracerProvider(tracing.provider);
instrumentation.enable();
// instrumentation-http patches `http` when it is next required.
createRequire(import.meta.url)('node:http');

let app: Started;
beforeAll(async () => {
  app = await start({ tracing: { responseHeader: true } });
});
afterAll(async () => {
  await app.close();
  instrumentation.disable();
  await tracing.shutdown();
});
afterEach(() => tracing.reset());

it('enriches the instrumentation-http SERVER span instead of starting a second one', async () => {
  const response = await request(`${app.url}/api/users/7`, { headers: { traceparent: CALLER_TRACEPARENT } });
  expect(response.statusCode).toBe(200);
  await response.body.text();
  const spans = await tracing.waitForSpans(1);
  await new Promise((resolve) => setTimeout(resolve, 20));
  expect(tracing.spans()).toHaveLength(1);
  const span = spans[0]!;
  expect(span.instrumentationScope.name).toBe('@opentelemetry/instrumentation-http');
  expect(span.kind).toBe(SpanKind.SERVER);
  expect(span.name).toBe('GET /api/users/:id');
  expect(span.attributes[ATTR_HTTP_ROUTE]).toBe('/api/users/:id');
  expect(span.spanContext().traceId).toBe(CALLER_TRACE_ID);
  expect(parentSpanId(span)).toBe(CALLER_SPAN_ID);
  const { traceId, spanId } = span.spanContext();
  expect(response.headers['server-timing']).toBe(`traceparent;desc="00-${traceId}-${spanId}-01"`);
});

it('the handler sees that span as active', async () => {
  const response = await request(`${app.url}/seen-async`, { headers: { traceparent: CALLER_TRACEPARENT } });
  const seen = (await response.body.json()) as { spanId: string };
  const [span] = await tracing.waitForSpans(1);
  expect(seen.spanId).toBe(span!.spanContext().spanId);
});

it('records a handler error on that span', async () => {
  const response = await request(`${app.url}/error/async`);
  expect(response.statusCode).toBe(500);
  await response.body.text();
  const [span] = await tracing.waitForSpans(1);
  expect(span!.name).toBe('GET /error/async');
  expect(span!.status.code).toBe(SpanStatusCode.ERROR);
  expect(span!.attributes[ATTR_ERROR_TYPE]).toBe('SyntaxError');
  expect(span!.events.map((event) => event.name)).toEqual(['exception']);
});
