// The application the Fastify tests serve, with or without tracing, so a traced response can be
// compared with an untraced one.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import traceContext, { type FastifyTraceOptions } from '@tracewire/fastify';
import Fastify, { type FastifyInstance } from 'fastify';
import { seen, slow } from '../../../test/support/http-server.js';

class TeapotError extends Error {
  statusCode = 418;
}

export interface AppOptions {
  /** undefined: no tracing at all (the control app). */
  tracing?: FastifyTraceOptions;
  /** Registers the plugin twice. */
  twice?: boolean;
  connectionTimeout?: number;
}

export async function buildApp({
  tracing,
  twice = false,
  connectionTimeout,
}: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    connectionTimeout,
    // Tests send 100 KB headers; Node's default limit is 16 KB. With a serverFactory, fastify
    // leaves connectionTimeout to the server.
    serverFactory: (handler) => {
      const server = createServer({ maxHeaderSize: 256 * 1024 }, handler);
      if (connectionTimeout) server.setTimeout(connectionTimeout);
      return server;
    },
  });
  app.addHttpMethod('PROPFIND');
  // A route registered before the plugin is traced as well.
  app.get('/early', async () => 'early');
  if (tracing) {
    await app.register(traceContext, tracing);
    if (twice) await app.register(traceContext, tracing);
  }

  app.get('/', async () => 'root');
  app.get<{ Params: { id: string } }>('/users/:id', async (request) => ({ id: request.params.id }));
  app.get('/health', async () => ({ ok: true, ...seen() }));
  app.get('/seen', (_request, reply) => {
    reply.send(seen());
  });
  app.get('/seen-async', async () => {
    await sleep(5);
    await Promise.resolve();
    return seen();
  });
  app.post('/seen-json', async (request) => ({ body: request.body, ...seen() }));
  app.get('/seen-hooks', {
    preHandler: (request, _reply, done) => {
      (request as unknown as { hookSaw: unknown }).hookSaw = seen().spanId;
      done();
    },
    handler: async (request) => ({ hook: (request as unknown as { hookSaw: unknown }).hookSaw, ...seen() }),
  });
  app.route({
    method: 'PROPFIND',
    url: '/dav/:name',
    handler: async (_request, reply) => reply.code(207).send('multi'),
  });
  await app.register(
    async (api) => {
      api.get<{ Params: { id: string } }>('/users/:id', async (request) => ({ user: request.params.id }));
      await api.register(
        async (orgs) => {
          orgs.get<{ Params: { orgId: string; memberId: string } }>(
            '/members/:memberId',
            async (request) => ({
              member: request.params.memberId,
            }),
          );
        },
        { prefix: '/orgs/:orgId' },
      );
    },
    { prefix: '/api' },
  );
  app.get<{ Params: { code: string } }>('/status/:code', async (request, reply) =>
    reply.code(Number(request.params.code)).send(`status ${request.params.code}`),
  );
  app.get('/error/sync', () => {
    throw new TypeError('sync failure');
  });
  app.get('/error/async', async () => {
    await sleep(1);
    throw new SyntaxError('async failure');
  });
  app.get('/error/client', async () => {
    throw new TeapotError('client failure');
  });
  app.get('/stream', async (_request, reply) => {
    async function* parts() {
      for (const part of ['one ', 'two ', 'three']) {
        yield part;
        await sleep(5);
      }
    }
    return reply.type('text/plain').send(Readable.from(parts()));
  });
  app.get('/slow', async () => {
    slow.started.resolve();
    await slow.release.promise;
    slow.finished.resolve();
    return 'late';
  });
  app.get('/hijacked', (_request, reply) => {
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'text/plain' });
    reply.raw.end('raw');
  });
  app.get('/timing', async (_request, reply) => {
    reply.header('Server-Timing', 'db;dur=53');
    return 'timed';
  });
  return app;
}

export interface Started {
  app: FastifyInstance;
  port: number;
  url: string;
  close(): Promise<void>;
}

export async function start(options: AppOptions = {}): Promise<Started> {
  const app = await buildApp(options);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  return {
    app,
    port,
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      app.server.closeAllConnections();
      await app.close();
    },
  };
}
