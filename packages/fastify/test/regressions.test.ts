// Regression tests of issue #12, each named after the scenario it reproduces.
import { SpanStatusCode } from '@opentelemetry/api';
import cors from '@fastify/cors';
import { ATTR_ERROR_TYPE, ATTR_HTTP_RESPONSE_STATUS_CODE } from '@opentelemetry/semantic-conventions';
import traceContext from '@tracewire/fastify';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { request } from 'undici';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { setupTracing } from '../../../test/support/tracing.js';

const tracing = setupTracing();
const CALLER = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
afterAll(() => tracing.shutdown());
afterEach(() => tracing.reset());

interface Gate {
  started: Promise<void>;
  release(): void;
  done: Promise<void>;
}

function gate(): Gate & { markStarted(): void; markDone(): void } {
  let markStarted!: () => void;
  let release!: () => void;
  let markDone!: () => void;
  const started = new Promise<void>((resolve) => {
    markStarted = resolve;
  });
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const done = new Promise<void>((resolve) => {
    markDone = resolve;
  });
  return Object.assign(released, { started, release, done, markStarted, markDone });
}

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return `http://127.0.0.1:${address.port}`;
}

it('a POST whose client leaves after the body was read, during a slow handler, ends its span as aborted', async () => {
  const app = Fastify();
  await app.register(traceContext);
  const slow = gate();
  app.post('/slow', async (req) => {
    slow.markStarted();
    await (slow as unknown as Promise<void>);
    slow.markDone();
    return { got: req.body };
  });
  const url = await listen(app);
  try {
    const controller = new AbortController();
    const pending = request(`${url}/slow`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ a: 1 }),
      signal: controller.signal,
    }).catch((error: Error) => error);
    await slow.started;
    controller.abort();
    expect(await pending).toBeInstanceOf(Error);
    const [span] = await tracing.waitForSpans(1, 3000);
    expect(span!.name).toBe('POST /slow');
    expect(span!.status.code).toBe(SpanStatusCode.ERROR);
    expect(span!.attributes[ATTR_ERROR_TYPE]).toBe('aborted');
  } finally {
    slow.release();
    await slow.done;
    app.server.closeAllConnections();
    await app.close();
  }
});

it('a POST answered with a stream the client leaves mid-way ends its span as aborted', async () => {
  const app = Fastify();
  await app.register(traceContext);
  const { PassThrough } = await import('node:stream');
  const stream = new PassThrough();
  const sent = gate();
  app.post('/events', async (_req, reply) => {
    reply.type('text/event-stream');
    stream.write('data: one\n\n');
    sent.markStarted();
    return reply.send(stream);
  });
  const url = await listen(app);
  try {
    const controller = new AbortController();
    const response = await request(`${url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
      signal: controller.signal,
    });
    expect(response.statusCode).toBe(200);
    await sent.started;
    controller.abort();
    await response.body.text().catch(() => undefined);
    const [span] = await tracing.waitForSpans(1, 3000);
    expect(span!.name).toBe('POST /events');
    expect(span!.attributes[ATTR_ERROR_TYPE]).toBe('aborted');
  } finally {
    stream.end();
    app.server.closeAllConnections();
    await app.close();
  }
});

it("responseHeader keeps tracewire's Server-Timing entry when a route-level onSend sets the header", async () => {
  const app = Fastify();
  await app.register(traceContext, { responseHeader: true });
  app.get('/timed', {
    onSend: (_request, reply, payload, done) => {
      reply.header('Server-Timing', 'route;dur=7');
      done(null, payload);
    },
    handler: async () => 'timed',
  });
  try {
    const response = await app.inject('/timed');
    expect(response.body).toBe('timed');
    const [span] = await tracing.waitForSpans(1);
    const { traceId, spanId } = span!.spanContext();
    expect(response.headers['server-timing']).toBe(
      `route;dur=7, traceparent;desc="00-${traceId}-${spanId}-01"`,
    );
  } finally {
    await app.close();
  }
});

describe('early replies from hooks', () => {
  const unauthorized = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (request.headers.authorization === undefined) await reply.code(401).send('no');
  };

  it('a 401 from an onRequest auth hook added before the plugin, with @fastify/cors registered after it, is traced', async () => {
    const app = Fastify();
    app.addHook('onRequest', unauthorized);
    app.register(traceContext);
    app.register(cors);
    app.get('/private', async () => 'secret');
    try {
      const response = await app.inject({ url: '/private', headers: { traceparent: CALLER } });
      expect(response.statusCode).toBe(401);
      const [span] = await tracing.waitForSpans(1);
      expect(span!.name).toBe('GET /private');
      expect(span!.attributes[ATTR_HTTP_RESPONSE_STATUS_CODE]).toBe(401);
      expect(span!.spanContext().traceId).toBe(CALLER.split('-')[1]);
      expect(span!.status.code).toBe(SpanStatusCode.UNSET);
    } finally {
      await app.close();
    }
  });

  it('a 401 from an onRequest auth hook registered after the plugin and @fastify/cors is traced', async () => {
    const app = Fastify();
    await app.register(traceContext);
    await app.register(cors);
    app.addHook('onRequest', unauthorized);
    app.get('/private', async () => 'secret');
    try {
      const response = await app.inject('/private');
      expect(response.statusCode).toBe(401);
      const [span] = await tracing.waitForSpans(1);
      expect(span!.name).toBe('GET /private');
      expect(span!.attributes[ATTR_HTTP_RESPONSE_STATUS_CODE]).toBe(401);
    } finally {
      await app.close();
    }
  });
});

it('a rewriteUrl request reports the path the client sent as url.path', async () => {
  const app = Fastify({ rewriteUrl: (req) => (req.url === '/old/1' ? '/new/1' : (req.url ?? '/')) });
  await app.register(traceContext);
  app.get('/new/:id', async () => 'moved');
  try {
    const response = await app.inject('/old/1');
    expect(response.body).toBe('moved');
    const [span] = await tracing.waitForSpans(1);
    expect(span!.attributes['url.path']).toBe('/old/1');
    expect(span!.name).toBe('GET /new/:id');
  } finally {
    await app.close();
  }
});

it('responseHeader leaves a hijacked reply.raw.writeHead given a list of [name, value] pairs working', async () => {
  const outcomes: string[] = [];
  let serverTiming: unknown;
  const run = async (traced: boolean): Promise<string> => {
    const app = Fastify();
    if (traced) await app.register(traceContext, { responseHeader: true });
    app.get('/pairs', (_req, reply) => {
      reply.hijack();
      try {
        // Node takes a list of pairs as long as no header was set with setHeader before.
        reply.raw.writeHead(200, [['x-app', '1']] as unknown as string[]);
        outcomes.push('written');
      } catch (error) {
        outcomes.push(`threw ${(error as { code?: string }).code}`);
        reply.raw.statusCode = 500;
      }
      reply.raw.end('body');
    });
    try {
      const response = await request(`${await listen(app)}/pairs`);
      serverTiming = response.headers['server-timing'];
      return `${response.statusCode} ${response.headers['x-app']} ${await response.body.text()}`;
    } finally {
      await app.close();
    }
  };
  const bare = await run(false);
  expect(bare).toBe('200 1 body');
  expect(await run(true)).toBe(bare);
  expect(outcomes).toEqual(['written', 'written']);
  expect(serverTiming).toMatch(/^traceparent;desc="00-[0-9a-f]{32}-[0-9a-f]{16}-01"$/);
  const [span] = await tracing.waitForSpans(1);
  expect(span!.attributes[ATTR_HTTP_RESPONSE_STATUS_CODE]).toBe(200);
});
