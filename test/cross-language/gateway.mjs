// A tracewire service for test/cross-language: Express with traceContext() (continuing the
// caller's trace), traceFetch for outgoing calls, spans exported by startTracing over OTLP/HTTP.
// POST /relay {callback} calls `callback` back and answers with what it returned, plus the
// `tenant` baggage entry it received (in the body and in `x-tenant-seen`).
// Env: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (and _PROTOCOL). Prints `listening <port>` when ready.
import { propagation, trace } from '@opentelemetry/api';
import { traceContext } from '@tracewire/express';
import { traceFetch } from '@tracewire/http';
import { startTracing } from '@tracewire/node';
import express from 'express';

startTracing({ serviceName: 'tracewire-gateway', exporter: 'otlp' });

const fetch = traceFetch();
const app = express();
app.use(traceContext());
app.use(express.json());

app.post('/relay', async (req, res) => {
  const tenant = propagation.getActiveBaggage()?.getEntry('tenant')?.value;
  if (tenant !== undefined) trace.getActiveSpan()?.setAttribute('app.tenant', tenant);
  const response = await fetch(req.body.callback, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ from: 'tracewire-gateway' }),
  });
  const callback = await response.json();
  res.set('x-tenant-seen', tenant === undefined ? '' : encodeURIComponent(tenant));
  res.status(response.ok ? 200 : 502).json({ tenant: tenant ?? null, callback });
});

const server = app.listen(0, '127.0.0.1', (error) => {
  if (error) throw error;
  console.log(`listening ${server.address().port}`);
});
