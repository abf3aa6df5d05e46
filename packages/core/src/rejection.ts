import { reportOnce } from './report.js';
import { isNativePromise } from './span-scope.js';

/**
 * For a hook asked to answer synchronously that returned a promise (an async function): its
 * rejection is reported once through `diag`, never left to crash the application as unhandled.
 * The hook's promise exists only because tracing called it. Other values are left alone.
 */
export function reportRejection(result: unknown, message: string): void {
  if (result === undefined || !isNativePromise(result)) return;
  try {
    result.then(undefined, (error: unknown) => reportOnce(message, error));
  } catch {
    // A promise whose `then` throws cannot reject through it either.
  }
}
