// With OpenTelemetry's http instrumentation also registered, each request still has one SERVER
// span: instrumentation-http's, which the middleware enriches (route name, http.route, errors).
import { createRequire } from 'node:module';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { ATTR_ERROR_TYPE, ATTR_HTTP_ROUTE } from '@opentelemetry/semantic-conventions';
import { W3CPropagator } from '@tracewire/core';
import express from 'express';
import express4 from 'express4';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  CALLER_SPAN_ID,
  CALLER_TRACEPARENT,
  CALLER_TRACE_ID,
  type Listening,
  listen,
} from '../../../test/support/http-server.js';
import { parentSpanId, setupTracing } from '../../../test/support/tracing.js';
import { type ExpressModule, buildApp } from './app.js';

// instrumentation-http extracts with the global propagator, so the test registers one.
const tracing = setupTracing({ propagator: new W3CPropagator() });
const instrumentation = new HttpInstrumentation();
instrumentation.setTracerProvider(tracing.provider);
instrumentation.enable();
// instrumentation-http patches `http` when it is next required.
createRequire(import.meta.url)('node:http');

afterAll(async () => {
  instrumentation.disable();
  await tracing.shutdown();
});
afterEach(() => tracing.reset());

describe.each([
  ['Express 5', express],
  ['Express 4', express4 as ExpressModule],
])('%s', (_label, ex) => {
  let app: Listening;
  beforeAll(async () => {
    app = await listen(buildApp(ex, { tracing: { responseHeader: true } }));
  });
  afterAll(() => app.close());

  it('enriches the instrumentation-http SERVER span instead of starting a second one', async () => {
    const response = await request(`${app.url}/api/users/7`, {
      headers: { traceparent: CALLER_TRACEPARENT },
    });
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
    const response = await request(`${app.url}/seen`, { headers: { traceparent: CALLER_TRACEPARENT } });
    const seen = (await response.body.json()) as { spanId: string };
    const [span] = await tracing.waitForSpans(1);
    expect(seen.spanId).toBe(span!.spanContext().spanId);
  });

  it('records a handler error on that span', async () => {
    const response = await request(`${app.url}/error/sync`);
    expect(response.statusCode).toBe(500);
    await response.body.text();
    const [span] = await tracing.waitForSpans(1);
    expect(span!.name).toBe('GET /error/sync');
    expect(span!.status.code).toBe(SpanStatusCode.ERROR);
    expect(span!.attributes[ATTR_ERROR_TYPE]).toBe('TypeError');
    expect(span!.events.map((event) => event.name)).toEqual(['exception']);
  });
});
