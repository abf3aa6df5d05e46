import { reportOnce } from './report.js';
import { isNativePromise } from './span-scope.js';

/**
 * For a hook asked to answer synchronously that returned a promise (an async function): its
 * rejection is reported once through `diag` as "`{source}: {hook}'s promise rejected`", never left
 * to crash the application as unhandled. The hook's promise exists only because tracing called
 * it. Other values are left alone, and no message is built for them: hooks run per request.
 */
export function reportRejection(result: unknown, source: string, hook: string): void {
  if (result === undefined || !isNativePromise(result)) return;
  try {
    promiseThen.call(result, undefined, (error: unknown) =>
      reportOnce(`${source}: ${hook}'s promise rejected`, error),
    );
  } catch {
    // A promise whose `then` throws cannot reject through it either.
  }
}

const promiseThen = Promise.prototype.then;
