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

  it('responseHeader leaves the error of a writeHead given [name, value] pairs with a header already set as it was', async () => {
    const outcome = async (traced: boolean): Promise<string> => {
      const app = ex();
      if (traced) app.use(traceContext({ responseHeader: true }));
      let thrown = 'nothing';
      app.get('/pairs', (_req, res) => {
        res.setHeader('x-app', '1');
        try {
          // Node rejects pairs once a header is set; which error it throws depends on the list.
          res.writeHead(200, [['x-pair', '1']] as unknown as string[]);
        } catch (error) {
          thrown = String((error as { code?: string }).code);
          res.statusCode = 500;
        }
        res.end('pairs');
      });
      const server = await listen(app);
      try {
        const response = await rawRequest(server.port, 'GET', '/pairs');
        return `${thrown} ${response.status} ${response.body}`;
      } finally {
        await server.close();
      }
    };
    const bare = await outcome(false);
    expect(bare).toBe('ERR_INVALID_ARG_VALUE 500 pairs');
    expect(await outcome(true)).toBe(bare);
    await tracing.waitForSpans(1);
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
