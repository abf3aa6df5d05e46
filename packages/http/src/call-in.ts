import { type Context, context } from '@opentelemetry/api';

type Method = (...args: never[]) => unknown;

/**
 * `fn.apply(self, args)` with `active` as the active context. The same as
 * `context.with(active, fn, self, ...args)`, without the function the context manager binds to
 * `self` on every call (the wrappers forward every handler call and every event this way).
 */
export function callIn(active: Context, fn: Method, self: unknown, args: readonly unknown[]): unknown {
  return context.with(active, applyTo, undefined, fn, self, args);
}

function applyTo(fn: Method, self: unknown, args: readonly unknown[]): unknown {
  return Reflect.apply(fn, self, args as never[]);
}

/**
 * `fn` in `caller`'s context, switching only when another is active: a socket opened for another
 * caller's request brings that caller's context to every event of the requests it carries.
 */
export function callInCaller(caller: Context, fn: Method, self: unknown, args: readonly unknown[]): unknown {
  if (context.active() === caller) return Reflect.apply(fn, self, args as never[]);
  return callIn(caller, fn, self, args);
}
