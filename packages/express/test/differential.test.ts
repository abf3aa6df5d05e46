// Differential suite (issue #10 §3): each scenario runs against the bare Express app and the same
// app traced by tracewire, and what the application observes is compared: the client's status,
// headers (less trace headers, server-timing, date) and body bytes, and the events the app's own
// handlers saw. Never the spans. Process events run in a child process (see the last tests).
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { traceContext, traceErrors } from '@tracewire/express';
import express, { type ErrorRequestHandler } from 'express';
import express4 from 'express4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ClientAction,
  type Observed,
  rawExchange,
  runChild,
  settle,
} from '../../../test/support/differential-http.js';
import { type Listening, listen } from '../../../test/support/http-server.js';
import { setupTracing } from '../../../test/support/tracing.js';
import type { ExpressModule } from './app.js';

const tracing = setupTracing();
afterAll(() => tracing.shutdown());

type Events = Map<string, string[]>;

/** The app of every scenario; `traced` adds tracewire (twice, stacked) and traceErrors. */
function diffApp(ex: ExpressModule, major: number, traced: boolean, events: Events) {
  const app = ex();
  app.set('env', 'production'); // no stack traces (their frames differ) in error pages
  app.set('etag', false);
  const log = (key: string, event: string): void => {
    const list = events.get(key) ?? [];
    list.push(event);
    events.set(key, list);
  };
  if (traced) app.use(traceContext({ responseHeader: true }), traceContext());
  app.use((_req, res, next) => {
    res.setHeader('x-app', 'stacked');
    next();
  });
  app.get('/returns', (_req, res) => {
    res.json({ ok: true });
  });
  app.get('/throws', () => {
    throw new TypeError('sync failure');
  });
  if (major === 5) {
    app.get('/rejects', async () => {
      await sleep(1);
      throw new SyntaxError('async failure');
    });
  }
  app.get('/handled-rejection', (_req, res) => {
    const rejected = Promise.reject(new Error('handled by the app'));
    rejected.catch(() => {
      log('/handled-rejection', 'caught');
      res.status(503).send('handled');
    });
    return rejected;
  });
  app.get('/slow', async (_req, res) => {
    await sleep(40);
    res.send('slow');
  });
  app.get('/timeout', (req, res) => {
    req.socket.setTimeout(20, () => {
      log('/timeout', 'timed out');
      req.socket.destroy();
    });
    res.on('close', () => log('/timeout', `close finished=${res.writableFinished}`));
    setTimeout(() => {
      log('/timeout', `late write destroyed=${res.destroyed}`);
      res.send('too late');
    }, 80);
  });
  app.post('/body', (req, res) => {
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
    });
    req.on('aborted', () => log('/body', 'aborted'));
    req.on('error', (error) => log('/body', `error ${(error as { code?: string }).code}`));
    req.on('end', () => {
      log('/body', `end ${size}`);
      res.send(`got ${size}`);
    });
    res.on('close', () => log('/body', `close finished=${res.writableFinished}`));
  });
  app.get('/stream', (_req, res) => {
    res.setHeader('content-type', 'text/plain');
    let sent = 0;
    const timer = setInterval(() => {
      if (res.destroyed) {
        clearInterval(timer);
        log('/stream', 'stopped: destroyed');
        return;
      }
      res.write(`chunk ${sent}\n`);
      if (++sent === 5) {
        clearInterval(timer);
        res.end();
      }
    }, 15);
    res.on('close', () => log('/stream', `close finished=${res.writableFinished}`));
  });
  app.use(traceErrors());
  // The app's own error page: Express's default one logs the stack, whose frames differ.
  const errorPage: ErrorRequestHandler = (error: Error, _req, res, next) => {
    if (res.headersSent) next(error);
    else res.status(500).send(`failed: ${error.message}`);
  };
  app.use(errorPage);
  return app;
}

interface Scenario {
  name: string;
  method: string;
  path: string;
  action?: ClientAction;
  body?: string;
  /** Express majors the scenario applies to. */
  majors?: number[];
  /** The app's handlers log events for it, to wait for and compare. */
  logs?: boolean;
  /** The client gets no response (the server closes the connection). */
  noResponse?: boolean;
}

const scenarios: Scenario[] = [
  { name: 'handler returns', method: 'GET', path: '/returns' },
  { name: 'handler throws', method: 'GET', path: '/throws' },
  { name: 'handler rejects', method: 'GET', path: '/rejects', majors: [5] },
  {
    name: 'handler returns a rejected promise the app already handled',
    method: 'GET',
    path: '/handled-rejection',
  },
  { name: 'slow handler', method: 'GET', path: '/slow' },
  { name: 'server-side socket timeout', method: 'GET', path: '/timeout', logs: true, noResponse: true },
  { name: 'unknown route', method: 'GET', path: '/nothing-here' },
  { name: 'POST body read in full', method: 'POST', path: '/body', body: 'x'.repeat(2000), logs: true },
  {
    name: 'client aborts before the body is read',
    method: 'POST',
    path: '/body',
    body: 'y'.repeat(2000),
    action: 'abort-before-body',
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
  },
];

const versions: Array<[string, ExpressModule, number]> = [
  ['Express 5', express, 5],
  ['Express 4', express4 as ExpressModule, 4],
];

describe.each(versions)('%s: traced behaves as bare', (_label, ex, major) => {
  const bareEvents: Events = new Map();
  const tracedEvents: Events = new Map();
  let bare: Listening;
  let traced: Listening;
  beforeAll(async () => {
    bare = await listen(diffApp(ex, major, false, bareEvents));
    traced = await listen(diffApp(ex, major, true, tracedEvents));
  });
  afterAll(async () => {
    await bare.close();
    await traced.close();
  });

  const run = async (server: Listening, events: Events, scenario: Scenario) => {
    events.delete(scenario.path);
    const headers: Record<string, string> =
      scenario.name === 'a malformed traceparent' ? { traceparent: '00-zz-bad' } : {};
    const observed: Observed = await rawExchange(server.port, { ...scenario, headers });
    if (scenario.logs) {
      // Let the app's own events land (a close after the client left, a late write).
      await settle(() => (events.get(scenario.path) ?? []).length > 0, 1000);
      await sleep(120);
    }
    return { observed, events: [...(events.get(scenario.path) ?? [])].sort() };
  };

  for (const scenario of scenarios.filter((s) => !s.majors || s.majors.includes(major))) {
    it(scenario.name, async () => {
      const withoutTracing = await run(bare, bareEvents, scenario);
      const withTracing = await run(traced, tracedEvents, scenario);
      expect(withTracing, scenario.name).toEqual(withoutTracing);
      if (scenario.action === undefined && !scenario.noResponse) {
        expect(withoutTracing.observed.status).toBeGreaterThan(0);
      } else {
        expect(withoutTracing.observed.status ?? withoutTracing.events.length).toBeGreaterThan(0);
      }
    });
  }
});

describe('process events (child process)', () => {
  const script = fileURLToPath(new URL('./fixtures/rejecting-app.mjs', import.meta.url));
  it.each([
    { label: 'Express 4', major: '4', kind: 'rejects' },
    { label: 'Express 4', major: '4', kind: 'handled' },
    { label: 'Express 5', major: '5', kind: 'rejects' },
  ])(
    '$label, async handler that $kind: same exit code, unhandled rejection, warnings and response',
    async ({ major, kind }) => {
      const bare = await runChild(script, ['bare', major, kind]);
      const traced = await runChild(script, ['traced', major, kind]);
      expect(traced).toEqual(bare);
      // The scenario did happen: a response, or Node's crash on the unhandled rejection.
      expect(bare.report !== undefined || bare.crashedWith !== undefined).toBe(true);
    },
  );
});
