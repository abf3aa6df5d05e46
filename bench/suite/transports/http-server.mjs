// Express and Fastify servers; the parent process sends the requests and reads this process's CPU
// around each round, so the CPU measured is the server's alone.
import { createRequire } from 'node:module';
import { context, trace } from '@opentelemetry/api';
import { endLike, floorTracer, pick, startFrom } from '../floor.mjs';

const require = createRequire(import.meta.url);
const body = (id) => ({ id, name: 'tracewire', tags: ['a', 'b'] });

export async function setup(row, variant, { template, parent }) {
  const http = require('node:http');
  const server =
    row.id === 'express'
      ? await express(variant, template, parent, http)
      : await fastify(variant, template, parent);
  return { port: server.address().port, close: () => server.close() };
}

async function express(variant, template, parent, http) {
  const app = require('express')();
  app.set('etag', false);
  if (variant === 'tracewire') {
    const { traceContext } = await import('@tracewire/express');
    app.use(traceContext());
  } else if (variant === 'floor') {
    const tracer = floorTracer();
    const shape = pick(template, 1);
    app.use(function floor(req, res, next) {
      // The header read with the framework's own API; no parsing, no trust, no naming.
      if (req.headers.traceparent === undefined) throw new Error('no traceparent');
      const span = startFrom(tracer, shape, parent);
      res.prependListener('close', () => endLike(span, shape));
      context.with(trace.setSpan(parent, span), next);
    });
  }
  app.get('/users/:id', (req, res) => {
    res.json(body(req.params.id));
  });
  const server = http.createServer(app);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

async function fastify(variant, template, parent) {
  const app = require('fastify')({ logger: false });
  if (variant === 'tracewire') {
    const { traceContext } = await import('@tracewire/fastify');
    await app.register(traceContext);
  } else if (variant === 'floor') {
    const tracer = floorTracer();
    const shape = pick(template, 1);
    const key = Symbol('span');
    app.decorateRequest(key, null);
    app.addHook('onRequest', (request, _reply, done) => {
      if (request.headers.traceparent === undefined) throw new Error('no traceparent');
      const span = startFrom(tracer, shape, parent);
      request[key] = span;
      context.with(trace.setSpan(parent, span), done);
    });
    app.addHook('onResponse', (request, _reply, done) => {
      endLike(request[key], shape);
      done();
    });
  } else if (variant === 'otel') {
    const { FastifyOtelInstrumentation } = require('@fastify/otel');
    const instrumentation = new FastifyOtelInstrumentation();
    instrumentation.setTracerProvider(trace.getTracerProvider());
    await app.register(instrumentation.plugin());
  }
  app.get('/users/:id', async (request) => body(request.params.id));
  await app.listen({ port: 0, host: '127.0.0.1' });
  return app.server;
}
