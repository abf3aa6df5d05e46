// The string fast path of the CLIENT span's URL attributes must give exactly what the WHATWG
// parser gives; everything it does not take falls back to that parser.
import { describe, expect, it } from 'vitest';
import { describeRequest } from '../src/client-attributes.js';
import { rememberedOrigins, simpleUrl, simpleUrlOf } from '../src/simple-url.js';

/** What describeRequest makes of the URL through the `URL` object path. */
function parsed(url: string): ReturnType<typeof describeRequest> {
  let object: URL | undefined;
  try {
    object = new URL(url);
  } catch {
    object = undefined;
  }
  return describeRequest('GET', object);
}

const SIMPLE = [
  'http://127.0.0.1:8080/orders?id=1',
  'http://localhost:3000',
  'http://localhost:3000?x=1',
  'http://example.test',
  'https://example.test/',
  'http://example.test:80/a',
  'https://example.test:443/a?b=c',
  'https://example.test:80/a',
  'http://example.test:65535/a',
  "http://example.test/it's/(fine)*!$&+,;=:@~%20%zz?a=b&c=/d?e",
  'http://a-b.c-d.example/path/file.txt',
  'http://10.0.0.255/x',
  'http://255.255.255.255/x',
  'http://0.0.0.0/x',
  'http://example.test/?',
  'http://example.test/a/b/',
  'http://example.test/file?notsig=abc',
  'http://example.test/file?q=%41&sig',
];

const NOT_SIMPLE = [
  'HTTP://example.test/',
  'http://Example.test/',
  'http://user:pass@example.test/',
  'http://@example.test/',
  'http://[::1]:8080/',
  'http://xn--nxasmq6b.example/',
  'http://a.xn--nxasmq6b/',
  'http://127.1/',
  'http://0x7f.0.0.1/',
  'http://127.0.0.01/',
  'http://1.2.3.4.5/',
  'http://256.0.0.1/',
  'http://4294967295/',
  'http://example.1a/',
  'http://example.test:/',
  'http://example.test:080/',
  'http://example.test:0/',
  'http://example.test:65536/',
  'http://example.test:123456/',
  'http://example.test/a/../b',
  'http://example.test/a/./b',
  'http://example.test/a/.',
  'http://example.test/a/%2e%2E/b',
  'http://example.test/a/%2E/b',
  'http://example.test/a b',
  'http://example.test/a\tb',
  'http://example.test/a\\b',
  'http://example.test\\a',
  'http://example.test/a#frag',
  'http://example.test/a?b#frag',
  "http://example.test/?q='x'",
  'http://example.test/"x"',
  'http://example.test/<x>',
  'http://example.test/{x}',
  'http://example.test/`x`',
  'http://example.test/é',
  'http://example.test/a|b^c[d]',
  'http://example.test/file?X-Amz-Signature=abc',
  'http://example.test/file?sig=abc',
  'http://example.test/file?s%69g=abc',
  'http://.example.test/',
  'http://example.test./',
  'http://a..b/',
  'http://exa_mple.test/',
  'http:///x',
  'http:/x',
  'ws://example.test/',
  'ftp://example.test/',
  'file:///etc/passwd',
  '/relative',
  '',
  'http://',
];

describe('simple URLs', () => {
  it.each(SIMPLE)('%s takes the fast path and matches the URL parser', (url) => {
    expect(simpleUrl(url)).toBeDefined();
    expect(describeRequest('GET', url)).toEqual(parsed(url));
  });

  it.each(NOT_SIMPLE)('%s falls back to the URL parser, with the same result', (url) => {
    expect(simpleUrl(url)).toBeUndefined();
    expect(describeRequest('GET', url)).toEqual(parsed(url));
  });

  it('drops a default port and adds the empty path as the parser does', () => {
    expect(simpleUrl('http://example.test:80')).toEqual({
      href: 'http://example.test/',
      host: 'example.test',
      port: 80,
    });
    expect(simpleUrl('https://example.test:443?a=1')).toEqual({
      href: 'https://example.test/?a=1',
      host: 'example.test',
      port: 443,
    });
    expect(simpleUrl('https://example.test:8443/x')).toEqual({
      href: 'https://example.test:8443/x',
      host: 'example.test',
      port: 8443,
    });
  });
});

describe('an origin and a path given apart (undici dispatch options)', () => {
  const ORIGINS = [
    'http://127.0.0.1:8080',
    'http://localhost:3000/',
    'https://example.test:443',
    'http://example.test:80',
    'http://Example.test',
    'http://[::1]:8080',
    'http://example.test/base',
    'http://example.test?x=1',
    'http://user:pass@example.test',
  ];
  const PATHS = ['/orders?id=1', '', '?q=1', '/', '/a/../b', '/file?sig=abc', 'relative', '/é', '//double'];

  /** What the interceptor gave before the origin was scanned once: the two joined, then parsed. */
  function joined(origin: string, path: string): ReturnType<typeof describeRequest> {
    const base = origin.endsWith('/') && path.startsWith('/') ? origin.slice(0, -1) : origin;
    return describeRequest('GET', base + path);
  }

  for (const origin of ORIGINS) {
    it.each(PATHS)(`${origin} with %j gives what the joined URL gives`, (path) => {
      const simple = simpleUrlOf(origin, path);
      // Asked twice: the second answer comes from the remembered origin.
      expect(simpleUrlOf(origin, path)).toEqual(simple);
      if (simple === undefined) return;
      expect(describeRequest('GET', undefined, simple)).toEqual(joined(origin, path));
    });
  }

  it('takes the fast path for a plain origin and path, and not for an origin it would rewrite', () => {
    expect(simpleUrlOf('http://127.0.0.1:8080', '/orders?id=1')).toEqual({
      href: 'http://127.0.0.1:8080/orders?id=1',
      host: '127.0.0.1',
      port: 8080,
    });
    expect(simpleUrlOf('http://example.test:80', '')).toEqual({
      href: 'http://example.test/',
      host: 'example.test',
      port: 80,
    });
    expect(simpleUrlOf('http://Example.test', '/')).toBeUndefined();
    expect(simpleUrlOf('http://example.test/base', '/x')).toBeUndefined();
    expect(simpleUrlOf('http://example.test', '/file?X-Amz-Signature=abc')).toBeUndefined();
  });

  it('remembers at most 256 origins, and still answers for every one', () => {
    for (let port = 1000; port < 1600; port++) {
      expect(simpleUrlOf(`http://host-${port}.test:${port}`, '/a')?.port).toBe(port);
      expect(rememberedOrigins()).toBeLessThanOrEqual(256);
    }
    expect(rememberedOrigins()).toBeGreaterThan(0);
  });
});

describe('url.full with a secret query value: only that value changes', () => {
  // Found by trying: the redaction re-encoded the whole query (URLSearchParams), so the other values
  // no longer read as sent, a second `sig` was dropped, and an encoded key was not redacted.
  it.each([
    ['http://example.test/p?q=a%20b&sig=1', 'http://example.test/p?q=a%20b&sig=REDACTED'],
    ['http://example.test/p?q=~&sig=1', 'http://example.test/p?q=~&sig=REDACTED'],
    ['http://example.test/p?q=%zz&sig=1', 'http://example.test/p?q=%zz&sig=REDACTED'],
    ['http://example.test/p?a=1&sig=x&a=2&sig=y', 'http://example.test/p?a=1&sig=REDACTED&a=2&sig=REDACTED'],
    ['http://example.test/p?s%69g=1&a=2', 'http://example.test/p?s%69g=REDACTED&a=2'],
    ['http://example.test/p?X-Amz-Signature=1#frag', 'http://example.test/p?X-Amz-Signature=REDACTED#frag'],
    [
      'http://user:pw@example.test/p?a=b+c&sig=1',
      'http://REDACTED:REDACTED@example.test/p?a=b+c&sig=REDACTED',
    ],
    ['http://example.test/p?sig', 'http://example.test/p?sig'],
  ])('%s', (url, full) => {
    expect(describeRequest('GET', url).attributes['url.full']).toBe(full);
    expect(describeRequest('GET', new URL(url)).attributes['url.full']).toBe(full);
  });
});
