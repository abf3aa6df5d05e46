import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { reportOnce } from '@tracewire/core';
import { appendServerTiming } from './server-timing.js';

const SERVER_TIMING = 'server-timing';
const HOOKED = Symbol('tracewire.server-timing');

type WriteHead = ServerResponse['writeHead'];
interface Hook {
  value: string;
  writeHead: WriteHead;
  done: boolean;
  failed: string;
}
type HookedResponse = ServerResponse & { [HOOKED]?: Hook };

/**
 * Adds `entry` (if any) to the response's `Server-Timing` header just before the headers are written, after
 * any value the application set, so it neither overwrites nor is overwritten by the app's entries.
 * Hooks this response's own `writeHead` (as `on-headers` does); the framework's prototypes stay
 * untouched. Being the last step before the headers go out, it also survives a framework hook
 * (a Fastify route-level `onSend`) that sets the header after the adapter's own hooks ran.
 */
export function addServerTiming(res: ServerResponse, entry: string | undefined, packageName: string): void {
  const hooked = res as HookedResponse;
  if (entry === undefined || hooked[HOOKED] !== undefined || res.headersSent) return;
  const failed = `${packageName}: could not add the Server-Timing response header`;
  hooked[HOOKED] = { value: entry, writeHead: res.writeHead, done: false, failed };
  res.writeHead = writeHeadWithServerTiming as WriteHead;
}

function writeHeadWithServerTiming(this: HookedResponse, ...args: unknown[]): ServerResponse {
  const state = this[HOOKED]!;
  // Only the first call adds the entry; a second one is the app's own error and stays its own.
  if (!state.done && !this.headersSent) {
    state.done = true;
    try {
      appendEntry(this, args, state.value);
    } catch (error) {
      reportOnce(state.failed, error);
    }
  }
  return (state.writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
}

function appendEntry(res: ServerResponse, args: unknown[], entry: string): void {
  // writeHead(status, [message], [headers]): headers given here override what setHeader stored.
  const at = typeof args[1] === 'string' ? 2 : 1;
  const given = args[at];
  if (Array.isArray(given) && Array.isArray(given[0]) && res.getHeaderNames().length === 0) {
    // A list of [name, value] pairs, which Node writes only while no header is set: one more pair
    // (a header line of its own), since a setHeader would make Node reject the list. With a header
    // set Node rejects it anyway, and the setHeader below leaves its error as it was.
    args[at] = [...given, ['Server-Timing', entry]];
    return;
  }
  if (Array.isArray(given)) {
    // A flat list: the entry joins the app's last Server-Timing value. A pair of its own would
    // replace the app's on Node 20, which applies list pairs with setHeader once a header is set.
    let last = -1;
    for (let i = 0; i + 1 < given.length; i += 2) {
      if (String(given[i]).toLowerCase() === SERVER_TIMING) last = i;
    }
    if (last !== -1) {
      const copy = given.slice();
      copy[last + 1] = appendServerTiming(copy[last + 1], entry);
      args[at] = copy;
      return;
    }
  } else if (given && typeof given === 'object') {
    const headers = given as OutgoingHttpHeaders;
    for (const name of Object.keys(headers)) {
      if (name.toLowerCase() === SERVER_TIMING && headers[name] !== undefined) {
        args[at] = { ...headers, [name]: appendServerTiming(headers[name], entry) };
        return;
      }
    }
  }
  res.setHeader('Server-Timing', appendServerTiming(res.getHeader(SERVER_TIMING), entry));
}
