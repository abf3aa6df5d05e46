// Outgoing HTTP: fetch, undici.request and node:http requests from this process to a plain server
// in the parent (its CPU is not counted), CONCURRENCY in flight.
import { createRequire } from 'node:module';
import { TRACEPARENT } from '../constants.mjs';
import { endLike, floorTracer, pick, startFrom } from '../floor.mjs';

const require = createRequire(import.meta.url);
const CONCURRENCY = 8;

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
        Array.from({ length: Math.min(CONCURRENCY, n) }, async () => {
          while (next++ < n) await once();
        }),
      );
    },
    close,
  };
}
