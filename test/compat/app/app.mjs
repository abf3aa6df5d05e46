// The two-service app every compatibility setup runs: Express (orders) calls Fastify (items) over
// HTTP. The entry files decide how tracing is set up; this file only wires the services, makes
// one request and prints what the app saw and the spans that were recorded.
import http from 'node:http';

/** GET `url` with node:http (what OTel's instrumentation-http patches); resolves to the JSON body. */
export function httpGetJson(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => {
          body += chunk;
        });
        response.on('end', () => resolve(JSON.parse(body)));
      })
      .on('error', reject);
  });
}

/** A GET through a fetch function; resolves to the JSON body. */
export function fetchJson(fetch) {
  return async (url) => (await fetch(url)).json();
}

/**
 * express, Fastify: the frameworks; `get`: how both the client and orders make their request;
 * `expressMiddleware` / `fastifyPlugin`: tracewire's, when the setup uses them.
 */
export async function runTwoServices({ express, Fastify, get, expressMiddleware, fastifyPlugin }) {
  const items = Fastify();
  if (fastifyPlugin) await items.register(fastifyPlugin);
  items.get('/items/:id', async (request) => ({ item: request.params.id }));
  await items.listen({ port: 0, host: '127.0.0.1' });
  const itemsUrl = `http://127.0.0.1:${items.server.address().port}`;

  const orders = express();
  if (expressMiddleware) orders.use(expressMiddleware);
  orders.get('/orders/:id', async (request, response) => {
    const item = await get(`${itemsUrl}/items/${request.params.id}`);
    response.json({ order: request.params.id, ...item });
  });
  const server = await new Promise((resolve) => {
    const listening = orders.listen(0, '127.0.0.1', () => resolve(listening));
  });
  const ordersUrl = `http://127.0.0.1:${server.address().port}`;

  const body = await get(`${ordersUrl}/orders/7`);
  await settle();
  server.close();
  await items.close();
  report(body);
}

// Server spans end when the response is finished, a moment after the client has the body.
function settle() {
  return new Promise((resolve) => setTimeout(resolve, 300));
}

/** Prints the body and the finished spans of the exporter the setup put on globalThis, if any. */
export function report(body) {
  const exporter = globalThis.__compatExporter;
  const spans = exporter
    ? exporter.getFinishedSpans().map((span) => ({
        name: span.name,
        kind: span.kind,
        traceId: span.spanContext().traceId,
        spanId: span.spanContext().spanId,
        parentSpanId: span.parentSpanContext?.spanId ?? span.parentSpanId,
        route: span.attributes['http.route'],
        scope: span.instrumentationScope?.name ?? span.instrumentationLibrary?.name,
      }))
    : [];
  process.stdout.write(`COMPAT_RESULT ${JSON.stringify({ body, spans })}\n`);
}
