import {
  type Context,
  type TextMapPropagator,
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  propagation,
  ROOT_CONTEXT,
  trace,
  TraceFlags,
} from '@opentelemetry/api';
import { CompositePropagator, suppressTracing, W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BaggagePropagator,
  defaultPropagator,
  headerGetter,
  headerSetter,
  TraceContextPropagator,
  TraceState,
  W3CPropagator,
} from '@tracewire/core';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { setupTracing } from '../../../test/support/tracing.js';

const tracing = setupTracing();
afterAll(() => tracing.shutdown());
afterEach(() => propagation.disable());

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const SPAN_ID = 'b7ad6b7169203331';
const tracer = trace.getTracer('test');
const propagator = new TraceContextPropagator();

function extract(headers: Record<string, string | string[]>, p: TextMapPropagator = propagator): Context {
  return p.extract(ROOT_CONTEXT, headers, headerGetter);
}
function inject(ctx: Context, p: TextMapPropagator = propagator): Record<string, string> {
  const carrier: Record<string, string> = {};
  p.inject(ctx, carrier, headerSetter);
  return carrier;
}

describe('TraceContextPropagator', () => {
  it('extracts a remote span context', () => {
    const sc = trace.getSpanContext(
      extract({ traceparent: `00-${TRACE_ID}-${SPAN_ID}-01`, tracestate: 'a=1' }),
    );
    expect(sc).toMatchObject({ traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 1, isRemote: true });
    expect(sc?.traceState?.serialize()).toBe('a=1');
  });

  it('ignores an invalid traceparent (and its tracestate): a new trace starts', () => {
    const ctx = extract({ traceparent: `00-${TRACE_ID}-${SPAN_ID}-01-extra`, tracestate: 'a=1' });
    expect(trace.getSpanContext(ctx)).toBeUndefined();
  });

  it('a bad tracestate never affects traceparent', () => {
    const sc = trace.getSpanContext(
      extract({ traceparent: `00-${TRACE_ID}-${SPAN_ID}-01`, tracestate: 'A=1' }),
    );
    expect(sc?.traceId).toBe(TRACE_ID);
    // Validated on first use: it reads as empty and is never sent on.
    expect(sc?.traceState?.serialize()).toBe('');
    expect(sc?.traceState?.get('A')).toBeUndefined();
    expect(inject(trace.setSpanContext(ROOT_CONTEXT, sc!))).toEqual({
      traceparent: `00-${TRACE_ID}-${SPAN_ID}-01`,
    });
  });

  it('an oversized tracestate is dropped at once, unread', () => {
    const sc = trace.getSpanContext(
      extract({ traceparent: `00-${TRACE_ID}-${SPAN_ID}-01`, tracestate: `a=${'x'.repeat(100_000)}` }),
    );
    expect(sc?.traceState).toBeUndefined();
  });

  it('a tracestate with white space, empty members or repeats is sent normalised', () => {
    const ctx = extract({ traceparent: `00-${TRACE_ID}-${SPAN_ID}-01`, tracestate: ' a=1 ,, b=2,a=3,' });
    expect(inject(ctx).tracestate).toBe('a=1,b=2');
  });

  it('keeps the random flag across an OTel SDK child span', () => {
    const parent = extract({ traceparent: `00-${TRACE_ID}-${SPAN_ID}-03` });
    const span = tracer.startSpan('child', {}, parent);
    // The SDK itself keeps only the sampled bit.
    expect(span.spanContext().traceFlags).toBe(TraceFlags.SAMPLED);
    const headers = inject(trace.setSpan(parent, span));
    span.end();
    expect(headers.traceparent).toBe(`00-${TRACE_ID}-${span.spanContext().spanId}-03`);
  });

  it('keeps the random flag for a grandchild run in the active context', () => {
    const parent = extract({ traceparent: `00-${TRACE_ID}-${SPAN_ID}-02` });
    const headers = context.with(parent, () =>
      tracer.startActiveSpan('child', (child) =>
        tracer.startActiveSpan('grandchild', (grandchild) => {
          const out = inject(context.active());
          grandchild.end();
          child.end();
          return out;
        }),
      ),
    );
    // Sampled by the SDK's parent-based sampler? The parent was not sampled, so the bit stays 0.
    expect(headers.traceparent?.endsWith('-02')).toBe(true);
    expect(headers.traceparent?.slice(3, 35)).toBe(TRACE_ID);
  });

  it('does not set the random flag on a different trace', () => {
    const parent = extract({ traceparent: `00-${TRACE_ID}-${SPAN_ID}-03` });
    const root = tracer.startSpan('root', { root: true }, parent);
    const headers = inject(trace.setSpan(parent, root));
    root.end();
    expect(headers.traceparent?.endsWith('-01')).toBe(true);
  });

  it('sends unknown flag bits as 0', () => {
    expect(inject(extract({ traceparent: `00-${TRACE_ID}-${SPAN_ID}-ff` })).traceparent).toBe(
      `00-${TRACE_ID}-${SPAN_ID}-03`,
    );
  });

  it('re-emits a higher version as 00', () => {
    expect(inject(extract({ traceparent: `01-${TRACE_ID}-${SPAN_ID}-01-later` })).traceparent).toBe(
      `00-${TRACE_ID}-${SPAN_ID}-01`,
    );
  });

  it('never sends an empty tracestate header', () => {
    const ctx = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: TRACE_ID,
      spanId: SPAN_ID,
      traceFlags: 1,
      traceState: TraceState.empty(),
    });
    expect(inject(ctx)).toEqual({ traceparent: `00-${TRACE_ID}-${SPAN_ID}-01` });
  });

  it('passes tracestate on unchanged, several headers combined', () => {
    const ctx = extract({ traceparent: `00-${TRACE_ID}-${SPAN_ID}-01`, tracestate: ['a=1', 'b=2'] });
    expect(inject(ctx).tracestate).toBe('a=1,b=2');
  });

  it('truncates tracestate only when asked to', () => {
    const limited = new TraceContextPropagator({ maxTracestateLength: 7 });
    const ctx = extract({ traceparent: `00-${TRACE_ID}-${SPAN_ID}-01`, tracestate: 'a=1,b=2,c=3' });
    expect(inject(ctx, limited).tracestate).toBe('a=1,b=2');
    expect(inject(ctx).tracestate).toBe('a=1,b=2,c=3');
  });

  it.each([
    ['a numeric string', '100'],
    ['a negative number', -1],
    ['NaN', Number.NaN],
    ['null', null],
  ])('rejects %s as maxTracestateLength when constructed, not silently while sending', (_case, value) => {
    expect(() => new TraceContextPropagator({ maxTracestateLength: value as unknown as number })).toThrow(
      /maxTracestateLength must be a number/,
    );
  });

  it('injects nothing for an invalid span context or when tracing is suppressed', () => {
    expect(inject(ROOT_CONTEXT)).toEqual({});
    const ctx = extract({ traceparent: `00-${TRACE_ID}-${SPAN_ID}-01` });
    expect(inject(suppressTracing(ctx))).toEqual({});
  });

  it('reads header records case-insensitively and ignores two traceparent values', () => {
    expect(trace.getSpanContext(extract({ TraceParent: `00-${TRACE_ID}-${SPAN_ID}-01` }))?.traceId).toBe(
      TRACE_ID,
    );
    expect(
      trace.getSpanContext(
        extract({ traceparent: [`00-${TRACE_ID}-${SPAN_ID}-01`, `00-${TRACE_ID}-${SPAN_ID}-01`] }),
      ),
    ).toBeUndefined();
  });

  it('works as the global propagator and inside OTel CompositePropagator', () => {
    propagation.setGlobalPropagator(
      new CompositePropagator({ propagators: [propagator, new BaggagePropagator()] }),
    );
    const ctx = propagation.extract(ROOT_CONTEXT, {
      traceparent: `00-${TRACE_ID}-${SPAN_ID}-01`,
      baggage: 'k=v',
    });
    expect(trace.getSpanContext(ctx)?.traceId).toBe(TRACE_ID);
    expect(propagation.getBaggage(ctx)?.getEntry('k')?.value).toBe('v');
    const out: Record<string, string> = {};
    propagation.inject(ctx, out, defaultTextMapSetter);
    expect(out).toEqual({ traceparent: `00-${TRACE_ID}-${SPAN_ID}-01`, baggage: 'k=v' });
  });

  it('fields', () => {
    expect(propagator.fields()).toEqual(['traceparent', 'tracestate']);
    expect(new BaggagePropagator().fields()).toEqual(['baggage']);
    expect(new W3CPropagator().fields()).toEqual(['traceparent', 'tracestate', 'baggage']);
  });
});

describe('an extracted context reads and derives like trace.setSpanContext', () => {
  // The propagator puts the remote span over the given context without copying it; every read and
  // every derived context must be what the API's own contexts give.
  const KEY = Symbol.for('tracewire.test.key');
  const base = ROOT_CONTEXT.setValue(KEY, 'base value');
  const headers = { traceparent: `00-${TRACE_ID}-${SPAN_ID}-01`, tracestate: 'vendor=1' };

  it('the remote span, the base values, writes, deletes and a span set over it', () => {
    const extracted = new TraceContextPropagator().extract(base, headers, defaultTextMapGetter);
    const remote = trace.getSpanContext(extracted)!;
    expect(remote).toMatchObject({ traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 1, isRemote: true });
    expect(remote.traceState?.get('vendor')).toBe('1');
    const real = trace.setSpan(base, trace.getSpan(extracted)!);
    const same = (ctx: Context, expected: Context): void => {
      expect(ctx.getValue(KEY)).toBe(expected.getValue(KEY));
      expect(trace.getSpan(ctx)).toBe(trace.getSpan(expected));
    };
    same(extracted, real);
    same(extracted.setValue(KEY, 2), real.setValue(KEY, 2));
    same(extracted.deleteValue(KEY), real.deleteValue(KEY));
    same(trace.deleteSpan(extracted), trace.deleteSpan(real));
    const local = trace.getTracer('t').startSpan('local', {}, extracted);
    local.end();
    same(trace.setSpan(extracted, local), trace.setSpan(real, local));
    expect(trace.getSpan(trace.deleteSpan(trace.setSpan(extracted, local)))).toBeUndefined();
    expect(local.spanContext().traceId).toBe(TRACE_ID);
  });

  it('the random flag is kept alongside the remote span', () => {
    const extracted = new TraceContextPropagator().extract(
      base,
      { traceparent: `00-${TRACE_ID}-${SPAN_ID}-03` },
      defaultTextMapGetter,
    );
    const carrier: Record<string, string> = {};
    new TraceContextPropagator().inject(extracted, carrier, defaultTextMapSetter);
    expect(carrier.traceparent).toBe(`00-${TRACE_ID}-${SPAN_ID}-03`);
    expect(extracted.getValue(KEY)).toBe('base value');
  });
});

describe('BaggagePropagator', () => {
  const baggage = new BaggagePropagator();
  it('round-trips values and properties', () => {
    const ctx = baggage.extract(
      ROOT_CONTEXT,
      { baggage: 'user=al%20ice;ttl=3,__proto__=x' },
      defaultTextMapGetter,
    );
    const bag = propagation.getBaggage(ctx)!;
    expect(bag.getEntry('user')?.value).toBe('al ice');
    expect(bag.getEntry('user')?.metadata?.toString()).toBe('ttl=3');
    expect(bag.getEntry('__proto__')?.value).toBe('x');
    expect(inject(ctx, baggage)).toEqual({ baggage: 'user=al%20ice;ttl=3,__proto__=x' });
  });
  it('injects nothing without baggage', () => {
    expect(inject(ROOT_CONTEXT, baggage)).toEqual({});
  });
  it('injects nothing when tracing is suppressed, as OpenTelemetry W3CBaggagePropagator', () => {
    const ctx = baggage.extract(ROOT_CONTEXT, { baggage: 'k=v' }, defaultTextMapGetter);
    expect(inject(ctx, baggage)).toEqual({ baggage: 'k=v' });
    expect(inject(suppressTracing(ctx), baggage)).toEqual({});
    expect(inject(suppressTracing(ctx), new W3CPropagator())).toEqual({});
  });
});

describe('defaultPropagator', () => {
  it('falls back to W3C trace context and baggage when no propagator is registered', () => {
    const ctx = defaultPropagator.extract(
      ROOT_CONTEXT,
      { traceparent: `00-${TRACE_ID}-${SPAN_ID}-01`, baggage: 'a=1' },
      headerGetter,
    );
    expect(trace.getSpanContext(ctx)?.traceId).toBe(TRACE_ID);
    expect(inject(ctx, defaultPropagator)).toEqual({
      traceparent: `00-${TRACE_ID}-${SPAN_ID}-01`,
      baggage: 'a=1',
    });
  });
  it("honours the user's registered propagator, even one registered later", () => {
    const custom = {
      inject: (_: Context, carrier: unknown) => {
        (carrier as Record<string, string>)['x-custom'] = 'yes';
      },
      extract: (ctx: Context) => ctx,
      fields: () => ['x-custom'],
    };
    propagation.setGlobalPropagator(custom);
    const ctx = extract({ traceparent: `00-${TRACE_ID}-${SPAN_ID}-01` });
    expect(inject(ctx, defaultPropagator)).toEqual({ 'x-custom': 'yes' });
    expect(defaultPropagator.fields()).toEqual(['x-custom']);
  });
  it('is interchangeable with OTel W3CTraceContextPropagator on valid input', () => {
    const headers = {
      traceparent: `00-${TRACE_ID}-${SPAN_ID}-01`,
      tracestate: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7',
    };
    const ours = inject(extract(headers));
    const theirs = inject(new W3CTraceContextPropagator().extract(ROOT_CONTEXT, headers, headerGetter));
    expect(ours).toEqual(theirs);
  });
});

describe('header carrier', () => {
  it('getter: exact, then case-insensitive; numbers become strings', () => {
    expect(headerGetter.get({ traceparent: 'x' }, 'traceparent')).toBe('x');
    expect(headerGetter.get({ TRACEPARENT: 'y' }, 'traceparent')).toBe('y');
    expect(headerGetter.get({ 'content-length': 5 }, 'content-length')).toBe('5');
    expect(headerGetter.get({}, 'traceparent')).toBeUndefined();
    expect(headerGetter.keys({ a: '1', B: '2' })).toEqual(['a', 'B']);
  });
  it('setter replaces any spelling of the name instead of duplicating it', () => {
    const headers: Record<string, string> = { Traceparent: 'old', accept: 'json' };
    headerSetter.set(headers, 'traceparent', 'new');
    expect(headers).toEqual({ accept: 'json', traceparent: 'new' });
  });
});
