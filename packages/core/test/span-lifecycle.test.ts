import {
  type Context,
  context,
  DiagLogLevel,
  diag,
  INVALID_SPAN_CONTEXT,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import {
  createIncomingSpans,
  createOutgoingSpans,
  errorType,
  headerGetter,
  type HeaderRecord,
  headerSetter,
  runInScope,
  SpanScope,
  type Trust,
} from '@tracewire/core';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { parentSpanId, setupTracing } from '../../../test/support/tracing.js';

const tracing = setupTracing();
afterAll(() => tracing.shutdown());
beforeEach(() => tracing.reset());

const silent = { error() {}, warn() {}, info() {}, debug() {}, verbose() {} };
const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const SPAN_ID = 'b7ad6b7169203331';
const identity = { packageName: '@tracewire/test', version: '0.0.0' };
const caller: HeaderRecord = {
  traceparent: `00-${TRACE_ID}-${SPAN_ID}-01`,
  tracestate: 'vendor=1',
  baggage: 'user=alice',
};
const incoming = (trust?: Trust<HeaderRecord>) =>
  createIncomingSpans<HeaderRecord, HeaderRecord>({ trust }, identity, SpanKind.SERVER, headerGetter);

describe('incoming spans and the trust policy', () => {
  it("continue: the span is the caller's child and the caller's baggage is active", () => {
    const scope = incoming().start(caller, caller, 'GET /x', { 'http.request.method': 'GET' });
    const seen = scope.run(() => ({
      span: trace.getActiveSpan(),
      user: propagation.getBaggage(context.active())?.getEntry('user')?.value,
    }));
    scope.end();
    const [span] = tracing.spans();
    expect(seen).toEqual({ span: scope.span, user: 'alice' });
    expect(span?.kind).toBe(SpanKind.SERVER);
    expect(span?.spanContext().traceId).toBe(TRACE_ID);
    expect(parentSpanId(span!)).toBe(SPAN_ID);
    expect(span?.spanContext().traceState?.serialize()).toBe('vendor=1');
    expect(span?.attributes['http.request.method']).toBe('GET');
    expect(span?.links).toEqual([]);
  });

  it('restart: a new root with a link to the caller, tracestate and baggage dropped', () => {
    const scope = incoming('restart').start(caller, caller, 'GET');
    const bag = scope.run(() => propagation.getBaggage(context.active()));
    scope.end();
    const [span] = tracing.spans();
    expect(span?.spanContext().traceId).not.toBe(TRACE_ID);
    expect(parentSpanId(span!)).toBeUndefined();
    expect(span?.links).toHaveLength(1);
    expect(span?.links[0]?.context).toEqual({ traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 1 });
    expect(span?.spanContext().traceState).toBeUndefined();
    expect(bag).toBeUndefined();
  });

  it('ignore: a new root with no link', () => {
    incoming('ignore').start(caller, caller, 'GET').end();
    const [span] = tracing.spans();
    expect(span?.spanContext().traceId).not.toBe(TRACE_ID);
    expect(parentSpanId(span!)).toBeUndefined();
    expect(span?.links).toEqual([]);
  });

  const decisions: Array<[rule: string, trust: Trust<HeaderRecord>, joins: boolean, links: number]> = [
    ['a function deciding continue', () => 'continue', true, 0],
    ['a function deciding ignore', () => 'ignore', false, 0],
    [
      'a function that throws falls back to restart',
      () => {
        throw new Error('boom');
      },
      false,
      1,
    ],
    ['a function returning nonsense falls back to restart', () => 'maybe' as never, false, 1],
  ];
  for (const [rule, trust, joins, links] of decisions) {
    it(rule, () => {
      incoming(trust).start(caller, caller, 'GET').end();
      const [span] = tracing.spans();
      expect(span?.spanContext().traceId === TRACE_ID, rule).toBe(joins);
      expect(span?.links, rule).toHaveLength(links);
    });
  }

  it('the trust function receives the request', () => {
    const seen: unknown[] = [];
    const request = { ip: '10.0.0.1' };
    createIncomingSpans<typeof request, HeaderRecord>(
      {
        trust: (req) => {
          seen.push(req);
          return 'continue';
        },
      },
      identity,
      SpanKind.SERVER,
      headerGetter,
    )
      .start(request, caller, 'GET')
      .end();
    expect(seen).toEqual([request]);
  });

  it('rejects a bad trust option when the adapter is created', () => {
    expect(() => incoming('trust-me' as never)).toThrow(TypeError);
    expect(() => incoming('trust-me' as never)).toThrow(/@tracewire\/test: trust must be/);
  });

  it('rejects a hostile trust option with its TypeError, not with the error its toString throws', () => {
    const hostile = {
      toString(): string {
        throw new Error('hostile');
      },
    };
    expect(() => incoming(hostile as never)).toThrow(/trust must be .* got an object/);
  });

  it('a malformed header gives a new root; a context leaked into the loop is never the parent', () => {
    const leaked = trace.getTracer('t').startSpan('startup');
    context.with(trace.setSpan(ROOT_CONTEXT, leaked), () => {
      incoming().start({}, { traceparent: 'garbage' }, 'GET').end();
    });
    leaked.end();
    const span = tracing.spans().find((s) => s.name === 'GET');
    expect(parentSpanId(span!)).toBeUndefined();
    expect(span?.spanContext().traceId).not.toBe(leaked.spanContext().traceId);
  });

  it('link() gives the caller context for batch spans, honouring trust', () => {
    expect(incoming().link(caller, caller)?.context.spanId).toBe(SPAN_ID);
    expect(incoming('ignore').link(caller, caller)).toBeUndefined();
    expect(incoming().link({}, {})).toBeUndefined();
    const links = [incoming().link(caller, caller)!];
    incoming().startRoot('process batch', { 'messaging.batch.message_count': 1 }, links).end();
    const [span] = tracing.spans();
    expect(parentSpanId(span!)).toBeUndefined();
    expect(span?.links[0]?.context.traceId).toBe(TRACE_ID);
  });

  it('a propagator that throws is reported, not thrown: a new trace starts', () => {
    const broken = createIncomingSpans(
      {
        propagator: {
          extract: () => {
            throw new Error('broken');
          },
          inject: () => {},
          fields: () => [],
        },
      },
      identity,
      SpanKind.CONSUMER,
      headerGetter,
    );
    expect(() => broken.start({}, caller, 'process q').end()).not.toThrow();
    expect(tracing.spans()[0]?.spanContext().traceId).not.toBe(TRACE_ID);
  });
});

describe('outgoing spans', () => {
  const outgoing = createOutgoingSpans<HeaderRecord>({}, identity, SpanKind.CLIENT, headerSetter);

  it('starts a child of the active span and injects its own context', () => {
    const parent = trace.getTracer('t').startSpan('parent');
    const headers: HeaderRecord = { accept: 'json', TraceParent: 'user-set' };
    const scope = context.with(trace.setSpan(ROOT_CONTEXT, parent), () => outgoing.start(headers, 'GET'));
    scope.end();
    parent.end();
    const { traceId, spanId } = scope.span.spanContext();
    expect(headers).toEqual({ accept: 'json', traceparent: `00-${traceId}-${spanId}-01` });
    expect(traceId).toBe(parent.spanContext().traceId);
    expect(parentSpanId(tracing.spans()[0]!)).toBe(parent.spanContext().spanId);
  });

  it('inject() writes the same context into another carrier', () => {
    const scope = outgoing.start(undefined, 'GET');
    const retry: HeaderRecord = {};
    outgoing.inject(scope, retry);
    scope.end();
    expect(retry.traceparent).toContain(scope.span.spanContext().spanId);
  });
});

describe("a scope's context reads and derives like the API's own contexts", () => {
  // Scope contexts put the span over their parent without copying it; every read and every
  // derived context must be what trace.setSpan(parent, span) would have given.
  const outgoing = createOutgoingSpans<HeaderRecord>({}, identity, SpanKind.CLIENT, headerSetter);
  const KEY = Symbol.for('tracewire.test.key');
  const OTHER = Symbol.for('tracewire.test.other');
  const parent = ROOT_CONTEXT.setValue(KEY, 'parent value');

  it('reads its span and its parent values; writes and deletes give the same as a real context', () => {
    const scope = outgoing.start(undefined, 'GET', undefined, parent);
    scope.end();
    const real = trace.setSpan(parent, scope.span);
    const same = (ctx: typeof real, expected: typeof real): void => {
      for (const key of [KEY, OTHER]) expect(ctx.getValue(key)).toBe(expected.getValue(key));
      expect(trace.getSpan(ctx)).toBe(trace.getSpan(expected));
    };
    same(scope.context, real);
    same(scope.context.setValue(OTHER, 1), real.setValue(OTHER, 1));
    same(scope.context.setValue(KEY, 2), real.setValue(KEY, 2));
    same(scope.context.deleteValue(KEY), real.deleteValue(KEY));
    same(trace.deleteSpan(scope.context), trace.deleteSpan(real));
    const other = trace.getTracer('t').startSpan('other');
    other.end();
    same(trace.setSpan(scope.context, other), trace.setSpan(real, other));
    expect(scope.context.getValue(KEY)).toBe('parent value');
  });

  it('every sequence of up to three writes and deletes reads the same as on a real context', () => {
    // The layer holds one entry besides the span without copying; the sequences cover writing it,
    // writing it again, a second key (the copy), deletes of each, and spans set and deleted over it.
    const scope = outgoing.start(undefined, 'GET', undefined, parent);
    scope.end();
    const spans = [trace.getTracer('t').startSpan('a'), trace.getTracer('t').startSpan('b')];
    for (const span of spans) span.end();
    type Step = (ctx: Context) => Context;
    const steps: Record<string, Step> = {
      'set OTHER': (ctx) => ctx.setValue(OTHER, 'other'),
      'set OTHER again': (ctx) => ctx.setValue(OTHER, 'other 2'),
      'set KEY': (ctx) => ctx.setValue(KEY, 'key'),
      'delete OTHER': (ctx) => ctx.deleteValue(OTHER),
      'delete KEY': (ctx) => ctx.deleteValue(KEY),
      'set span a': (ctx) => trace.setSpan(ctx, spans[0]!),
      'delete span': (ctx) => trace.deleteSpan(ctx),
    };
    const names = Object.keys(steps);
    const sequences: string[][] = [[]];
    for (let length = 0; length < 3; length++)
      for (const sequence of sequences.filter((each) => each.length === length))
        for (const name of names) sequences.push([...sequence, name]);
    expect(sequences).toHaveLength(1 + 7 + 49 + 343);
    for (const sequence of sequences) {
      let layered: Context = scope.context;
      let real: Context = trace.setSpan(parent, scope.span);
      for (const name of sequence) {
        layered = steps[name]!(layered);
        real = steps[name]!(real);
        // A span set over any of them: the layer or the real context under it keeps the entries.
        const over = (ctx: Context) => trace.setSpan(ctx, spans[1]!);
        for (const [a, b] of [
          [layered, real],
          [over(layered), over(real)],
        ] as const) {
          for (const key of [KEY, OTHER])
            expect(a.getValue(key), `${sequence.join(', ')}: ${String(key)}`).toBe(b.getValue(key));
          expect(trace.getSpan(a), sequence.join(', ')).toBe(trace.getSpan(b));
        }
      }
      // A scope started over it (the layer is replaced, not stacked) reads like the API's too.
      const child = outgoing.start(undefined, 'child', undefined, layered);
      child.end();
      const expected = trace.setSpan(real, child.span);
      for (const key of [KEY, OTHER])
        expect(child.context.getValue(key), `child of ${sequence.join(', ')}`).toBe(expected.getValue(key));
      expect(trace.getSpan(child.context)).toBe(child.span);
    }
  });

  it("deleting the span of an incoming scope drops the caller's remote span as well", () => {
    const scope = incoming().start(caller, caller, 'GET /x');
    scope.end();
    expect(trace.getSpan(scope.context)).toBe(scope.span);
    expect(trace.getSpan(trace.deleteSpan(scope.context))).toBeUndefined();
    expect(propagation.getBaggage(trace.deleteSpan(scope.context))?.getEntry('user')?.value).toBe('alice');
  });

  it('nested scopes parent on each other and each keeps its own span', () => {
    const outer = outgoing.start(undefined, 'outer', undefined, parent);
    const inner = outgoing.start(undefined, 'inner', undefined, outer.context);
    const innermost = outgoing.start(undefined, 'innermost', undefined, inner.context);
    for (const scope of [innermost, inner, outer]) scope.end();
    expect(parentSpanId(tracing.spans().find((span) => span.name === 'inner')!)).toBe(
      outer.span.spanContext().spanId,
    );
    expect(parentSpanId(tracing.spans().find((span) => span.name === 'innermost')!)).toBe(
      inner.span.spanContext().spanId,
    );
    expect([outer, inner, innermost].map((scope) => trace.getSpan(scope.context))).toEqual([
      outer.span,
      inner.span,
      innermost.span,
    ]);
    expect(innermost.context.getValue(KEY)).toBe('parent value');
  });
});

describe('SpanScope and runInScope', () => {
  const outgoing = createOutgoingSpans<HeaderRecord>({}, identity, SpanKind.PRODUCER, headerSetter);

  it('ends exactly once whatever mix of events arrives', () => {
    const scope = outgoing.start(undefined, 'send q');
    scope.end();
    scope.fail(new Error('late')).end();
    expect(tracing.spans()).toHaveLength(1);
    expect(tracing.spans()[0]?.status.code).toBe(SpanStatusCode.UNSET);
    expect(scope.ended).toBe(true);
  });

  it('a sync throw marks ERROR with error.type and reaches the caller unchanged', () => {
    const error = new RangeError('bad');
    const scope = outgoing.start(undefined, 'send q');
    expect(() =>
      runInScope(scope, () => {
        throw error;
      }),
    ).toThrow(error);
    const [span] = tracing.spans();
    expect(span?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'bad' });
    expect(span?.attributes['error.type']).toBe('RangeError');
    expect(span?.events[0]?.name).toBe('exception');
  });

  it('a rejection marks ERROR and reaches the caller unchanged once the span ended', async () => {
    const error = new Error('nope');
    const scope = outgoing.start(undefined, 'send q');
    await expect(runInScope(scope, () => Promise.reject(error))).rejects.toBe(error);
    expect(tracing.spans()[0]?.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('a rejection nobody handles stays unhandled, as without tracing', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    const listeners = process.listeners('unhandledRejection');
    process.removeAllListeners('unhandledRejection');
    process.on('unhandledRejection', onUnhandled);
    try {
      const error = new Error('ignored by the app');
      void runInScope(outgoing.start(undefined, 'send q'), () => Promise.reject(error));
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(unhandled).toEqual([error]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      for (const listener of listeners) process.on('unhandledRejection', listener);
    }
  });

  it('a value is returned as is and the function runs with the span active', async () => {
    const scope = outgoing.start(undefined, 'send q');
    const active = await runInScope(scope, async () => trace.getActiveSpan());
    expect(active).toBe(scope.span);
    await tracing.waitForSpans(1);
    expect(tracing.spans()[0]?.status.code).toBe(SpanStatusCode.UNSET);
  });

  const types: Array<[rule: string, error: unknown, type: string]> = [
    ['an Error subclass gives its class name', new TypeError('x'), 'TypeError'],
    ['a custom error class', new (class TimeoutError extends Error {})('x'), 'TimeoutError'],
    ['a string', 'oops', '_OTHER'],
    ['undefined', undefined, '_OTHER'],
    [
      'a Proxy of an Error whose every trap throws',
      new Proxy(new Error('x'), {
        get: () => {
          throw new Error('get');
        },
        getPrototypeOf: () => {
          throw new Error('prototype');
        },
      }),
      '_OTHER',
    ],
  ];
  for (const [rule, error, type] of types) {
    it(`errorType: ${rule}`, () => expect(errorType(error)).toBe(type));
  }

  it('a span whose every method throws (a broken tracer) is reported, never thrown', () => {
    const throwing = new Proxy(trace.wrapSpanContext(INVALID_SPAN_CONTEXT), {
      get: (target, key) =>
        key === 'spanContext'
          ? () => target.spanContext()
          : () => {
              throw new Error(`span ${String(key)} failed`);
            },
    });
    const warned: unknown[][] = [];
    diag.setLogger({ ...silent, warn: (...args: unknown[]) => warned.push(args) }, DiagLogLevel.WARN);
    try {
      const scope = new SpanScope(throwing, ROOT_CONTEXT);
      expect(() =>
        scope.setAttributes({ a: 1 }).setAttribute('b', 2).fail(new Error('app')).failWith('X', 'y').end(),
      ).not.toThrow();
      expect(scope.ended).toBe(true);
      const error = new Error('the app error');
      const thrown = new SpanScope(throwing, ROOT_CONTEXT);
      expect(() =>
        runInScope(thrown, () => {
          throw error;
        }),
      ).toThrow(error);
      expect(warned.length).toBeGreaterThanOrEqual(1);
      expect(String(warned[0]?.[0])).toMatch(/a span of the registered tracer threw/);
    } finally {
      diag.disable();
    }
  });

  it('fail() with a non-Error value records it as a message', () => {
    outgoing.start(undefined, 'send q').fail({ weird: true }).end();
    expect(tracing.spans()[0]?.status).toEqual({ code: SpanStatusCode.ERROR, message: '[object Object]' });
  });
});

describe('tracer options', () => {
  it('a tracer or tracerProvider that is not one fails when the adapter is made, naming it', () => {
    const identity = { packageName: '@tracewire/example', version: '0.0.0' };
    const make = (options: object) => createIncomingSpans(options, identity, SpanKind.SERVER, headerGetter);
    expect(() => make({ tracer: 5 })).toThrow(/@tracewire\/example: tracer must be/);
    expect(() => make({ tracerProvider: {} })).toThrow(/@tracewire\/example: tracerProvider must be/);
    expect(() => make({ tracer: trace.getTracer('ok') })).not.toThrow();
    expect(() => make({ trust: null })).toThrow(/@tracewire\/example: trust must be/);
  });
});

describe('a caller read once (caller, linkCaller, startCaller)', () => {
  const shape = (span: ReturnType<typeof tracing.spans>[number] | undefined) => ({
    traceId: span?.spanContext().traceId === TRACE_ID,
    parent: parentSpanId(span!),
    traceState: span?.spanContext().traceState?.serialize(),
    links: span?.links.map((link) => link.context),
  });
  const linked = (trust?: Trust<HeaderRecord>) =>
    createIncomingSpans<HeaderRecord, HeaderRecord>({ trust }, identity, SpanKind.CONSUMER, headerGetter, {
      linkParent: true,
    });
  const fallback = trace.setSpan(
    ROOT_CONTEXT,
    trace.wrapSpanContext({ traceId: 'f'.repeat(32), spanId: 'e'.repeat(16), traceFlags: 1 }),
  );

  for (const trust of ['continue', 'restart', 'ignore'] as const) {
    for (const carrier of [caller, {}, { traceparent: 'garbage', baggage: 'user=bob' }]) {
      it(`gives what link and start give: trust ${trust}, carrier ${JSON.stringify(carrier)}`, () => {
        const spans = linked(trust);
        const read = spans.caller(carrier, carrier);
        expect(spans.linkCaller(read, { n: 1 })).toEqual(spans.link(carrier, carrier, { n: 1 }));
        for (const parent of [undefined, fallback]) {
          const once = spans.startCaller(read, 'a', {}, undefined, parent);
          const user = once.run(() => propagation.getBaggage(context.active())?.getEntry('user')?.value);
          once.end();
          const twice = spans.start(carrier, carrier, 'b', {}, undefined, parent);
          const userTwice = twice.run(
            () => propagation.getBaggage(context.active())?.getEntry('user')?.value,
          );
          twice.end();
          const [first, second] = tracing.spans();
          expect(shape(first)).toEqual(shape(second));
          expect(user).toBe(userTwice);
          tracing.reset();
        }
      });
    }
  }

  it('asks the trust function once', () => {
    let calls = 0;
    const spans = linked(() => {
      calls++;
      return 'restart';
    });
    const read = spans.caller(caller, caller);
    spans.linkCaller(read);
    spans.startCaller(read, 'process q').end();
    expect(calls).toBe(1);
    expect(tracing.spans()[0]?.links.map((link) => link.context.spanId)).toEqual([SPAN_ID]);
  });
});
