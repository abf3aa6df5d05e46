// The string fast path of the CLIENT span's URL attributes must give exactly what the WHATWG
// parser gives; everything it does not take falls back to that parser.
import { describe, expect, it } from 'vitest';
import { describeRequest } from '../src/client-attributes.js';
import { simpleUrl } from '../src/simple-url.js';

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
  'http://example.test/file?notsig=abc',
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
