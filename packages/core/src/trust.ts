import { reportOnce } from './report.js';
import { reportRejection } from './rejection.js';

/** How an incoming adapter treats the caller's trace context. */
export type TrustMode = 'continue' | 'restart' | 'ignore';

/**
 * `continue` joins the caller's trace (default); `restart` starts a new trace with a link to the
 * caller's context and drops its tracestate and baggage; `ignore` starts a new trace with no link.
 * A function decides per request; if it throws or returns anything else, `restart` is used.
 */
export type Trust<Request> = TrustMode | ((request: Request) => TrustMode);

const MODES: ReadonlySet<unknown> = new Set(['continue', 'restart', 'ignore']);

export function isTrustMode(value: unknown): value is TrustMode {
  return MODES.has(value);
}

/** Validates a `trust` option when the adapter is created. */
export function checkTrust<Request>(trust: unknown, packageName: string): Trust<Request> {
  if (typeof trust === 'function' || isTrustMode(trust)) return trust as Trust<Request>;
  throw new TypeError(
    `${packageName}: trust must be 'continue', 'restart', 'ignore' or a function, got ${describe(trust)}`,
  );
}

/** A printable name of a bad option value; a hostile value must not replace the TypeError. */
function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}

/** The mode for one request. A failing or wrong decision falls back to the cautious `restart`. */
export function decideTrust<Request>(trust: Trust<Request>, request: Request): TrustMode {
  if (typeof trust !== 'function') return trust;
  try {
    const mode = trust(request);
    if (isTrustMode(mode)) return mode;
    // An async function decides nothing in time; its rejection must not go unhandled.
    reportRejection(mode, 'tracewire', 'trust');
    reportOnce(TRUST_NO_MODE);
  } catch (error) {
    reportOnce(TRUST_THREW, error);
  }
  return 'restart';
}

const TRUST_THREW = "tracewire: trust threw; the caller's context is restarted";
const TRUST_NO_MODE =
  "tracewire: trust returned no mode ('continue', 'restart' or 'ignore', synchronously); the caller's context is restarted";
