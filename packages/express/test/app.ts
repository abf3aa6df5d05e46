// The application the Express tests serve, built the same way on Express 4 and 5, with or
// without tracing, so a traced response can be compared byte for byte with an untraced one.
import { setTimeout as sleep } from 'node:timers/promises';
import { type ExpressTraceOptions, traceContext, traceErrors } from '@tracewire/express';
import type { Express, NextFunction, Request, Response } from 'express';
import type express from 'express';
import { seen, slow } from '../../../test/support/http-server.js';

export type ExpressModule = typeof express;

export interface AppOptions {
  /** undefined: no tracing at all (the control app). */
  tracing?: ExpressTraceOptions;
  /** Registers traceErrors() after the routes. Default true. */
  recordErrors?: boolean;
  /** Registers traceContext() twice. */
  twice?: boolean;
}

export function buildApp(
  ex: ExpressModule,
  { tracing, recordErrors = true, twice = false }: AppOptions = {},
): Express {
  const app = ex();
  app.set('etag', false);
  if (tracing) {
    app.use(traceContext(tracing));
    if (twice) app.use(traceContext(tracing));
  }

  app.get('/', (_req, res) => {
    res.send('root');
  });
  app.get('/users/:id', (req, res) => {
    res.json({ id: req.params.id });
  });
  app.get('/health', (_req, res) => {
    res.json({ ok: true, ...seen() });
  });
  app.get('/seen', (_req, res) => {
    res.json(seen());
  });
  app.get('/seen-async', async (_req, res) => {
    await sleep(5);
    await Promise.resolve();
    res.json(seen());
  });
  app.post('/seen-json', ex.json(), (req, res) => {
    res.json({ body: req.body, ...seen() });
  });
  app.propfind('/dav/:name', (_req, res) => {
    res.status(207).send('multi');
  });
  app.route('/books').get((_req, res) => {
    res.send('books');
  });

  const api = ex.Router();
  const users = ex.Router();
  users.get('/:id', (req, res) => {
    res.json({ user: req.params.id });
  });
  api.use('/users', users);
  app.use('/api', api);

  const org = ex.Router({ mergeParams: true });
  org.get('/members/:memberId', (req: Request, res: Response) => {
    res.json({ org: (req.params as Record<string, string>).orgId, member: req.params.memberId });
  });
  app.use('/orgs/:orgId', org);

  const items = ex.Router();
  items.get('/items/:itemId', (req, res) => {
    res.json({ item: req.params.itemId, base: req.baseUrl });
  });
  app.use('/v1', items);
  app.use('/v2', items);

  const admin = ex();
  admin.get('/stats', (_req, res) => {
    res.send('stats');
  });
  const reports = ex.Router();
  reports.get('/:year', (req, res) => {
    res.send(`report ${req.params.year}`);
  });
  admin.use('/reports', reports);
  app.use('/admin', admin);

  app.get('/status/:code', (req, res) => {
    res.status(Number(req.params.code)).send(`status ${req.params.code}`);
  });
  app.get('/error/sync', () => {
    throw new TypeError('sync failure');
  });
  app.get('/error/next', (_req: Request, _res: Response, next: NextFunction) => {
    next(new RangeError('next failure'));
  });
  app.get('/error/async', async () => {
    await sleep(1);
    throw new SyntaxError('async failure');
  });
  app.get('/stream', async (_req, res) => {
    res.setHeader('content-type', 'text/plain');
    for (const part of ['one ', 'two ', 'three']) {
      res.write(part);
      await sleep(5);
    }
    res.end();
  });
  app.get('/slow', async (_req, res) => {
    slow.started.resolve();
    await slow.release.promise;
    res.send('late');
    slow.finished.resolve();
  });
  app.get('/timing', (_req, res) => {
    res.setHeader('Server-Timing', 'db;dur=53');
    res.send('timed');
  });
  app.get('/timing-write-head', (_req, res) => {
    res.writeHead(200, { 'Server-Timing': 'app;dur=1', 'content-type': 'text/plain' });
    res.end('timed');
  });

  if (recordErrors) app.use(traceErrors());
  return app;
}
