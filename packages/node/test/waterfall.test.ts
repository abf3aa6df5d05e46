import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { normaliseReadableSpan, renderWaterfall } from '@tracewire/node';
import { describe, expect, it } from 'vitest';
import { defaultColor } from '../src/waterfall-text.js';
import { TRACE_ID, at, checkoutTrace, span } from './span-fixtures.js';
import { spanAccounting } from '../../../test/support/span-accounting.js';

const plain = { color: false } as const;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching ANSI escapes is the point
const stripAnsi = (text: string): string => text.replace(/\u001b\[\d+m/g, '');
const columns = (text: string): number => Array.from(text).length;
// Control characters other than the newlines between lines.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL_CHARS = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

/** The columns a row's bar covers: [first block, last block + 1). */
function barOf(output: string, name: string): [number, number] {
  const line = output.split('\n').find((row) => row.includes(` ${name} `));
  if (!line) throw new Error(`no row for ${name}`);
  const chars = Array.from(line);
  const first = chars.indexOf('█');
  return [first, chars.lastIndexOf('█') + 1];
}

describe('renderWaterfall', () => {
  it('draws a multi-service trace as a tree on a shared time axis', () => {
    expect(renderWaterfall(checkoutTrace(), { width: 80, ...plain })).toBe(
      `Trace 4bf92f3577b34da6a3ce929d0e0e4736 · 120.0 ms · 5 spans · api-gateway, work…
service     span                 kind      duration 0                   120.0 ms
api-gateway POST /checkout       server    120.0 ms ████████████████████████████
api-gateway ├─ SELECT orders     client     20.0 ms  █████
api-gateway ├─ send orders       producer    5.0 ms       █
worker      │  └─ process orders consumer   60.0 ms          ██████████████
            │       · +60.0 ms retry attempt=2 reason="lock timeout"
api-gateway └─ ✗ GET             client     38.0 ms        █████████
                 ✗ ERROR Error: connect ECONNREFUSED
                 · +70.0 ms exception Error: connect ECONNREFUSED`,
    );
  });

  it('lets sequential spans follow each other and concurrent ones overlap', () => {
    const output = renderWaterfall(
      [
        span('1', undefined, 'root', [0, 100]),
        span('2', '1', 'first', [0, 50]),
        span('3', '1', 'second', [50, 100]),
        span('4', '1', 'concurrent', [25, 75]),
      ],
      { width: 60, ...plain },
    );
    expect(output).toBe(
      `Trace 4bf92f3577b34da6a3ce929d0e0e4736 · 100.0 ms · 4 spans…
service span          kind      duration 0          100.0 ms
api     root          internal  100.0 ms ███████████████████
api     ├─ first      internal   50.0 ms ██████████
api     ├─ concurrent internal   50.0 ms      █████████
api     └─ second     internal   50.0 ms           █████████`,
    );
    const [, firstEnd] = barOf(output, 'first');
    const [secondStart] = barOf(output, 'second');
    const [concurrentStart, concurrentEnd] = barOf(output, 'concurrent');
    expect(secondStart).toBe(firstEnd);
    expect(concurrentStart).toBeLessThan(firstEnd);
    expect(concurrentEnd).toBeGreaterThan(secondStart);
  });

  it('indents children under their parents, sorted by start time whatever the input order', () => {
    const output = renderWaterfall(
      [
        span('5', '2', 'child of early', [20, 30]),
        span('3', '1', 'late child', [40, 90]),
        span('1', undefined, 'root', [0, 100]),
        span('2', '1', 'early child', [10, 35]),
        span('6', '5', 'grandchild', [21, 29]),
        span('7', '2', 'first of early', [12, 20]),
      ],
      { width: 70, ...plain },
    );
    expect(output).toBe(
      `Trace 4bf92f3577b34da6a3ce929d0e0e4736 · 100.0 ms · 6 spans · api
service span                 kind      duration 0             100.0 ms
api     root                 internal  100.0 ms ██████████████████████
api     ├─ early child       internal   25.0 ms   ██████
api     │  ├─ first of early internal    8.0 ms    █
api     │  └─ child of early internal   10.0 ms     ███
api     │     └─ grandchild  internal    8.0 ms      █
api     └─ late child        internal   50.0 ms          ███████████`,
    );
  });

  it('marks ERROR spans with their status, exception and error.type', () => {
    const exception = {
      name: 'exception',
      timeUnixNano: at(2.5),
      attributes: { 'exception.type': 'TypeError', 'exception.message': 'x is undefined' },
    };
    expect(
      renderWaterfall(
        [
          span('1', undefined, 'status only', [0, 10], {
            status: { code: SpanStatusCode.ERROR, message: 'upstream failed' },
          }),
          span('2', '1', 'error.type only', [1, 2], {
            status: { code: SpanStatusCode.ERROR },
            attributes: { 'error.type': '503' },
          }),
          span('3', '1', 'exception', [2, 3], {
            status: { code: SpanStatusCode.ERROR, message: 'checkout failed' },
            events: [exception],
          }),
          span('4', '1', 'ok', [3, 4], { status: { code: SpanStatusCode.OK } }),
        ],
        { width: 72, ...plain },
      ),
    ).toBe(
      `Trace 4bf92f3577b34da6a3ce929d0e0e4736 · 10.0 ms · 4 spans · api
service span                 kind      duration 0                10.0 ms
api     ✗ status only        internal   10.0 ms ████████████████████████
        │ ✗ ERROR: upstream failed
api     ├─ ✗ error.type only internal    1.0 ms   ███
        │    ✗ ERROR 503
api     ├─ ✗ exception       internal    1.0 ms      ██
        │    ✗ ERROR TypeError: x is undefined (status: checkout failed)
        │    · +2.5 ms exception TypeError: x is undefined
api     └─ ok                internal    1.0 ms        ███`,
    );
  });

  it('lists span events under their span, in time order, with their attributes', () => {
    const output = renderWaterfall(
      [
        span('1', undefined, 'job', [0, 10], {
          events: [
            { name: 'done', timeUnixNano: at(9), attributes: {} },
            { name: 'started', timeUnixNano: at(0.25), attributes: { queue: 'emails', 'retry.count': 0 } },
            { name: 'payload', timeUnixNano: at(5), attributes: { tags: ['a', 'b'], note: 'two words' } },
          ],
        }),
      ],
      { width: 60, ...plain },
    );
    expect(output.split('\n').slice(3)).toEqual([
      '          · +250 µs started queue=emails retry.count=0',
      '          · +5.0 ms payload tags=["a","b"] note="two words"',
      '          · +9.0 ms done',
    ]);
  });

  it('shows spans whose parent is missing at the top level, marked as orphans', () => {
    expect(
      renderWaterfall(
        [
          span('1', undefined, 'root', [0, 10]),
          span('2', '99', 'orphan', [2, 4], { serviceName: 'other' }),
          span('3', '2', 'under orphan', [2.5, 3]),
        ],
        { width: 60, ...plain },
      ),
    ).toBe(
      `Trace 4bf92f3577b34da6a3ce929d0e0e4736 · 10.0 ms · 3 spans …
service span            kind      duration 0         10.0 ms
api     root            internal   10.0 ms █████████████████
other   ? orphan        internal    2.0 ms    ████
        │ ? parent 0000000000000099 is not in this trace
api     └─ under orphan internal    500 µs     █`,
    );
  });

  it('still draws spans caught in a parent cycle, and each span once', () => {
    const output = renderWaterfall(
      [span('1', '2', 'a', [0, 5]), span('2', '1', 'b', [1, 4]), span('2', '1', 'b duplicate', [1, 4])],
      { width: 60, ...plain },
    );
    const rows = output.split('\n').filter((line) => line.startsWith('api '));
    expect(rows.map((row) => row.replace(/ +internal.*/, ''))).toEqual(['api     ? a', 'api     └─ b']);
  });

  it.each([30, 35, 40, 50, 60, 80, 100, 140])('fits every line into a width of %i columns', (width) => {
    const spans = [
      ...checkoutTrace(),
      span('c1', '99', 'an orphan with a rather long name that cannot fit anywhere', [50, 55], {
        serviceName: 'a-service-with-a-long-name',
      }),
    ];
    const output = renderWaterfall(spans, { width, ...plain });
    const lines = output.split('\n');
    for (const line of lines) expect(columns(line), line).toBeLessThanOrEqual(width);
    expect(lines.filter((line) => line.includes('█'))).toHaveLength(spans.length);
    expect(output).toContain('…');
  });

  it('replaces control characters from span data, so they cannot break lines or drive the terminal', () => {
    const output = renderWaterfall(
      [
        span('1', undefined, 'evil\nname\u001b[2J', [0, 1], {
          serviceName: 'svc\r',
          status: { code: SpanStatusCode.ERROR, message: 'bad\u0007' },
        }),
      ],
      { width: 60, ...plain },
    );
    expect(output).not.toMatch(CONTROL_CHARS);
    expect(output.split('\n')).toHaveLength(4);
    expect(output).toContain('evil\ufffdname\ufffd[2J');
    expect(output).toContain('✗ ERROR: bad\ufffd');
  });

  it('draws a very deep trace within the width, without exhausting the stack', () => {
    const depth = 5_000;
    const spans = Array.from({ length: depth }, (_, index) =>
      span((index + 1).toString(16), index === 0 ? undefined : index.toString(16), `level ${index}`, [
        index / 1000,
        10 - index / 1000,
      ]),
    );
    const lines = renderWaterfall(spans, { width: 100, ...plain }).split('\n');
    expect(lines).toHaveLength(depth + 2);
    expect(lines[depth + 1]).toMatch(/^api +… internal +2 µs +█$/);
    for (const line of lines) expect(columns(line)).toBeLessThanOrEqual(100);
  });

  it('never goes below 30 columns', () => {
    const lines = renderWaterfall(checkoutTrace(), { width: 10, ...plain }).split('\n');
    expect(Math.max(...lines.map(columns))).toBe(30);
  });

  it('colours services, bars and errors only when asked', () => {
    const coloured = renderWaterfall(checkoutTrace(), { width: 80, color: true });
    expect(coloured).toContain('\u001b[');
    expect(stripAnsi(coloured)).toBe(renderWaterfall(checkoutTrace(), { width: 80, ...plain }));
    expect(coloured).toContain('\u001b[31m✗ ERROR Error: connect ECONNREFUSED\u001b[39m');
    expect(coloured).toContain('\u001b[36mapi-gateway');
    expect(coloured).toContain('\u001b[35mworker');
    expect(renderWaterfall(checkoutTrace(), { width: 80, ...plain })).not.toContain('\u001b[');
  });

  it.each([
    { name: 'a TTY', env: {}, tty: true, expected: true },
    { name: 'a pipe', env: {}, tty: false, expected: false },
    { name: 'NO_COLOR on a TTY', env: { NO_COLOR: '1' }, tty: true, expected: false },
    { name: 'an empty NO_COLOR', env: { NO_COLOR: '' }, tty: true, expected: true },
    { name: 'FORCE_COLOR on a pipe', env: { FORCE_COLOR: '1' }, tty: false, expected: true },
    {
      name: 'FORCE_COLOR over NO_COLOR',
      env: { FORCE_COLOR: '', NO_COLOR: '1' },
      tty: false,
      expected: true,
    },
    { name: 'FORCE_COLOR=0 on a TTY', env: { FORCE_COLOR: '0' }, tty: true, expected: false },
    { name: 'FORCE_COLOR=false', env: { FORCE_COLOR: 'false' }, tty: true, expected: false },
  ])('colour by default: $name -> $expected', ({ env, tty, expected }) => {
    expect(defaultColor(env, tty)).toBe(expected);
  });

  it('draws several traces one after the other', () => {
    const other = { ...span('9', undefined, 'other trace', [0, 1]), traceId: 'f'.repeat(32) };
    const output = renderWaterfall([...checkoutTrace(), other], { width: 80, ...plain });
    const blocks = output.split('\n\n');
    expect(blocks).toHaveLength(2);
    expect(blocks[0]).toContain(`Trace ${TRACE_ID}`);
    expect(blocks[1]).toContain(`Trace ${'f'.repeat(32)} · 1.0 ms · 1 span · api`);
  });

  it('draws nothing for no spans, and an instant trace as one-column bars', () => {
    expect(renderWaterfall([], plain)).toBe('');
    const output = renderWaterfall([span('1', undefined, 'instant', [5, 5])], { width: 60, ...plain });
    expect(output.split('\n')[2]).toBe('api     instant internal      0 µs █');
  });

  it('accepts SDK ReadableSpans, drawing them as their normalised form', () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'sdk-service' }),
      spanProcessors: [spanAccounting(), new SimpleSpanProcessor(exporter)],
    });
    const tracer = provider.getTracer('test');
    const root = tracer.startSpan('root', { kind: SpanKind.SERVER });
    const child = tracer.startSpan('child', { kind: SpanKind.CLIENT }, trace.setSpan(context.active(), root));
    child.addEvent('sent', { bytes: 12 });
    child.setStatus({ code: SpanStatusCode.ERROR, message: 'nope' });
    child.end();
    root.end();
    const spans = exporter.getFinishedSpans();
    const output = renderWaterfall(spans, { width: 80, ...plain });
    expect(output).toBe(renderWaterfall(spans.map(normaliseReadableSpan), { width: 80, ...plain }));
    const rows = output.split('\n');
    expect(rows[0]).toContain(`Trace ${root.spanContext().traceId}`);
    expect(rows[0]).toContain('2 spans · sdk-service');
    expect(rows[2]).toMatch(/^sdk-service root +server/);
    expect(rows[3]).toMatch(/^sdk-service └─ ✗ child +client/);
    expect(rows[4]).toContain('✗ ERROR: nope');
    expect(rows[5]).toMatch(/· \+\S+ (µs|ms) sent bytes=12$/);
  });
});
