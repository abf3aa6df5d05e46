import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { reportOnce } from '@tracewire/core';
import { appendServerTiming } from '@tracewire/http';

const SERVER_TIMING = 'server-timing';
const HOOKED = Symbol('tracewire.server-timing');
const failed = '@tracewire/express: could not add the Server-Timing response header';

type WriteHead = ServerResponse['writeHead'];
type HookedResponse = ServerResponse & { [HOOKED]?: { value: string; writeHead: WriteHead; done: boolean } };

/**
 * Adds `entry` to the response's `Server-Timing` header just before the headers are written, after
 * any value the application set, so it neither overwrites nor is overwritten by the app's entries.
 * Hooks this response's own `writeHead` (as `on-headers` does); Express's prototypes stay untouched.
 */
export function addServerTiming(res: ServerResponse, entry: string): void {
  const hooked = res as HookedResponse;
  if (hooked[HOOKED] !== undefined || res.headersSent) return;
  hooked[HOOKED] = { value: entry, writeHead: res.writeHead, done: false };
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
      reportOnce(failed, error);
    }
  }
  return (state.writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
}

function appendEntry(res: ServerResponse, args: unknown[], entry: string): void {
  // writeHead(status, [message], [headers]): headers given here override what setHeader stored.
  const at = typeof args[1] === 'string' ? 2 : 1;
  const given = args[at];
  if (Array.isArray(given)) {
    if (given.some((item, i) => i % 2 === 0 && String(item).toLowerCase() === SERVER_TIMING)) {
      args[at] = [...given, 'Server-Timing', entry];
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
