// Found by trying @tracewire/fastify as an app would (installed from its tarball, real servers,
// the README alone), one regression test each; every one failed before its fix.
import http2 from 'node:http2';
import { ProxyTracerProvider, SpanStatusCode } from '@opentelemetry/api';
import { ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT } from '@opentelemetry/semantic-conventions';
import traceContext, { type FastifyTraceOptions } from '@tracewire/fastify';
import Fastify, { type FastifyInstance } from 'fastify';
import { request } from 'undici';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CALLER_TRACEPARENT } from '../../../test/support/http-server.js';
import { recordDiagWarnings } from '../../../test/support/diag.js';
import { setupTracing } from '../../../test/support/tracing.js';

const tracing = setupTracing();
const warnings = recordDiagWarnings();
afterAll(() => tracing.shutdown());
afterEach(() => tracing.reset());

async function serve(
  options: FastifyTraceOptions,
  route: (app: FastifyInstance) => void,
): Promise<{ url: string; app: FastifyInstance }> {
  const app = Fastify();
  await app.register(traceContext, options);
  route(app);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { url: `http://127.0.0.1:${address.port}`, app };
}

const ok = (app: FastifyInstance) => app.get('/x', async () => 'ok');
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
    const { url, app } = await serve(options, ok);
    try {
      const response = await request(`${url}/x`, { headers: { traceparent: CALLER_TRACEPARENT } });
      expect(response.statusCode).toBe(200);
      expect(await response.body.text()).toBe('ok');
      expect(await tracing.waitForSpans(1)).toHaveLength(1);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.some((message) => message.includes(`${name}'s promise rejected`))).toBe(true);
    } finally {
      await app.close();
    }
  });
});

it('a trust function that throws is reported once, and the context restarted', async () => {
  const trust = () => {
    throw new Error('trust failed');
  };
  const { url, app } = await serve({ trust }, ok);
  try {
    const response = await request(`${url}/x`, { headers: { traceparent: CALLER_TRACEPARENT } });
    expect(await response.body.text()).toBe('ok');
    const [span] = await tracing.waitForSpans(1);
    expect(span?.links).toHaveLength(1);
    expect(warnings.some((message) => message.includes('trust threw'))).toBe(true);
  } finally {
    await app.close();
  }
});

describe("a 500's span is ERROR whatever was thrown", () => {
  const oddError = () => {
    const error = new Error('odd');
    Object.defineProperty(error, 'constructor', {
      get() {
        throw new Error('constructor getter');
      },
    });
    return error;
  };
  it.each([
    ['a null-prototype object', () => Object.assign(Object.create(null), { message: 'x' }), '_OTHER'],
    ['an Error whose constructor cannot be read', oddError, 'Error'],
  ])('%s', async (_what, make, type) => {
    const { url, app } = await serve({}, (app) =>
      app.get('/x', async () => {
        throw make();
      }),
    );
    try {
      const response = await request(`${url}/x`);
      await response.body.text();
      expect(response.statusCode).toBe(500);
      const [span] = await tracing.waitForSpans(1);
      expect(span?.status.code).toBe(SpanStatusCode.ERROR);
      expect(span?.attributes['error.type']).toBe(type);
    } finally {
      await app.close();
    }
  });
});

it('with no SDK (a no-op tracer), responseHeader sends no Server-Timing: the server has no span', async () => {
  const { url, app } = await serve({ responseHeader: true, tracerProvider: new ProxyTracerProvider() }, ok);
  try {
    for (const headers of [{}, { traceparent: CALLER_TRACEPARENT }]) {
      const response = await request(`${url}/x`, { headers });
      expect(await response.body.text()).toBe('ok');
      expect(response.headers['server-timing']).toBeUndefined();
    }
  } finally {
    await app.close();
  }
});

it('over HTTP/2, server.address and server.port come from :authority (there is no Host)', async () => {
  const app = Fastify({ http2: true });
  await app.register(traceContext);
  app.get('/x', async () => 'ok');
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const body = await new Promise<string>((resolve, reject) => {
      const stream = session.request({ ':path': '/x' });
      let text = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        text += chunk;
      });
      stream.on('end', () => resolve(text));
      stream.on('error', reject);
      stream.end();
    });
    expect(body).toBe('ok');
    const [span] = await tracing.waitForSpans(1);
    expect(span?.attributes[ATTR_SERVER_ADDRESS]).toBe('127.0.0.1');
    expect(span?.attributes[ATTR_SERVER_PORT]).toBe(port);
  } finally {
    session.close();
    await app.close();
  }
});
