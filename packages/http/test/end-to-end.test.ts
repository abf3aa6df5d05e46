// @tracewire/http calling servers traced by @tracewire/express and @tracewire/fastify: the
// SERVER span continues the CLIENT span, and baggage arrives in the handler's context.
import type { AddressInfo } from 'node:net';
import { SpanKind, context, propagation, trace } from '@opentelemetry/api';
import { traceContext as expressTrace } from '@tracewire/express';
import { traceContext as fastifyTrace } from '@tracewire/fastify';
import { type FetchFunction, traceFetch, traceInterceptor } from '@tracewire/http';
import express from 'express';
import Fastify from 'fastify';
import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parentSpanId, setupTracing } from '../../../test/support/tracing.js';

const tracing = setupTracing();
const tracer = trace.getTracer('test');
const agent = new Agent().compose(traceInterceptor());
/** Baggage the handler saw, per request. */
const seenBaggage: Array<string | undefined> = [];

function tenant(): string | undefined {
  return propagation.getActiveBaggage()?.getEntry('tenant')?.value;
}

async function startExpress(): Promise<{ url: string; close(): Promise<void> }> {
  const app = express();
  app.use(expressTrace());
  app.get('/orders/:id', (_req, res) => {
    seenBaggage.push(tenant());
    res.json({ ok: true });
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function startFastify(): Promise<{ url: string; close(): Promise<void> }> {
  const app = Fastify();
  await app.register(fastifyTrace);
  app.get('/orders/:id', async () => {
    seenBaggage.push(tenant());
    return { ok: true };
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
    close: () => app.close(),
  };
}

const clients: Array<[string, (url: string) => Promise<unknown>]> = [
  ['traceFetch', async (url) => (await traceFetch<FetchFunction>(fetch)(url)).json()],
  ['traceInterceptor', async (url) => (await request(url, { dispatcher: agent })).body.json()],
];

afterAll(async () => {
  await agent.close();
  await tracing.shutdown();
});
afterEach(() => {
  tracing.reset();
  seenBaggage.length = 0;
});

describe.each([
  ['express', startExpress],
  ['fastify', startFastify],
])('to an @tracewire/%s server', (_framework, start) => {
  let server: { url: string; close(): Promise<void> };
  beforeAll(async () => {
    server = await start();
  });
  afterAll(() => server.close());

  it.each(clients)(
    '%s: the SERVER span is the child of the CLIENT span; baggage arrives',
    async (_client, call) => {
      const parent = tracer.startSpan('job');
      const active = propagation.setBaggage(
        trace.setSpan(context.active(), parent),
        propagation.createBaggage({ tenant: { value: 'acme' } }),
      );
      await context.with(active, () => call(`${server.url}/orders/7`));
      parent.end();
      const spans = await tracing.waitForSpans(3);
      const client = spans.find((span) => span.kind === SpanKind.CLIENT)!;
      const serverSpan = spans.find((span) => span.kind === SpanKind.SERVER)!;
      expect(parentSpanId(client)).toBe(parent.spanContext().spanId);
      expect(serverSpan.spanContext().traceId).toBe(parent.spanContext().traceId);
      expect(parentSpanId(serverSpan)).toBe(client.spanContext().spanId);
      expect(serverSpan.name).toBe('GET /orders/:id');
      expect(seenBaggage).toEqual(['acme']);
    },
  );
});
