// Differential suite (issue #10 §3): each scenario runs against the bare Fastify app and the same
// app traced by tracewire (registered twice, stacked, with the Server-Timing header), and what
// the application observes is compared: the client's status, headers (less trace headers,
// server-timing, date) and body bytes, and the events the app's own hooks and handlers saw.
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import traceContext from '@tracewire/fastify';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ClientAction,
  type Observed,
  rawExchange,
  settle,
} from '../../../test/support/differential-http.js';
import { setupTracing } from '../../../test/support/tracing.js';

const tracing = setupTracing();
afterAll(() => tracing.shutdown());

type Events = Map<string, string[]>;

async function diffApp(traced: boolean, events: Events): Promise<FastifyInstance> {
  const app = Fastify();
  const log = (key: string, event: string): void => {
    const list = events.get(key) ?? [];
    list.push(event);
    events.set(key, list);
  };
  const key = (url: string): string => url.split('?')[0] ?? url;
  if (traced) {
    await app.register(traceContext, { responseHeader: true });
    await app.register(traceContext);
  }
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-app', 'stacked');
    if (request.url === '/early') await reply.code(401).send('no');
  });
  app.addHook('onRequestAbort', async (request) => log(key(request.url), 'onRequestAbort'));
  app.addHook('onResponse', async (request, reply) =>
    log(key(request.url), `onResponse ${reply.statusCode}`),
  );
  app.get('/returns', async () => ({ ok: true }));
  app.get('/throws', () => {
    throw new TypeError('sync failure');
  });
  app.get('/rejects', async () => {
    await sleep(1);
    throw new SyntaxError('async failure');
  });
  app.get('/handled-rejection', () => {
    const rejected = Promise.reject(new Error('handled by the app'));
    rejected.catch(() => log('/handled-rejection', 'caught'));
    return rejected;
  });
  app.get('/slow', async () => {
    await sleep(40);
    return 'slow';
  });
  app.get('/timeout', async (request, reply) => {
    request.raw.socket.setTimeout(20, () => {
      log('/timeout', 'timed out');
      request.raw.socket.destroy();
    });
    await sleep(80);
    log('/timeout', `late reply destroyed=${reply.raw.destroyed}`);
    return 'too late';
  });
  app.post('/body', async (request) => {
    log('/body', 'handler');
    return `got ${String(request.body).length}`;
  });
  app.post('/slow-body', async (request, reply) => {
    reply.raw.on('close', () => log('/slow-body', `close finished=${reply.raw.writableFinished}`));
    await sleep(60);
    log('/slow-body', 'handler done');
    return `got ${String(request.body).length}`;
  });
  app.get('/stream', async (_request, reply) => {
    reply.raw.on('close', () => log('/stream', `close finished=${reply.raw.writableFinished}`));
    async function* chunks(): AsyncGenerator<string> {
      for (let i = 0; i < 5; i++) {
        yield `chunk ${i}\n`;
        await sleep(15);
      }
    }
    return reply.type('text/plain').send(Readable.from(chunks()));
  });
  app.get('/early', async () => 'unreachable');
  await app.listen({ port: 0, host: '127.0.0.1' });
  return app;
}

interface Scenario {
  name: string;
  method: string;
  path: string;
  action?: ClientAction;
  body?: string;
  headers?: Record<string, string>;
  /** The app logs events for it, to wait for and compare. */
  logs?: boolean;
}

const text = { 'content-type': 'text/plain' };
const scenarios: Scenario[] = [
  { name: 'handler returns', method: 'GET', path: '/returns', logs: true },
  { name: 'handler throws', method: 'GET', path: '/throws', logs: true },
  { name: 'handler rejects', method: 'GET', path: '/rejects', logs: true },
  {
    name: 'handler returns a rejected promise the app already handled',
    method: 'GET',
    path: '/handled-rejection',
    logs: true,
  },
  { name: 'slow handler', method: 'GET', path: '/slow', logs: true },
  { name: 'server-side socket timeout', method: 'GET', path: '/timeout', logs: true },
  { name: 'unknown route', method: 'GET', path: '/nothing-here', logs: true },
  { name: 'early reply from an onRequest hook', method: 'GET', path: '/early', logs: true },
  {
    name: 'POST body read in full',
    method: 'POST',
    path: '/body',
    body: 'x'.repeat(2000),
    headers: text,
    logs: true,
  },
  {
    name: 'client aborts before the body is read',
    method: 'POST',
    path: '/body',
    body: 'y'.repeat(2000),
    headers: text,
    action: 'abort-before-body',
    logs: true,
  },
  {
    name: 'client leaves a POST after the body was read, during a slow handler',
    method: 'POST',
    path: '/slow-body',
    body: 'z'.repeat(200),
    headers: text,
    action: 'abort-after-headers',
    logs: true,
  },
  {
    name: 'client aborts mid-stream',
    method: 'GET',
    path: '/stream',
    action: 'abort-mid-stream',
    logs: true,
  },
  {
    name: 'client aborts after the headers',
    method: 'GET',
    path: '/stream',
    action: 'abort-after-headers',
    logs: true,
  },
  { name: 'streamed response read in full', method: 'GET', path: '/stream', logs: true },
  {
    name: 'a malformed traceparent',
    method: 'GET',
    path: '/returns',
    headers: { traceparent: '00-zz-bad', tracestate: '=' },
    logs: true,
  },
];

describe('Fastify: traced behaves as bare', () => {
  const bareEvents: Events = new Map();
  const tracedEvents: Events = new Map();
  let bare: FastifyInstance;
  let traced: FastifyInstance;
  beforeAll(async () => {
    bare = await diffApp(false, bareEvents);
    traced = await diffApp(true, tracedEvents);
  });
  afterAll(async () => {
    for (const app of [bare, traced]) {
      app.server.closeAllConnections();
      await app.close();
    }
  });

  const portOf = (app: FastifyInstance): number => (app.server.address() as { port: number }).port;
  const run = async (app: FastifyInstance, events: Events, scenario: Scenario) => {
    events.delete(scenario.path);
    const observed: Observed = await rawExchange(portOf(app), scenario);
    if (scenario.logs) {
      await settle(() => (events.get(scenario.path) ?? []).length > 0, 1000);
      await sleep(120);
    }
    return { observed, events: [...(events.get(scenario.path) ?? [])].sort() };
  };

  for (const scenario of scenarios) {
    it(scenario.name, async () => {
      const withoutTracing = await run(bare, bareEvents, scenario);
      const withTracing = await run(traced, tracedEvents, scenario);
      expect(withTracing, scenario.name).toEqual(withoutTracing);
      expect(withoutTracing.observed.status ?? withoutTracing.events.length).toBeGreaterThan(0);
    });
  }
});
