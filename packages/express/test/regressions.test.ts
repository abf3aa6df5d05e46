// Regression tests of issue #12 for the Express middleware, each named after its scenario.
import { traceContext } from '@tracewire/express';
import express from 'express';
import express4 from 'express4';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { listen, rawRequest } from '../../../test/support/http-server.js';
import { setupTracing } from '../../../test/support/tracing.js';
import type { ExpressModule } from './app.js';

const tracing = setupTracing();
afterAll(() => tracing.shutdown());
afterEach(() => tracing.reset());

const versions: Array<[string, ExpressModule]> = [
  ['Express 5', express],
  ['Express 4', express4 as ExpressModule],
];

describe.each(versions)('%s', (_label, ex) => {
  it("responseHeader keeps the app's Server-Timing given to writeHead as a flat list, with a header already set", async () => {
    const app = ex();
    app.use(traceContext({ responseHeader: true }));
    app.get('/flat', (_req, res) => {
      res.setHeader('x-app', '1');
      res.writeHead(200, ['Server-Timing', 'db;dur=53', 'content-type', 'text/plain']);
      res.end('flat');
    });
    const server = await listen(app);
    try {
      const response = await rawRequest(server.port, 'GET', '/flat');
      expect(response.body).toBe('flat');
      const [span] = await tracing.waitForSpans(1);
      const { traceId, spanId } = span!.spanContext();
      expect(response.headers['server-timing']).toEqual([
        `db;dur=53, traceparent;desc="00-${traceId}-${spanId}-01"`,
      ]);
    } finally {
      await server.close();
    }
  });

  it('names a request by the mount it came through when one sub-app is mounted at two paths', async () => {
    const app = ex();
    app.use(traceContext());
    const sub = ex();
    sub.get('/users/:id', (req, res) => {
      res.send(req.params.id);
    });
    app.use('/v1', sub);
    app.use('/v2', sub);
    const server = await listen(app);
    try {
      for (const version of ['v1', 'v2', 'v1']) {
        const response = await rawRequest(server.port, 'GET', `/${version}/users/1`);
        expect(response.status).toBe(200);
        const [span] = await tracing.waitForSpans(1);
        expect(span!.name, version).toBe(`GET /${version}/users/:id`);
        tracing.reset();
      }
    } finally {
      await server.close();
    }
  });
});
