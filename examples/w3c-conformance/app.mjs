// The service the W3C Trace Context harness tests: `POST /test` takes a JSON array of
// `{ url, arguments }` and, one after the other, POSTs each `arguments` as JSON to its `url`,
// carrying the trace context of the incoming request. Express or Fastify receive (through
// @tracewire/express or @tracewire/fastify), @tracewire/http sends.
import { traceFetch } from '@tracewire/http';

export const FRAMEWORKS = ['express', 'fastify'];

/**
 * Starts the service and resolves once it listens. `framework` picks the server; `port` 0 picks a
 * free port (see the returned `url`). Tracing must be registered before (see tracing.mjs).
 */
export async function startService({ framework = 'express', port = 5000, host = '127.0.0.1' } = {}) {
  if (!FRAMEWORKS.includes(framework)) {
    throw new TypeError(`FRAMEWORK must be one of ${FRAMEWORKS.join(', ')}, not ${framework}`);
  }
  const fetch = traceFetch(globalThis.fetch);
  const start = framework === 'express' ? startExpress : startFastify;
  return start({ port, host, callAll: (actions) => callAll(fetch, actions) });
}

/** Makes every call, in order, before the harness gets its answer (it checks the calls then). */
async function callAll(fetch, actions) {
  const results = [];
  for (const action of Array.isArray(actions) ? actions : []) {
    try {
      const response = await fetch(action.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(action.arguments ?? []),
      });
      await response.arrayBuffer();
      results.push({ url: action.url, status: response.status });
    } catch (error) {
      results.push({ url: action.url, error: String(error) });
    }
  }
  return results;
}

async function startExpress({ port, host, callAll }) {
  const { default: express } = await import('express');
  const { traceContext } = await import('@tracewire/express');
  const app = express();
  app.use(traceContext());
  app.use(express.json());
  app.post('/test', async (req, res) => {
    res.json({ results: await callAll(req.body) });
  });
  const server = await new Promise((resolve, reject) => {
    const listening = app.listen(port, host, (error) => (error ? reject(error) : resolve(listening)));
  });
  return {
    url: `http://${host}:${server.address().port}/test`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function startFastify({ port, host, callAll }) {
  const { default: Fastify } = await import('fastify');
  const { traceContext } = await import('@tracewire/fastify');
  const app = Fastify();
  await app.register(traceContext);
  app.post('/test', async (request) => ({ results: await callAll(request.body) }));
  await app.listen({ port, host });
  return {
    url: `http://${host}:${app.server.address().port}/test`,
    close: () => app.close(),
  };
}
