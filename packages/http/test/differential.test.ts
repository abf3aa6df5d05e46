// Differential suite (issue #10 §3) of the outgoing wrappers: each scenario runs through the bare
// client (undici's fetch, an undici Agent with undici's own interceptors, node:http) and through
// the same client traced by tracewire, and what the application observes is compared: status,
// headers (less trace headers, server-timing, date), body bytes, the error it gets (name and
// code), and how many requests reached the server (retries, redirects). Never the spans.
import http, { type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { type FetchFunction, traceFetch, traceInterceptor, traceRequest } from '@tracewire/http';
import { Agent, type Dispatcher, fetch as undiciFetch, interceptors, request as undiciRequest } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Observed, comparableHeaders, runChild } from '../../../test/support/differential-http.js';
import { setupTracing } from '../../../test/support/tracing.js';
import { closedPort } from './echo-server.js';

const tracing = setupTracing();
let server: http.Server;
let base: string;
let refused: string;
const hits = new Map<string, number>();

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const key = url.searchParams.get('k') ?? url.pathname;
    const hit = (hits.get(key) ?? 0) + 1;
    hits.set(key, hit);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      res.setHeader('x-server', 'diff');
      switch (url.pathname) {
        case '/ok':
          res.end('ok');
          break;
        case '/status':
          res.writeHead(Number(url.searchParams.get('code'))).end('status');
          break;
        case '/echo':
          res.end(Buffer.concat(chunks));
          break;
        case '/slow':
          setTimeout(() => res.end('slow'), 150);
          break;
        case '/redirect':
          res.writeHead(302, { location: `/ok?k=${key}-landed` }).end();
          break;
        case '/flaky':
          if (hit < 3) res.writeHead(503).end('busy');
          else res.end('recovered');
          break;
        case '/stream':
          res.write('first ');
          setTimeout(() => res.end('second'), 100);
          break;
        case '/big':
          res.end(Buffer.alloc(4 * 1024 * 1024, 7));
          break;
        default:
          res.writeHead(404).end();
      }
    });
  });
  server.keepAliveTimeout = 100;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  refused = `http://127.0.0.1:${await closedPort()}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await tracing.shutdown();
});

/** What one call does; `read: false` leaves the body unread; `abort` names when the app aborts. */
interface Call {
  path: string;
  origin?: 'server' | 'refused';
  method?: string;
  body?: string;
  read?: boolean;
  abort?: 'before-response' | 'after-headers' | 'timeout';
}

type Client = (call: Call) => Promise<Observed>;

function failure(error: unknown): Observed {
  const { name, code, cause } = error as { name?: string; code?: string; cause?: { code?: string } };
  return { error: [name, code ?? cause?.code].filter(Boolean).join(' ') };
}

function target(call: Call): string {
  return `${call.origin === 'refused' ? refused : base}${call.path}`;
}

function signalFor(call: Call): { signal?: AbortSignal; controller?: AbortController } {
  if (call.abort === 'timeout') return { signal: AbortSignal.timeout(30) };
  if (call.abort === undefined) return {};
  const controller = new AbortController();
  if (call.abort === 'before-response') {
    // Once the server has the request (not at a fixed time: the machine's load varies).
    const key = new URL(call.path, 'http://x').searchParams.get('k') ?? '';
    const poll = setInterval(() => {
      if ((hits.get(key) ?? 0) > 0) {
        clearInterval(poll);
        controller.abort();
      }
    }, 2);
  }
  return { signal: controller.signal, controller };
}

function fetchClient(fetchImpl: typeof undiciFetch, dispatcher: Dispatcher): Client {
  return async (call) => {
    const { signal, controller } = signalFor(call);
    try {
      const response = await fetchImpl(target(call), {
        method: call.method,
        body: call.body,
        signal,
        dispatcher,
      });
      const observed: Observed = {
        status: response.status,
        headers: comparableHeaders(Object.fromEntries(response.headers)),
      };
      if (call.abort === 'after-headers') controller?.abort();
      if (call.read === false) return observed;
      try {
        observed.body = Buffer.from(await response.arrayBuffer()).toString('base64');
      } catch (error) {
        observed.error = failure(error).error;
      }
      return observed;
    } catch (error) {
      return failure(error);
    }
  };
}

function undiciClient(dispatcher: Dispatcher): Client {
  return async (call) => {
    const { signal, controller } = signalFor(call);
    try {
      const response = await undiciRequest(target(call), {
        method: (call.method ?? 'GET') as Dispatcher.HttpMethod,
        body: call.body,
        signal,
        dispatcher,
      });
      const observed: Observed = {
        status: response.statusCode,
        headers: comparableHeaders(response.headers),
      };
      if (call.abort === 'after-headers') controller?.abort();
      if (call.read === false) {
        response.body.destroy();
        return observed;
      }
      try {
        observed.body = Buffer.from(await response.body.arrayBuffer()).toString('base64');
      } catch (error) {
        observed.error = failure(error).error;
      }
      return observed;
    } catch (error) {
      return failure(error);
    }
  };
}

function nodeClient(request: typeof http.request, agent: http.Agent): Client {
  return (call) =>
    new Promise((resolve) => {
      const { signal, controller } = signalFor(call);
      const req = request(
        target(call),
        { method: call.method ?? 'GET', agent, signal },
        (response: IncomingMessage) => {
          const observed: Observed = {
            status: response.statusCode,
            headers: comparableHeaders(response.headers),
          };
          if (call.abort === 'after-headers') controller?.abort();
          if (call.read === false) {
            response.destroy();
            resolve(observed);
            return;
          }
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => resolve({ ...observed, body: Buffer.concat(chunks).toString('base64') }));
          response.on('error', (error) => resolve({ ...observed, ...failure(error) }));
        },
      );
      req.on('error', (error) => resolve(failure(error)));
      req.end(call.body);
    });
}

interface Scenario {
  name: string;
  call: Call;
}

const scenarios: Scenario[] = [
  { name: 'a 200 response read in full', call: { path: '/ok' } },
  { name: 'a 500 response', call: { path: '/status?code=500' } },
  { name: 'a 404 response', call: { path: '/status?code=404' } },
  { name: 'a POST body echoed', call: { path: '/echo', method: 'POST', body: 'payload'.repeat(100) } },
  { name: 'a refused connection', call: { path: '/ok', origin: 'refused' } },
  { name: 'the app aborts before the response', call: { path: '/slow', abort: 'before-response' } },
  { name: 'the app aborts after the headers, mid-body', call: { path: '/stream', abort: 'after-headers' } },
  { name: 'a timeout signal fires before the response', call: { path: '/slow', abort: 'timeout' } },
  { name: 'an unread response body', call: { path: '/big', read: false } },
  { name: 'a streamed response read in full', call: { path: '/stream' } },
];

let round = 0;
/** Runs a call twice (bare, traced) with its own request counter key, and returns both views. */
async function both(bare: Client, traced: Client, call: Call): Promise<[unknown, unknown]> {
  const run = async (client: Client) => {
    const key = `r${++round}`;
    const path = call.path.includes('?') ? `${call.path}&k=${key}` : `${call.path}?k=${key}`;
    const observed = await client({ ...call, path });
    // A request the app left may still be arriving: count once it settled.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const landed = hits.get(`${key}-landed`) ?? 0;
    // The per-run key (in a redirect's location) is the test's, not the app's observation.
    const seen = JSON.parse(JSON.stringify(observed).replaceAll(key, 'KEY')) as Observed;
    return { observed: seen, requests: (hits.get(key) ?? 0) + landed };
  };
  return [await run(bare), await run(traced)];
}

describe('undici fetch vs traceFetch', () => {
  const agent = new Agent();
  // destroy, not close: an unread body the scenario left open would keep close() waiting.
  afterAll(() => agent.destroy());
  const bare = fetchClient(undiciFetch, agent);
  const traced = fetchClient(
    traceFetch(undiciFetch as unknown as FetchFunction) as unknown as typeof undiciFetch,
    agent,
  );
  it.each(scenarios)('$name', async ({ call }) => {
    const [withoutTracing, withTracing] = await both(bare, traced, call);
    expect(withTracing).toEqual(withoutTracing);
  });
  it('traceFetch over an Agent that has traceInterceptor too (stacked)', async () => {
    const stacked = new Agent().compose(traceInterceptor());
    try {
      const [withoutTracing, withTracing] = await both(
        bare,
        fetchClient(
          traceFetch(undiciFetch as unknown as FetchFunction) as unknown as typeof undiciFetch,
          stacked,
        ),
        {
          path: '/ok',
        },
      );
      expect(withTracing).toEqual(withoutTracing);
    } finally {
      await stacked.close();
    }
  });
});

describe('undici Agent vs Agent with traceInterceptor', () => {
  const compositions: Array<[string, () => Dispatcher, () => Dispatcher]> = [
    ['alone', () => new Agent(), () => new Agent().compose(traceInterceptor())],
    ['stacked twice', () => new Agent(), () => new Agent().compose(traceInterceptor(), traceInterceptor())],
    [
      'retry() composed outside ours',
      () => new Agent().compose(interceptors.retry({ minTimeout: 1, statusCodes: [503] })),
      () =>
        new Agent().compose(traceInterceptor(), interceptors.retry({ minTimeout: 1, statusCodes: [503] })),
    ],
    [
      'retry() composed inside ours',
      () => new Agent().compose(interceptors.retry({ minTimeout: 1, statusCodes: [503] })),
      () =>
        new Agent().compose(interceptors.retry({ minTimeout: 1, statusCodes: [503] }), traceInterceptor()),
    ],
    [
      'redirect() composed outside ours',
      () => new Agent().compose(interceptors.redirect({ maxRedirections: 2 })),
      () => new Agent().compose(traceInterceptor(), interceptors.redirect({ maxRedirections: 2 })),
    ],
    [
      'redirect() composed inside ours',
      () => new Agent().compose(interceptors.redirect({ maxRedirections: 2 })),
      () => new Agent().compose(interceptors.redirect({ maxRedirections: 2 }), traceInterceptor()),
    ],
  ];
  const all: Scenario[] = [
    ...scenarios,
    { name: 'a redirect', call: { path: '/redirect' } },
    { name: 'a server that fails twice with 503, then answers', call: { path: '/flaky' } },
  ];
  describe.each(compositions)('%s', (_label, makeBare, makeTraced) => {
    const bareAgent = makeBare();
    const tracedAgent = makeTraced();
    afterAll(async () => {
      await bareAgent.destroy();
      await tracedAgent.destroy();
    });
    it.each(all)('$name', async ({ call }) => {
      const [withoutTracing, withTracing] = await both(
        undiciClient(bareAgent),
        undiciClient(tracedAgent),
        call,
      );
      expect(withTracing).toEqual(withoutTracing);
    });
  });
});

describe('node:http request vs traceRequest', () => {
  const agent = new http.Agent({ keepAlive: true });
  afterAll(() => agent.destroy());
  const bare = nodeClient(http.request, agent);
  const traced = nodeClient(traceRequest()(http.request), agent);
  it.each(scenarios)('$name', async ({ call }) => {
    const [withoutTracing, withTracing] = await both(bare, traced, call);
    expect(withTracing).toEqual(withoutTracing);
  });
});

describe('process events (child process)', () => {
  const script = fileURLToPath(new URL('./fixtures/unhandled-fetch.mjs', import.meta.url));
  it.each(['fetch', 'node:http'])(
    'a %s request to a closed port the app never handles crashes the process exactly as without tracing',
    async (client) => {
      const bare = await runChild(script, ['bare', client]);
      const traced = await runChild(script, ['traced', client]);
      expect(traced).toEqual(bare);
      expect(bare.crashedWith).toBeDefined();
    },
  );
});
