import type { Attributes } from '@opentelemetry/api';
import { ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT } from './attributes.js';

/** The port grpc-js dials when a DNS target names none. */
const DEFAULT_PORT = 443;
const NO_ATTRIBUTES: Attributes = Object.freeze({});

/**
 * `server.address` and `server.port` of a channel target as grpc-js prints it (`dns:host:port`,
 * `dns:///host:port`, `ipv4:1.2.3.4:50051,...`, `unix:/path`, or a bare `host:port`).
 */
export function targetAttributes(target: string): Attributes {
  if (typeof target !== 'string' || target === '' || target === 'unknown') return NO_ATTRIBUTES;
  const colon = target.indexOf(':');
  const scheme = colon > 0 ? target.slice(0, colon) : '';
  if (scheme === 'unix' || scheme === 'unix-abstract') {
    const path = target.slice(colon + 1).replace(/^\/\/(?=\/)/, '');
    return path ? { [ATTR_SERVER_ADDRESS]: path } : NO_ATTRIBUTES;
  }
  let rest = target;
  if (scheme === 'dns' || scheme === 'ipv4' || scheme === 'ipv6' || scheme === 'xds') {
    rest = target.slice(colon + 1);
    if (rest.startsWith('//')) {
      // `//authority/name`: the name follows the (usually empty) authority.
      const slash = rest.indexOf('/', 2);
      rest = slash < 0 ? '' : rest.slice(slash + 1);
    }
    // Several addresses (`ipv4:10.0.0.1:50051,10.0.0.2:50051`): grpc.md says the whole target is
    // server.address, with no server.port.
    if (scheme !== 'dns' && scheme !== 'xds' && rest.includes(',')) return { [ATTR_SERVER_ADDRESS]: target };
  }
  return hostPortAttributes(rest, scheme === 'dns' || scheme === '' ? DEFAULT_PORT : undefined);
}

/** `server.address` and `server.port` of `host`, `host:port`, `[v6]:port` or a bare IPv6 address. */
export function hostPortAttributes(authority: string, defaultPort?: number): Attributes {
  if (typeof authority !== 'string' || authority === '') return NO_ATTRIBUTES;
  let host = authority;
  let portText: string | undefined;
  if (authority.charCodeAt(0) === 0x5b) {
    const close = authority.indexOf(']');
    if (close < 0) return NO_ATTRIBUTES;
    host = authority.slice(1, close);
    if (authority.charCodeAt(close + 1) === 0x3a) portText = authority.slice(close + 2);
  } else {
    const colon = authority.indexOf(':');
    // More than one colon without brackets is a bare IPv6 address.
    if (colon >= 0 && authority.indexOf(':', colon + 1) < 0) {
      host = authority.slice(0, colon);
      portText = authority.slice(colon + 1);
    }
  }
  if (host === '') return NO_ATTRIBUTES;
  const port = portText === undefined ? defaultPort : parsePort(portText);
  return port === undefined
    ? { [ATTR_SERVER_ADDRESS]: host }
    : { [ATTR_SERVER_ADDRESS]: host, [ATTR_SERVER_PORT]: port };
}

function parsePort(text: string): number | undefined {
  if (text.length === 0 || text.length > 5) return undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return undefined;
  }
  const port = Number(text);
  return port > 0 && port < 65536 ? port : undefined;
}

/**
 * Remembers the last input and its result: a client or server talks to one target or authority
 * almost always, so this skips re-parsing on every call.
 */
export function lastResult<T>(compute: (input: string) => T): (input: string) => T {
  let lastInput: string | undefined;
  let lastOutput: T | undefined;
  return function cached(input: string): T {
    if (input !== lastInput || lastOutput === undefined) {
      lastOutput = compute(input);
      lastInput = input;
    }
    return lastOutput;
  };
}
