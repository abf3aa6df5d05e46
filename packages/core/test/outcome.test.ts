import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import {
  type HeaderRecord,
  causeErrorType,
  createIncomingSpans,
  headerGetter,
  innermostCause,
  isNativePromise,
  observeInScope,
  observeOutcome,
  runInScope,
  runInScopeAsIs,
} from '@tracewire/core';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { setupTracing } from '../../../test/support/tracing.js';

const tracing = setupTracing();
afterAll(() => tracing.shutdown());
beforeEach(() => tracing.reset());

const identity = { packageName: '@tracewire/test', version: '0.0.0' };
const incoming = createIncomingSpans<HeaderRecord, HeaderRecord>(
  {},
  identity,
  SpanKind.CONSUMER,
  headerGetter,
);
const start = () => incoming.start({}, {}, 'process q');
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('observeInScope: outcome of a handler whose return value the library ignores', () => {
  it('returns the very promise the handler returned, not a chained one', async () => {
    const promise = Promise.resolve(1);
    expect(observeInScope(start(), () => promise)).toBe(promise);
    await tick();
    expect(tracing.spans()[0]?.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('a rejected promise the app already handled causes no unhandledRejection', async () => {
    const unhandled: unknown[] = [];
    const listener = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', listener);
    try {
      const result = observeInScope(start(), () => {
        const promise = Promise.reject(new RangeError('handled by the app'));
        promise.catch(() => {});
        return promise;
      });
      expect(result).toBeInstanceOf(Promise);
      await tick();
      await tick();
    } finally {
      process.off('unhandledRejection', listener);
    }
    expect(unhandled).toEqual([]);
    const [span] = tracing.spans();
    expect(span?.status.code).toBe(SpanStatusCode.ERROR);
    expect(span?.attributes['error.type']).toBe('RangeError');
  });

  it('a synchronous throw reaches the caller and the span ends ERROR', () => {
    expect(() =>
      observeInScope(start(), () => {
        throw new TypeError('sync');
      }),
    ).toThrow('sync');
    expect(tracing.spans()[0]?.attributes['error.type']).toBe('TypeError');
  });

  it('a synchronous return ends the span at once and calls onSettled', () => {
    const seen: boolean[] = [];
    expect(
      observeInScope(
        start(),
        () => 7,
        (outcome) => seen.push(outcome.ok),
      ),
    ).toBe(7);
    expect(tracing.spans()).toHaveLength(1);
    expect(seen).toEqual([true]);
  });

  it('a throwing onSettled never reaches the application', async () => {
    const result = observeInScope(
      start(),
      () => Promise.resolve(),
      () => {
        throw new Error('tracing bug');
      },
    );
    await result;
    await tick();
    expect(tracing.spans()).toHaveLength(1);
  });

  it('a thenable whose then throws is returned as is', () => {
    const hostile = {
      // biome-ignore lint/suspicious/noThenProperty: the hostile thenable under test
      then() {
        throw new Error('bad then');
      },
    };
    expect(observeOutcome(hostile, () => {})).toBe(hostile);
  });

  it('a thenable that is not a promise is never called (a lazy query stays unrun); the span ends', () => {
    let calls = 0;
    const lazy = {
      // biome-ignore lint/suspicious/noThenProperty: a lazy query builder
      then(resolve: (value: string) => void) {
        calls++;
        resolve('rows');
      },
    };
    expect(observeInScope(start(), () => lazy)).toBe(lazy);
    expect(calls).toBe(0);
    expect(tracing.spans()).toHaveLength(1);
  });
});

describe('isNativePromise', () => {
  it("knows this realm's and another realm's promises, not thenables, and never throws", async () => {
    const { runInNewContext } = await import('node:vm');
    expect(isNativePromise(Promise.resolve())).toBe(true);
    expect(isNativePromise(runInNewContext('Promise.resolve(1)'))).toBe(true);
    // biome-ignore lint/suspicious/noThenProperty: a thenable that is not a promise
    expect(isNativePromise({ then() {} })).toBe(false);
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    expect(isNativePromise(proxy)).toBe(false);
    expect(observeOutcome(proxy, () => {})).toBe(proxy);
  });
});

describe('runInScope: a handler the library awaits', () => {
  it('adopts a thenable into a promise that settles as it does, its then run in the span', async () => {
    let activeInThen: string | undefined;
    const query = {
      // biome-ignore lint/suspicious/noThenProperty: a query builder whose then returns nothing
      then(resolve: (value: string) => void) {
        activeInThen = trace.getActiveSpan()?.spanContext().spanId;
        resolve('rows');
      },
    };
    await expect(runInScope(start(), () => query)).resolves.toBe('rows');
    const [span] = tracing.spans();
    expect(activeInThen).toBe(span?.spanContext().spanId);
    const failing = {
      // biome-ignore lint/suspicious/noThenProperty: a thenable that rejects
      then(_: unknown, reject: (error: Error) => void) {
        reject(new RangeError('query failed'));
      },
    };
    await expect(runInScope(start(), () => failing)).rejects.toThrow(RangeError);
    expect(tracing.spans()[1]?.status.code).toBe(SpanStatusCode.ERROR);
  });
});

describe('runInScopeAsIs: a function whose value the application gets', () => {
  it("returns fn's own promise, its own properties kept, and ends the span when it settles", async () => {
    const promise = Object.assign(Promise.resolve('done'), { child: 'the child process' });
    const returned = runInScopeAsIs(start(), () => promise);
    expect(returned).toBe(promise);
    expect(returned.child).toBe('the child process');
    await tick();
    expect(tracing.spans()[0]?.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('a rejection the app handles on its own promise, the returned value ignored, stays handled', async () => {
    const unhandled: unknown[] = [];
    const listener = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', listener);
    try {
      const work = Promise.reject(new RangeError('bill failed'));
      work.catch(() => {});
      runInScopeAsIs(start(), () => work);
      await tick();
      await tick();
    } finally {
      process.off('unhandledRejection', listener);
    }
    expect(unhandled).toEqual([]);
    expect(tracing.spans()[0]?.status.code).toBe(SpanStatusCode.ERROR);
    expect(tracing.spans()[0]?.attributes['error.type']).toBe('RangeError');
  });

  it('a value is returned as is and a throw reaches the caller, each span ended once', () => {
    expect(runInScopeAsIs(start(), () => 7)).toBe(7);
    const error = new TypeError('sync');
    expect(() =>
      runInScopeAsIs(start(), () => {
        throw error;
      }),
    ).toThrow(error);
    expect(tracing.spans().map((span) => span.status.code)).toEqual([
      SpanStatusCode.UNSET,
      SpanStatusCode.ERROR,
    ]);
  });

  it('a thenable that is not a promise is adopted in the span, as runInScope does', async () => {
    let activeInThen: string | undefined;
    const query = {
      // biome-ignore lint/suspicious/noThenProperty: a query builder whose then returns nothing
      then(resolve: (value: string) => void) {
        activeInThen = trace.getActiveSpan()?.spanContext().spanId;
        resolve('rows');
      },
    };
    await expect(runInScopeAsIs(start(), () => query)).resolves.toBe('rows');
    expect(activeInThen).toBe(tracing.spans()[0]?.spanContext().spanId);
  });
});

describe('innermostCause', () => {
  it('follows cause through Error instances, bounded and cycle-safe', () => {
    const root = new SyntaxError('root');
    expect(innermostCause(new Error('a', { cause: new Error('b', { cause: root }) }))).toBe(root);
    expect(innermostCause(new Error('a', { cause: 'text' })) instanceof Error).toBe(true);
    const loop = new Error('loop') as Error & { cause?: unknown };
    loop.cause = loop;
    expect(innermostCause(loop)).toBe(loop);
    expect(causeErrorType(new Error('x', { cause: root }))).toBe('SyntaxError');
    expect(causeErrorType('not an error')).toBe('_OTHER');
  });
});
