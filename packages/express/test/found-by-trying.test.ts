// Found by trying @tracewire/express as an app would (installed from its tarball, real servers,
// the README alone), one regression test each; every one failed before its fix.
import { ProxyTracerProvider, SpanStatusCode } from '@opentelemetry/api';
import { traceContext, traceErrors } from '@tracewire/express';
import express from 'express';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CALLER_TRACEPARENT, listen, rawRequest } from '../../../test/support/http-server.js';
import { recordDiagWarnings } from '../../../test/support/diag.js';
import { setupTracing } from '../../../test/support/tracing.js';

const tracing = setupTracing();
const warnings = recordDiagWarnings();
afterAll(() => tracing.shutdown());
afterEach(() => tracing.reset());

const rejecting = async (): Promise<never> => {
  throw new Error('the hook failed');
};

describe('an async hook that rejects is reported, never an unhandled rejection', () => {
  it.each([
    ['requestHook', { requestHook: rejecting }],
    ['responseHook', { responseHook: rejecting }],
    ['spanName', { spanName: rejecting as unknown as () => string }],
    ['ignore', { ignore: rejecting as unknown as () => boolean }],
    ['trust', { trust: rejecting as unknown as () => 'continue' }],
  ])('%s', async (name, options) => {
    const app = express();
    app.use(traceContext(options));
    app.get('/x', (_req, res) => {
      res.send('ok');
    });
    const server = await listen(app);
    try {
      const response = await rawRequest(server.port, 'GET', '/x', [['traceparent', CALLER_TRACEPARENT]]);
      expect(response.status).toBe(200);
      expect(response.body).toBe('ok');
      // The span is made (an async ignore ignores nothing); the rejection reaches diag.
      expect(await tracing.waitForSpans(1)).toHaveLength(1);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.some((message) => message.includes(`${name}'s promise rejected`))).toBe(true);
    } finally {
      await server.close();
    }
  });
});

it('a trust function that throws is reported once, and the context restarted', async () => {
  const app = express();
  app.use(
    traceContext({
      trust: () => {
        throw new Error('trust failed');
      },
    }),
  );
  app.get('/x', (_req, res) => {
    res.send('ok');
  });
  const server = await listen(app);
  try {
    expect((await rawRequest(server.port, 'GET', '/x', [['traceparent', CALLER_TRACEPARENT]])).status).toBe(
      200,
    );
    const [span] = await tracing.waitForSpans(1);
    expect(span?.links).toHaveLength(1);
    expect(warnings.some((message) => message.includes('trust threw'))).toBe(true);
  } finally {
    await server.close();
  }
});

it("an error whose constructor cannot be read still makes a 500's span ERROR", async () => {
  const app = express();
  app.use(traceContext());
  app.get('/x', () => {
    const error = new Error('odd');
    Object.defineProperty(error, 'constructor', {
      get() {
        throw new Error('constructor getter');
      },
    });
    throw error;
  });
  app.use(traceErrors());
  const server = await listen(app);
  try {
    expect((await rawRequest(server.port, 'GET', '/x')).status).toBe(500);
    const [span] = await tracing.waitForSpans(1);
    expect(span?.status.code).toBe(SpanStatusCode.ERROR);
    expect(span?.attributes['error.type']).toBe('Error');
  } finally {
    await server.close();
  }
});

it('with no SDK (a no-op tracer), responseHeader sends no Server-Timing: the server has no span', async () => {
  const app = express();
  app.use(traceContext({ responseHeader: true, tracerProvider: new ProxyTracerProvider() }));
  app.get('/x', (_req, res) => {
    res.send('ok');
  });
  const server = await listen(app);
  try {
    const fresh = await rawRequest(server.port, 'GET', '/x');
    const continued = await rawRequest(server.port, 'GET', '/x', [['traceparent', CALLER_TRACEPARENT]]);
    expect(fresh.headers['server-timing']).toBeUndefined();
    expect(continued.headers['server-timing']).toBeUndefined();
    expect(continued.body).toBe('ok');
  } finally {
    await server.close();
  }
});
