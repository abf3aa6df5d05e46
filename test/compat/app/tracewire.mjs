// tracewire: the framework imports come first, tracing is set up after them (COMPAT_TRACING:
// `startTracing` from @tracewire/node, or `sdk`, a bare OpenTelemetry SDK).
import express from 'express';
import Fastify from 'fastify';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { traceContext } from '@tracewire/express';
import traceFastify from '@tracewire/fastify';
import { traceFetch } from '@tracewire/http';
import { startTracing } from '@tracewire/node';
import { fetchJson, runTwoServices } from './app.mjs';

const exporter = new InMemorySpanExporter();
globalThis.__compatExporter = exporter;
if (process.env.COMPAT_TRACING === 'sdk') {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(
    new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
  );
} else {
  startTracing({
    serviceName: 'compat',
    exporter: 'none',
    spanProcessors: [new SimpleSpanProcessor(exporter)],
    handleSignals: false,
  });
}

runTwoServices({
  express,
  Fastify,
  get: fetchJson(traceFetch()),
  expressMiddleware: traceContext(),
  fastifyPlugin: traceFastify,
}).then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
