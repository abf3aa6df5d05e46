// Outgoing HTTP: fetch, undici.request and node:http requests from this process to a plain server
// in the parent (its CPU is not counted), CONCURRENCY in flight. Each of the CONCURRENCY callers
// sends from a context of its own, as a server handling requests does (kept-alive sockets then
// carry one caller's requests after another's), in every variant alike.
import { createRequire } from 'node:module';
import { ROOT_CONTEXT, context, trace } from '@opentelemetry/api';
import { CALLER_TRACE_ID, TRACEPARENT } from '../constants.mjs';
import { endLike, floorTracer, pick, startFrom } from '../floor.mjs';

const require = createRequire(import.meta.url);
const CONCURRENCY = 8;
// The callers' contexts: a remote span context each, as a SERVER span's children would see.
const CALLERS = Array.from({ length: CONCURRENCY }, (_, caller) =>
  trace.setSpanContext(ROOT_CONTEXT, {
    traceId: CALLER_TRACE_ID,
    spanId: (caller + 1).toString(16).padStart(16, '0'),
    traceFlags: 1,
    isRemote: true,
  }),
);

export async function setup(row, variant, { template, env }) {
  const url = `${env.url}/orders?id=1`;
  const tracer = floorTracer();
  const shape = variant === 'floor' ? pick(template, 2) : undefined;
  let once;
  let close = async () => {};
  if (row.id === 'fetch') {
    const plain = async () => (await fetch(url)).text();
    if (variant === 'tracewire') {
      const { traceFetch } = await import('@tracewire/http');
      const traced = traceFetch(fetch);
      once = async () => (await traced(url)).text();
    } else if (variant === 'floor') {
      once = async () => {
        const span = startFrom(tracer, shape, undefined);
        try {
          return await (await fetch(url, { headers: { traceparent: TRACEPARENT } })).text();
        } finally {
          endLike(span, shape);
        }
      };
    } else once = plain;
  } else if (row.id === 'undici') {
    const { Agent, request } = require('undici');
    let agent = new Agent({ connections: CONCURRENCY });
    if (variant === 'tracewire') {
      const { traceInterceptor } = await import('@tracewire/http');
      agent = agent.compose(traceInterceptor());
    }
    if (variant === 'floor') {
      once = async () => {
        const span = startFrom(tracer, shape, undefined);
        try {
          const response = await request(url, { dispatcher: agent, headers: { traceparent: TRACEPARENT } });
          return await response.body.text();
        } finally {
          endLike(span, shape);
        }
      };
    } else once = async () => (await request(url, { dispatcher: agent })).body.text();
    close = () => agent.close();
  } else {
    const http = require('node:http');
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    let requestFn = http.request;
    if (variant === 'tracewire') {
      const { traceRequest } = await import('@tracewire/http');
      requestFn = traceRequest()(http.request);
    }
    const floorHeaders = { traceparent: TRACEPARENT };
    once = () =>
      new Promise((resolve, reject) => {
        const span = variant === 'floor' ? startFrom(tracer, shape, undefined) : undefined;
        const req = requestFn(url, span ? { agent, headers: floorHeaders } : { agent });
        req.on('response', (res) => {
          res.resume();
          res.on('end', () => {
            if (span) endLike(span, shape);
            resolve();
          });
        });
        req.on('error', reject);
        req.end();
      });
    close = async () => agent.destroy();
  }
  return {
    async run(n) {
      let next = 0;
      await Promise.all(
        Array.from({ length: Math.min(CONCURRENCY, n) }, (_, caller) =>
          context.with(CALLERS[caller], async () => {
            while (next++ < n) await once();
          }),
        ),
      );
    },
    close,
  };
}
