// The route template of an Express request (`/api/users/:id`), read from the app's own router
// tree without patching Express. `req.route` is the matched route object; the routers it is
// mounted under are found once by identity, and their mount paths come from the layers:
// `layer.rawPath` (router >= 2.3, Express 5) or the layer's compiled path (Express 4).

type PathLike = string | RegExp | number | readonly PathLike[];

interface Key {
  name: string | number;
}

interface Layer {
  handle?: unknown;
  route?: unknown;
  /** router >= 2.3 (Express 5): the path the layer was registered with. */
  rawPath?: PathLike;
  /** router 2.x (Express 5): pure matchers, one per registered path. */
  slash?: boolean;
  matchers?: ReadonlyArray<(path: string) => { path: string } | false>;
  /** Express 4: the compiled path and its keys. */
  regexp?: RegExp & { fast_slash?: boolean };
  keys?: readonly Key[];
}

interface Candidate {
  /** Mount layers from the app's router down to the route's own layer (last). */
  chain: Layer[];
  /** The template inside the app, or undefined when a mount path cannot be read. */
  template: string | undefined;
}

interface Resolution {
  app: object;
  candidates: Candidate[];
  /** The full template when it does not depend on the request. */
  fixed: string | undefined;
}

export interface RoutedRequest {
  route?: unknown;
  app?: unknown;
  baseUrl?: string;
  originalUrl?: string;
  url?: string;
}

const resolutions = new WeakMap<object, Resolution>();
const appPrefixes = new WeakMap<object, string>();
const MAX_DEPTH = 32;
const MAX_CANDIDATES = 8;

/** The full route template of the request, or undefined when no route matched. */
export function routeTemplate(req: RoutedRequest): string | undefined {
  const route = req.route as { path?: PathLike } | undefined;
  if (route === undefined || route === null || typeof route !== 'object') return undefined;
  let resolution = resolutions.get(route);
  if (resolution === undefined) {
    resolution = resolve(req.app, route);
    // Not found under `req.app` (an error that left a sub-app): try again on a later request.
    if (resolution === undefined) return fallback(req, route);
    resolutions.set(route, resolution);
  }
  const remounted = remountPrefix(resolution.app, req);
  if (remounted === undefined && resolution.fixed !== undefined) return resolution.fixed;
  const candidate = resolution.candidates.length === 1 ? resolution.candidates[0] : pick(resolution, req);
  if (candidate?.template === undefined) return fallback(req, route);
  return join(remounted ?? appPrefix(resolution.app), candidate.template);
}

/**
 * The mount path this request came through, for a sub-app whose parent (the top app) mounts
 * sub-apps at several paths: a sub-app's `mountpath` holds only its last mount, so
 * `app.use('/v1', sub); app.use('/v2', sub)` would name every request `/v2/...`. The mount layer
 * that consumed the request's path (the concrete prefix Express reports as `baseUrl`) names it.
 */
function remountPrefix(app: object, req: RoutedRequest): string | undefined {
  const parent = (app as { parent?: { parent?: unknown } }).parent;
  if (parent === undefined || parent === null || parent.parent !== undefined) return undefined;
  const mounts = mountedApps(parent);
  if (mounts.length < 2) return undefined;
  const url = req.originalUrl ?? req.url;
  if (typeof url !== 'string') return undefined;
  const query = url.indexOf('?');
  const pathname = query === -1 ? url : url.slice(0, query);
  const baseUrl = typeof req.baseUrl === 'string' ? req.baseUrl : undefined;
  for (const layer of mounts) {
    const consumed = consumedBy(layer, pathname);
    if (consumed === undefined || consumed === 0) continue;
    if (baseUrl !== undefined && !baseUrl.startsWith(pathname.slice(0, consumed))) continue;
    return mountTemplate(layer);
  }
  return undefined;
}

const mountedAppLayers = new WeakMap<object, { length: number; mounts: Layer[] }>();

/** The layers of `app`'s router that mount a sub-app (Express names their handle `mounted_app`). */
function mountedApps(app: object): Layer[] {
  const stack = appRouter(app)?.stack;
  if (!Array.isArray(stack)) return [];
  const cached = mountedAppLayers.get(app);
  if (cached !== undefined && cached.length === stack.length) return cached.mounts;
  const mounts = (stack as Layer[]).filter(
    (layer) =>
      typeof layer?.handle === 'function' && (layer.handle as { name?: string }).name === 'mounted_app',
  );
  mountedAppLayers.set(app, { length: stack.length, mounts });
  return mounts;
}

function resolve(app: unknown, route: object): Resolution | undefined {
  const router = appRouter(app);
  if (!router) return undefined;
  const found: Layer[][] = [];
  search(router.stack, route, [], found, 0);
  if (found.length === 0) return undefined;
  const candidates = found.map((chain) => ({ chain, template: chainTemplate(chain, route) }));
  const only = candidates.length === 1 ? candidates[0] : undefined;
  return {
    app: app as object,
    candidates,
    fixed: only?.template === undefined ? undefined : join(appPrefix(app as object), only.template),
  };
}

function appRouter(app: unknown): { stack: unknown } | undefined {
  if (typeof app !== 'function') return undefined;
  const v4 = (app as { _router?: { stack: unknown } })._router;
  if (v4) return v4;
  try {
    // Express 5; on Express 4 this getter throws a deprecation error.
    return (app as { router?: { stack: unknown } }).router;
  } catch {
    return undefined;
  }
}

/** Depth-first search for the layers whose route is `route`, through nested routers. */
function search(stack: unknown, route: object, path: Layer[], found: Layer[][], depth: number): void {
  if (!Array.isArray(stack) || depth > MAX_DEPTH) return;
  for (const layer of stack as Layer[]) {
    if (found.length >= MAX_CANDIDATES) return;
    if (!layer || typeof layer !== 'object') continue;
    if (layer.route === route) {
      found.push([...path, layer]);
    } else if (layer.route === undefined && typeof layer.handle === 'function') {
      const nested = (layer.handle as { stack?: unknown }).stack;
      if (Array.isArray(nested)) {
        path.push(layer);
        search(nested, route, path, found, depth + 1);
        path.pop();
      }
    }
  }
}

function chainTemplate(chain: Layer[], route: { path?: PathLike }): string | undefined {
  let template = '';
  for (let i = 0; i < chain.length - 1; i++) {
    const mount = mountTemplate(chain[i]!);
    if (mount === undefined) return undefined;
    template = join(template, mount);
  }
  return join(template, formatPath(route.path));
}

function mountTemplate(layer: Layer): string | undefined {
  if (layer.rawPath !== undefined) return formatPath(layer.rawPath);
  const regexp = layer.regexp;
  if (regexp instanceof RegExp) {
    if (regexp.fast_slash) return '';
    return express4Template(regexp.source, layer.keys ?? []) ?? String(regexp);
  }
  // router 2.0-2.2 keeps no mount path; the caller falls back to req.baseUrl.
  return undefined;
}

/** Formats a registered path the way OpenTelemetry's Express instrumentation does. */
function formatPath(path: PathLike | undefined): string {
  if (typeof path === 'string') return path === '/' ? '' : path;
  if (path instanceof RegExp || typeof path === 'number') return String(path);
  if (Array.isArray(path)) return path.map((part) => formatPath(part as PathLike) || '/').join(',');
  return '';
}

/** Joins template parts without doubling the slash between them; the root is `/`. */
function join(prefix: string, part: string): string {
  if (part === '') return prefix === '' ? '/' : prefix;
  if (prefix === '' || prefix === '/') return part;
  return prefix.endsWith('/') && part.startsWith('/') ? prefix + part.slice(1) : prefix + part;
}

function appPrefix(app: object): string {
  let prefix = appPrefixes.get(app);
  if (prefix === undefined) {
    const { parent, mountpath } = app as { parent?: object; mountpath?: PathLike };
    prefix = parent ? join(appPrefix(parent), formatPath(mountpath)) : '';
    if (prefix === '/') prefix = '';
    appPrefixes.set(app, prefix);
  }
  return prefix;
}

/** A router mounted at several paths: the candidate whose mount layers match this request's path. */
function pick(resolution: Resolution, req: RoutedRequest): Candidate | undefined {
  const url = (resolution.app as { parent?: unknown }).parent ? undefined : (req.originalUrl ?? req.url);
  if (url !== undefined) {
    const query = url.indexOf('?');
    const pathname = query === -1 ? url : url.slice(0, query);
    for (const candidate of resolution.candidates)
      if (matchesMounts(candidate.chain, pathname)) return candidate;
  }
  return resolution.candidates[0];
}

function matchesMounts(chain: Layer[], pathname: string): boolean {
  let rest = pathname;
  for (let i = 0; i < chain.length - 1; i++) {
    const consumed = consumedBy(chain[i]!, rest);
    if (consumed === undefined) return false;
    rest = rest.slice(consumed);
    if (!rest.startsWith('/')) rest = `/${rest}`;
  }
  return true;
}

/** How much of `path` a mount layer consumes, using only its pure matchers; undefined if none. */
function consumedBy(layer: Layer, path: string): number | undefined {
  if (layer.slash) return 0;
  if (layer.matchers) {
    for (const matcher of layer.matchers) {
      const match = matcher(path);
      if (match) return match.path.length;
    }
    return undefined;
  }
  if (layer.regexp instanceof RegExp) {
    if (layer.regexp.fast_slash) return 0;
    const match = layer.regexp.exec(path);
    return match ? match[0].length : undefined;
  }
  return undefined;
}

/** When the mounts cannot be read: the matched prefix as Express reports it, plus the route path. */
function fallback(req: RoutedRequest, route: { path?: PathLike }): string {
  return join(typeof req.baseUrl === 'string' ? req.baseUrl : '', formatPath(route.path));
}

// Express 4 compiles mount paths with path-to-regexp 0.1 and keeps only the RegExp. These read
// its output back: `^\/orgs(?:\/([^\/]+?))\/?(?=\/|$)` is `/orgs/:orgId`. Anything else
// (a RegExp mount, unusual groups) returns undefined and the RegExp itself is the template.
const DEFAULT_CAPTURES = new Set(['[^/]+?', '[^\\/]+?', '[^/\\.]+?', '[^\\/\\.]+?']);
const STAR_SUFFIXES = ['((?:[/].+?)?)', '((?:[\\/].+?)?)', '((?:[/\\.].+?)?)', '((?:[\\/\\.].+?)?)'];
const ENDINGS = ['\\/?(?=\\/|$)', '(?=\\/|$)', '\\/?(?:\\/|$)', '(?:\\/|$)', '?(?=\\/|$)'];
const LITERAL = /[A-Za-z0-9_~\-,;=!'@&+%:]/;

export function express4Template(source: string, keys: readonly Key[]): string | undefined {
  const out: string[] = [];
  let template = '';
  let i = 0;
  let key = 0;
  if (source[i] !== '^') return undefined;
  i++;
  while (i < source.length) {
    const ending = ENDINGS.find((end) => source.startsWith(end, i));
    if (ending !== undefined) {
      i += ending.length;
      out.push(template || '/');
      template = '';
      if (i === source.length) break;
      if (source[i] !== '|' || source[i + 1] !== '^') return undefined;
      i += 2;
      continue;
    }
    const ch = source[i]!;
    if (ch === '\\') {
      const next = source[i + 1];
      if (next !== '/' && next !== '.' && next !== '-') return undefined;
      template += next;
      i += 2;
    } else if (source.startsWith('(.*)', i)) {
      if (typeof keys[key]?.name !== 'number') return undefined;
      key++;
      template += '*';
      i += 4;
    } else if (source.startsWith('(?:', i)) {
      const param = readParam(source, i, keys[key]);
      if (!param) return undefined;
      key++;
      template += param.text;
      i = param.end;
    } else if (LITERAL.test(ch)) {
      template += ch;
      i++;
    } else {
      return undefined;
    }
  }
  if (template !== '' || key !== keys.length || out.length === 0) return undefined;
  return out.length === 1 && out[0] === '/' ? '' : out.join(',');
}

/** Reads `(?:\.?\/?(capture)(star)?)?` at `start`: one named parameter. */
function readParam(
  source: string,
  start: number,
  key: Key | undefined,
): { text: string; end: number } | undefined {
  if (!key || typeof key.name !== 'string') return undefined;
  let i = start + 3;
  let text = '';
  if (source.startsWith('\\.', i)) {
    text += '.';
    i += 2;
  }
  if (source.startsWith('\\/', i)) {
    text += '/';
    i += 2;
  }
  if (source[i] !== '(') return undefined;
  const close = closingParen(source, i);
  if (close === -1) return undefined;
  const capture = source.slice(i + 1, close);
  text += `:${key.name}`;
  // The default captures, including the "not followed by" form of a parameter glued to text.
  if (!DEFAULT_CAPTURES.has(capture) && !capture.startsWith('(?:(?!')) text += `(${capture})`;
  i = close + 1;
  const star = STAR_SUFFIXES.find((suffix) => source.startsWith(suffix, i));
  if (star !== undefined) return undefined;
  if (source[i] !== ')') return undefined;
  i++;
  if (source[i] === '?') {
    text += '?';
    i++;
  }
  return { text, end: i };
}

/** The index of the parenthesis closing the one at `open`, skipping escapes and classes. */
function closingParen(source: string, open: number): number {
  let depth = 0;
  let inClass = false;
  for (let i = open; i < source.length; i++) {
    const ch = source[i];
    if (ch === '\\') {
      i++;
    } else if (inClass) {
      if (ch === ']') inClass = false;
    } else if (ch === '[') {
      inClass = true;
    } else if (ch === '(') {
      depth++;
    } else if (ch === ')') {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}
