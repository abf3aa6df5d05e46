// gateway: the public HTTP edge (Express). POST /orders gives the order an id and hands it to the
// orders service over HTTP. Env: PORT, ORDERS_URL.
import { randomUUID } from 'node:crypto';
import { traceContext, traceErrors } from '@tracewire/express';
import { traceFetch } from '@tracewire/http';
import { startTracing } from '@tracewire/node';
import express from 'express';

// First thing: the SDK, exporting over OTLP/HTTP to OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT. It also
// flushes pending spans on SIGTERM/SIGINT. tracewire patches nothing, so import order is free.
startTracing({ serviceName: 'gateway', exporter: 'otlp' });

// A fetch whose calls are CLIENT spans carrying `traceparent` to the next service.
const fetch = traceFetch();
const { PORT, ORDERS_URL } = process.env;

const app = express();
// Public edge: a caller's trace context is not continued (a new trace, linked to the caller's).
// responseHeader sends the trace id back in `Server-Timing: traceparent;desc="00-<trace>-..."`.
app.use(traceContext({ trust: 'restart', responseHeader: true }));
app.use(express.json());

app.post('/orders', async (req, res) => {
  const id = randomUUID();
  const response = await fetch(`${ORDERS_URL}/orders/${id}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ items: req.body?.items }),
  });
  res.status(response.status).json(await response.json());
});

// After the routes: puts a thrown error's class on the span of a 5xx.
app.use(traceErrors());

app.listen(Number(PORT), '127.0.0.1', (error) => {
  if (error) throw error;
  console.log(`gateway ready on http://127.0.0.1:${PORT}`);
});
