// One server variant of bench/http-server.mjs, in its own process so that its CPU time
// (process.cpuUsage) is its own. Reports over IPC: { port } once listening, then { cpu, spans }
// on each 'measure' message. An OpenTelemetry SDK records every span: always-on sampling,
// BatchSpanProcessor, an exporter that counts and discards.
import { createRequire } from 'node:module';
import { SpanKind, context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { AlwaysOnSampler, BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';

const variant = process.argv[2];
const require = createRequire(import.meta.url);

let exported = 0;
const exporter = {
  export(spans, done) {
    exported += spans.length;
    done({ code: 0 });
  },
  shutdown: async () => {},
  forceFlush: async () => {},
};
const provider = new BasicTracerProvider({
  sampler: new AlwaysOnSampler(),
  spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: 65_536, maxExportBatchSize: 512 })],
});
trace.setGlobalTracerProvider(provider);
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

const otel = variant.endsWith('-otel');
if (otel) {
  // What the OpenTelemetry Node SDK registers by default; the instrumentations extract with it.
  propagation.setGlobalPropagator(
    new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
  );
  const { registerInstrumentations } = await import('@opentelemetry/instrumentation');
  const { HttpInstrumentation } = await import('@opentelemetry/instrumentation-http');
  const instrumentations = [new HttpInstrumentation()];
  if (variant === 'express-otel') {
    const { ExpressInstrumentation } = await import('@opentelemetry/instrumentation-express');
    instrumentations.push(new ExpressInstrumentation());
  }
  // Before express/fastify and http are required: these instrumentations patch through require hooks.
  registerInstrumentations({ tracerProvider: provider, instrumentations });
}
// Required (not imported) after the instrumentations, so their require hooks see the modules.
const http = require('node:http');

// A span context to make active without starting a span (the *-ctx diagnostics).
const remote = trace.wrapSpanContext({
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: '00f067aa0ba902b7',
  traceFlags: 1,
});
const body = (id) => ({ id, name: 'tracewire', tags: ['a', 'b'] });

async function expressApp() {
  const express = require('express');
  const app = express();
  app.set('etag', false);
  if (variant === 'express-tracewire') {
    const { traceContext } = await import('@tracewire/express');
    app.use(traceContext());
  } else if (variant === 'express-ctx') {
    // Diagnostic: the context switch alone (no span started), to show what it costs.
    app.use(function contextOnly(_req, _res, next) {
      context.with(trace.setSpan(context.active(), remote), next);
    });
  } else if (variant === 'express-floor') {
    // The floor: one span, no extraction, no attributes.
    const tracer = trace.getTracer('floor');
    app.use(function floor(_req, res, next) {
      const span = tracer.startSpan('GET', { kind: SpanKind.SERVER });
      res.on('close', () => span.end());
      context.with(trace.setSpan(context.active(), span), next);
    });
  }
  app.get('/users/:id', (req, res) => {
    res.json(body(req.params.id));
  });
  const server = http.createServer(app);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

async function fastifyApp() {
  const Fastify = require('fastify');
  const app = Fastify({ logger: false });
  if (variant === 'fastify-tracewire') {
    const { traceContext } = await import('@tracewire/fastify');
    await app.register(traceContext);
  } else if (variant === 'fastify-floor') {
    // The floor: one span, no extraction, no attributes.
    const tracer = trace.getTracer('floor');
    const key = Symbol('span');
    app.decorateRequest(key, null);
    app.addHook('onRequest', (request, _reply, done) => {
      const span = tracer.startSpan('GET', { kind: SpanKind.SERVER });
      request[key] = span;
      context.with(trace.setSpan(context.active(), span), done);
    });
    app.addHook('onResponse', (request, _reply, done) => {
      request[key].end();
      done();
    });
  } else if (variant === 'fastify-ctx') {
    // Diagnostic: the context switch alone (no span started), to show what it costs.
    app.addHook('onRequest', (_request, _reply, done) => {
      context.with(trace.setSpan(context.active(), remote), done);
    });
  } else if (variant === 'fastify-otel') {
    const { FastifyOtelInstrumentation } = require('@fastify/otel');
    const instrumentation = new FastifyOtelInstrumentation();
    instrumentation.setTracerProvider(provider);
    await app.register(instrumentation.plugin());
  }
  app.get('/users/:id', async (request) => body(request.params.id));
  await app.listen({ port: 0, host: '127.0.0.1' });
  return app.server;
}

const server = variant.startsWith('express') ? await expressApp() : await fastifyApp();
process.send({ port: server.address().port });

// Never outlive the benchmark that started this server.
process.on('disconnect', () => process.exit(0));
process.on('message', async (message) => {
  if (message === 'measure') {
    const { user, system } = process.cpuUsage();
    process.send({ cpu: user + system, spans: exported });
  } else if (message === 'flush') {
    await provider.forceFlush();
    process.send({ spans: exported });
  } else if (message === 'exit') {
    server.close();
    await provider.shutdown();
    process.exit(0);
  }
});
