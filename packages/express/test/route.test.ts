import { createRequire } from 'node:module';
import express from 'express';
import express4 from 'express4';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { listen } from '../../../test/support/http-server.js';
import { express4Template, routeTemplate } from '../src/route.js';
import type { ExpressModule } from './app.js';

// path-to-regexp 0.1, as Express 4 uses it to compile mount paths.
const pathToRegexp = createRequire(import.meta.url)('path-to-regexp') as (
  path: string | string[] | RegExp,
  keys: Array<{ name: string | number }>,
  options: { end: boolean; strict?: boolean },
) => RegExp;

describe('express4Template reads back the mount paths Express 4 compiled', () => {
  it.each([
    ['/api', '/api'],
    ['/api/', '/api'],
    ['/orgs/:orgId', '/orgs/:orgId'],
    ['/a/:b?/c', '/a/:b?/c'],
    ['/files/*', '/files/*'],
    ['/x/:id(\\d+)', '/x/:id(\\d+)'],
    ['/file.:ext', '/file.:ext'],
    ['/a-:b', '/a-:b'],
    [['/v1', '/v2/:x'], '/v1,/v2/:x'],
  ])('%s', (path, template) => {
    const keys: Array<{ name: string | number }> = [];
    const regexp = pathToRegexp(path, keys, { end: false });
    expect(express4Template(regexp.source, keys)).toBe(template);
  });

  it.each([
    ['a RegExp mount', /^\/re(\d+)/],
    ['a repeated parameter', '/x/:y*'],
  ])('gives up on %s', (_case, path) => {
    const keys: Array<{ name: string | number }> = [];
    const regexp = pathToRegexp(path, keys, { end: false });
    expect(express4Template(regexp.source, keys)).toBeUndefined();
  });
});

/** Serves `app` and returns the body of GET `url`. */
async function body(app: ReturnType<ExpressModule>, url: string): Promise<string> {
  const server = await listen(app);
  try {
    const response = await request(`${server.url}${url}`);
    return await response.body.text();
  } finally {
    await server.close();
  }
}

describe.each([
  ['Express 5', express],
  ['Express 4', express4 as ExpressModule],
])('routeTemplate on %s', (_label, ex) => {
  it.each([
    ['a RegExp mount', /^\/v\d+/, '/v3/items', '/^\\/v\\d+/items'],
    ['an array mount', ['/one', '/two'], '/two/items', '/one,/two/items'],
  ])('formats %s as OpenTelemetry does', async (_case, mount, url, template) => {
    const app = ex();
    const router = ex.Router();
    router.get('/items', (req, res) => {
      res.send(routeTemplate(req));
    });
    app.use(mount as unknown as string, router);
    expect(await body(app, url)).toBe(template);
  });

  it('falls back to the matched base URL when a mount path cannot be read (router < 2.3)', async () => {
    const app = ex();
    const router = ex.Router();
    router.get('/items/:id', (req, res) => {
      // Old routers keep neither rawPath nor a RegExp on their layers: hide them once routed.
      const stack = ((app as unknown as { _router?: { stack: object[] } })._router ?? app.router).stack;
      const saved = stack.map((layer) => ({ ...layer }));
      for (const layer of stack as Array<Record<string, unknown>>) {
        layer.rawPath = undefined;
        layer.regexp = undefined;
      }
      const template = routeTemplate(req);
      for (const [i, layer] of stack.entries()) Object.assign(layer, saved[i]);
      res.send(template);
    });
    app.use('/shop', router);
    expect(await body(app, '/shop/items/4')).toBe('/shop/items/:id');
  });
});
