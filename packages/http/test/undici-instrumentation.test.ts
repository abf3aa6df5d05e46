// With OpenTelemetry's undici instrumentation also enabled (it watches undici's diagnostics channel
// and appends its own traceparent to every request), a request traced by traceInterceptor or
// traceFetch still makes one CLIENT span and sends one traceparent: tracewire's. Before, the
// server got two traceparent headers (from two traces), which a W3C server must reject.
import { SpanKind, context, propagation, trace } from '@opentelemetry/api';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { W3CPropagator } from '@tracewire/core';
import { traceFetch, traceInterceptor } from '@tracewire/http';
import { Agent, fetch, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parentSpanId, setupTracing } from '../../../test/support/tracing.js';
import { type EchoServer, startEchoServer } from './echo-server.js';

const tracing = setupTracing({ propagator: new W3CPropagator() });
const instrumentation = new UndiciInstrumentation();
instrumentation.setTracerProvider(tracing.provider);
instrumentation.enable();
const agent = new Agent().compose(traceInterceptor());
let server: EchoServer;

beforeAll(async () => {
  server = await startEchoServer();
});
afterAll(async () => {
  instrumentation.disable();
  await agent.close();
  await server.close();
  await tracing.shutdown();
});
afterEach(() => {
  tracing.reset();
  server.received.length = 0;
});

/** Runs `send` in a parent span with a baggage entry; returns the parent. */
async function fromParent(send: () => Promise<unknown>) {
  const parent = trace.getTracer('test').startSpan('parent');
  const baggage = propagation.createBaggage({ tenant: { value: 'acme' } });
  const active = propagation.setBaggage(trace.setSpan(context.active(), parent), baggage);
  let after: string | undefined;
  await context.with(active, async () => {
    await send();
    after = trace.getActiveSpan()?.spanContext().spanId;
  });
  parent.end();
  return { parent, after };
}

/** The request the server got carries exactly tracewire's CLIENT span, once, and one baggage. */
function expectOneClientSpanSent(parentId: string): void {
  const clients = tracing.spans().filter((span) => span.kind === SpanKind.CLIENT);
  expect(clients.map((span) => span.instrumentationScope.name)).toEqual(['@tracewire/http']);
  expect(parentSpanId(clients[0]!)).toBe(parentId);
  const { traceId, spanId } = clients[0]!.spanContext();
  const raw = server.received[0]!.rawHeaders;
  const values = (name: string) => raw.filter((_, i) => i % 2 === 1 && raw[i - 1]!.toLowerCase() === name);
  expect(values('traceparent')).toEqual([`00-${traceId}-${spanId}-01`]);
  expect(values('baggage')).toEqual(['tenant=acme']);
}

describe('next to @opentelemetry/instrumentation-undici', () => {
  it('traceInterceptor: undici.fetch through the agent sends one traceparent, its own', async () => {
    const { parent, after } = await fromParent(async () => {
      const response = await fetch(`${server.url}/fetch`, { dispatcher: agent });
      expect(response.status).toBe(200);
      await response.text();
    });
    expect(after).toBe(parent.spanContext().spanId);
    expectOneClientSpanSent(parent.spanContext().spanId);
  });

  it('traceInterceptor: undici.request through the agent sends one traceparent, its own', async () => {
    const seen: Array<string | undefined> = [];
    const { parent } = await fromParent(async () => {
      const response = await request(`${server.url}/request`, { dispatcher: agent });
      response.body.on('data', () => seen.push(trace.getActiveSpan()?.spanContext().spanId));
      await response.body.text();
    });
    // The body's listeners still run in the caller's context, not the suppressed one.
    expect(seen.length).toBeGreaterThan(0);
    expect(new Set(seen)).toEqual(new Set([parent.spanContext().spanId]));
    expectOneClientSpanSent(parent.spanContext().spanId);
  });

  it('traceFetch over the global fetch sends one traceparent, its own', async () => {
    const tracedFetch = traceFetch(globalThis.fetch);
    const { parent, after } = await fromParent(async () => {
      const response = await tracedFetch(`${server.url}/global`);
      await response.text();
    });
    expect(after).toBe(parent.spanContext().spanId);
    expectOneClientSpanSent(parent.spanContext().spanId);
  });

  it('with the instrumentation disabled again, one traceparent still goes out', async () => {
    instrumentation.disable();
    try {
      const { parent } = await fromParent(async () => {
        const response = await request(`${server.url}/alone`, { dispatcher: agent });
        await response.body.text();
      });
      expectOneClientSpanSent(parent.spanContext().spanId);
    } finally {
      instrumentation.enable();
    }
  });
});
