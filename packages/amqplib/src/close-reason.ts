import { errorMonitor } from 'node:events';
import type { Closing } from './open-spans.js';

/** Why a channel closed, as far as the broker said: what spans it ends record as `error.type`. */
export interface CloseReason {
  /** The broker's error that is closing the channel, if any so far. */
  brokerError(): { type: string; message: string } | undefined;
  channelClosed(): Closing;
  connectionLost(): Closing;
}

interface Emitter {
  on(event: string | symbol, listener: (...args: unknown[]) => void): unknown;
}

/**
 * Watches a channel's errors through `errorMonitor`, which observes an `'error'` without counting
 * as a listener: an app with no error listener still gets the crash it would get untraced. The
 * broker closes a channel with a reply such as `404 (NOT-FOUND)`; amqplib then fails pending
 * confirms with a bare `channel closed`, so the reply is what names the cause.
 */
export function watchClose(channel: unknown): CloseReason {
  let last: { type: string; message: string } | undefined;
  try {
    (channel as Emitter).on(errorMonitor, (error: unknown) => {
      last = describeBrokerError(error);
    });
  } catch {
    // Not an emitter: closes are still seen, without the broker's reason.
  }
  return {
    brokerError: () => last,
    channelClosed: () => ({
      settlement: 'channel_closed',
      type: last?.type ?? 'channel_closed',
      message: last?.message ?? 'channel closed before the message was settled',
    }),
    connectionLost: () => ({
      settlement: 'connection_closed',
      type: 'connection_closed',
      message: "the connection's socket closed",
    }),
  };
}

/** Most characters of a broker message read for its reply name. */
const MAX_REPLY_SCAN = 512;

/** `NOT_FOUND` from `... 404 (NOT-FOUND) with message "NOT_FOUND - no exchange ..."`; else the reply code. */
export function describeBrokerError(error: unknown): { type: string; message: string } | undefined {
  if (!(error instanceof Error)) return undefined;
  const message = String(error.message).slice(0, MAX_REPLY_SCAN);
  const quoted = message.indexOf('with message "');
  if (quoted >= 0) {
    const start = quoted + 'with message "'.length;
    let end = start;
    while (end < message.length && isReplyChar(message.charCodeAt(end))) end++;
    if (end > start) return { type: message.slice(start, end), message };
  }
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'number') return { type: String(code), message };
  return undefined;
}

function isReplyChar(code: number): boolean {
  return (code >= 65 && code <= 90) || code === 95 || (code >= 48 && code <= 57);
}

type SocketListener = () => void;
const socketListeners = new WeakMap<object, Set<SocketListener>>();

/**
 * Calls `listener` when the socket under the channel's connection closes. amqplib does not notice
 * a socket destroyed without an error (no `'end'`, no `'error'`), so its channels never close and
 * confirms and handlers would wait forever. One listener per socket, whatever the number of channels.
 */
export function onSocketClose(channel: unknown, listener: SocketListener): void {
  let stream: { once?: unknown; destroyed?: unknown } | undefined;
  try {
    stream = (channel as { connection?: { stream?: { once?: unknown; destroyed?: unknown } } }).connection
      ?.stream;
  } catch {
    return;
  }
  if (!stream || typeof stream.once !== 'function') return;
  let listeners = socketListeners.get(stream);
  if (!listeners) {
    const created = new Set<SocketListener>();
    listeners = created;
    socketListeners.set(stream, created);
    (stream as Emitter & { once(event: string, listener: () => void): unknown }).once('close', () => {
      socketListeners.delete(stream!);
      for (const each of created) each();
    });
  }
  listeners.add(listener);
}

/** Stops calling `listener` (its channel closed). */
export function offSocketClose(channel: unknown, listener: SocketListener): void {
  try {
    const stream = (channel as { connection?: { stream?: object } }).connection?.stream;
    if (stream) socketListeners.get(stream)?.delete(listener);
  } catch {
    // Nothing to stop.
  }
}
